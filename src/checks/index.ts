/**
 * Every check. The order does not matter: each check declares its phase
 * (src/model/check.ts), and the engine runs the phases in order.
 */
import type { Check } from '../model/check.js';
import { cronCheck } from './cron.js';
import { servicesCheck } from './services.js';
import { userServicesCheck } from './user-services.js';
import { systemdGeneratorsCheck } from './systemd-generators.js';
import { atJobsCheck } from './at-jobs.js';
import { cloudInitCheck } from './cloud-init.js';
import { shellStartupCheck } from './shell-startup.js';
import { udevRulesCheck } from './udev-rules.js';
import { sshKeysCheck } from './ssh-keys.js';
import { ldPreloadCheck } from './ld-preload.js';
import { accountsCheck } from './accounts.js';
import { immutableFilesCheck } from './immutable-files.js';
import { ldSoConfCheck } from './ld-so-conf.js';
import { kernelModulesCheck } from './kernel-modules.js';
import { sudoersCheck } from './sudoers.js';
import { sshdConfigCheck } from './sshd-config.js';
import { hostsFileCheck } from './hosts-file.js';
import { webshellsCheck } from './webshells.js';
import { hijackedCommandsCheck } from './hijacked-commands.js';
import { indicatorPathsCheck } from './indicator-paths.js';
import { packageIntegrityCheck } from './package-integrity/check.js';
import { minerFilesCheck } from './miner-files.js';
import { startedScriptsCheck } from './started-scripts.js';
import { hashLookupCheck } from './hash-lookup.js';
import { windowsServicesCheck } from './windows/services.js';
import { windowsAutostartCheck } from './windows/autostart.js';
import { windowsDefenderCheck } from './windows/defender.js';
import { windowsScheduledTasksCheck } from './windows/scheduled-tasks.js';
import { windowsHostsFileCheck } from './windows/hosts-file.js';
import { windowsStartupFoldersCheck } from './windows/startup-folders.js';
import { windowsWmiSubscriptionsCheck } from './windows/wmi-subscriptions.js';
import { windowsMinerFilesCheck } from './windows/miner-files.js';
import { scriptsAtRestCheck } from './scripts-at-rest.js';
import { disguisedProgramsCheck } from './disguised-programs.js';

export const ALL_CHECKS: readonly Check[] = [
  cronCheck,
  servicesCheck,
  userServicesCheck,
  systemdGeneratorsCheck,
  atJobsCheck,
  cloudInitCheck,
  shellStartupCheck,
  udevRulesCheck,
  sshKeysCheck,
  ldPreloadCheck,
  accountsCheck,
  immutableFilesCheck,
  ldSoConfCheck,
  kernelModulesCheck,
  sudoersCheck,
  sshdConfigCheck,
  hostsFileCheck,
  webshellsCheck,
  hijackedCommandsCheck,
  indicatorPathsCheck,
  packageIntegrityCheck,
  minerFilesCheck,
  startedScriptsCheck,
  hashLookupCheck,
  windowsServicesCheck,
  windowsAutostartCheck,
  windowsDefenderCheck,
  windowsScheduledTasksCheck,
  windowsHostsFileCheck,
  windowsStartupFoldersCheck,
  windowsWmiSubscriptionsCheck,
  windowsMinerFilesCheck,
  scriptsAtRestCheck,
  disguisedProgramsCheck,
];
