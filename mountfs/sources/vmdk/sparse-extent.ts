/**
 * One VMDK hosted sparse extent ("KDMV" file: monolithicSparse, streamOptimized, each
 * file of twoGbMaxExtentSparse) read as the run of sectors it holds, following VMware's
 * Virtual Disk Format 1.1. Grains are plain or zlib-compressed; unallocated grains read
 * as zeros. A read maps each grain it touches and merges grains that lie back to back
 * in the file into one read. The extent's embedded descriptor is checked for a parent:
 * a delta disk's unallocated grains belong to a parent this reader does not open.
 */
import { corrupt, limitExceeded, unsupported } from '../../errors.js';
import { readEnd, type ByteSource } from '../byte-source.js';
import { cacheOrOwn, type BlockCache, type CacheRegion } from '../../block-cache.js';
import { MAX_DESCRIPTOR_BYTES, parseDescriptor } from './descriptor.js';
import { GrainTables } from './grain-table.js';
import { parseSparseHeader, SECTOR, SPARSE_HEADER_SIZE, type SparseHeader } from './sparse-header.js';
import { readCompressedGrain, readFooterHeader } from './stream-optimized.js';

const MAX_RUN_BYTES = 16 * 1024 * 1024;
const READS_IN_FLIGHT = 16;

type Piece =
  | { kind: 'file'; fileAt: number; n: number; at: number }
  | { kind: 'compressed'; sector: number; grain: number; within: number; n: number; at: number };

export class SparseExtent implements ByteSource {
  readonly size: number;
  private readonly tables: GrainTables;
  private readonly inflated: CacheRegion;
  private readonly grainBytes: number;

  private constructor(
    private readonly file: ByteSource,
    readonly header: SparseHeader,
    readonly description: string,
    /** Descriptor text embedded in the file, when there is one. */
    readonly embeddedDescriptor: string | null,
    cache: BlockCache,
  ) {
    this.size = header.capacity * SECTOR;
    this.grainBytes = header.grainSize * SECTOR;
    this.tables = new GrainTables(file, header, cache);
    this.inflated = cache.region('VMDK inflated grains');
  }

  /** `cache` keeps grain tables and inflated grains (the opened target's); one of its own if absent. */
  static async open(file: ByteSource, cache?: BlockCache): Promise<SparseExtent> {
    const head = await file.read(0, SPARSE_HEADER_SIZE);
    let header = parseSparseHeader(head, 0);
    if (header.gdOffset === null) header = await readFooterHeader(file);
    const text = await embeddedDescriptor(file, header);
    if (text !== null) {
      const parent = parseDescriptor(text, header.descriptorOffset * SECTOR).parent;
      if (parent) {
        throw unsupported('VMDK delta disk', `the extent is a delta over parent ${parent.hint ?? `CID ${parent.cid}`}; VMDK parent chains are not read`);
      }
    }
    return new SparseExtent(file, header, `${file.description} (VMDK sparse extent)`, text, cacheOrOwn(cache));
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = readEnd(this, offset, length);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    const pieces: Piece[] = [];
    const gb = this.grainBytes;
    for (let pos = offset; pos < end; ) {
      const grain = Math.floor(pos / gb);
      const grainStart = grain * gb;
      const stop = Math.min(end, grainStart + gb);
      const m = await this.tables.lookup(grain);
      if (m.kind === 'grain') {
        const piece = { n: stop - pos, at: pos - offset };
        if (this.header.compressed) pieces.push({ kind: 'compressed', sector: m.sector, grain, within: pos - grainStart, ...piece });
        else addFilePiece(pieces, { kind: 'file', fileAt: m.sector * SECTOR + (pos - grainStart), ...piece });
      }
      pos = stop; // unallocated and zero grains: out is zero-filled
    }
    let next = 0;
    const worker = async () => {
      while (next < pieces.length) await this.fill(pieces[next++]!, out);
    };
    await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, pieces.length) }, worker));
    return out;
  }

  /** The file belongs to whoever opened it. */
  async close(): Promise<void> {
    this.tables.clear();
    this.inflated.clear();
  }

  private async fill(p: Piece, out: Buffer): Promise<void> {
    if (p.kind === 'file') {
      const got = await this.file.read(p.fileAt, p.n);
      if (got.length < p.n) throw corrupt('VMDK grain', `the ${this.file.size}-byte file ends inside a grain`, p.fileAt + got.length);
      got.copy(out, p.at);
      return;
    }
    const grain = await this.inflated.get(p.grain, this.grainBytes, () => this.inflate(p.sector, p.grain));
    grain.copy(out, p.at, p.within, p.within + p.n);
  }

  private async inflate(sector: number, grain: number): Promise<Buffer> {
    const gb = this.grainBytes;
    const data = await readCompressedGrain(this.file, { sector, lba: grain * this.header.grainSize, grainBytes: gb, markers: this.header.markers });
    // The last grain may stop at the capacity; every other one inflates to a whole grain.
    const needed = Math.min(gb, this.size - grain * gb);
    if (data.length < needed) throw corrupt('VMDK compressed grain', `inflates to ${data.length} bytes, not the ${needed} of a grain`, sector * SECTOR);
    if (data.length === gb) return data;
    const whole = Buffer.alloc(gb);
    data.copy(whole);
    return whole;
  }
}

function addFilePiece(pieces: Piece[], p: Piece & { kind: 'file' }): void {
  const prev = pieces[pieces.length - 1];
  if (prev && prev.kind === 'file' && prev.fileAt + prev.n === p.fileAt && prev.at + prev.n === p.at && prev.n + p.n <= MAX_RUN_BYTES) {
    prev.n += p.n;
    return;
  }
  pieces.push(p);
}

/** The descriptor embedded in a sparse extent, or null when it has none. */
async function embeddedDescriptor(file: ByteSource, h: SparseHeader): Promise<string | null> {
  if (h.descriptorOffset === 0 || h.descriptorSize === 0) return null;
  const at = h.descriptorOffset * SECTOR;
  const bytes = h.descriptorSize * SECTOR;
  if (bytes > MAX_DESCRIPTOR_BYTES) throw limitExceeded('VMDK descriptor', `embedded descriptor of ${bytes} bytes is larger than ${MAX_DESCRIPTOR_BYTES}`, at);
  if (at + bytes > file.size) throw corrupt('VMDK sparse header', `embedded descriptor at sector ${h.descriptorOffset} runs past the end of the file`, 28);
  return (await file.read(at, bytes)).toString('utf8');
}
