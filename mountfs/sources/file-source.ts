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
 */
import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ioError, limitExceeded, MountfsError, notFound, unsupported } from '../errors.js';
import type { ByteSource, ReadCounter } from './byte-source.js';

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

  async read(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw ioError(this.description, `invalid read of ${length} bytes at ${offset}`);
    }
    if (this.closed) throw ioError(this.description, 'read after close', offset);
    const want = Math.max(0, Math.min(length, this.size - offset));
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

async function openReadOnly(file: string): Promise<FileHandle> {
  try {
    return await fsp.open(file, constants.O_RDONLY | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') {
      try {
        return await fsp.open(file, constants.O_RDONLY);
      } catch (retry) {
        throw openError(file, retry);
      }
    }
    throw openError(file, err);
  }
}

function openError(file: string, err: unknown): MountfsError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return notFound(file);
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
