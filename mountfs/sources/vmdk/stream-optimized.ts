/**
 * The stream-optimized parts of a VMDK sparse extent (VMware Virtual Disk Format 1.1,
 * "Stream-Optimized Compressed Sparse Extents"): the footer that holds the real header
 * when the leading header says GD_AT_END (written last by streaming writers such as
 * OVF exporters), and compressed grains, each a grain marker {lba u64, size u32}
 * followed by `size` bytes of zlib data. Compressed sizes and inflated sizes are
 * capped by the grain size, so a lying marker cannot make the reader allocate more.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { inflateBounded } from '../decompress.js';
import { parseSparseHeader, SECTOR, SPARSE_HEADER_SIZE, type SparseHeader } from './sparse-header.js';

const MARKER_EOS = 0;
const MARKER_FOOTER = 3;
/** Grain marker: lba (8 bytes) and size (4 bytes), then the data. */
const GRAIN_MARKER_BYTES = 12;

/**
 * Reads the footer at the end of the file: a footer marker, the header copy, and an
 * end-of-stream marker, one sector each.
 */
export async function readFooterHeader(inner: ByteSource): Promise<SparseHeader> {
  const structure = 'VMDK footer';
  const at = inner.size - 3 * SECTOR;
  if (at < SECTOR) throw corrupt(structure, 'the header says the grain directory is in the footer, but the file is too short to hold one', 0);
  const buf = await inner.read(at, 3 * SECTOR);
  const v = new BinaryView(buf, structure, at);
  if (v.u32le(12) !== MARKER_FOOTER || v.u32le(8) !== 0) throw corrupt(structure, 'no footer marker 1536 bytes before the end of the file', at);
  if (v.u32le(2 * SECTOR + 8) !== 0 || v.u32le(2 * SECTOR + 12) !== MARKER_EOS) {
    throw corrupt(structure, 'no end-of-stream marker in the last sector', at + 2 * SECTOR);
  }
  const footer = parseSparseHeader(v.bytes(SECTOR, SPARSE_HEADER_SIZE), at + SECTOR);
  if (footer.gdOffset === null) throw corrupt(structure, 'the footer, too, says the grain directory is at the end', at + SECTOR + 56);
  return footer;
}

export interface CompressedGrainRef {
  /** Sector of the grain (its marker when the extent has markers). */
  sector: number;
  /** The first sector of the extent the grain holds, which its marker must name. */
  lba: number;
  /** Bytes one grain inflates to. */
  grainBytes: number;
  markers: boolean;
}

/** Reads and inflates one compressed grain; the result is at most grainBytes long. */
export async function readCompressedGrain(inner: ByteSource, g: CompressedGrainRef): Promise<Buffer> {
  const structure = 'VMDK compressed grain';
  const at = g.sector * SECTOR;
  // zlib never grows data by more than a few bytes per 16 KiB: twice the grain is ample.
  const maxCompressed = 2 * g.grainBytes + SECTOR;
  let data: Buffer;
  let dataAt: number;
  if (g.markers) {
    const first = await inner.read(at, SECTOR);
    const v = new BinaryView(first, 'VMDK grain marker', at);
    if (v.length < GRAIN_MARKER_BYTES) throw corrupt('VMDK grain marker', 'the file ends inside the grain marker', at);
    const lba = v.u64le(0);
    const size = v.u32le(8);
    if (size === 0) throw corrupt('VMDK grain marker', 'a metadata marker lies where a grain table entry points to a grain', at);
    if (lba !== g.lba) throw corrupt('VMDK grain marker', `marker names sector ${lba}, the grain table entry sector ${g.lba}`, at);
    if (size > maxCompressed) throw corrupt('VMDK grain marker', `compressed size ${size} is larger than a ${g.grainBytes}-byte grain can need`, at + 8);
    dataAt = at + GRAIN_MARKER_BYTES;
    data = GRAIN_MARKER_BYTES + size <= first.length ? first.subarray(GRAIN_MARKER_BYTES, GRAIN_MARKER_BYTES + size) : await inner.read(dataAt, size);
    if (data.length < size) throw corrupt(structure, `the file ends inside a ${size}-byte compressed grain`, dataAt + data.length);
  } else {
    // Without markers the compressed length is not recorded: the zlib stream ends itself.
    dataAt = at;
    data = await inner.read(at, Math.min(maxCompressed, Math.max(0, inner.size - at)));
  }
  return inflateBounded(data, 'zlib', g.grainBytes, { structure, offset: dataAt });
}
