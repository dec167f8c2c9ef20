/**
 * The VHDX metadata region (MS-VHDX 2.6): a table of items by GUID. minescan needs the
 * file parameters (block size, whether the disk has a parent), the virtual disk size and
 * the logical sector size. An unknown item marked required is refused.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { guidAt } from './guid.js';
import type { Region } from './region-table.js';

const TABLE_SIZE = 64 * 1024;
const MAX_ENTRIES = 2047;
const FILE_PARAMETERS = 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B';
const VIRTUAL_DISK_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';
const LOGICAL_SECTOR_SIZE = '8141BF1D-A96F-4709-BA47-F233A8FAAB5F';
/** Items this reader does not use but knows to be harmless descriptions. */
const KNOWN_UNUSED = new Set([
  'BECA12AB-B2E6-4523-93EF-C309E000C746', // virtual disk id
  'CDA348C7-445D-4471-9CC9-E9885251C556', // physical sector size
  'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C', // parent locator (a differencing disk is refused on HasParent)
]);
/** MS-VHDX: at most 64 TiB. */
const MAX_DISK_SIZE = 64 * 2 ** 40;

export interface VhdxMetadata {
  blockSize: number;
  hasParent: boolean;
  virtualDiskSize: number;
  logicalSectorSize: number;
}

export async function readMetadata(inner: ByteSource, region: Region): Promise<VhdxMetadata> {
  const structure = 'VHDX metadata table';
  if (region.length < TABLE_SIZE) throw corrupt(structure, `the ${region.length}-byte region cannot hold the 64 KiB table`, region.offset);
  const table = await inner.read(region.offset, TABLE_SIZE);
  const v = new BinaryView(table, structure, region.offset);
  if (v.bytes(0, 8).toString('latin1') !== 'metadata') throw corrupt(structure, 'no "metadata" signature', region.offset);
  const count = v.u16le(10);
  if (count > MAX_ENTRIES) throw corrupt(structure, `${count} entries (at most ${MAX_ENTRIES} fit)`, region.offset + 10);
  const items = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const e = v.slice(32 + i * 32, 32, 'VHDX metadata entry');
    const guid = guidAt(e.bytes(0, 16), 0);
    const offset = e.u32le(16);
    const length = e.u32le(20);
    const required = (e.u32le(24) & 4) !== 0;
    if (guid !== FILE_PARAMETERS && guid !== VIRTUAL_DISK_SIZE && guid !== LOGICAL_SECTOR_SIZE) {
      if (required && !KNOWN_UNUSED.has(guid)) throw unsupported(structure, `required metadata item ${guid} is not one this reader knows`, e.baseOffset);
      continue;
    }
    if (items.has(guid)) throw corrupt(structure, `metadata item ${guid} is listed twice`, e.baseOffset);
    // Items used here are 4 or 8 bytes; anything else (or outside the region) is damage.
    if (offset < TABLE_SIZE || length < 4 || length > 64 || offset + length > region.length) {
      throw corrupt(structure, `item ${guid} at +${offset} (${length} bytes) is outside the ${region.length}-byte region`, e.baseOffset + 16);
    }
    const data = await inner.read(region.offset + offset, length);
    if (data.length < length) throw corrupt(structure, `the file ends inside item ${guid}`, region.offset + offset);
    items.set(guid, data);
  }
  const need = (guid: string, name: string): BinaryView => {
    const data = items.get(guid);
    if (!data) throw corrupt(structure, `no ${name} item`, region.offset);
    return new BinaryView(data, `VHDX ${name}`, region.offset);
  };
  const params = need(FILE_PARAMETERS, 'file parameters');
  const blockSize = params.u32le(0);
  const hasParent = (params.u32le(4) & 2) !== 0;
  const virtualDiskSize = need(VIRTUAL_DISK_SIZE, 'virtual disk size').u64le(0);
  const logicalSectorSize = need(LOGICAL_SECTOR_SIZE, 'logical sector size').u32le(0);
  if (blockSize < 1 << 20 || blockSize > 256 << 20 || (blockSize & (blockSize - 1)) !== 0) {
    throw corrupt('VHDX file parameters', `block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`, region.offset);
  }
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) {
    throw corrupt('VHDX logical sector size', `${logicalSectorSize} is neither 512 nor 4096`, region.offset);
  }
  if (virtualDiskSize === 0 || virtualDiskSize > MAX_DISK_SIZE || virtualDiskSize % logicalSectorSize !== 0) {
    throw corrupt('VHDX virtual disk size', `${virtualDiskSize} bytes is not a whole number of sectors up to 64 TiB`, region.offset);
  }
  return { blockSize, hasParent, virtualDiskSize, logicalSectorSize };
}
