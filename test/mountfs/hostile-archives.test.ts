/**
 * Hostile archives, built with the real tools (tar -c then tar -r appends, gzip, zstd,
 * xz, zip, head -c to truncate), read the way a scan reads a target, and compared with
 * what the real extractor (GNU tar, unzip -o) leaves on disk: that is what a restored
 * server runs. Covered: two entries of one path (the last wins), names with "..", a
 * hard link whose target is replaced later, a file entry over a non-empty directory
 * (the directory stays: an attacker cannot hide /var/spool/cron/crontabs behind a
 * later decoy), over an empty one (replaced), a directory over a file, and archives
 * cut short (the entries before the cut are kept, and the rest is reported as not
 * read), a zip whose central directory is damaged (read from its local headers), and a
 * zip of many disk members (each member's spool removed as soon as nothing reads it).
 * Work is bounded by counting the bytes read and the spools alive at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openTarget } from '../../mountfs/open-target.js';
import { liveSpools } from '../../mountfs/sources/temp-spool.js';
import { zipMemberSpoolStats } from '../../mountfs/fs/archive/zip-member-spools.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { damageCentralDirectory, emptyGptDisks } from '../helpers/hostile-disks.js';

const run = promisify(execFile);
const MALICIOUS = '* * * * * root /tmp/.x/xmrig -o pool.example:3333\n';

let scratch: string;
let tarFile: string;
beforeAll(async () => {
  scratch = await makeScratchDir('minescan-hostile-archives-');
  // First the archive as an ordinary backup would hold it...
  const src = path.join(scratch, 'src');
  for (const d of ['etc/cron.d', 'var/spool/cron/crontabs', 'opt/empty', 'srv']) await mkdir(path.join(src, d), { recursive: true });
  await writeFile(path.join(src, 'etc/cron.d/job'), '# nothing\n');
  await writeFile(path.join(src, 'etc/a'), 'old a\n');
  await run('ln', [path.join(src, 'etc/a'), path.join(src, 'etc/b')]);
  await writeFile(path.join(src, 'var/spool/cron/crontabs/root'), MALICIOUS);
  await writeFile(path.join(src, 'srv/file'), 'a file\n');
  tarFile = path.join(scratch, 'hostile.tar');
  await run('tar', ['-C', src, '-cf', tarFile, 'etc', 'var', 'opt', 'srv']);
  // ...then later entries of the same paths appended with tar -r.
  await writeFile(path.join(src, 'etc/cron.d/job'), MALICIOUS);
  await rm(path.join(src, 'etc/a'));
  await writeFile(path.join(src, 'etc/a'), 'new a\n');
  await rm(path.join(src, 'var/spool/cron/crontabs'), { recursive: true });
  await writeFile(path.join(src, 'var/spool/cron/crontabs'), 'a decoy file\n');
  await rm(path.join(src, 'opt/empty'), { recursive: true });
  await writeFile(path.join(src, 'opt/empty'), 'now a file\n');
  await rm(path.join(src, 'srv/file'));
  await mkdir(path.join(src, 'srv/file'));
  await writeFile(path.join(src, 'srv/file/inner'), 'inner\n');
  await run('tar', ['-C', src, '-rf', tarFile, 'etc/cron.d/job', 'etc/a', 'var/spool/cron/crontabs', 'opt/empty', 'srv/file', 'srv/file/inner']);
  for (const [tool, ext] of [['gzip', 'gz'], ['zstd', 'zst'], ['xz', 'xz']] as const) {
    await run('bash', ['-c', `${tool} -c ${tarFile} > ${tarFile}.${ext}`]);
  }
});
afterAll(async () => {
  if (scratch) await removeScratchDir(scratch);
});

/** What the real extractor leaves, and what minescan reads, as comparable trees; `paths` are read too. */
async function compare(file: string, extract: (into: string) => Promise<unknown>, paths: string[]) {
  const into = path.join(scratch, `${path.basename(file)}.out`);
  await mkdir(into, { recursive: true });
  await extract(into).catch(() => undefined); // tar exits 2 for the entry it refuses
  const counter = { bytesRead: 0 };
  const opened = await openTarget(file, counter, { retain: ['/**'] });
  try {
    expect(opened.filesystems).toHaveLength(1);
    const vfs = opened.filesystems[0]!.vfs;
    return {
      ours: sorted(await vfsTree(vfs)),
      theirs: sorted(await hostTree(into)),
      notes: opened.volumes.flatMap((v) => v.notes).join('\n'),
      warnings: opened.warnings,
      contents: await Promise.all(paths.map(async (p) => (await vfs.readFile(p)).toString())),
      bytesRead: counter.bytesRead,
    };
  } finally {
    await opened.close();
  }
}

describe('an archive is judged as extraction leaves it', () => {
  it.each(['', '.gz', '.zst', '.xz'])('tar%s: last entry of a path, hard links, directories and files replacing each other', async (ext) => {
    const file = tarFile + ext;
    const r = await compare(file, (into) => run('tar', ['-C', into, '-xf', file]), ['/etc/cron.d/job', '/etc/b', '/var/spool/cron/crontabs/root']);
    expect(r.ours).toEqual(r.theirs);
    expect(r.contents).toEqual([MALICIOUS, 'old a\n', MALICIOUS]);
    expect(r.notes).toMatch(/var\/spool\/cron\/crontabs: a file over a non-empty directory is not extracted/);
    expect(r.warnings).toEqual([]);
    expect(r.bytesRead).toBeLessThanOrEqual(2 * (await stat(file)).size);
  });

  it('zip: the last of several entries naming one path, in central directory order', async () => {
    const src = path.join(scratch, 'zipsrc');
    await mkdir(path.join(src, 'etc/cron.d'), { recursive: true });
    await writeFile(path.join(src, 'etc/cron.d/joA'), '# first\n');
    await writeFile(path.join(src, 'etc/cron.d/joXX'), '# second\n');
    await writeFile(path.join(src, 'etc/cron.d/job'), MALICIOUS);
    await mkdir(path.join(src, 'x/zz/etc'), { recursive: true });
    await writeFile(path.join(src, 'x/zz/etc/dots'), 'unzip drops the dots\n');
    const file = path.join(scratch, 'dup.zip');
    await run('bash', ['-c', `cd ${src} && zip -q ${file} etc/cron.d/joA etc/cron.d/joXX etc/cron.d/job x/zz/etc/dots`]);
    // zip will not store one name twice: rename the first two in place (local headers and
    // central directory) to "etc/cron.d/job" and "etc//cron.d/job", names of the same length;
    // and give the last one a ".." component, which unzip drops (x/etc/dots).
    let bytes = await readFile(file);
    for (const [from, to] of [['etc/cron.d/joA', 'etc/cron.d/job'], ['etc/cron.d/joXX', 'etc//cron.d/job'], ['x/zz/etc/dots', 'x/../etc/dots']]) {
      bytes = Buffer.from(bytes.toString('latin1').split(from).join(to), 'latin1');
    }
    await writeFile(file, bytes);
    const r = await compare(file, (into) => run('unzip', ['-o', '-q', file, '-d', into]), ['/etc/cron.d/job', '/x/etc/dots']);
    expect(r.ours).toEqual(r.theirs);
    expect(r.contents).toEqual([MALICIOUS, 'unzip drops the dots\n']);
    expect(r.bytesRead).toBeLessThanOrEqual(2 * bytes.length);
  });
});

describe('an archive cut short keeps what was read before the cut', () => {
  let base: string;
  beforeAll(async () => {
    // A crontab, then a file large enough to span several compressed blocks, then more.
    const src = path.join(scratch, 'cutsrc');
    await mkdir(path.join(src, 'var/spool/cron/crontabs'), { recursive: true });
    await mkdir(path.join(src, 'etc'), { recursive: true });
    await writeFile(path.join(src, 'var/spool/cron/crontabs/root'), MALICIOUS);
    await run('head', ['-c', String(600 << 10), '/dev/urandom'], { encoding: 'buffer', maxBuffer: 1 << 20 }).then(({ stdout }) => writeFile(path.join(src, 'big.bin'), stdout));
    await writeFile(path.join(src, 'etc/later'), 'later\n');
    base = path.join(scratch, 'cut-base.tar');
    await run('tar', ['-C', src, '-cf', base, 'var', 'big.bin', 'etc']);
    for (const [tool, ext] of [['gzip', 'gz'], ['zstd', 'zst'], ['xz', 'xz']] as const) await run('bash', ['-c', `${tool} -c ${base} > ${base}.${ext}`]);
  });

  it.each(['', '.gz', '.zst', '.xz'])('tar%s cut inside its last file: the first entries are read and the target is incomplete', async (ext) => {
    const whole = await readFile(base + ext);
    // Plain tar: inside the data of etc/later (its header is followed by zero padding that would
    // pass for the end of the archive); compressed: at 80%, past the crontab and into big.bin.
    const at = ext ? Math.floor(whole.length * 0.8) : whole.indexOf('etc/later') + 512 + 3;
    const cut = path.join(scratch, `cut.tar${ext}`);
    await writeFile(cut, whole.subarray(0, at));
    const counter = { bytesRead: 0 };
    const opened = await openTarget(cut, counter, { retain: ['/**'] });
    try {
      const vfs = opened.filesystems[0]!.vfs;
      expect((await vfs.readFile('/var/spool/cron/crontabs/root')).toString()).toBe(MALICIOUS);
      expect(opened.failures.map((f) => (f.error as Error).message)).toEqual([expect.stringMatching(/the \d+ entries before it were read, the rest of the archive was not$/)]);
      expect(counter.bytesRead).toBeLessThanOrEqual(2 * whole.length);
    } finally {
      await opened.close();
    }
  });
});

/**
 * A ustar archive of a.bin (130048 random bytes, so the next header ends the first 128 KiB
 * zstd block), d and a crontab, with d's header turned into a directory's that keeps its
 * size field of 3: a directory header claiming data.
 */
async function tarWithDirectoryData(name: string): Promise<string> {
  const src = path.join(scratch, `${name}-src`);
  await mkdir(path.join(src, 'var/spool/cron/crontabs'), { recursive: true });
  const { stdout: random } = await run('head', ['-c', String(130048), '/dev/urandom'], { encoding: 'buffer', maxBuffer: 1 << 20 });
  await writeFile(path.join(src, 'a.bin'), random);
  await writeFile(path.join(src, 'var/spool/cron/crontabs/root'), MALICIOUS);
  await writeFile(path.join(src, 'd'), 'abc');
  const tarPath = path.join(scratch, `${name}.tar`);
  await run('tar', ['-C', src, '--format=ustar', '-cf', tarPath, 'a.bin', 'd', 'var']);
  const t = await readFile(tarPath);
  const header = 512 + 130048;
  expect(t.subarray(header, header + 2).toString()).toBe('d\0');
  t[header + 156] = 0x35; // typeflag '5': a directory, its size field left at 3
  t.fill(0x20, header + 148, header + 156);
  let sum = 0;
  for (let i = header; i < header + 512; i++) sum += t[i]!;
  t.write(`${sum.toString(8).padStart(6, '0')}\0 `, header + 148, 'latin1');
  await writeFile(tarPath, t);
  return tarPath;
}

describe('a tar with a directory header that claims data', () => {
  it('cut in the compressed stream right after that header: ends incomplete, no wait that never settles', async () => {
    // The header is decoded with the first zstd block, its data in the next block is not.
    const tarPath = await tarWithDirectoryData('drain');
    await run('bash', ['-c', `zstd -q -1 -c ${tarPath} > ${tarPath}.zst`]);
    const whole = await readFile(`${tarPath}.zst`);
    const cut = path.join(scratch, 'drain-cut.tar.zst');
    // The frame header, the first block (stored, 3 + 131072 bytes) and a few bytes of the second.
    await writeFile(cut, whole.subarray(0, Math.min(whole.length - 1, 6 + 3 + 131072 + 40)));
    const opened = await openTarget(cut, { bytesRead: 0 }, { retain: ['/**'] });
    try {
      expect((await opened.filesystems[0]!.vfs.readdir('/')).map((e) => e.name)).toContain('a.bin');
      expect(opened.failures.map((f) => (f.error as Error).message)).toEqual([expect.stringMatching(/zstd stream.*the \d+ entries before it were read, the rest of the archive was not$/)]);
    } finally {
      await opened.close();
    }
  }, 60_000);

  // Whole, read in one pass (found by npm run fuzz, tar.zst seed 3 input 60753): the
  // directory's entry was drained, and its data is never delivered, so the scan waited on
  // a promise that never settles and minescan exited 13 with no report.
  it.each([['gzip', 'gz'], ['zstd', 'zst']])('whole, compressed with %s: the entries before it are read and the scan ends incomplete', async (tool, ext) => {
    const tarPath = await tarWithDirectoryData(`whole-${ext}`);
    await run('bash', ['-c', `${tool} -c ${tarPath} > ${tarPath}.${ext}`]);
    const opened = await openTarget(`${tarPath}.${ext}`, { bytesRead: 0 }, { retain: ['/**'] });
    try {
      expect((await opened.filesystems[0]!.vfs.readdir('/')).map((e) => e.name)).toContain('a.bin');
      expect(opened.failures.map((f) => (f.error as Error).message)).toEqual([expect.stringMatching(/the \d+ entries before it were read, the rest of the archive was not$/)]);
    } finally {
      await opened.close();
    }
  }, 60_000);
});

describe('a zip whose central directory is damaged is read from its local headers', () => {
  let src: string;
  beforeAll(async () => {
    src = path.join(scratch, 'zipsrc');
    await mkdir(path.join(src, 'var/spool/cron/crontabs'), { recursive: true });
    await mkdir(path.join(src, 'etc'), { recursive: true });
    await writeFile(path.join(src, 'var/spool/cron/crontabs/root'), MALICIOUS);
    await writeFile(path.join(src, 'etc/hostname'), 'zipped\n'.repeat(500));
  });

  // A zip written to a file (sizes in the local headers), and one written to a pipe (zip -fd:
  // sizes only in data descriptors after each entry's data).
  it.each([
    ['to a file', 'cd {src} && zip -qr {out} var etc'],
    ['to a pipe, with data descriptors', 'cd {src} && zip -qr - var etc | cat > {out}'],
  ])('written %s: its files are read and the scan is incomplete, saying why', async (name, command) => {
    const file = path.join(scratch, `damaged-${name.length}.zip`);
    await run('bash', ['-c', command.replace('{src}', src).replace('{out}', file)]);
    await damageCentralDirectory(file);
    const counter = { bytesRead: 0 };
    const opened = await openTarget(file, counter, { retain: ['/**'] });
    try {
      const vfs = opened.filesystems[0]!.vfs;
      expect((await vfs.readFile('/var/spool/cron/crontabs/root')).toString()).toBe(MALICIOUS);
      expect((await vfs.readFile('/etc/hostname')).toString()).toBe('zipped\n'.repeat(500));
      expect(opened.failures.map((f) => (f.error as Error).message)).toEqual([
        expect.stringMatching(/^zip central directory: .*; \d+ entries were read from their local headers instead, without their Unix modes/),
      ]);
      expect(counter.bytesRead).toBeLessThan(64 << 10);
    } finally {
      await opened.close();
    }
  });

  /** A zip of the tree by Info-ZIP, its central directory damaged, then `edit`ed. */
  async function damagedZip(name: string, edit: (bytes: Buffer) => void): Promise<string> {
    const file = path.join(scratch, name);
    await run('bash', ['-c', `cd ${src} && zip -qr ${file} var etc`]);
    await damageCentralDirectory(file);
    const bytes = await readFile(file);
    edit(bytes);
    await writeFile(file, bytes);
    return file;
  }

  it('with its local headers damaged too, keeps the entries before the damage and says where it stopped', async () => {
    let second = 0;
    // The second local header (etc/ or etc/hostname, after var/...) loses its signature.
    const file = await damagedZip('damaged-both.zip', (bytes) => {
      second = bytes.indexOf(Buffer.from('PK\x03\x04', 'latin1'), 4);
      bytes.write('XX', second, 'latin1');
    });
    const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'] });
    try {
      expect(opened.filesystems).toHaveLength(1);
      const messages = opened.failures.map((f) => (f.error as Error).message);
      expect(messages).toEqual([
        expect.stringMatching(/^zip central directory: .*; 1 entries were read from their local headers instead/),
        expect.stringMatching(new RegExp(`^zip local header at offset ${second}: no local header signature; the 1 entries before it were read, the rest of the archive was not$`)),
      ]);
    } finally {
      await opened.close();
    }
  });

  it('with no local header either, is unreadable, as before', async () => {
    // The first local header's name and extra field run past the end of the file.
    const file = await damagedZip('damaged-all.zip', (bytes) => {
      bytes.writeUInt16LE(0xffff, 26);
      bytes.writeUInt16LE(0xffff, 28);
    });
    await expect(openTarget(file, { bytesRead: 0 }, { retain: ['/**'] })).rejects.toThrow(/zip central directory/);
  });
});

describe('a zip of disk images spools each member only while it is needed', () => {
  it('12 members holding no filesystem, under a spool budget of about one: spooled one at a time, none left open', async () => {
    const dir = path.join(scratch, 'members');
    await emptyGptDisks(dir, 12);
    // An ext4 member, whose filesystem is read after the open: its spool stays until the close.
    await run('mkfs.ext4', ['-q', '-F', '-d', path.join(scratch, 'zipsrc'), path.join(dir, 'root.img'), '4M']);
    const file = path.join(scratch, 'members.zip');
    await run('bash', ['-c', `cd ${dir} && zip -q -0 ${file} *.img`]);
    const before = { ...zipMemberSpoolStats };
    const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'], spool: { dir: scratch, budget: 6 << 20 } });
    try {
      expect(zipMemberSpoolStats.spooled - before.spooled).toBe(13);
      expect(zipMemberSpoolStats.released - before.released).toBe(12);
      expect(zipMemberSpoolStats.peakLive).toBeLessThanOrEqual(2);
      expect(liveSpools()).toHaveLength(1);
      expect(opened.filesystems).toHaveLength(1);
      expect((await opened.filesystems[0]!.vfs.readFile('/var/spool/cron/crontabs/root')).toString()).toBe(MALICIOUS);
      expect(opened.failures).toEqual([]);
    } finally {
      await opened.close();
    }
    expect(liveSpools()).toEqual([]);
    expect(zipMemberSpoolStats.live).toBe(before.live);
  });
});
