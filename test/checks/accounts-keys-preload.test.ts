/**
 * The account, SSH-key, ld.so.preload and immutable-file checks on planted trees and
 * on their clean counterparts (this machine's own account files among them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chown, copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { accountsCheck } from '../../src/checks/accounts.js';
import { sshKeysCheck } from '../../src/checks/ssh-keys.js';
import { ldPreloadCheck } from '../../src/checks/ld-preload.js';
import { immutableFilesCheck } from '../../src/checks/immutable-files.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { parseAuthorizedKeys } from '../../src/facts/authorized-keys.js';

const run = promisify(execFile);

const ADMIN_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICPK765vfQS5gzUePjeMdv0c33hhl3qriigTiTwaX6c9 admin@example';
const OUTLAW_KEY =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDVVxkrmKu1bEJeclQQdMhGiH/5F25GpYja7PnpBsmCJKPTR4PMe7xTRVjPgBYxbxrZbiaa0oSb48MrbVyzAARkFy6PPgenN1bxd3sEcgtA4q7M6bwe51ACqDEaWTEW6kn4Rk79lmWfqVe3edkVlbs1KkZMK4FPFLgBe+qKT3iC8y/FAUzHVojGSdbLGFFHEzDlxBq+9zoLvVaExGhH5ajrHB0rKTvHkBMy2mEDVEO8ul9D49kdPzyAlwo3Nib1OaYPEbDQ0GrmkOiQeVreonqO71181DxMfxbNkzDwcEwRKMzzJ1IwpE7NMXfEJaMUzuPRpnEACMLCveqloSz22QIl mdrfckr';

async function put(root: string, rel: string, text: string): Promise<string> {
  const p = path.join(root, rel);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
  return p;
}

const summary = (fs: Array<{ rule: string; path: string; line?: number; severity: string; family?: string }>) =>
  fs.map((f) => `${f.severity} ${f.rule} ${f.path}${f.line !== undefined ? `:${f.line}` : ''}${f.family ? ` [${f.family}]` : ''}`).sort();

describe('accounts, SSH keys, preload, immutable files', () => {
  let scratch: string;
  let infected: string;
  let clean: string;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    const passwd = [
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
      'games:x:5:60:games:/usr/games:/bin/bash',
      'toor:x:0:0::/root:/bin/sh',
      'shaojiang99:x:1001:1001::/home/shaojiang99:/bin/bash',
      'open::1002:1002::/home/open:/bin/bash',
      'broken:line',
      'admin:x:1000:1000::/home/admin:/bin/bash',
      'svc:x:998:998::/var/lib/svc:/usr/sbin/nologin',
    ].join('\n');
    const shadow = ['root:$6$a$b:19700::::::', 'daemon:*:19700::::::', 'games:$6$c$d:19700::::::', 'toor:$6$e$f:19700::::::', 'admin:$6$g$h:19700::::::'].join('\n');
    await put(infected, 'etc/passwd', passwd + '\n');
    await put(infected, 'etc/shadow', shadow + '\n');
    await put(infected, 'var/log/auth.log', 'Nov  3 01:02:03 h useradd[42]: new user: name=toor, UID=0, GID=0, home=/root, shell=/bin/sh, from=/dev/pts/0\nNov  3 01:02:04 h useradd[43]: new user: name=admin, UID=1000, GID=1000, home=/home/admin, shell=/bin/bash, from=/dev/pts/0\n');
    await put(infected, 'var/log/audit/audit.log', `type=ADD_USER msg=audit(1700000000.1:7): pid=1 uid=0 auid=0 ses=1 msg='op=adding user id=1003 exe="/usr/sbin/useradd" acct="ghost" res=success'\n`);
    await put(infected, 'root/.ssh/authorized_keys', `${ADMIN_KEY}\n${OUTLAW_KEY}\nnot a key at all\n`);
    await put(infected, 'home/admin/.ssh/authorized_keys2', `command="/usr/bin/backup --run",no-pty,from="10.0.0.1,10.0.0.2" ${ADMIN_KEY}\n`);
    await chown(path.join(infected, 'home/admin/.ssh/authorized_keys2'), 4242, 4242);
    await put(infected, 'etc/ld.so.preload', '/etc/libsystem.so\n/usr/lib/libhide.so /gone/libx.so # trailing comment\n');
    await put(infected, 'etc/libsystem.so', '\x7fELF');
    await put(infected, 'usr/lib/libhide.so', '\x7fELF');
    await put(infected, 'var/lib/dpkg/info/libc6.list', '/usr/lib/x86_64-linux-gnu/libc.so.6\n');
    await put(infected, 'etc/cron.d/job', '* * * * * root true\n');
    await run('chattr', ['+i', path.join(infected, 'root/.ssh/authorized_keys')]);
    await run('chattr', ['+a', path.join(infected, 'etc/cron.d/job')]);

    await mkdir(path.join(clean, 'etc'), { recursive: true });
    await copyFile('/etc/passwd', path.join(clean, 'etc/passwd'));
    await copyFile('/etc/shadow', path.join(clean, 'etc/shadow'));
    await put(clean, 'root/.ssh/authorized_keys', `${ADMIN_KEY}\n`);
    await put(clean, 'etc/cron.d/job', '* * * * * root true\n');
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds what was planted, with families and severities', async () => {
    const result = await scanDirectory(infected, [accountsCheck, sshKeysCheck, ldPreloadCheck, immutableFilesCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(
      [
        'critical accounts.known-bad-name /etc/passwd:5',
        'high accounts.extra-uid0 /etc/passwd:4',
        'high accounts.system-account-login /etc/passwd:3',
        'high accounts.empty-password /etc/passwd:6',
        'medium accounts.malformed-line /etc/passwd:7',
        'high accounts.created-suspicious /var/log/auth.log:1',
        'info accounts.created /var/log/auth.log:2',
        'medium accounts.created-then-removed /var/log/audit/audit.log:1',
        'info ssh.authorized-key /root/.ssh/authorized_keys:1',
        'info ssh.authorized-key /root/.ssh/authorized_keys:2',
        'critical outlaw.ssh-key /root/.ssh/authorized_keys:2 [outlaw]',
        'low ssh.malformed-line /root/.ssh/authorized_keys:3',
        'high ssh.key-in-locked-file /root/.ssh/authorized_keys',
        'info ssh.authorized-key /home/admin/.ssh/authorized_keys2:1',
        'medium ssh.foreign-owner /home/admin/.ssh/authorized_keys2',
        'critical kinsing.preload-libsystem /etc/ld.so.preload:1 [kinsing]',
        'high preload.unowned-library /etc/ld.so.preload:2',
        'high preload.missing-library /etc/ld.so.preload:2',
        'high immutable.locked-file /root/.ssh/authorized_keys',
        'high immutable.locked-file /etc/cron.d/job',
      ].sort(),
    );
    const byRule = (id: string) => result.findings.find((f) => f.rule === id)!;
    expect(byRule('accounts.created-suspicious').message).toMatch(/toor with uid 0 \(a second root\)/);
    expect(byRule('ssh.key-in-locked-file').remediation).toContain('chattr -ia /root/.ssh/authorized_keys');
    expect(byRule('outlaw.ssh-key').remediation).toMatch(/^chattr -ia \/root\/.ssh\/authorized_keys\nsed -i '2d' \/root\/.ssh\/authorized_keys/);
    expect(byRule('immutable.locked-file').remediation).toMatch(/chattr -ia/);
    expect(result.findings.find((f) => f.path.endsWith('authorized_keys2'))!.message).toContain('options command="/usr/bin/backup --run",no-pty,from="10.0.0.1,10.0.0.2"');
  });

  it('is quiet on a clean system: this machine\'s own accounts and an admin key', async () => {
    const result = await scanDirectory(clean, [accountsCheck, sshKeysCheck, ldPreloadCheck, immutableFilesCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(['info ssh.authorized-key /root/.ssh/authorized_keys:1']);
  });

  it('fingerprints keys exactly as ssh-keygen does', async () => {
    const file = await put(scratch, 'k.pub', `${OUTLAW_KEY}\n`);
    const theirs = (await run('ssh-keygen', ['-lf', file])).stdout.split(' ')[1];
    expect(parseAuthorizedKeys(`${OUTLAW_KEY}\n`).keys[0]!.fingerprint).toBe(theirs);
  });
});
