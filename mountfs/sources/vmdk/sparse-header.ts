/**
 * The VMDK hosted sparse extent header ("KDMV", 512 bytes, little-endian), following
 * VMware's Virtual Disk Format 1.1 "Hosted Sparse Extent Header": capacity and grain
 * size in sectors, where the grain directory lies, and the flags that say whether
 * grains are compressed (stream-optimized) and preceded by markers. The values are
 * checked here against each other and against bounds that keep every later table read
 * small; whether the tables lie inside the file is checked once the footer (if any)
 * has given their final position.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';

export const SECTOR = 512;
export const SPARSE_MAGIC = 0x564d444b; // "KDMV" read little-endian
export const SPARSE_HEADER_SIZE = 512;
/** gdOffset value meaning "the grain directory is described by the footer at the end". */
export const GD_AT_END = 0xffff_ffff_ffff_ffffn;

const FLAG_NEWLINE_TEST = 1 << 0;
const FLAG_ZERO_GRAINS = 1 << 2;
const FLAG_COMPRESSED = 1 << 16;
const FLAG_MARKERS = 1 << 17;
const COMPRESSION_DEFLATE = 1;
/** Grains above 2 MiB exist nowhere; bounding them bounds every decompressed grain. */
export const MAX_GRAIN_SECTORS = 4096;
/** VMware writes 512; the bound keeps one grain table read small. */
const MAX_GTES_PER_GT = 4096;

export interface SparseHeader {
  version: number;
  flags: number;
  /** Capacity of the extent, in sectors. */
  capacity: number;
  /** Grain size, in sectors. */
  grainSize: number;
  descriptorOffset: number;
  descriptorSize: number;
  numGTEsPerGT: number;
  /** Grain directory, in sectors; null when the footer holds it (GD_AT_END). */
  gdOffset: number | null;
  /** Sectors of metadata at the start of the file; grains lie after them. */
  overHead: number;
  compressed: boolean;
  markers: boolean;
  /** Grain table entry 1 means a grain of zeros. */
  zeroGrains: boolean;
  /** Entries in the grain directory. */
  gdEntries: number;
}

export function hasSparseMagic(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === SPARSE_MAGIC;
}

/** Parses the header in `buf` (512 bytes) found at byte `at` of the file. */
export function parseSparseHeader(buf: Buffer, at: number): SparseHeader {
  const structure = at === 0 ? 'VMDK sparse header' : 'VMDK footer';
  const v = new BinaryView(buf, structure, at);
  if (v.length < SPARSE_HEADER_SIZE) throw corrupt(structure, `only ${v.length} of ${SPARSE_HEADER_SIZE} bytes present`, at);
  if (v.u32le(0) !== SPARSE_MAGIC) throw corrupt(structure, 'no "KDMV" magic', at);
  const version = v.u32le(4);
  if (version < 1 || version > 3) throw unsupported(structure, `sparse extent version ${version} (1 to 3 are read)`, at + 4);
  const flags = v.u32le(8);
  if (flags & FLAG_NEWLINE_TEST) {
    // Bytes 73-76 hold "\n \r\n": a file copied in text mode has them rewritten, and its data too.
    if (v.u8(73) !== 0x0a || v.u8(74) !== 0x20 || v.u8(75) !== 0x0d || v.u8(76) !== 0x0a) {
      throw corrupt(structure, 'newline detection bytes are altered (the file was copied in text mode?)', at + 73);
    }
  }
  const capacity = v.u64le(12);
  const grainSize = v.u64le(20);
  if (capacity * SECTOR > Number.MAX_SAFE_INTEGER) throw corrupt(structure, `capacity of ${capacity} sectors is larger than any supported disk`, at + 12);
  if (grainSize < 1 || grainSize > MAX_GRAIN_SECTORS) throw corrupt(structure, `grain size of ${grainSize} sectors is outside 1..${MAX_GRAIN_SECTORS}`, at + 20);
  const numGTEsPerGT = v.u32le(44);
  if (numGTEsPerGT < 1 || numGTEsPerGT > MAX_GTES_PER_GT) throw corrupt(structure, `${numGTEsPerGT} entries per grain table is outside 1..${MAX_GTES_PER_GT}`, at + 44);
  const compressed = (flags & FLAG_COMPRESSED) !== 0;
  if (compressed) {
    const algorithm = v.u16le(77);
    if (algorithm !== COMPRESSION_DEFLATE) throw unsupported(structure, `compression algorithm ${algorithm} (only deflate is read)`, at + 77);
  }
  const gdRaw = v.buf.readBigUInt64LE(56);
  return {
    version,
    flags,
    capacity,
    grainSize,
    descriptorOffset: v.u64le(28),
    descriptorSize: v.u64le(36),
    numGTEsPerGT,
    gdOffset: gdRaw === GD_AT_END ? null : v.u64le(56),
    overHead: v.u64le(64),
    compressed,
    markers: (flags & FLAG_MARKERS) !== 0,
    zeroGrains: (flags & FLAG_ZERO_GRAINS) !== 0,
    gdEntries: Math.ceil(capacity / (grainSize * numGTEsPerGT)),
  };
}
