/**
 * The VHDX region table (MS-VHDX 2.2.3): two 64 KiB copies at 192 KiB and 256 KiB,
 * each CRC-32C protected, listing where the block allocation table and the metadata
 * region lie. A region this reader does not know that is marked required means the
 * file needs features minescan lacks, so it is refused rather than misread.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, MountfsError, unsupported } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { crc32cWithZeroedField } from '../../crc32c.js';
import { guidAt } from './guid.js';

const TABLE_OFFSETS = [192 * 1024, 256 * 1024] as const;
const TABLE_SIZE = 64 * 1024;
const MAX_ENTRIES = 2047;

export const BAT_REGION = '2DC27766-F623-4200-9D64-115E9BFD4A08';
export const METADATA_REGION = '8B7CA206-4790-4B9A-B8FE-575F050F886E';

export interface Region {
  offset: number;
  length: number;
}

export interface Regions {
  bat: Region;
  metadata: Region;
}

export function parseRegionTable(buf: Buffer, offset: number, fileSize: number): Regions {
  const structure = 'VHDX region table';
  const v = new BinaryView(buf, structure, offset);
  if (v.bytes(0, 4).toString('latin1') !== 'regi') throw corrupt(structure, 'no "regi" signature', offset);
  const stored = v.u32le(4);
  const computed = crc32cWithZeroedField(v.bytes(0, TABLE_SIZE), 4);
  if (stored !== computed) throw corrupt(structure, `CRC-32C 0x${stored.toString(16)} does not match the contents (0x${computed.toString(16)})`, offset + 4);
  const count = v.u32le(8);
  if (count > MAX_ENTRIES) throw corrupt(structure, `${count} entries (at most ${MAX_ENTRIES} fit)`, offset + 8);
  const found = new Map<string, Region>();
  for (let i = 0; i < count; i++) {
    const e = v.slice(16 + i * 32, 32, 'VHDX region table entry');
    const guid = guidAt(e.bytes(0, 16), 0);
    const region = { offset: e.u64le(16), length: e.u32le(24) };
    const required = (e.u32le(28) & 1) === 1;
    if (guid !== BAT_REGION && guid !== METADATA_REGION) {
      if (required) throw unsupported(structure, `required region ${guid} is not one this reader knows`, e.baseOffset);
      continue;
    }
    if (found.has(guid)) throw corrupt(structure, `region ${guid} is listed twice`, e.baseOffset);
    if (region.offset < 1024 * 1024 || region.offset % (1024 * 1024) !== 0 || region.length === 0) {
      throw corrupt(structure, `region ${guid} at ${region.offset} (${region.length} bytes) is not a 1 MiB-aligned area past the headers`, e.baseOffset + 16);
    }
    if (region.offset + region.length > fileSize) {
      throw corrupt(structure, `region ${guid} at ${region.offset} (${region.length} bytes) runs past the end of the ${fileSize}-byte file`, e.baseOffset + 16);
    }
    found.set(guid, region);
  }
  const bat = found.get(BAT_REGION);
  const metadata = found.get(METADATA_REGION);
  if (!bat || !metadata) throw corrupt(structure, `no ${bat ? 'metadata' : 'block allocation table'} region`, offset);
  return { bat, metadata };
}

/** The first valid copy of the region table. */
export async function readRegions(inner: ByteSource, notes: string[]): Promise<Regions> {
  let first: MountfsError | undefined;
  for (const at of TABLE_OFFSETS) {
    try {
      const buf = await inner.read(at, TABLE_SIZE);
      if (buf.length < TABLE_SIZE) throw corrupt('VHDX region table', 'the file ends inside the table', at + buf.length);
      const regions = parseRegionTable(buf, at, inner.size);
      if (first) notes.push(`the first VHDX region table is damaged (${first.message}); the copy was used`);
      return regions;
    } catch (err) {
      if (!(err instanceof MountfsError) || err.kind === 'unsupported') throw err;
      first ??= err;
    }
  }
  throw first!;
}
