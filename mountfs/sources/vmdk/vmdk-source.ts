/**
 * A VMDK disk (VMware, VirtualBox, OVA exports) read as the virtual disk it holds,
 * following VMware's Virtual Disk Format 1.1. Either a single hosted sparse extent
 * ("KDMV": monolithicSparse, streamOptimized) or a text descriptor whose extent lines
 * concatenate FLAT/VMFS (raw bytes at an offset of a file), SPARSE (a hosted sparse
 * extent file) and ZERO extents. Extent files are opened through the caller's callback,
 * by plain name only, on first use (a twoGbMaxExtent disk may list hundreds). Delta
 * disks with a parent, ESX sparse formats (VMFSSPARSE/COWD, SESPARSE) and raw device
 * mappings are refused.
 */
import type { BlockCache } from '../../block-cache.js';
import { corrupt, ioError, limitExceeded, MountfsError, unsupported } from '../../errors.js';
import { readEnd, type ByteSource } from '../byte-source.js';
import { checkExtentName, isDescriptorText, MAX_DESCRIPTOR_BYTES, parseDescriptor, type ExtentLine, type VmdkDescriptor } from './descriptor.js';
import { SparseExtent } from './sparse-extent.js';
import { hasSparseMagic, SECTOR, SPARSE_HEADER_SIZE } from './sparse-header.js';
import { lastStartingBy } from '../../sorted-starts.js';

export { resolveExtentPath } from './descriptor.js';

export interface VmdkOpenOptions {
  /**
   * Opens an extent file named by a descriptor (a plain name, already checked to hold
   * no "/" or ".."; resolve it beside the descriptor with resolveExtentPath). The
   * returned sources are closed with this VmdkSource.
   */
  openExtent?: (fileName: string) => Promise<ByteSource>;
  /** Where sparse extents keep grain tables and inflated grains (the opened target's); caches of their own if absent. */
  cache?: BlockCache;
}

/** "KDMV" sparse extent magic, or a text descriptor. */
export function isVmdk(head: Buffer): boolean {
  return hasSparseMagic(head) || isDescriptorText(head);
}

/** One extent's place in the virtual disk and how to read n bytes at pos within it (exactly n, or an error). */
interface Extent {
  start: number;
  size: number;
  read(pos: number, n: number): Promise<Buffer>;
}

const DEVICE_TYPES = new Set(['fulldevice', 'partitioneddevice', 'vmfsraw', 'vmfsrawdevicemap', 'vmfspassthroughrawdevicemap']);
const UNSUPPORTED_EXTENTS: Record<string, string> = {
  VMFSSPARSE: 'ESX sparse (COWD) extents',
  SESPARSE: 'ESX space-efficient sparse extents',
  VMFSRDM: 'raw device mappings',
  VMFSRAW: 'raw device mappings',
};

export class VmdkSource implements ByteSource {
  readonly size: number;

  private constructor(
    readonly description: string,
    private readonly extents: Extent[],
    private readonly files: ExtentFiles | null,
    private readonly single: SparseExtent | null,
  ) {
    this.size = extents.reduce((s, e) => s + e.size, 0);
  }

  static async open(inner: ByteSource, options: VmdkOpenOptions = {}): Promise<VmdkSource> {
    const head = await inner.read(0, Math.min(inner.size, SPARSE_HEADER_SIZE));
    if (hasSparseMagic(head)) {
      const extent = await SparseExtent.open(inner, options.cache);
      const kind = extent.header.compressed ? 'stream-optimized' : 'sparse';
      return new VmdkSource(`${inner.description} (VMDK ${kind})`, [{ start: 0, size: extent.size, read: (pos, n) => extent.read(pos, n) }], null, extent);
    }
    if (!isDescriptorText(head)) throw corrupt('VMDK', 'neither a "KDMV" sparse extent nor a "# Disk DescriptorFile" descriptor', 0);
    if (inner.size > MAX_DESCRIPTOR_BYTES) throw limitExceeded('VMDK descriptor', `a ${inner.size}-byte descriptor file is larger than ${MAX_DESCRIPTOR_BYTES}`, 0);
    const descriptor = parseDescriptor((await inner.read(0, inner.size)).toString('utf8'));
    checkDescriptor(descriptor);
    const files = options.openExtent ? new ExtentFiles(options.openExtent) : null;
    const extents: Extent[] = [];
    let start = 0;
    for (const line of descriptor.extents) {
      const size = line.sectors * SECTOR;
      if (start + size > Number.MAX_SAFE_INTEGER) throw corrupt('VMDK descriptor', 'the extents add up to more than any supported disk');
      extents.push(makeExtent(line, start, files, options.cache));
      start += size;
    }
    return new VmdkSource(`${inner.description} (VMDK ${descriptor.createType ?? 'descriptor'})`, extents, files, null);
  }

  /** The embedded descriptor of a single sparse extent (monolithicSparse, streamOptimized), if any. */
  get embeddedDescriptor(): string | null {
    return this.single?.embeddedDescriptor ?? null;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = readEnd(this, offset, length);
    if (end <= offset) return Buffer.alloc(0);
    if (this.extents.length === 1) return this.extents[0]!.read(offset, end - offset);
    const out = Buffer.alloc(end - offset);
    for (let i = lastStartingBy(this.extents, offset), pos = offset; pos < end && i < this.extents.length; i++) {
      const e = this.extents[i]!;
      const n = Math.min(end, e.start + e.size) - pos;
      if (n <= 0) continue; // a zero-sector extent
      (await e.read(pos - e.start, n)).copy(out, pos - offset);
      pos += n;
    }
    return out;
  }

  /** Closes the extent files this source opened; `inner` belongs to whoever opened it. */
  async close(): Promise<void> {
    await this.single?.close();
    await this.files?.closeAll();
  }
}

function checkDescriptor(d: VmdkDescriptor): void {
  if (d.parent) {
    throw unsupported('VMDK delta disk', `the disk is a delta over parent ${d.parent.hint ?? `CID ${d.parent.cid}`}; VMDK parent chains are not read`);
  }
  if (d.createType && DEVICE_TYPES.has(d.createType.toLowerCase())) {
    throw unsupported('VMDK descriptor', `createType ${d.createType} maps physical devices, which are not read`);
  }
  for (const line of d.extents) {
    const why = UNSUPPORTED_EXTENTS[line.type];
    if (why) throw unsupported('VMDK descriptor', `${line.type} extent ${line.fileName ?? ''}: ${why} are not read`);
    if (!['FLAT', 'VMFS', 'SPARSE', 'ZERO'].includes(line.type)) throw corrupt('VMDK descriptor', `unknown extent type ${line.type}`);
    if (line.fileName !== undefined && line.type !== 'ZERO') checkExtentName(line.fileName);
  }
}

/** `files` is null when the caller cannot open other files: only ZERO extents can be read then. */
function makeExtent(line: ExtentLine, start: number, files: ExtentFiles | null, cache: BlockCache | undefined): Extent {
  const size = line.sectors * SECTOR;
  if (line.type === 'ZERO') return { start, size, read: async (_pos, n) => Buffer.alloc(n) };
  const name = line.fileName!;
  if (!files) throw unsupported('VMDK descriptor', `the disk's data is in extent file ${name} and this caller cannot open other files`);
  if (line.type === 'SPARSE') {
    let opened: Promise<SparseExtent> | null = null;
    const open = async () => {
      const extent = await SparseExtent.open(await files.get(name), cache);
      if (extent.size < size) throw corrupt('VMDK sparse extent', `${name} holds ${extent.size} bytes, the descriptor says ${size}`, 12);
      return extent;
    };
    return {
      start,
      size,
      read: async (pos, n) => {
        opened ??= open().catch((err: unknown) => {
          opened = null;
          throw err;
        });
        return (await opened).read(pos, n);
      },
    };
  }
  // FLAT and VMFS: raw sectors at `offset` in the file.
  const base = line.offset * SECTOR;
  return {
    start,
    size,
    read: async (pos, n) => {
      const file = await files.get(name);
      const got = await file.read(base + pos, n);
      if (got.length < n) throw corrupt('VMDK flat extent', `${name} (${file.size} bytes) ends before the extent does`, base + pos + got.length);
      return got;
    },
  };
}

/** Extent files by name, opened once on first use through the caller's callback. */
class ExtentFiles {
  private readonly opened = new Map<string, Promise<ByteSource>>();

  constructor(private readonly openExtent: (fileName: string) => Promise<ByteSource>) {}

  get(name: string): Promise<ByteSource> {
    let p = this.opened.get(name);
    if (p) return p;
    p = this.openExtent(name).catch((err: unknown) => {
      this.opened.delete(name);
      if (err instanceof MountfsError) throw err;
      throw ioError('VMDK extent', `extent file ${name} could not be opened: ${(err as Error).message}`);
    });
    this.opened.set(name, p);
    return p;
  }

  async closeAll(): Promise<void> {
    const all = [...this.opened.values()];
    this.opened.clear();
    for (const p of all) {
      const source = await p.catch(() => null);
      await source?.close().catch(() => undefined);
    }
  }
}
