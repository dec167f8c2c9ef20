/**
 * Disks for the VHD and VHDX reader tests: a GPT disk holding an ext4 filesystem made
 * by mkfs.ext4 -d from a random tree (the rest of the disk left sparse), converted with
 * qemu-img; byte sources that flip bytes of a real image for fuzzing; and a VHD
 * differencing disk written here from Microsoft's VHD specification, because neither
 * qemu-img nor any Debian tool makes one.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';

const run = promisify(execFile);

export { DISK_BYTES, PARTITION_START, PARTITION_BYTES, buildRawDisk, type RawDisk } from './raw-disk.js';


/** `from` names the input format: qemu-img would probe a fixed VHD as raw (it has no leading magic). */
export async function qemuConvert(src: string, out: string, format: 'vpc' | 'vhdx' | 'raw', options: string[] = [], from = 'raw'): Promise<string> {
  const args = ['convert', '-f', from, '-O', format];
  if (options.length) args.push('-o', options.join(','));
  await run('qemu-img', [...args, src, out]);
  return out;
}

export async function md5OfFile(file: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** MD5 of a whole byte source, read in 4 MiB pieces. */
export async function md5OfSource(source: ByteSource): Promise<string> {
  const h = createHash('md5');
  const step = 4 << 20;
  for (let at = 0; at < source.size; at += step) h.update(await source.read(at, step));
  return h.digest('hex');
}


/** A source that shows other bytes at some offsets of another: a damaged copy without copying the image. */
export class PatchedSource implements ByteSource {
  readonly size: number;
  readonly description: string;
  constructor(private readonly inner: ByteSource, private readonly patches: Array<{ offset: number; data: Buffer }>, size?: number) {
    this.size = size ?? inner.size;
    this.description = `${inner.description} (patched)`;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.from(await this.inner.read(offset, Math.max(0, Math.min(length, this.size - offset))));
    for (const p of this.patches) {
      const from = Math.max(offset, p.offset);
      const to = Math.min(offset + buf.length, p.offset + p.data.length);
      if (from < to) p.data.copy(buf, from - offset, from - p.offset, to - p.offset);
    }
    return buf;
  }
  async close(): Promise<void> {}
}

/** VHD checksum: one's complement of the byte sum, the 4-byte field at `at` counted as zero. */
export function vhdSum(buf: Buffer, at: number): number {
  let s = 0;
  for (let i = 0; i < buf.length; i++) if (i < at || i >= at + 4) s = (s + buf[i]!) >>> 0;
  return ~s >>> 0;
}

export interface SectorWrite {
  /** Byte offset in the virtual disk, a multiple of 512. */
  offset: number;
  data: Buffer;
}

export interface DifferencingOptions {
  /** The parent VHD file, whose footer gives the size and unique id. */
  parent: string;
  /** Name recorded in the W2ru locator and the header (defaults to the parent's base name). */
  parentName?: string;
  /** Overrides the parent unique id recorded (to test a mismatch). */
  parentUniqueId?: Buffer;
  /** This disk's own unique id (to test a loop). */
  uniqueId?: Buffer;
  blockSize?: number;
  writes: SectorWrite[];
}

/**
 * Writes a differencing VHD (disk type 4): footer copy, dynamic header naming the parent
 * by unique id, UTF-16BE name and a W2ru relative-path locator; each block touched by a
 * write gets a sector bitmap with exactly the written sectors set.
 */
export async function writeDifferencingVhd(out: string, o: DifferencingOptions): Promise<void> {
  const parentBuf = await readFile(o.parent);
  const parentFooter = parentBuf.subarray(parentBuf.length - 512);
  const size = Number(parentFooter.readBigUInt64BE(48));
  const blockSize = o.blockSize ?? 512 * 1024;
  const entries = Math.ceil(size / blockSize);
  const bitmapSize = Math.ceil(blockSize / 512 / 8 / 512) * 512;
  const name = o.parentName ?? path.basename(o.parent);
  const tableOffset = 1536;
  const tableBytes = Math.ceil((entries * 4) / 512) * 512;
  const locatorOffset = tableOffset + tableBytes;
  const locatorData = Buffer.from(`.\\${name}`, 'utf16le');
  const locatorSpace = Math.ceil(locatorData.length / 512) * 512;
  let next = locatorOffset + locatorSpace;

  const blocks = new Map<number, { bitmap: Buffer; data: Buffer }>();
  for (const w of o.writes) {
    for (let s = 0; s < w.data.length; s += 512) {
      const at = w.offset + s;
      const b = Math.floor(at / blockSize);
      let blk = blocks.get(b);
      if (!blk) blocks.set(b, (blk = { bitmap: Buffer.alloc(bitmapSize), data: Buffer.alloc(blockSize) }));
      const sector = (at % blockSize) / 512;
      blk.bitmap[sector >> 3]! |= 0x80 >> (sector & 7);
      w.data.copy(blk.data, at % blockSize, s, s + 512);
    }
  }
  const table = Buffer.alloc(tableBytes, 0xff);
  const pieces: Array<[number, Buffer]> = [];
  for (const [b, blk] of [...blocks.entries()].sort((x, y) => x[0] - y[0])) {
    table.writeUInt32BE(next / 512, b * 4);
    pieces.push([next, blk.bitmap], [next + bitmapSize, blk.data]);
    next += bitmapSize + blockSize;
  }

  const footer = Buffer.alloc(512);
  footer.write('conectix', 0, 'latin1');
  footer.writeUInt32BE(2, 8);
  footer.writeUInt32BE(0x00010000, 12);
  footer.writeBigUInt64BE(512n, 16);
  footer.write('mnsc', 28, 'latin1');
  footer.writeUInt32BE(0x00010000, 32);
  footer.write('Wi2k', 36, 'latin1');
  footer.writeBigUInt64BE(BigInt(size), 40);
  footer.writeBigUInt64BE(BigInt(size), 48);
  parentFooter.copy(footer, 56, 56, 60); // geometry
  footer.writeUInt32BE(4, 60);
  (o.uniqueId ?? randomBytes(16)).copy(footer, 68);
  footer.writeUInt32BE(vhdSum(footer, 64), 64);

  const header = Buffer.alloc(1024);
  header.write('cxsparse', 0, 'latin1');
  header.writeBigUInt64BE(0xffffffffffffffffn, 8);
  header.writeBigUInt64BE(BigInt(tableOffset), 16);
  header.writeUInt32BE(0x00010000, 24);
  header.writeUInt32BE(entries, 28);
  header.writeUInt32BE(blockSize, 32);
  (o.parentUniqueId ?? parentFooter.subarray(68, 84)).copy(header, 40);
  const nameBe = Buffer.from(name, 'utf16le').swap16();
  nameBe.copy(header, 64, 0, Math.min(512, nameBe.length));
  header.write('W2ru', 576, 'latin1');
  header.writeUInt32BE(locatorSpace, 580);
  header.writeUInt32BE(locatorData.length, 584);
  header.writeBigUInt64BE(BigInt(locatorOffset), 592);
  header.writeUInt32BE(vhdSum(header, 36), 36);

  const fh = await open(out, 'w');
  try {
    await fh.write(footer, 0, 512, 0);
    await fh.write(header, 0, 1024, 512);
    await fh.write(table, 0, table.length, tableOffset);
    await fh.write(locatorData, 0, locatorData.length, locatorOffset);
    for (const [at, buf] of pieces) await fh.write(buf, 0, buf.length, at);
    await fh.write(footer, 0, 512, next);
  } finally {
    await fh.close();
  }
}

/** Rewrites the 512 bytes at `at` of a file after `edit`, fixing the VHD checksum at `sumAt`. */
export async function patchVhdStructure(file: string, at: number, length: number, sumAt: number, edit: (b: Buffer) => void): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, at);
    edit(buf);
    buf.writeUInt32BE(vhdSum(buf, sumAt), sumAt);
    await fh.write(buf, 0, length, at);
  } finally {
    await fh.close();
  }
}

export async function copyFile(from: string, to: string): Promise<string> {
  await run('cp', ['--sparse=always', from, to]);
  return to;
}

/** Where qemu-img put the VHDX structures the damage tests edit, found independently of the reader. */
export interface VhdxLayout {
  batOffset: number;
  metadataOffset: number;
  /** Absolute offsets of the file parameters and virtual disk size items. */
  fileParameters: number;
  virtualDiskSize: number;
}

const guidBytes = (g: string): Buffer => {
  const h = g.replace(/-/g, '');
  const le = (s: string) => Buffer.from(s, 'hex').reverse();
  return Buffer.concat([le(h.slice(0, 8)), le(h.slice(8, 12)), le(h.slice(12, 16)), Buffer.from(h.slice(16), 'hex')]);
};

export async function vhdxLayout(file: string): Promise<VhdxLayout> {
  const fh = await open(file, 'r');
  try {
    const regions = Buffer.alloc(64 * 1024);
    await fh.read(regions, 0, regions.length, 192 * 1024);
    const region = (g: string) => {
      const at = regions.indexOf(guidBytes(g));
      if (at < 0) throw new Error(`region ${g} not found`);
      return Number(regions.readBigUInt64LE(at + 16));
    };
    const batOffset = region('2DC27766-F623-4200-9D64-115E9BFD4A08');
    const metadataOffset = region('8B7CA206-4790-4B9A-B8FE-575F050F886E');
    const table = Buffer.alloc(64 * 1024);
    await fh.read(table, 0, table.length, metadataOffset);
    const item = (g: string) => {
      const at = table.indexOf(guidBytes(g));
      if (at < 0) throw new Error(`metadata item ${g} not found`);
      return metadataOffset + table.readUInt32LE(at + 16);
    };
    return {
      batOffset,
      metadataOffset,
      fileParameters: item('CAA16737-FA36-4D43-B3B6-33F0AA44E76B'),
      virtualDiskSize: item('2FA54224-CD1B-4876-B211-5DBED83BF4B8'),
    };
  } finally {
    await fh.close();
  }
}

/** Writes bytes into a file at an offset. */
export async function pokeFile(file: string, at: number, data: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(data, 0, data.length, at);
  } finally {
    await fh.close();
  }
}

export async function peekFile(file: string, at: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, at);
    return buf;
  } finally {
    await fh.close();
  }
}

export { BufferSource } from './buffer-source.js';
