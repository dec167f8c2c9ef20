/**
 * Every check, in the order they run. Persistence checks come first: they record the
 * files they see started, which the hash check then hashes; the immutable-files check
 * reads flags of the places the others examined.
 */
import type { Check } from '../engine/check.js';
import { cronCheck } from './cron.js';
import { servicesCheck } from './services.js';
import { sshKeysCheck } from './ssh-keys.js';
import { ldPreloadCheck } from './ld-preload.js';
import { accountsCheck } from './accounts.js';
import { immutableFilesCheck } from './immutable-files.js';
import { hijackedCommandsCheck } from './hijacked-commands.js';
import { indicatorPathsCheck } from './indicator-paths.js';
import { hashLookupCheck } from './hash-lookup.js';

export const ALL_CHECKS: readonly Check[] = [
  cronCheck,
  servicesCheck,
  sshKeysCheck,
  ldPreloadCheck,
  accountsCheck,
  immutableFilesCheck,
  hijackedCommandsCheck,
  indicatorPathsCheck,
  hashLookupCheck,
];
