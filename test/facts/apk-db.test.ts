/**
 * Alpine's /lib/apk/db/installed read as a package database: a root is written in the
 * test (real files, an installed database carrying the real SHA-1 of each as apk writes
 * it, "Q1" and base64), then scanned. Package ownership answers from it, a changed
 * packaged program is an integrity finding whose fix is apk's, a file no package owns
 * in /usr/bin is reported, a packaged symlink is judged by its target's text as apk sums
 * it, and a hostile database is read within its caps with typed errors naming the line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MountfsError } from '../../mountfs/errors.js';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { ApkDatabase, APK_INSTALLED, apkChecksum, openApkDatabase } from '../../src/facts/apk-db.js';
import { Facts } from '../../src/facts/facts.js';
import { packageIntegrityCheck } from '../../src/checks/package-integrity/check.js';
import type { PackagedFile } from '../../src/facts/package-db.js';
import { scanDirectory } from '../helpers/scan-dir.js';

const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex');
const q1 = (data: string | Buffer) => `Q1${createHash('sha1').update(data).digest('base64')}`;
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(56)]);
const program = (name: string) => Buffer.concat([ELF, Buffer.from(`\n${name} as built by the package\n`)]);

let dir: string;
let root: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'minescan-apk-'));
  root = path.join(dir, 'root');
  for (const d of ['etc', 'bin', 'usr/bin', 'lib/apk/db']) await mkdir(path.join(root, d), { recursive: true });
  await writeFile(path.join(root, 'etc/os-release'), 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\n');
  const files: Record<string, Buffer> = {
    'bin/busybox': program('busybox'),
    'usr/bin/scanelf': program('scanelf'),
    'usr/bin/ssl_client': program('ssl_client'),
    'etc/motd': Buffer.from('Welcome to Alpine!\n'),
  };
  for (const [p, data] of Object.entries(files)) await writeFile(path.join(root, p), data);
  await symlink('/bin/busybox', path.join(root, 'usr/bin/nslookup'));
  const db = [
    'C:Q1Vd1q5Wc3Q9dMyOwKm5mzgHDQ8bk=',
    'P:busybox',
    'V:1.36.1-r29',
    'A:x86_64',
    'S:512345',
    'I:923456',
    'T:Size optimized toolbox of many common UNIX utilities',
    'U:https://busybox.net/',
    'L:GPL-2.0-only',
    'o:busybox',
    't:1718000000',
    'c:ab12cd34',
    'D:so:libc.musl-x86_64.so.1',
    'F:bin',
    'M:0:0:755',
    'R:busybox',
    'a:0:0:755',
    `Z:${q1(files['bin/busybox']!)}`,
    'F:etc',
    'R:motd',
    // An admin's edit of a file under /etc is no finding: apk protects /etc.
    `Z:${q1('the motd as it was packaged\n')}`,
    'F:usr/bin',
    'R:nslookup',
    'a:0:0:777',
    `Z:${q1('/bin/busybox')}`,
    '',
    'C:Q1Xy1q5Wc3Q9dMyOwKm5mzgHDQ8bk=',
    'P:pax-utils',
    'V:1.3.7-r2',
    'F:usr/bin',
    'R:scanelf',
    `Z:${q1(files['usr/bin/scanelf']!)}`,
    '',
    'P:ssl_client',
    'V:1.36.1-r29',
    'F:usr/bin',
    'R:ssl_client',
    `Z:${q1(files['usr/bin/ssl_client']!)}`,
    '',
  ].join('\n');
  await writeFile(path.join(root, 'lib/apk/db/installed'), db);
  // After the database was written: the program is no longer what its package installed.
  await writeFile(path.join(root, 'usr/bin/ssl_client'), Buffer.concat([program('ssl_client'), Buffer.from('stratum+tcp://pool.example:3333\n')]));
  // And a program no package installed.
  await writeFile(path.join(root, 'usr/bin/kworkerd'), program('kworkerd'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function withVfs<T>(fn: (vfs: RawVfs) => Promise<T>, at = root): Promise<T> {
  const vfs = new RawVfs(await DirectoryFileSystem.open(at));
  try {
    return await fn(vfs);
  } finally {
    await vfs.close();
  }
}

describe('apk installed database', () => {
  it('turns Q1 base64 SHA-1 (and Q2 SHA-256, hex MD5) checksums into digests, and refuses anything else', () => {
    expect(apkChecksum(q1('x'))).toEqual({ algorithm: 'sha1', digest: createHash('sha1').update('x').digest('hex') });
    expect(apkChecksum(`Q2${createHash('sha256').update('x').digest('base64')}`)).toEqual({ algorithm: 'sha256', digest: createHash('sha256').update('x').digest('hex') });
    expect(apkChecksum('9dd4e461268c8034f5c8564e155c67a6')).toEqual({ algorithm: 'md5', digest: '9dd4e461268c8034f5c8564e155c67a6' });
    expect(apkChecksum('Q1AAAA')).toBeUndefined();
    expect(apkChecksum('Q3' + q1('x').slice(2))).toBeUndefined();
    expect(apkChecksum('Q1!!!!!!!!!!!!!!!!!!!!!!!!!!!=')).toBeUndefined();
  });

  it('gives every directory and file of every package, with its digest, /etc as configuration', async () => {
    const errors: unknown[] = [];
    const files = await withVfs(async (vfs) => {
      const db = await openApkDatabase(vfs, (_p, e) => errors.push(e));
      expect(db).toBeInstanceOf(ApkDatabase);
      const out: PackagedFile[] = [];
      for await (const f of db!.files()) out.push(f);
      return out;
    });
    expect(errors).toEqual([]);
    expect(files.map((f) => `${f.package} ${f.path}${f.algorithm ? ` ${f.algorithm}` : ''}${f.config ? ' config' : ''}`)).toEqual([
      'busybox /bin',
      'busybox /bin/busybox sha1',
      'busybox /etc',
      'busybox /etc/motd sha1 config',
      'busybox /usr/bin',
      'busybox /usr/bin/nslookup sha1',
      'pax-utils /usr/bin',
      'pax-utils /usr/bin/scanelf sha1',
      'ssl_client /usr/bin',
      'ssl_client /usr/bin/ssl_client sha1',
    ]);
  });

  it('answers package ownership, and picks apk for the commands', async () => {
    await withVfs(async (vfs) => {
      const errors: unknown[] = [];
      const facts = new Facts(vfs, (_p, e) => errors.push(e));
      expect(await facts.packages.owner('/usr/bin/scanelf')).toEqual({ kind: 'owned', package: 'pax-utils', manager: 'apk' });
      expect(await facts.packages.owner('/usr/bin/kworkerd')).toMatchObject({ kind: 'unowned' });
      expect((await facts.packageCommands()).frontEnd).toBe('apk');
      expect(errors).toEqual([]);
    });
  });

  it('reports the changed program with apk\'s fix and the unowned one, and nothing for the link, the busybox binary or /etc', async () => {
    const result = await scanDirectory(root, [packageIntegrityCheck]);
    expect(result.errors).toEqual([]);
    expect(result.findings.map((f) => [f.rule, f.path])).toEqual([
      ['integrity.unowned-system-binary', '/usr/bin/kworkerd'],
      ['integrity.package-file-modified', '/usr/bin/ssl_client'],
    ]);
    const changed = result.findings[1]!;
    expect(changed.evidence).toBe(`sha1 ${sha1(await readFile(path.join(root, 'usr/bin/ssl_client')))}; ${APK_INSTALLED} records ${sha1(program('ssl_client'))} for ssl_client`);
    expect(changed.remediation).toContain('apk fix --reinstall ssl_client');
    expect(changed.remediation).toContain('apk audit --system');
    expect(changed.remediation).not.toMatch(/dpkg|rpm|apt-get|dnf/);
    expect(result.findings[0]!.remediation).toContain('apk info --who-owns');
  });
});

describe('a hostile installed database', () => {
  async function read(text: string): Promise<{ files: PackagedFile[]; errors: MountfsError[] }> {
    const hostile = path.join(dir, `hostile-${Math.random().toString(36).slice(2)}`);
    await mkdir(path.join(hostile, 'lib/apk/db'), { recursive: true });
    await writeFile(path.join(hostile, 'lib/apk/db/installed'), text);
    return withVfs(async (vfs) => {
      const errors: MountfsError[] = [];
      const db = (await openApkDatabase(vfs, (_p, e) => errors.push(e as MountfsError)))!;
      const files: PackagedFile[] = [];
      for await (const f of db.files()) files.push(f);
      return { files, errors };
    }, hostile);
  }

  it('leaves out the records that break the format, keeps the rest, and names the first bad line once', async () => {
    const { files, errors } = await read(
      [
        'F:usr/bin', // before any P:
        'P:good',
        'F:usr/bin',
        'R:../../etc/shadow', // not a name in its directory
        `Z:${q1('x')}`,
        'R:ok',
        'Z:Q1notbase64*',
        'R:fine',
        `Z:${q1('fine')}`,
        'this is not a field',
        'a:root:0:755',
        'Z:Q1stray',
        '',
        'P:bad name!',
        'F:usr/sbin',
        'R:hidden',
      ].join('\n'),
    );
    expect(files.map((f) => `${f.package} ${f.path} ${f.algorithm ?? '-'}`)).toEqual(['good /usr/bin -', 'good /usr/bin/fine sha1']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(MountfsError);
    expect(errors[0]).toMatchObject({ kind: 'corrupt', structure: 'apk installed database' });
    expect(errors[0]!.message).toBe('apk installed database: line 1: F: before the P: of its package; the record was left out (and 8 more line(s) left out)');
  });

  it('stops at the cap on packages with a limit error naming the line, and skips a line over its cap', async () => {
    const many = Array.from({ length: 100_001 }, (_, i) => `P:p${i}\nR:f${i}\n`).join('\n');
    const { files, errors } = await read(`P:long\nT:${'x'.repeat(10_000)}\nR:kept\n\n${many}`);
    expect(files[0]).toMatchObject({ package: 'long', path: '/kept' });
    expect(files).toHaveLength(1 + 100_000 - 1);
    expect(errors.map((e) => [e.kind, e.message])).toEqual([
      ['limit', 'apk installed database: 1 line(s) over 4104 bytes skipped'],
      ['limit', `apk installed database: line ${4 + 3 * 99_999 + 1}: more than 100000 packages; the rest were not read`],
    ]);
  });
});
