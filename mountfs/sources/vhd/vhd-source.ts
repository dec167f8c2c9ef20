/**
 * A VHD (Virtual PC / Hyper-V / Azure) image read as the virtual disk it holds. Fixed
 * disks are the raw bytes followed by a footer; dynamic disks map fixed-size blocks
 * through a block allocation table (unallocated blocks read as zeros); differencing
 * disks take every sector their per-block bitmap does not mark from a parent VHD,
 * opened through a callback by file name only and only when backing files are allowed.
 * Follows Microsoft's "Virtual Hard Disk Image Format Specification" 1.0. In an
 * allocated block of a dynamic disk the data is read as stored, ignoring the sector
 * bitmap, as QEMU does (QEMU marks whole blocks present; readers that honour the bitmap
 * would hide data written by tools that do not keep it).
 */
import { cacheOrOwn, type BlockCache, type CacheRegion } from '../../block-cache.js';
import { corrupt, ioError, limitExceeded, MountfsError, unsupported } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { readAcrossBlocks } from '../block-split.js';
import { DISK_DIFFERENCING, DISK_FIXED, FOOTER_SIZE, hasCookie, parseFooter, type VhdFooter } from './footer.js';
import { decodeLocator, DYNAMIC_HEADER_SIZE, MAX_LOCATOR_BYTES, parseDynamicHeader, type DynamicHeader } from './dynamic-header.js';

const UNALLOCATED = 0xffffffff;
/** Entries of the block table read at once. */
const TABLE_PAGE_ENTRIES = 4096;
/** A chain of differencing disks deeper than this is a loop or an attack. */
const MAX_CHAIN_DEPTH = 16;

export interface VhdOpenOptions {
  /** Differencing disks need their parent file; without this they are refused. */
  allowBacking?: boolean;
  /**
   * Opens a parent image by its file name (the last component of the path the child
   * recorded; never a directory). The returned source is closed with this VhdSource.
   */
  openParent?: (name: string) => Promise<ByteSource>;
  /** Where table pages and sector bitmaps are kept (the opened target's); a cache of its own if absent. */
  cache?: BlockCache;
}

/** A footer at the end (512 bytes, or 511 in images older than Virtual PC 2004), or a dynamic disk's copy at the start. */
export async function isVhd(inner: ByteSource): Promise<boolean> {
  if (inner.size < FOOTER_SIZE) return false;
  const tail = await inner.read(inner.size - FOOTER_SIZE, FOOTER_SIZE);
  if (hasCookie(tail, 0) || hasCookie(tail, 1)) return true;
  return hasCookie(await inner.read(0, FOOTER_SIZE), 0);
}

export class VhdSource implements ByteSource {
  readonly description: string;
  readonly size: number;
  private readonly tablePages: CacheRegion;
  private readonly bitmaps: CacheRegion;

  private constructor(
    private readonly inner: ByteSource,
    readonly footer: VhdFooter,
    private readonly header: DynamicHeader | null,
    private readonly parent: { source: VhdSource; inner: ByteSource; name: string } | null,
    private readonly openNotes: string[],
    cache: BlockCache,
  ) {
    this.size = footer.currentSize;
    this.tablePages = cache.region('VHD block table pages');
    this.bitmaps = cache.region('VHD sector bitmaps');
    const kind = footer.diskType === DISK_FIXED ? 'fixed' : footer.diskType === DISK_DIFFERENCING ? 'differencing' : 'dynamic';
    this.description = `${inner.description} (VHD ${kind})`;
  }

  static async open(inner: ByteSource, options: VhdOpenOptions = {}): Promise<VhdSource> {
    return VhdSource.openAt(inner, { ...options, cache: cacheOrOwn(options.cache) }, 0, new Set());
  }

  /**
   * `seen` holds the unique ids of the children below, to refuse a chain that loops;
   * `expectedId` is the unique id the child recorded for this parent, checked before
   * anything further is opened.
   */
  private static async openAt(
    inner: ByteSource,
    options: VhdOpenOptions,
    depth: number,
    seen: Set<string>,
    expectedId?: { id: string; child: string },
  ): Promise<VhdSource> {
    // Set by open(), so the whole chain shares one.
    const cache = cacheOrOwn(options.cache);
    const notes: string[] = [];
    const { footer, footerOffset } = await readFooter(inner, notes);
    const id = footer.uniqueId.toString('hex');
    if (expectedId && id !== expectedId.id) {
      throw corrupt('VHD differencing disk', `${inner.description} is not the parent of ${expectedId.child} (unique id ${id}, expected ${expectedId.id})`);
    }
    if (footer.diskType === DISK_FIXED) {
      if (footer.currentSize > footerOffset) {
        throw corrupt('VHD footer', `a fixed disk of ${footer.currentSize} bytes needs more than the ${footerOffset} bytes before the footer`, footerOffset + 48);
      }
      return new VhdSource(inner, footer, null, null, notes, cache);
    }
    const headerAt = footer.dataOffset!;
    if (headerAt + DYNAMIC_HEADER_SIZE > inner.size) throw corrupt('VHD footer', `dynamic header offset ${headerAt} is past the end of the file`, footerOffset + 16);
    const header = parseDynamicHeader(await inner.read(headerAt, DYNAMIC_HEADER_SIZE), headerAt, inner.size);
    const blocks = Math.ceil(footer.currentSize / header.blockSize);
    if (header.maxTableEntries < blocks) {
      throw corrupt('VHD dynamic header', `${header.maxTableEntries} table entries cannot map ${blocks} blocks of the ${footer.currentSize}-byte disk`, headerAt + 28);
    }
    if (footer.diskType !== DISK_DIFFERENCING) return new VhdSource(inner, footer, header, null, notes, cache);

    const names = await parentNames(inner, header);
    const shown = names[0] ?? '(unnamed)';
    if (!options.allowBacking) {
      throw unsupported('VHD differencing disk', `its parent ${shown} is needed; rerun with --allow-backing`);
    }
    if (!options.openParent) throw unsupported('VHD differencing disk', `its parent ${shown} is needed and this caller cannot open other files`);
    if (depth + 1 > MAX_CHAIN_DEPTH) throw limitExceeded('VHD differencing chain', `more than ${MAX_CHAIN_DEPTH} parents`);
    seen.add(id);
    const parentId = header.parentUniqueId.toString('hex');
    if (seen.has(parentId)) throw corrupt('VHD differencing chain', `the disk ${parentId} is its own ancestor`, headerAt + 40);
    const parent = await VhdSource.openParent(names, options, depth, seen, { id: parentId, child: inner.description });
    return new VhdSource(inner, footer, header, parent, notes, cache);
  }

  /** Tries each candidate name; the first file that opens must carry the unique id the child recorded. */
  private static async openParent(
    names: string[],
    options: VhdOpenOptions,
    depth: number,
    seen: Set<string>,
    expectedId: { id: string; child: string },
  ): Promise<{ source: VhdSource; inner: ByteSource; name: string }> {
    const failures: string[] = [];
    for (const name of names) {
      let parentInner: ByteSource;
      try {
        parentInner = await options.openParent!(name);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
        continue;
      }
      try {
        return { source: await VhdSource.openAt(parentInner, options, depth + 1, seen, expectedId), inner: parentInner, name };
      } catch (err) {
        await parentInner.close().catch(() => undefined);
        throw err;
      }
    }
    throw ioError('VHD differencing disk', names.length ? `its parent could not be opened (${failures.join('; ')})` : 'it names no parent file');
  }

  /** Damage worked around while opening, and the parent chain. */
  notes(): string[] {
    const own = [...this.openNotes];
    if (this.parent) own.push(`differencing disk over parent ${this.parent.name}`, ...this.parent.source.notes());
    return own;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (!(end > offset) || offset < 0) return Buffer.alloc(0);
    if (!this.header) {
      const got = await this.inner.read(offset, end - offset);
      if (got.length < end - offset) throw corrupt('VHD fixed disk data', 'the file ends before the disk does', offset + got.length);
      return got;
    }
    return readAcrossBlocks(offset, end, this.header.blockSize, (b, w, n, out, at) => this.readBlockPiece(b, w, n, out, at));
  }

  /** Closes the parent chain this source opened; `inner` belongs to whoever opened it. */
  async close(): Promise<void> {
    this.tablePages.clear();
    this.bitmaps.clear();
    if (this.parent) {
      await this.parent.source.close();
      await this.parent.inner.close();
    }
  }

  private async readBlockPiece(block: number, within: number, n: number, out: Buffer, at: number): Promise<void> {
    const header = this.header!;
    const entry = await this.tableEntry(block);
    const diskOffset = block * header.blockSize + within;
    if (entry === UNALLOCATED) {
      if (this.parent) await this.readParent(diskOffset, n, out, at);
      return; // a dynamic disk's unallocated block reads as zeros; out is zero-filled
    }
    const blockStart = entry * 512;
    const dataStart = blockStart + header.bitmapSize;
    if (dataStart + within + n > this.inner.size) {
      throw corrupt('VHD block table', `block ${block} at ${blockStart} runs past the end of the ${this.inner.size}-byte file`, header.tableOffset + block * 4);
    }
    if (!this.parent) {
      await this.copyFromFile(dataStart + within, n, out, at);
      return;
    }
    // Differencing: runs of sectors whose bitmap bit is set come from this file, the rest from the parent.
    const bitmap = await this.bitmap(block, blockStart);
    let pos = within;
    const stop = within + n;
    while (pos < stop) {
      const present = bitSet(bitmap, Math.floor(pos / 512));
      let runEnd = (Math.floor(pos / 512) + 1) * 512;
      while (runEnd < stop && bitSet(bitmap, runEnd / 512) === present) runEnd += 512;
      runEnd = Math.min(runEnd, stop);
      if (present) await this.copyFromFile(dataStart + pos, runEnd - pos, out, at + pos - within);
      else await this.readParent(block * header.blockSize + pos, runEnd - pos, out, at + pos - within);
      pos = runEnd;
    }
  }

  private async copyFromFile(fileOffset: number, n: number, out: Buffer, at: number): Promise<void> {
    const got = await this.inner.read(fileOffset, n);
    if (got.length < n) throw corrupt('VHD block data', 'the file ends inside a block', fileOffset + got.length);
    got.copy(out, at);
  }

  /** A parent smaller than the child reads as zeros past its end. */
  private async readParent(diskOffset: number, n: number, out: Buffer, at: number): Promise<void> {
    const got = await this.parent!.source.read(diskOffset, n);
    got.copy(out, at);
  }

  private tableEntry(block: number): Promise<number> {
    const header = this.header!;
    if (block >= header.maxTableEntries) {
      return Promise.reject(corrupt('VHD block table', `block ${block} is past the table's ${header.maxTableEntries} entries`, header.tableOffset));
    }
    const page = Math.floor(block / TABLE_PAGE_ENTRIES);
    const first = page * TABLE_PAGE_ENTRIES;
    const count = Math.min(TABLE_PAGE_ENTRIES, header.maxTableEntries - first);
    return this.tablePages.get(page, count * 4, async () => {
      const at = header.tableOffset + first * 4;
      const buf = await this.inner.read(at, count * 4);
      if (buf.length < count * 4) throw corrupt('VHD block table', 'the file ends inside the table', at + buf.length);
      return buf;
    }).then((buf) => buf.readUInt32BE((block % TABLE_PAGE_ENTRIES) * 4));
  }

  private bitmap(block: number, blockStart: number): Promise<Buffer> {
    const size = this.header!.bitmapSize;
    return this.bitmaps.get(block, size, async () => {
      const buf = await this.inner.read(blockStart, size);
      if (buf.length < size) throw corrupt('VHD sector bitmap', 'the file ends inside the bitmap', blockStart + buf.length);
      return buf;
    });
  }
}

/** Bit i of the sector bitmap, most significant bit first (the specification's order). */
function bitSet(bitmap: Buffer, sector: number): boolean {
  return ((bitmap[sector >> 3]! >> (7 - (sector & 7))) & 1) === 1;
}

async function readFooter(inner: ByteSource, notes: string[]): Promise<{ footer: VhdFooter; footerOffset: number }> {
  if (inner.size < FOOTER_SIZE) throw corrupt('VHD footer', `the file is only ${inner.size} bytes`, 0);
  const tailAt = inner.size - FOOTER_SIZE;
  const tail = await inner.read(tailAt, FOOTER_SIZE);
  let tailError: MountfsError;
  try {
    if (hasCookie(tail, 1) && !hasCookie(tail, 0)) {
      // A 511-byte footer: pad to 512 with the zero byte it lacks.
      const padded = Buffer.concat([tail.subarray(1), Buffer.alloc(1)]);
      return { footer: parseFooter(padded, tailAt + 1), footerOffset: tailAt + 1 };
    }
    return { footer: parseFooter(tail, tailAt), footerOffset: tailAt };
  } catch (err) {
    if (!(err instanceof MountfsError)) throw err;
    tailError = err;
  }
  // Dynamic disks keep a copy of the footer at offset 0: a truncated or damaged end is survivable.
  const head = await inner.read(0, FOOTER_SIZE);
  if (!hasCookie(head)) throw tailError;
  const copy = parseFooter(head, 0);
  if (copy.diskType === DISK_FIXED) throw tailError;
  notes.push(`VHD footer at the end of the file is unusable (${tailError.message}); the copy at the start was used`);
  return { footer: copy, footerOffset: hasCookie(tail) ? tailAt : inner.size };
}

/** Candidate file names of the parent: from the locators first (relative, then absolute), then the header's name. */
async function parentNames(inner: ByteSource, header: DynamicHeader): Promise<string[]> {
  const order = ['W2ru', 'W2ku', 'MacX', 'Wi2r', 'Wi2k'];
  const locators = [...header.locators].sort((a, b) => rank(a.platform) - rank(b.platform));
  function rank(p: string): number {
    const i = order.indexOf(p);
    return i === -1 ? order.length : i;
  }
  const names: string[] = [];
  for (const loc of locators) {
    if (loc.dataLength === 0 || loc.dataLength > MAX_LOCATOR_BYTES || loc.dataOffset + loc.dataLength > inner.size) continue;
    const text = decodeLocator(loc.platform, await inner.read(loc.dataOffset, loc.dataLength));
    if (text) names.push(baseName(text, loc.platform === 'MacX'));
  }
  if (header.parentName) names.push(baseName(header.parentName, false));
  return [...new Set(names.filter((n) => n !== '' && n !== '.' && n !== '..'))];
}

function baseName(p: string, url: boolean): string {
  const last = p.split(/[\\/]/).pop() ?? '';
  if (!url) return last;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}
