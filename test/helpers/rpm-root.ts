/**
 * Builds RPM package databases with the real tools for the RPM reader tests: tiny
 * packages from specs with rpmbuild, installed into a scratch root with rpm (sqlite
 * backend), and Berkeley DB hash copies of the same header blobs made with db5.3_load.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import initSqlJs from 'sql.js';

const run = promisify(execFile);

export interface SpecFile {
  path: string;
  content?: string;
  mode?: string;
  /** %config(noreplace), %ghost, %dir or a symlink target. */
  kind?: 'config' | 'ghost' | 'dir' | 'symlink';
  target?: string;
}

export interface Spec {
  name: string;
  /** rpm's _binary_filedigest_algorithm: 1 md5, 2 sha1, 8 sha256, 10 sha512. */
  digestAlgorithm?: number;
  files: SpecFile[];
}

function specText(spec: Spec): string {
  const install = spec.files.map((f) => {
    const dest = `%{buildroot}${f.path}`;
    if (f.kind === 'ghost') return '';
    if (f.kind === 'dir') return `mkdir -p ${dest}`;
    const mk = `mkdir -p $(dirname ${dest})`;
    if (f.kind === 'symlink') return `${mk}\nln -s ${f.target} ${dest}`;
    return `${mk}\necho '${f.content ?? ''}' > ${dest}\nchmod ${f.mode ?? '644'} ${dest}`;
  });
  const list = spec.files.map((f) =>
    f.kind === 'config' ? `%config(noreplace) ${f.path}` : f.kind === 'ghost' ? `%ghost ${f.path}` : f.kind === 'dir' ? `%dir ${f.path}` : f.path,
  );
  return [
    `Name: ${spec.name}`, 'Version: 1.0', 'Release: 1', 'Summary: minescan test package', 'License: MIT', 'BuildArch: noarch',
    '%description', 'minescan test package', '%install', ...install, '%files', ...list, '',
  ].join('\n');
}

/** Builds each spec into an .rpm and returns their paths. */
export async function buildRpms(topdir: string, specs: Spec[]): Promise<string[]> {
  await mkdir(path.join(topdir, 'SPECS'), { recursive: true });
  const out: string[] = [];
  for (const spec of specs) {
    const specPath = path.join(topdir, 'SPECS', `${spec.name}.spec`);
    await writeFile(specPath, specText(spec));
    const defines = ['--define', `_topdir ${topdir}`];
    if (spec.digestAlgorithm) defines.push('--define', `_binary_filedigest_algorithm ${spec.digestAlgorithm}`);
    await run('rpmbuild', [...defines, '-bb', specPath]);
    out.push(path.join(topdir, 'RPMS', 'noarch', `${spec.name}-1.0-1.noarch.rpm`));
  }
  return out;
}

/** Installs the packages into root with the database under dbpath (inside root). */
export async function installRpms(root: string, rpms: string[], dbpath = '/var/lib/rpm'): Promise<void> {
  await mkdir(root, { recursive: true });
  await run('rpm', ['--root', root, '--dbpath', dbpath, '-i', '--nodeps', '--noscripts', '--ignorearch', ...rpms]);
}

export interface RpmQueryFile {
  package: string;
  path: string;
  digest: string;
  flags: number;
  mode: number;
}

/** What rpm itself reports for every installed file (with a backend of choice, e.g. bdb_ro). */
export async function rpmQueryFiles(root: string, dbpath = '/var/lib/rpm', backend?: string): Promise<RpmQueryFile[]> {
  const args = ['--root', root, '--dbpath', dbpath];
  if (backend) args.push('--define', `_db_backend ${backend}`);
  // NAME outside the file iterator: rpm refuses a single value beside arrays in one iterator.
  const qf = '@%{NAME}\\n[%{FILENAMES}\\t%{FILEDIGESTS}\\t%{FILEFLAGS}\\t%{FILEMODES}\\n]';
  const { stdout } = await run('rpm', [...args, '-qa', '--qf', qf], { maxBuffer: 64 << 20 });
  const out: RpmQueryFile[] = [];
  let name = '';
  for (const line of stdout.split('\n').filter(Boolean)) {
    if (line.startsWith('@')) {
      name = line.slice(1);
      continue;
    }
    const [file, digest, flags, mode] = line.split('\t');
    out.push({ package: name, path: file, digest, flags: Number(flags), mode: Number(mode) });
  }
  return out;
}

/** `rpm -qa --dump` lines as path → config flag (the 9th field). */
export async function rpmDumpConfig(root: string, dbpath = '/var/lib/rpm'): Promise<Map<string, boolean>> {
  const { stdout } = await run('rpm', ['--root', root, '--dbpath', dbpath, '-qa', '--dump'], { maxBuffer: 64 << 20 });
  const out = new Map<string, boolean>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const fields = line.split(' ');
    out.set(fields[0], fields[7] === '1');
  }
  return out;
}

/** The (hnum, header blob) rows of an rpmdb.sqlite, read with sql.js. */
export async function sqliteHeaderBlobs(file: string): Promise<Array<[number, Buffer]>> {
  const SQL = await initSqlJs();
  const db = new SQL.Database(await readFile(file));
  try {
    const rows = db.exec('SELECT hnum, blob FROM Packages ORDER BY hnum')[0].values;
    return rows.map(([h, b]) => [h as number, Buffer.from(b as Uint8Array)]);
  } finally {
    db.close();
  }
}

export interface BdbOptions {
  pageSize: number;
  bigEndian?: boolean;
  checksum?: boolean;
}

/**
 * A Berkeley DB hash `Packages` like rpm's bdb backend wrote: key 0 holds the next header
 * number, every other key is a header number in the database's byte order.
 */
export async function writeBdbPackages(file: string, blobs: Array<[number, Buffer]>, options: BdbOptions): Promise<void> {
  const key = (n: number): string => {
    const b = Buffer.alloc(4);
    if (options.bigEndian) b.writeUInt32BE(n);
    else b.writeUInt32LE(n);
    return b.toString('hex');
  };
  const next = Math.max(0, ...blobs.map(([h]) => h)) + 1;
  const lines = ['VERSION=3', 'format=bytevalue', 'type=hash', `db_pagesize=${options.pageSize}`];
  lines.push(`db_lorder=${options.bigEndian ? 4321 : 1234}`);
  if (options.checksum) lines.push('chksum=1');
  lines.push('HEADER=END', ` ${key(0)}`, ` ${key(next)}`);
  for (const [h, blob] of blobs) lines.push(` ${key(h)}`, ` ${blob.toString('hex')}`);
  lines.push('DATA=END', '');
  const dump = `${file}.dump`;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(dump, lines.join('\n'));
  await run('db5.3_load', ['-f', dump, file]);
}
