/**
 * A qcow2 image (QEMU, libvirt, OpenStack, most cloud exports) read as the virtual disk
 * it holds, following QEMU's docs/interop/qcow2.txt for versions 2 and 3: standard,
 * zero, unallocated and compressed (zlib or zstd) clusters, and extended L2 entries
 * with their 32 subclusters. Unallocated clusters read as zeros, or from the backing
 * file when the caller allows opening one (through a callback, depth-limited). Only
 * the active layer is read; internal snapshots are not. A read maps each guest
 * cluster it touches, then merges clusters that lie back to back in the file into one
 * read of the inner source, so reading a file laid out contiguously costs one read.
 */
import { corrupt, ioError, limitExceeded, MountfsError, unsupported } from '../../errors.js';
import { readEnd, type ByteSource } from '../byte-source.js';
import { inflateBounded } from '../decompress.js';
import { readExtensions } from './extensions.js';
import { INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, isQcow2, parseHeader, parseLayout, type Qcow2Header } from './header.js';
import { Qcow2Tables, type ClusterMapping } from './l1-l2.js';
import { cacheOrOwn, type BlockCache, type CacheRegion } from '../../block-cache.js';

export { isQcow2 };

/** A backing chain deeper than this is a loop (an image naming itself) or an attack. */
export const MAX_BACKING_DEPTH = 16;
/** What the header read at open covers: the header, usual extensions and the backing name. */
const HEAD_BYTES = 4096;
/** Merged reads of the inner source stop at this size. */
const MAX_RUN_BYTES = 16 * 1024 * 1024;
const SUBCLUSTERS = 32;
const READS_IN_FLIGHT = 16;

export interface Qcow2OpenOptions {
  /** Images with a backing file are refused unless this is set. */
  allowBacking?: boolean;
  /**
   * Opens the backing file by the name the image records (the caller resolves it beside
   * the image). The returned source is closed with this Qcow2Source.
   */
  openBacking?: (name: string) => Promise<ByteSource>;
  /** Backing files above this one (set by the chain itself). */
  depth?: number;
  /** Where table pages and decompressed clusters are kept (the opened target's); a cache of its own if absent. */
  cache?: BlockCache;
}

interface Backing {
  /** What reads go to: a Qcow2Source over `inner`, or `inner` itself for a raw backing file. */
  source: ByteSource;
  inner: ByteSource;
  name: string;
  notes: string[];
}

/** One piece of a read: where `n` bytes for out[at..] come from. */
type Piece =
  | { kind: 'host'; host: number; n: number; at: number }
  | { kind: 'backing'; guest: number; n: number; at: number }
  | { kind: 'compressed'; host: number; length: number; within: number; n: number; at: number };

export class Qcow2Source implements ByteSource {
  readonly description: string;
  readonly size: number;
  private readonly tables: Qcow2Tables;
  private readonly decompressed: CacheRegion;

  private constructor(
    private readonly inner: ByteSource,
    readonly header: Qcow2Header,
    private readonly backing: Backing | null,
    private readonly openNotes: string[],
    cache: BlockCache,
  ) {
    this.size = header.size;
    this.description = `${inner.description} (qcow2 v${header.version})`;
    this.tables = new Qcow2Tables(inner, header, cache);
    this.decompressed = cache.region('qcow2 decompressed clusters');
  }

  static async open(inner: ByteSource, options: Qcow2OpenOptions = {}): Promise<Qcow2Source> {
    const head = await inner.read(0, Math.min(inner.size, HEAD_BYTES));
    if (!isQcow2(head)) throw corrupt('qcow2 header', 'no "QFI\\xfb" magic', 0);
    const layout = parseLayout(head);
    const extensions = await readExtensions(inner, layout, head);
    const header = parseHeader(head, inner.size, layout, extensions.featureNames);
    if (header.incompatible & INCOMPAT_DATA_FILE) {
      const name = extensions.externalDataFile ? ` (${extensions.externalDataFile})` : '';
      throw unsupported('qcow2 external data file', `guest data is kept in a separate data file${name}; such images are not read`, 72);
    }
    const notes: string[] = [];
    if (header.incompatible & INCOMPAT_DIRTY) notes.push('qcow2 dirty bit set: the image was not closed cleanly; refcounts may be stale (not used for reading), the mapping tables are read as they are');
    if (header.incompatible & INCOMPAT_CORRUPT) notes.push('qcow2 corrupt bit set: qemu found damage in this image; it is read as it is, with every table entry bounds-checked');
    if (header.nbSnapshots > 0) notes.push(`qcow2 image holds ${header.nbSnapshots} internal snapshot(s); only the active state is read`);

    const cache = cacheOrOwn(options.cache);
    const name = await backingName(inner, header);
    const backing = name === null ? null : await openBacking(name, extensions.backingFormat, { ...options, cache });
    return new Qcow2Source(inner, header, backing, notes, cache);
  }

  /** Conditions worth reporting (dirty, snapshots) and the backing chain. */
  notes(): string[] {
    const own = [...this.openNotes];
    if (this.backing) own.push(`qcow2 backing file ${this.backing.name}`, ...this.backing.notes);
    return own;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = readEnd(this, offset, length);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    const pieces: Piece[] = [];
    const cs = this.header.clusterSize;
    for (let pos = offset; pos < end; ) {
      const cluster = Math.floor(pos / cs);
      const clusterStart = cluster * cs;
      const stop = Math.min(end, clusterStart + cs);
      this.plan(await this.tables.lookup(cluster), clusterStart, pos, stop, offset, pieces);
      pos = stop;
    }
    await inParallel(pieces, (p) => this.fill(p, out));
    return out;
  }

  /** Closes the backing chain this source opened; `inner` belongs to whoever opened it. */
  async close(): Promise<void> {
    this.tables.clear();
    this.decompressed.clear();
    if (this.backing) {
      if (this.backing.source !== this.backing.inner) await this.backing.source.close();
      await this.backing.inner.close();
    }
  }

  /** Adds the pieces for guest bytes [from, stop) of the cluster starting at clusterStart. */
  private plan(m: ClusterMapping, clusterStart: number, from: number, stop: number, readStart: number, pieces: Piece[]): void {
    const at = from - readStart;
    switch (m.kind) {
      case 'zero':
        return; // out is zero-filled
      case 'unallocated':
        if (this.backing) addPiece(pieces, { kind: 'backing', guest: from, n: stop - from, at });
        return;
      case 'data':
        addPiece(pieces, { kind: 'host', host: m.host + (from - clusterStart), n: stop - from, at });
        return;
      case 'compressed':
        pieces.push({ kind: 'compressed', host: m.host, length: m.length, within: from - clusterStart, n: stop - from, at });
        return;
      case 'subclusters': {
        const sub = this.header.clusterSize / SUBCLUSTERS;
        for (let pos = from; pos < stop; ) {
          const i = Math.floor((pos - clusterStart) / sub);
          const subEnd = Math.min(stop, clusterStart + (i + 1) * sub);
          const n = subEnd - pos;
          if ((m.allocated >>> i) & 1) addPiece(pieces, { kind: 'host', host: m.host + (pos - clusterStart), n, at: pos - readStart });
          else if (!((m.zero >>> i) & 1) && this.backing) addPiece(pieces, { kind: 'backing', guest: pos, n, at: pos - readStart });
          pos = subEnd;
        }
        return;
      }
    }
  }

  private async fill(p: Piece, out: Buffer): Promise<void> {
    if (p.kind === 'backing') {
      // A backing file smaller than the image reads as zeros past its end.
      (await this.backing!.source.read(p.guest, p.n)).copy(out, p.at);
      return;
    }
    if (p.kind === 'host') {
      const got = await this.inner.read(p.host, p.n);
      if (got.length < p.n) throw corrupt('qcow2 data cluster', `the ${this.inner.size}-byte file ends inside a data cluster`, p.host + got.length);
      got.copy(out, p.at);
      return;
    }
    const cluster = await this.decompressed.get(p.host, this.header.clusterSize, () => this.inflateCluster(p.host, p.length));
    cluster.copy(out, p.at, p.within, p.within + p.n);
  }

  private async inflateCluster(host: number, length: number): Promise<Buffer> {
    const structure = 'qcow2 compressed cluster';
    const data = await this.inner.read(host, Math.min(length, this.inner.size - host));
    const cs = this.header.clusterSize;
    const format = this.header.compression === 'zstd' ? 'zstd' : 'deflate-raw';
    const cluster = inflateBounded(data, format, cs, { structure, offset: host });
    if (cluster.length !== cs) throw corrupt(structure, `${data.length} compressed bytes inflate to ${cluster.length} bytes, not one ${cs}-byte cluster`, host);
    return cluster;
  }
}

/** Runs `work` on every item, at most READS_IN_FLIGHT at a time (a fragmented image may give thousands of pieces). */
async function inParallel<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, items.length) }, worker));
}

/** Appends a piece, merging it into the previous one when both the image and the output continue it. */
function addPiece(pieces: Piece[], p: Piece): void {
  const prev = pieces[pieces.length - 1];
  if (prev && prev.kind === p.kind && prev.at + prev.n === p.at && prev.n + p.n <= MAX_RUN_BYTES) {
    if (prev.kind === 'host' && p.kind === 'host' && prev.host + prev.n === p.host) {
      prev.n += p.n;
      return;
    }
    if (prev.kind === 'backing' && p.kind === 'backing' && prev.guest + prev.n === p.guest) {
      prev.n += p.n;
      return;
    }
  }
  pieces.push(p);
}

/** The backing file name recorded in the header, or null when there is none. */
async function backingName(inner: ByteSource, header: Qcow2Header): Promise<string | null> {
  if (header.backingFileOffset === 0 || header.backingFileSize === 0) return null;
  const raw = await inner.read(header.backingFileOffset, header.backingFileSize);
  if (raw.length < header.backingFileSize) throw corrupt('qcow2 backing file', 'the file ends inside the backing file name', header.backingFileOffset);
  return raw.toString('utf8');
}

const OTHER_CONTAINERS: Array<[string, Buffer]> = [
  ['VMDK', Buffer.from('KDMV', 'latin1')],
  ['VMDK descriptor', Buffer.from('# Disk D', 'latin1')],
  ['VHDX', Buffer.from('vhdxfile', 'latin1')],
  ['VHD', Buffer.from('conectix', 'latin1')],
];

async function openBacking(name: string, format: string | undefined, options: Qcow2OpenOptions): Promise<Backing> {
  const structure = 'qcow2 backing file';
  if (!options.allowBacking) throw unsupported(structure, `qcow2 image has a backing file ${name}; rerun with --allow-backing`);
  if (!options.openBacking) throw unsupported(structure, `qcow2 image has a backing file ${name} and this caller cannot open other files`);
  if (format !== undefined && format !== 'qcow2' && format !== 'raw') {
    throw unsupported(structure, `backing file ${name} is in ${format} format; only qcow2 and raw backing files are read`);
  }
  const depth = (options.depth ?? 0) + 1;
  if (depth > MAX_BACKING_DEPTH) throw limitExceeded('qcow2 backing chain', `more than ${MAX_BACKING_DEPTH} backing files (${name} is the next; an image naming itself?)`);
  let inner: ByteSource;
  try {
    inner = await options.openBacking(name);
  } catch (err) {
    if (err instanceof MountfsError) throw err;
    throw ioError(structure, `backing file ${name} could not be opened: ${(err as Error).message}`);
  }
  try {
    const head = await inner.read(0, 8);
    const asQcow2 = format === 'qcow2' || (format === undefined && isQcow2(head));
    if (!asQcow2) {
      // Without a recorded format qemu probes; a container taken for raw would give its metadata as disk bytes.
      const other = OTHER_CONTAINERS.find(([, magic]) => head.subarray(0, magic.length).equals(magic));
      if (format === undefined && other) throw unsupported(structure, `backing file ${name} is a ${other[0]} image; only qcow2 and raw backing files are read`);
      return { source: inner, inner, name, notes: [] };
    }
    const source = await Qcow2Source.open(inner, { ...options, depth });
    return { source, inner, name, notes: source.notes() };
  } catch (err) {
    await inner.close().catch(() => undefined);
    throw err;
  }
}
