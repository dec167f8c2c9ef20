/**
 * Images for the qcow2 and VMDK reader tests: a GPT disk holding ext4 made by
 * mkfs.ext4 -d from a random tree (partly sparse), converted with qemu-img and edited
 * with qemu-io; byte sources that count what a reader asks of them; small parsers that
 * find qcow2/VMDK tables independently of the readers (so damage tests hit the right
 * bytes); and a VMware-style stream-optimized VMDK writer (grain directory in the
 * footer, GD_AT_END) and a marker-less compressed one, written from the Virtual Disk
 * Format 1.1 specification because qemu-img makes neither.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';
import { buildRawDisk as buildSharedRawDisk } from './raw-disk.js';

export const run = promisify(execFile);

export { DISK_BYTES, PARTITION_START, PARTITION_BYTES } from './raw-disk.js';

/** The shared raw test disk (./raw-disk.ts), by path. */
export async function buildRawDisk(dir: string, seed: number): Promise<string> {
  return (await buildSharedRawDisk(dir, seed)).raw;
}

export async function qemuImg(...args: string[]): Promise<void> {
  await run('qemu-img', args, { maxBuffer: 16 << 20 });
}

/** Runs qemu-io commands on an image (each command one -c). */
export async function qemuIo(image: string, format: string, commands: string[]): Promise<void> {
  await run('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), image], { maxBuffer: 16 << 20 });
}

/** qemu-img's own raw rendering of an image: the reference every read is compared with. */
export async function toRaw(image: string, format: string, out = `${image}.ref.raw`): Promise<string> {
  await qemuImg('convert', '-f', format, '-O', 'raw', image, out);
  return out;
}

export async function md5OfFile(file: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** MD5 of a whole byte source, streamed in 4 MiB reads. */
export async function md5OfSource(source: ByteSource, step = 4 << 20): Promise<string> {
  const h = createHash('md5');
  for (let at = 0; at < source.size; at += step) {
    const chunk = await source.read(at, step);
    if (chunk.length !== Math.min(step, source.size - at)) throw new Error(`short read at ${at}`);
    h.update(chunk);
  }
  return h.digest('hex');
}



export async function pokeFile(file: string, at: number, data: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(data, 0, data.length, at);
  } finally {
    await fh.close();
  }
}

/** Where qemu-img put a qcow2 image's tables, and sample L2 entries, found without the reader. */
export interface Qcow2Layout {
  clusterBits: number;
  l1Offset: number;
  l1Size: number;
  /** Absolute offset of the first non-zero L1 entry's L2 table. */
  firstL2: number;
  /** Absolute offset of an L2 entry for a standard data cluster, if any. */
  dataEntryAt?: number;
  /** Absolute offsets of the L2 entries for compressed clusters. */
  compressedEntries: number[];
  /** The guest offset each of compressedEntries maps. */
  compressedGuests: number[];
}

export function qcow2Layout(img: Buffer): Qcow2Layout {
  const clusterBits = img.readUInt32BE(20);
  const l1Size = img.readUInt32BE(36);
  const l1Offset = Number(img.readBigUInt64BE(40));
  const extended = img.readUInt32BE(4) === 3 && (img.readBigUInt64BE(72) & 16n) !== 0n;
  const entryBytes = extended ? 16 : 8;
  const layout: Qcow2Layout = { clusterBits, l1Offset, l1Size, firstL2: 0, compressedEntries: [], compressedGuests: [] };
  for (let i = 0; i < l1Size; i++) {
    const l2 = Number(img.readBigUInt64BE(l1Offset + i * 8) & 0x00ff_ffff_ffff_fe00n);
    if (!l2) continue;
    layout.firstL2 ||= l2;
    for (let e = 0; e < 2 ** clusterBits / entryBytes; e++) {
      const at = l2 + e * entryBytes;
      const entry = img.readBigUInt64BE(at);
      if (entry & (1n << 62n)) {
        layout.compressedEntries.push(at);
        layout.compressedGuests.push((i * (2 ** clusterBits / entryBytes) + e) * 2 ** clusterBits);
      }
      else if (entry & 0x00ff_ffff_ffff_fe00n) layout.dataEntryAt ??= at;
    }
  }
  return layout;
}

/** Where a VMDK sparse extent keeps its grain directory and a grain table in use, found without the reader. */
export interface VmdkLayout {
  grainSize: number;
  gdOffset: number;
  /** Absolute offset of the first grain table in use. */
  gtAt: number;
  /** Absolute offset of the first grain table entry that points to a grain. */
  grainEntryAt: number;
}

export function vmdkLayout(img: Buffer): VmdkLayout {
  let header = img.subarray(0, 512);
  if (header.readBigUInt64LE(56) === 0xffff_ffff_ffff_ffffn) header = img.subarray(img.length - 1024, img.length - 512);
  const gdOffset = Number(header.readBigUInt64LE(56)) * 512;
  const grainSize = Number(header.readBigUInt64LE(20));
  for (let i = 0; ; i++) {
    const gt = img.readUInt32LE(gdOffset + i * 4) * 512;
    if (!gt) continue;
    for (let e = 0; e < 512; e++) {
      if (img.readUInt32LE(gt + e * 4) > 1) return { grainSize, gdOffset, gtAt: gt, grainEntryAt: gt + e * 4 };
    }
  }
}

const SECTOR = 512;

function marker(val: number, size: number, type: number): Buffer {
  const m = Buffer.alloc(SECTOR);
  m.writeBigUInt64LE(BigInt(val), 0);
  m.writeUInt32LE(size, 8);
  m.writeUInt32LE(type, 12);
  return m;
}

export interface CompressedVmdkOptions {
  grainSectors?: number;
  /**
   * true (default): the VMware streaming layout, header gdOffset = GD_AT_END, grain
   * markers, GT/GD markers and a footer. false: compressed grains without markers, the
   * grain directory named in the leading header (the variant qemu also reads).
   */
  streaming?: boolean;
}

/**
 * Writes a compressed sparse VMDK. Streaming (the default), the way VMware's streaming
 * writers do: header with gdOffset = GD_AT_END, embedded descriptor, compressed grains
 * behind grain markers (all-zero grains left out), each grain table behind a GT marker,
 * the grain directory behind a GD marker, then the footer marker, the footer (the
 * header with the real gdOffset) and the end-of-stream marker.
 */
export async function writeCompressedVmdk(raw: string, out: string, options: CompressedVmdkOptions = {}): Promise<void> {
  const grainSectors = options.grainSectors ?? 128;
  const streaming = options.streaming ?? true;
  const data = await readFile(raw);
  const capacity = Math.ceil(data.length / SECTOR);
  const grainBytes = grainSectors * SECTOR;
  const gtes = 512;
  const grains = Math.ceil(capacity / grainSectors);
  const gdEntries = Math.ceil(grains / gtes);
  const descriptor = Buffer.from(
    `# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="streamOptimized"\n\n# Extent description\nRW ${capacity} SPARSE "${path.basename(out)}"\n\n# The Disk Data Base\n#DDB\nddb.virtualHWVersion = "4"\n`,
  );
  const descSectors = Math.ceil(descriptor.length / SECTOR);
  const overHead = 1 + descSectors;

  const header = (gdOffset: bigint) => {
    const h = Buffer.alloc(SECTOR);
    h.writeUInt32LE(0x564d444b, 0);
    h.writeUInt32LE(3, 4);
    h.writeUInt32LE(1 | (1 << 16) | (streaming ? 1 << 17 : 0), 8);
    h.writeBigUInt64LE(BigInt(capacity), 12);
    h.writeBigUInt64LE(BigInt(grainSectors), 20);
    h.writeBigUInt64LE(1n, 28);
    h.writeBigUInt64LE(BigInt(descSectors), 36);
    h.writeUInt32LE(gtes, 44);
    h.writeBigUInt64LE(0n, 48);
    h.writeBigUInt64LE(gdOffset, 56);
    h.writeBigUInt64LE(BigInt(overHead), 64);
    h.write('\n \r\n', 73, 'latin1');
    h.writeUInt16LE(1, 77);
    return h;
  };

  const parts: Buffer[] = [Buffer.alloc(SECTOR), descriptor, Buffer.alloc(descSectors * SECTOR - descriptor.length)];
  let sector = overHead;
  const push = (b: Buffer) => {
    const padded = b.length % SECTOR ? Buffer.concat([b, Buffer.alloc(SECTOR - (b.length % SECTOR))]) : b;
    parts.push(padded);
    sector += padded.length / SECTOR;
  };
  const gd = Buffer.alloc(Math.ceil((gdEntries * 4) / SECTOR) * SECTOR);
  for (let t = 0; t < gdEntries; t++) {
    const gt = Buffer.alloc(gtes * 4);
    let used = false;
    for (let e = 0; e < gtes; e++) {
      const g = t * gtes + e;
      if (g >= grains) break;
      const chunk = Buffer.alloc(grainBytes);
      data.copy(chunk, 0, g * grainBytes, Math.min(data.length, (g + 1) * grainBytes));
      if (chunk.every((b) => b === 0)) continue;
      const z = deflateSync(chunk);
      gt.writeUInt32LE(sector, e * 4);
      if (streaming) {
        const m = Buffer.alloc(12);
        m.writeBigUInt64LE(BigInt(g * grainSectors), 0);
        m.writeUInt32LE(z.length, 8);
        push(Buffer.concat([m, z]));
      } else {
        push(z);
      }
      used = true;
    }
    if (!used) continue;
    if (streaming) push(marker(gt.length / SECTOR, 0, 1));
    gd.writeUInt32LE(sector, t * 4);
    push(gt);
  }
  if (streaming) push(marker(gd.length / SECTOR, 0, 2));
  const gdSector = sector;
  push(gd);
  if (streaming) {
    parts[0] = header(0xffff_ffff_ffff_ffffn);
    push(marker(1, 0, 3));
    push(header(BigInt(gdSector)));
    push(marker(0, 0, 0));
  } else {
    parts[0] = header(BigInt(gdSector));
  }
  await writeFile(out, Buffer.concat(parts));
}

export { BufferSource as MemorySource, CountingSource } from './buffer-source.js';
