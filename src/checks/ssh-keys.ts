/**
 * SSH keys that open a login: ~/.ssh/authorized_keys and authorized_keys2 (sshd's
 * default AuthorizedKeysFile) of root and of every home in /etc/passwd; /root is looked
 * at even when passwd is missing. Every key is reported at info level with its
 * ssh-keygen fingerprint, an inventory an operator compares against who should have
 * access. Raised on top of that:
 *
 * - keys known from intrusions: name rules on the comment (scope ssh-key-comment,
 *   Outlaw's "mdrfckr") and on the fingerprint (scope ssh-key-fingerprint);
 * - a key file locked with chattr +i / +a (attackers lock their key in);
 * - lines sshd cannot read (low: sshd skips them, but someone wrote them);
 * - a key file owned by another account than the home's (medium; sshd's StrictModes
 *   refuses it, so it is a mistake or tampering) or, in a user's home, by root (low:
 *   what a root intruder leaves, but also what a careless administrator does).
 *
 * A key's `command="..."` option is a command line sshd runs through the user's shell
 * on every login with the key: it goes through the shared command-line scan (scope
 * ssh-key), with the options and comment of every line, so download-and-run, miner and
 * temporary-directory rules fire on it while a plain `command="/usr/local/bin/deploy.sh"`
 * stays in the inventory. The key blob itself is left out of the content rules (random
 * base64 can look like anything).
 *
 * Findings are reported on the real file (symlinks resolved), which is the one the
 * remediation's `sed -i` must edit. Reading and judging one key file is
 * shared/authorized-keys-file.ts, which the sshd-config check uses too for the files an
 * AuthorizedKeysFile directive moves keys to.
 */
import type { Check } from '../model/check.js';
import { COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { joinPath } from '../../mountfs/path.js';
import { checkKeyFile, openKeyFile, KEY_FILE_RULE_IDS } from './shared/authorized-keys-file.js';

const KEY_FILES = ['authorized_keys', 'authorized_keys2'];

/** Everything this check reads; homes can be anywhere, so the key files match at any depth. */
export const SSH_KEY_GLOBS = ['/etc/passwd', ...KEY_FILES.flatMap((f) => [`/root/.ssh/${f}`, `/**/.ssh/${f}`])];

export const sshKeysCheck: Check = {
  id: 'ssh-keys',
  ruleIds: [...KEY_FILE_RULE_IDS, ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  // Each login home's ~/.ssh follows from the accounts: immutable-files judges them from the login homes.
  watched: [],
  description: 'Keys in ~/.ssh/authorized_keys and authorized_keys2 of root and of every account',
  paths: SSH_KEY_GLOBS,
  async run(ctx) {
    const seen = new Set<string>();
    for (const home of await ctx.facts.loginHomes()) {
      for (const name of KEY_FILES) {
        const path = joinPath(joinPath(home.path, '.ssh'), name);
        const file = await openKeyFile(ctx, path);
        // Two accounts sharing a home, or a link between homes, lead to one file: report it once.
        if (!file || seen.has(file.real)) continue;
        seen.add(file.real);
        await checkKeyFile(ctx, file, home);
      }
    }
  },
};
