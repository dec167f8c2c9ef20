/**
 * An image file or a block device, opened read-only. minescan reads evidence, so the
 * descriptor is opened O_RDONLY (never O_RDWR/O_WRONLY): no code path above can write
 * to the disk, even by mistake. O_NOATIME is asked for too, so reading an image does
 * not even touch its access time; the kernel refuses it to non-owners, and the open is
 * then retried without it.
 *
 * A block device's fstat size is 0, so its size comes from sysfs:
 * /sys/dev/block/<major>:<minor>/size counts 512-byte units whatever the device's
 * logical sector size (see Documentation/ABI/stable/sysfs-block).
 *
 * Every open is O_NONBLOCK, so a FIFO put where an image was expected cannot hang the
 * scan in open() (the fstat that follows refuses it). Files a disk names (VMDK
 * extents, backing files, parents) go through `openRegular`: never a device, a FIFO or
 * a symlink, whatever the disk asks for.
 */
import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ioError, limitExceeded, MountfsError, notFound, unsupported } from '../errors.js';
import { readEnd, type ByteSource, type ReadCounter } from './byte-source.js';

/** One read may not allocate more than this: parsers read structures, not whole disks. */
export const MAX_READ = 256 * 1024 * 1024;

export class FileByteSource implements ByteSource {
  private closed = false;

  private constructor(
    readonly description: string,
    readonly size: number,
    private readonly fh: FileHandle,
    private readonly counter?: ReadCounter,
  ) {}

  static async open(file: string, counter?: ReadCounter): Promise<FileByteSource> {
    const fh = await openReadOnly(file);
    try {
      const st = await fh.stat({ bigint: true });
      let size: number;
      if (st.isFile()) size = Number(st.size);
      else if (st.isBlockDevice()) size = await blockDeviceSize(st.rdev, await fsp.realpath(file));
      else throw unsupported(file, 'neither a regular file nor a block device');
      return new FileByteSource(file, size, fh, counter);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /**
   * Opens a file only if it is a regular file: lstat first, so nothing else is ever
   * opened, then O_NOFOLLOW and an fstat of the opened descriptor (same inode), so a
   * swap between the two cannot slip a device or a symlink in.
   */
  static async openRegular(file: string, counter?: ReadCounter): Promise<FileByteSource> {
    let before;
    try {
      before = await fsp.lstat(file, { bigint: true });
    } catch (err) {
      throw openError(file, err);
    }
    if (!before.isFile()) throw unsupported(file, `is ${fileKind(before)}, not a regular file: only regular files are opened`);
    const fh = await openReadOnly(file, constants.O_NOFOLLOW);
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw unsupported(file, 'changed while it was opened: only regular files are opened');
      return new FileByteSource(file, Number(st.size), fh, counter);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw ioError(this.description, 'read after close', offset);
    const want = readEnd(this, offset, length) - offset;
    if (want > MAX_READ) throw limitExceeded(this.description, `a single read of ${want} bytes`, offset);
    const buf = Buffer.alloc(want);
    let got = 0;
    try {
      // pread may return less than asked (signals, device boundaries): loop until done or EOF.
      while (got < want) {
        const { bytesRead } = await this.fh.read(buf, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw ioError(this.description, `read failed: ${(err as Error).message}`, offset + got);
    } finally {
      if (this.counter) this.counter.bytesRead += got;
    }
    return got === want ? buf : buf.subarray(0, got);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

async function openReadOnly(file: string, extra = 0): Promise<FileHandle> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | extra;
  try {
    return await fsp.open(file, flags | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') {
      try {
        return await fsp.open(file, flags);
      } catch (retry) {
        throw openError(file, retry);
      }
    }
    throw openError(file, err);
  }
}

function fileKind(st: { isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function openError(file: string, err: unknown): MountfsError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return notFound(file);
  if (code === 'ELOOP') return unsupported(file, 'is a symbolic link: only regular files are opened');
  return ioError(file, `cannot open: ${(err as Error).message}`);
}

/** Linux's dev_t split (glibc gnu_dev_major/minor): 12+20 bits of major, 8+24 of minor. */
export function decodeRdev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/**
 * Size in bytes of a block device: sysfs by device number first, then by name (the
 * device node's resolved basename) in /sys/class/block. `sysRoot` is for tests.
 */
export async function blockDeviceSize(rdev: bigint, devicePath: string, sysRoot = '/sys'): Promise<number> {
  const { major, minor } = decodeRdev(rdev);
  const candidates = [
    path.join(sysRoot, 'dev/block', `${major}:${minor}`, 'size'),
    path.join(sysRoot, 'class/block', path.basename(devicePath), 'size'),
  ];
  for (const candidate of candidates) {
    let text: string;
    try {
      text = await fsp.readFile(candidate, 'utf8');
    } catch {
      continue;
    }
    const units = Number(text.trim());
    if (!Number.isSafeInteger(units) || units < 0 || units > Number.MAX_SAFE_INTEGER / 512) {
      throw ioError(devicePath, `sysfs gives an impossible size "${text.trim()}" in ${candidate}`);
    }
    return units * 512;
  }
  throw ioError(devicePath, `cannot find the size of block device ${major}:${minor} in ${sysRoot}`);
}
