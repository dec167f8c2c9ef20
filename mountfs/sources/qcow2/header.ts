/**
 * The qcow2 image header (versions 2 and 3), following QEMU's docs/interop/qcow2.txt
 * "Header": the fixed fields every later lookup depends on (cluster size, virtual
 * size, the active L1 table), checked here once against each other and against the
 * file size, so the table code can trust them. Features that change how data is
 * found and that minescan does not implement (encryption, unknown incompatible bits)
 * are refused here with an `unsupported` error; external data files are refused by
 * the source, once the header extensions have given the file's name.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const V2_HEADER_LENGTH = 72;
const V3_MIN_HEADER_LENGTH = 104;
/** qemu cannot open larger clusters (2 MiB); smaller than a sector is invalid. */
const MIN_CLUSTER_BITS = 9;
const MAX_CLUSTER_BITS = 21;
/** qemu's QCOW_MAX_L1_SIZE: 32 MiB of L1 entries. */
const MAX_L1_BYTES = 32 * 1024 * 1024;
/** Longest backing file name qemu accepts. */
const MAX_BACKING_NAME = 1023;

export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTENDED_L2 = 1n << 4n;
const INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTENDED_L2;

export type Qcow2Compression = 'zlib' | 'zstd';

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  clusterSize: number;
  /** Virtual disk size in bytes. */
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  nbSnapshots: number;
  incompatible: bigint;
  /** Where header extensions start: the header length. */
  headerLength: number;
  compression: Qcow2Compression;
  extendedL2: boolean;
  /** Bytes per L2 entry: 8, or 16 with extended L2 entries. */
  l2EntryBytes: number;
  /** Entries per L2 table (one cluster). */
  l2Entries: number;
}

/** The magic alone: a version-1 qcow image shares it and is refused by open() with a clear message. */
export function isQcow2(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === QCOW2_MAGIC;
}

/** The fields needed to find the header extensions, checked; the rest comes from parseHeader. */
export interface Qcow2Layout {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  /** Where header extensions start. */
  headerLength: number;
  incompatible: bigint;
}

export function parseLayout(head: Buffer): Qcow2Layout {
  const v = new BinaryView(head, 'qcow2 header', 0);
  if (v.length < V2_HEADER_LENGTH) throw corrupt('qcow2 header', `the file is only ${v.length} bytes`, 0);
  if (v.u32be(0) !== QCOW2_MAGIC) throw corrupt('qcow2 header', 'no "QFI\\xfb" magic', 0);
  const version = v.u32be(4);
  if (version !== 2 && version !== 3) throw unsupported('qcow2 header', `qcow version ${version} (only 2 and 3 are read)`, 4);
  const clusterBits = v.u32be(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw corrupt('qcow2 header', `cluster_bits ${clusterBits} is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`, 20);
  }
  const clusterSize = 2 ** clusterBits;
  if (version === 2) return { version, clusterBits, clusterSize, headerLength: V2_HEADER_LENGTH, incompatible: 0n };
  if (v.length < V3_MIN_HEADER_LENGTH) throw corrupt('qcow2 header', `a version 3 header needs ${V3_MIN_HEADER_LENGTH} bytes, the file has ${v.length}`, 0);
  const headerLength = v.u32be(100);
  if (headerLength < V3_MIN_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > clusterSize) {
    throw corrupt('qcow2 header', `header_length ${headerLength} is not a multiple of 8 between ${V3_MIN_HEADER_LENGTH} and the cluster size`, 100);
  }
  return { version, clusterBits, clusterSize, headerLength, incompatible: v.buf.readBigUInt64BE(72) };
}

/**
 * Parses and cross-checks the rest of the header in `head` (the file's first bytes).
 * `featureNames` (from the feature name table extension) names unknown features in the error.
 */
export function parseHeader(head: Buffer, fileSize: number, layout: Qcow2Layout, featureNames: Map<string, string> = new Map()): Qcow2Header {
  const v = new BinaryView(head, 'qcow2 header', 0);
  const { version, clusterBits, clusterSize, headerLength, incompatible } = layout;
  const unknown = incompatible & ~INCOMPAT_KNOWN;
  if (unknown) {
    const bits = [...Array(64).keys()].filter((b) => unknown & (1n << BigInt(b)));
    const named = bits.map((b) => featureNames.get(`incompatible:${b}`) ?? `bit ${b}`);
    throw unsupported('qcow2 header', `unknown incompatible features: ${named.join(', ')}`, 72);
  }
  let compression: Qcow2Compression = 'zlib';
  if (version === 3) {
    const typeField = headerLength > 104 ? v.u8(104) : 0;
    if (incompatible & INCOMPAT_COMPRESSION) {
      if (typeField === 1) compression = 'zstd';
      else if (typeField === 0) throw corrupt('qcow2 header', 'the compression type bit is set but compression_type is zlib', 104);
      else throw unsupported('qcow2 header', `compression type ${typeField}`, 104);
    } else if (typeField !== 0) {
      throw corrupt('qcow2 header', `compression_type ${typeField} without the compression type feature bit`, 104);
    }
  }

  const extendedL2 = (incompatible & INCOMPAT_EXTENDED_L2) !== 0n;
  if (extendedL2 && clusterBits < 14) throw corrupt('qcow2 header', `extended L2 entries need clusters of 16 KiB or more, not ${clusterSize}`, 20);
  const l2EntryBytes = extendedL2 ? 16 : 8;
  const l2Entries = clusterSize / l2EntryBytes;

  const header: Qcow2Header = {
    version,
    backingFileOffset: v.u64be(8),
    backingFileSize: v.u32be(16),
    clusterBits,
    clusterSize,
    size: v.u64be(24),
    cryptMethod: v.u32be(32),
    l1Size: v.u32be(36),
    l1TableOffset: v.u64be(40),
    nbSnapshots: v.u32be(60),
    incompatible,
    headerLength,
    compression,
    extendedL2,
    l2EntryBytes,
    l2Entries,
  };

  if (header.cryptMethod !== 0) {
    const how = header.cryptMethod === 1 ? 'AES' : header.cryptMethod === 2 ? 'LUKS' : `method ${header.cryptMethod}`;
    throw unsupported('qcow2 header', `the image is encrypted (${how}); minescan reads no encrypted images`, 32);
  }

  // The L1 table must cover the whole virtual disk and lie inside the file.
  const bytesPerL1Entry = clusterSize * l2Entries;
  const needed = Math.ceil(header.size / bytesPerL1Entry);
  if (header.l1Size * 8 > MAX_L1_BYTES) throw corrupt('qcow2 header', `L1 table of ${header.l1Size} entries is larger than qemu allows`, 36);
  if (header.l1Size < needed) {
    throw corrupt('qcow2 header', `L1 table of ${header.l1Size} entries cannot map the ${header.size}-byte disk (${needed} needed)`, 36);
  }
  if (header.l1Size > 0) {
    if (header.l1TableOffset % clusterSize !== 0 || header.l1TableOffset === 0) {
      throw corrupt('qcow2 header', `L1 table offset ${header.l1TableOffset} is not a non-zero multiple of the cluster size`, 40);
    }
    if (header.l1TableOffset + header.l1Size * 8 > fileSize) {
      throw corrupt('qcow2 header', `L1 table at ${header.l1TableOffset} (${header.l1Size} entries) runs past the end of the ${fileSize}-byte file`, 40);
    }
  }

  if (header.backingFileOffset !== 0) {
    if (header.backingFileSize > MAX_BACKING_NAME) {
      throw corrupt('qcow2 header', `backing file name of ${header.backingFileSize} bytes is longer than ${MAX_BACKING_NAME}`, 16);
    }
    if (header.backingFileOffset + header.backingFileSize > fileSize) {
      throw corrupt('qcow2 header', `backing file name at ${header.backingFileOffset} runs past the end of the file`, 8);
    }
  }
  return header;
}
