/**
 * NTFS volumes for the NTFS tests, made by the real tools: mkntfs formats a file, the
 * ntfs-3g FUSE mount writes a host tree into it (cp -a keeps hard links, sparse files
 * and symlinks, which ntfs-3g stores as Interix links), a directory with the
 * compressed attribute makes ntfs-3g LZNT1-compress what is written in it, extended
 * attributes "user.*" become named streams, and "system.ntfs_reparse_data" sets
 * Windows symlink and junction reparse points. Host-side trees are written here too,
 * so tests compare what minescan reads with what was written.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { link, mkdir, open, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

const run = promisify(execFile);

/** Writes `buf` as a Windows reparse point on `file` through ntfs-3g's system.ntfs_reparse_data. */
export async function setXattr(file: string, name: string, value: Buffer): Promise<void> {
  await run('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))', file, name, value.toString('hex')]);
}

async function getXattr(file: string, name: string): Promise<Buffer> {
  const { stdout } = await run('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).hex())', file, name]);
  return Buffer.from(stdout.trim(), 'hex');
}

/** A symlink (IO_REPARSE_TAG_SYMLINK) or junction (IO_REPARSE_TAG_MOUNT_POINT) reparse buffer. */
export function reparseBuffer(kind: 'symlink' | 'junction', substitute: string, print: string, relative = false): Buffer {
  const s = Buffer.from(substitute, 'utf16le');
  const p = Buffer.from(print, 'utf16le');
  let body: Buffer;
  if (kind === 'symlink') {
    const head = Buffer.alloc(12);
    head.writeUInt16LE(0, 0);
    head.writeUInt16LE(s.length, 2);
    head.writeUInt16LE(s.length, 4);
    head.writeUInt16LE(p.length, 6);
    head.writeUInt32LE(relative ? 1 : 0, 8);
    body = Buffer.concat([head, s, p]);
  } else {
    const head = Buffer.alloc(8);
    head.writeUInt16LE(0, 0);
    head.writeUInt16LE(s.length, 2);
    head.writeUInt16LE(s.length + 2, 4);
    head.writeUInt16LE(p.length, 6);
    body = Buffer.concat([head, s, Buffer.alloc(2), p, Buffer.alloc(2)]);
  }
  const header = Buffer.alloc(8);
  header.writeUInt32LE(kind === 'symlink' ? 0xa000000c : 0xa0000003, 0);
  header.writeUInt16LE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Deterministic bytes, so contents compare without keeping them. */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * The host tree: deep and wide directories (enough entries for $INDEX_ALLOCATION),
 * Unicode names, a large file, a sparse file, hard links, relative and absolute
 * symlinks, Windows-looking paths.
 */
export async function writeSourceTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'Windows/System32/drivers/etc'), { recursive: true });
  await writeFile(path.join(root, 'Windows/System32/drivers/etc/hosts'), '127.0.0.1 localhost\r\n1.2.3.4 pool.minexmr.com\r\n');
  let deep = path.join(root, 'deep');
  for (let i = 0; i < 30; i++) deep = path.join(deep, `level-${i}`);
  await mkdir(deep, { recursive: true });
  await writeFile(path.join(deep, 'bottom.txt'), 'at the bottom\n');
  await mkdir(path.join(root, 'wide'));
  for (let i = 0; i < 700; i++) await writeFile(path.join(root, 'wide', `entry-with-a-long-name-${String(i).padStart(4, '0')}.txt`), `${i}\n`);
  await mkdir(path.join(root, 'Ünïcødé 目录'));
  await writeFile(path.join(root, 'Ünïcødé 目录', 'ファイル — ✓.txt'), 'unicode\n');
  await writeFile(path.join(root, 'Ünïcødé 目录', 'emoji 🚀.bin'), pattern(5000, 7));
  await writeFile(path.join(root, 'large.bin'), pattern(3 << 20, 11));
  const sparse = await open(path.join(root, 'sparse.bin'), 'w');
  await sparse.write(Buffer.from('head'), 0, 4, 0);
  await sparse.write(Buffer.from('middle'), 0, 6, 5 << 20);
  await sparse.write(Buffer.from('tail'), 0, 4, (12 << 20) - 4);
  await sparse.close();
  await writeFile(path.join(root, 'empty'), '');
  // Names that differ only in case: NTFS's POSIX namespace keeps both, Windows sees one.
  await writeFile(path.join(root, 'Case.txt'), 'upper\n');
  await writeFile(path.join(root, 'case.txt'), 'lower\n');
  await writeFile(path.join(root, 'resident.txt'), 'small enough to live in the MFT record\n');
  await writeFile(path.join(root, 'xmrig.exe'), pattern(70_000, 3));
  await link(path.join(root, 'xmrig.exe'), path.join(root, 'Windows', 'svchost.exe'));
  await link(path.join(root, 'xmrig.exe'), path.join(root, 'wide', 'hardlink.exe'));
  await symlink('Windows/System32/drivers/etc/hosts', path.join(root, 'relative-link'));
  await symlink('/Windows/System32', path.join(root, 'absolute-link'));
}

/**
 * Formats `image` (sizeMiB) with mkntfs and writes into it through ntfs-3g: the tree at
 * `tree` (cp -a), a compressed directory, a fragmented file, named streams, and a Windows
 * symlink and junction. The compressed and fragmented files are written to the tree too,
 * so the tree is the reference.
 */
export async function buildNtfsVolume(image: string, tree: string, mnt: string, sizeMiB = 96): Promise<void> {
  await run('truncate', ['-s', `${sizeMiB}M`, image]);
  await run('mkntfs', ['-F', '-Q', '-q', '-L', 'minescan', image]);
  await mkdir(mnt, { recursive: true });
  await run('ntfs-3g', ['-o', 'compression,streams_interface=xattr', image, mnt]);
  try {
    await run('cp', ['-a', '--sparse=always', `${tree}/.`, mnt]);
    // Compressed: the attribute on the directory makes ntfs-3g compress the files written in it.
    for (const dir of [path.join(tree, 'compressed'), path.join(mnt, 'compressed')]) await mkdir(dir);
    const attrib = await getXattr(path.join(mnt, 'compressed'), 'system.ntfs_attrib');
    attrib.writeUInt32LE(attrib.readUInt32LE(0) | 0x800, 0);
    await setXattr(path.join(mnt, 'compressed'), 'system.ntfs_attrib', attrib);
    const text = Buffer.from('xmrig --donate-level 1 -o pool.minexmr.com:443 -u wallet\n'.repeat(8000));
    const mixed = Buffer.concat([text.subarray(0, 100_000), pattern(70_000, 5), text.subarray(0, 30_000)]);
    for (const [name, data] of [['config.txt', text], ['mixed.bin', mixed]] as const) {
      await writeFile(path.join(tree, 'compressed', name), data);
      await writeFile(path.join(mnt, 'compressed', name), data);
    }
    // Fragmented: the volume is filled with 16 KiB files, every other one removed, and the
    // file written into the holes (ntfs-3g keeps a file contiguous while it can).
    const data = Buffer.concat(Array.from({ length: 40 }, (_, i) => pattern(64 << 10, 100 + i)));
    const fill = path.join(mnt, 'fill');
    await mkdir(fill);
    let pieces = 0;
    for (;;) {
      try {
        await writeFile(path.join(fill, String(pieces)), pattern(16 << 10, pieces));
        pieces++;
      } catch {
        break;
      }
    }
    for (let i = 0; i <= pieces; i += 2) await rm(path.join(fill, String(i)), { force: true });
    await writeFile(path.join(mnt, 'fragmented.bin'), data);
    await rm(fill, { recursive: true, force: true });
    await writeFile(path.join(tree, 'fragmented.bin'), data);
    // A named stream (alternate data stream), as malware hides a payload in one.
    await setXattr(path.join(mnt, 'resident.txt'), 'user.payload', pattern(20_000, 9));
    await setXattr(path.join(mnt, 'resident.txt'), 'user.Zone.Identifier', Buffer.from('[ZoneTransfer]\r\nZoneId=3\r\n'));
    // A DOS 8.3 name beside a long one: a second index entry, which is no second file.
    await setXattr(path.join(mnt, 'wide', 'entry-with-a-long-name-0000.txt'), 'system.ntfs_dos_name', Buffer.from('ENTRY-~1.TXT'));
    // Windows symlinks and a junction, with drive letters as Windows writes them.
    await writeFile(path.join(mnt, 'win-symlink'), '');
    await setXattr(path.join(mnt, 'win-symlink'), 'system.ntfs_reparse_data', reparseBuffer('symlink', '\\??\\C:\\Windows\\System32\\drivers\\etc\\hosts', 'C:\\Windows\\System32\\drivers\\etc\\hosts'));
    await writeFile(path.join(mnt, 'win-relative'), '');
    await setXattr(path.join(mnt, 'win-relative'), 'system.ntfs_reparse_data', reparseBuffer('symlink', '..\\Windows\\System32', '..\\Windows\\System32', true));
    // A WSL symlink (POSIX target in UTF-8) and a deduplicated file, whose data lives elsewhere.
    const lx = Buffer.concat([Buffer.from([0x1d, 0x00, 0x00, 0xa0]), Buffer.alloc(4), Buffer.from([2, 0, 0, 0]), Buffer.from('Windows/System32/drivers/etc/hosts')]);
    lx.writeUInt16LE(lx.length - 8, 4);
    await writeFile(path.join(mnt, 'wsl-link'), '');
    await setXattr(path.join(mnt, 'wsl-link'), 'system.ntfs_reparse_data', lx);
    const dedup = Buffer.concat([Buffer.from([0x13, 0x00, 0x00, 0x80]), Buffer.alloc(4), Buffer.alloc(16, 0x42)]);
    dedup.writeUInt16LE(16, 4);
    await writeFile(path.join(mnt, 'deduplicated.dat'), 'stub');
    await setXattr(path.join(mnt, 'deduplicated.dat'), 'system.ntfs_reparse_data', dedup);
    await mkdir(path.join(mnt, 'junction'));
    await setXattr(path.join(mnt, 'junction'), 'system.ntfs_reparse_data', reparseBuffer('junction', '\\??\\C:\\Windows', 'C:\\Windows'));
  } finally {
    await run('umount', [mnt]);
  }
}

/** What The Sleuth Kit's fls lists of a volume: allocated names and the named data streams. */
export interface FlsListing {
  /** "/path" → MFT record number. */
  entries: Map<string, number>;
  /** "/path" → names of its named $DATA streams. */
  streams: Map<string, string[]>;
}

/** `fls -r -p` of the NTFS volume at sector `sector` of `image`, deleted entries and $OrphanFiles left out. */
export async function flsListing(image: string, sector = 0): Promise<FlsListing> {
  const { stdout } = await run('fls', ['-r', '-p', '-o', String(sector), image], { maxBuffer: 64 << 20 });
  const entries = new Map<string, number>();
  const streams = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+) (\*?\s*)(\d+)-(\d+)-\d+:\t(.*)$/.exec(line);
    if (!m || m[2]!.includes('*') || m[5]!.startsWith('$OrphanFiles')) continue;
    // Named attributes are listed as "name:attribute" (data streams have type 128), and a
    // file without an unnamed $DATA only so.
    const [name, stream] = m[5]!.split(':') as [string, string | undefined];
    entries.set(`/${name}`, Number(m[3]));
    if (stream !== undefined && m[4] === '128') streams.set(`/${name}`, [...(streams.get(`/${name}`) ?? []), stream].sort());
  }
  return { entries, streams };
}
