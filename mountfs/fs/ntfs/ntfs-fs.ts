/**
 * NTFS read in pure TypeScript (NTFS 3.x as Windows and ntfs-3g write it): the boot
 * sector's geometry, FILE records with fixups, resident and non-resident attributes,
 * $ATTRIBUTE_LIST, directory B+trees ($INDEX_ROOT / $INDEX_ALLOCATION), unnamed and
 * named data streams (sparse, LZNT1-compressed, initialized size), reparse points
 * (symlinks and junctions as VFS symlinks), hard links (one node per MFT record).
 * Node ids are MFT record numbers; a named stream ("alternate data stream") is the
 * string "<record>:<stream name>", readable with read() and listed by streams().
 *
 * Names compare the way Windows compares them, through the volume's $UpCase table
 * (foldName). Stat times come from $STANDARD_INFORMATION: atime = last access, mtime =
 * last modification, ctime = last MFT record change, crtime = creation; the DOS
 * attributes (read-only, hidden, system, ...) are in Stat.dosAttributes and read-only
 * also clears the write bits of the mode.
 *
 * Raw MFT records go through the block cache; parsed files stay in a count-bounded map.
 * File data and index records are read from the source as they are asked for. Nothing
 * from $LogFile is replayed; a dirty volume is a note.
 *
 * References: the Linux-NTFS project's NTFS documentation, ntfs-3g's layout.h.
 */
import { BinaryView } from '../../binary.js';
import { corrupt, limitExceeded, unsupported } from '../../errors.js';
import { cacheOrOwn, type BlockCache, type CacheRegion } from '../../block-cache.js';
import type { ByteSource } from '../../sources/byte-source.js';
import type { NodeId, RawDirEntry, RawFileSystem, RawStream, Stat } from '../types.js';
import { ATTR, ATTR_FLAG } from './attribute.js';
import { parseAttributeList } from './attribute-list.js';
import { BOOT_SECTOR_BYTES, parseBootSector, type NtfsGeometry } from './boot-sector.js';
import { FILE_NAME_IS_DIRECTORY, NAMESPACE } from './file-name.js';
import { parseIndexBlock, parseIndexRoot, type IndexEntry } from './index-node.js';
import { parseMftRecord, RECORD_FLAG, type MftRecord } from './mft-record.js';
import { buildFile, streamKey, type NtfsFile, type Stream } from './ntfs-file.js';
import { REPARSE_TAG } from './reparse.js';
import { FILE_ATTR } from './standard-information.js';
import { StreamReader } from './stream-reader.js';
import { interixTarget, mayBeInterixLink } from './interix.js';
import { UPCASE_BYTES, UpCaseTable } from './upcase.js';

const MFT_RECORD = { MFT: 0, VOLUME: 3, ROOT: 5, UPCASE: 10 } as const;
const FILE_CACHE = 4096;
/** One read() returns at most this much. */
const MAX_READ_BYTES = 256 << 20;
/** Extension records one file may have (65535 hard links fit in far fewer). */
const MAX_EXTENSION_RECORDS = 4096;
/** An $ATTRIBUTE_LIST larger than this is not a real one. */
const MAX_ATTRIBUTE_LIST = 8 << 20;
/** Index records one directory may have: 4 GiB of 4 KiB records. */
const MAX_INDEX_BLOCKS = 1 << 20;
const VOLUME_DIRTY = 0x1;

export class NtfsFileSystem implements RawFileSystem {
  readonly kind = 'ntfs';
  readonly root: NodeId = MFT_RECORD.ROOT;
  private readonly records: CacheRegion;
  private readonly files = new Map<number, Promise<NtfsFile>>();
  private readonly reader: StreamReader;
  /** The $MFT's unnamed $DATA: where every record lies. */
  private mft!: Stream;
  private upcase = UpCaseTable.fallback();
  private readonly noteList: string[] = [];

  private constructor(
    private readonly source: ByteSource,
    readonly geometry: NtfsGeometry,
    cache: BlockCache,
  ) {
    this.records = cache.region('NTFS MFT records');
    this.reader = new StreamReader(source, geometry.clusterSize);
  }

  /** `cache` keeps raw MFT records (the opened target's); one of its own if absent. */
  static async open(source: ByteSource, cache?: BlockCache): Promise<NtfsFileSystem> {
    if (source.size < BOOT_SECTOR_BYTES) throw corrupt('NTFS boot sector', `the volume is only ${source.size} bytes`, 0);
    const geometry = parseBootSector(await source.read(0, BOOT_SECTOR_BYTES));
    const fs = new NtfsFileSystem(source, geometry, cacheOrOwn(cache));
    await fs.bootstrapMft();
    const root = await fs.file(MFT_RECORD.ROOT);
    if (!root.directory) throw corrupt('NTFS MFT record 5', 'the root directory record is not a directory', root.offset);
    await fs.loadUpcase();
    await fs.volumeNotes();
    return fs;
  }

  notes(): string[] {
    return [...this.noteList];
  }

  async close(): Promise<void> {
    this.records.clear();
    this.files.clear();
  }

  /** Names compare as Windows compares them: upper-cased through the volume's $UpCase. */
  foldName(name: string): string {
    return this.upcase.fold(name);
  }

  async stat(node: NodeId): Promise<Stat> {
    const { file, stream } = await this.node(node);
    const info = file.info;
    const attributes = info?.attributes ?? 0;
    const type = stream ? 'file' : file.reparse?.target !== undefined ? 'symlink' : file.directory ? 'directory' : 'file';
    let perms = type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
    if (attributes & FILE_ATTR.READONLY && type !== 'symlink') perms &= ~0o222;
    const typeBits = type === 'directory' ? 0o040000 : type === 'symlink' ? 0o120000 : 0o100000;
    const data = stream ?? file.streams.get(streamKey(ATTR.DATA, ''));
    const size = type === 'symlink' ? Buffer.byteLength(file.reparse!.target!) : type === 'file' ? (data?.size ?? 0) : 0;
    return {
      type,
      mode: typeBits | perms,
      uid: 0,
      gid: 0,
      size,
      atime: info?.accessed ?? 0,
      mtime: info?.modified ?? 0,
      ctime: info?.mftChanged ?? 0,
      crtime: info?.created,
      ino: file.record,
      nlink: Math.max(1, file.names.length),
      dosAttributes: attributes,
      reparseTag: file.reparse?.tag,
    };
  }

  async readdir(node: NodeId): Promise<RawDirEntry[]> {
    const { file } = await this.node(node);
    const structure = `NTFS directory index of MFT record ${file.record}`;
    if (!file.directory) throw corrupt(structure, 'is not a directory', file.offset);
    const rootStream = file.streams.get(streamKey(ATTR.INDEX_ROOT, '$I30'));
    if (!rootStream?.resident) throw corrupt(structure, 'the directory has no resident $INDEX_ROOT "$I30"', file.offset);
    const root = parseIndexRoot(new BinaryView(rootStream.value, structure, rootStream.valueOffset));
    const out: RawDirEntry[] = [];
    const seen = new Set<string>();
    const add = (entries: IndexEntry[]): void => {
      for (const e of entries) {
        if (e.name.namespace === NAMESPACE.DOS) continue;
        const key = `${e.record}/${e.name.name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const attrs = e.name.attributes;
        const type = attrs & FILE_ATTR.REPARSE_POINT ? undefined : attrs & FILE_NAME_IS_DIRECTORY ? 'directory' : 'file';
        out.push({ name: e.name.name, node: e.record, type });
      }
    };
    add(root.entries);
    if (root.children.length === 0) return out;
    const alloc = file.streams.get(streamKey(ATTR.INDEX_ALLOCATION, '$I30'));
    if (!alloc) throw corrupt(structure, 'the index root has child nodes but the directory has no $INDEX_ALLOCATION', rootStream.valueOffset);
    const bitmap = file.streams.get(streamKey(ATTR.BITMAP, '$I30'));
    const bits = bitmap ? await this.reader.read(bitmap, 0, Math.min(bitmap.size, MAX_INDEX_BLOCKS / 8), `$BITMAP of ${structure}`) : undefined;
    // A VCN counts clusters, or 512-byte blocks when index records are smaller than a cluster.
    const vcnSize = root.blockSize >= this.geometry.clusterSize ? this.geometry.clusterSize : 512;
    const blocks = Math.floor(alloc.size / root.blockSize);
    const visited = new Set<number>();
    const stack = [...root.children].reverse();
    while (stack.length > 0) {
      const vcn = stack.pop()!;
      const at = vcn * vcnSize;
      const blockNo = Math.floor(at / root.blockSize);
      if (visited.has(vcn)) throw corrupt(structure, `index record VCN ${vcn} is reached twice (an index loop)`, alloc.offset);
      visited.add(vcn);
      if (visited.size > MAX_INDEX_BLOCKS) throw limitExceeded(structure, `more than ${MAX_INDEX_BLOCKS} index records`, alloc.offset);
      if (at % root.blockSize !== 0 || blockNo >= blocks) throw corrupt(structure, `child index record VCN ${vcn} is outside the ${blocks} records of $INDEX_ALLOCATION`, alloc.offset);
      if (bits && ((bits[blockNo >> 3] ?? 0) & (1 << (blockNo & 7))) === 0) throw corrupt(structure, `child index record VCN ${vcn} is free in the index $BITMAP`, bitmap!.offset);
      const raw = await this.reader.read(alloc, at, root.blockSize, structure);
      const indexNode = parseIndexBlock(raw, vcn, this.diskOffset(alloc, at), file.record);
      add(indexNode.entries);
      for (let i = indexNode.children.length - 1; i >= 0; i--) stack.push(indexNode.children[i]!);
    }
    return out;
  }

  async readlink(node: NodeId): Promise<string> {
    const { file, stream } = await this.node(node);
    const target = stream ? undefined : file.reparse?.target;
    if (target === undefined) throw corrupt(`NTFS MFT record ${file.record}`, 'is not a symbolic link or junction', file.offset);
    return target;
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const { file, stream } = await this.node(node);
    const structure = `data of NTFS MFT record ${file.record}${stream ? ` stream "${stream.name}"` : ''}`;
    if (!stream && file.directory) throw corrupt(structure, 'is a directory, not a regular file', file.offset);
    const data = stream ?? file.streams.get(streamKey(ATTR.DATA, ''));
    if (!data) return Buffer.alloc(0);
    if (!stream && (file.reparse?.tag === REPARSE_TAG.WOF || file.reparse?.tag === REPARSE_TAG.DEDUP)) {
      throw unsupported(structure, `the contents are held by a ${file.reparse.tag === REPARSE_TAG.WOF ? 'Windows Overlay Filter (compact OS)' : 'deduplication'} reparse point, which is not read`, file.offset);
    }
    if (data.flags & ATTR_FLAG.ENCRYPTED) throw unsupported(structure, 'the file is EFS-encrypted', data.offset);
    if (length > MAX_READ_BYTES) throw limitExceeded(structure, `a single read of ${length} bytes`);
    return this.reader.read(data, offset, length, structure);
  }

  /** Named data streams (alternate data streams) of a file, each readable with read(stream.node, ...). */
  async streams(node: NodeId): Promise<RawStream[]> {
    const { file } = await this.node(node);
    const out: RawStream[] = [];
    for (const s of file.streams.values()) {
      if (s.type === ATTR.DATA && s.name !== '') out.push({ name: s.name, size: s.size, node: `${file.record}:${s.name}` });
    }
    return out;
  }

  /** A node id as a file and, for "<record>:<name>", one of its named streams. */
  private async node(node: NodeId): Promise<{ file: NtfsFile; stream?: Stream }> {
    if (typeof node === 'number') return { file: await this.file(node) };
    const colon = node.indexOf(':');
    const record = Number(node.slice(0, colon));
    if (colon < 1 || !Number.isSafeInteger(record)) throw corrupt('NTFS node', `"${node}" names no MFT record`);
    const file = await this.file(record);
    const stream = file.streams.get(streamKey(ATTR.DATA, node.slice(colon + 1)));
    if (!stream || stream.name === '') throw corrupt(`NTFS MFT record ${record}`, `has no data stream "${node.slice(colon + 1)}"`, file.offset);
    return { file, stream };
  }

  /** Where byte `at` of a non-resident stream lies on the volume, for errors (the stream's record when unknown). */
  private diskOffset(stream: Stream, at: number): number {
    if (stream.resident) return stream.valueOffset + at;
    const cs = this.geometry.clusterSize;
    const run = stream.runs.find((r) => r.vcn * cs <= at && at < (r.vcn + r.length) * cs);
    return run?.lcn != null ? run.lcn * cs + (at - run.vcn * cs) : stream.offset;
  }

  private file(record: number): Promise<NtfsFile> {
    let p = this.files.get(record);
    if (p) {
      this.files.delete(record);
    } else {
      p = this.loadFile(record);
      p.catch(() => this.files.delete(record));
      if (this.files.size >= FILE_CACHE) this.files.delete(this.files.keys().next().value!);
    }
    this.files.set(record, p);
    return p;
  }

  private async loadFile(number: number): Promise<NtfsFile> {
    const base = await this.record(number);
    const structure = `NTFS MFT record ${number}`;
    if (!(base.flags & RECORD_FLAG.IN_USE)) throw corrupt(structure, 'is not in use (a deleted file)', base.offset);
    if (base.baseRecord !== 0) throw corrupt(structure, `is an extension record of MFT record ${base.baseRecord}, not a file`, base.offset);
    const attributes = [...base.attributes];
    const list = base.attributes.find((a) => a.type === ATTR.ATTRIBUTE_LIST);
    if (list) {
      const listStructure = `NTFS $ATTRIBUTE_LIST of MFT record ${number}`;
      const value = buildFile(base, [list], this.geometry.totalClusters).streams.get(streamKey(ATTR.ATTRIBUTE_LIST, list.name))!;
      if (value.size > MAX_ATTRIBUTE_LIST) throw limitExceeded(listStructure, `${value.size} bytes`, list.offset);
      const bytes = await this.reader.read(value, 0, value.size, listStructure);
      const entries = parseAttributeList(new BinaryView(bytes, listStructure, this.diskOffset(value, 0)));
      const others = [...new Set(entries.map((e) => e.record))].filter((r) => r !== number);
      if (others.length > MAX_EXTENSION_RECORDS) throw limitExceeded(listStructure, `${others.length} extension records`, list.offset);
      for (const r of others) {
        const ext = await this.record(r);
        if (!(ext.flags & RECORD_FLAG.IN_USE) || ext.baseRecord !== number) {
          throw corrupt(listStructure, `names MFT record ${r}, which is ${ext.flags & RECORD_FLAG.IN_USE ? `the record of ${ext.baseRecord === 0 ? 'another file' : `MFT record ${ext.baseRecord}`}` : 'not in use'} (a looping or stale list)`, list.offset);
        }
        for (const a of ext.attributes) {
          if (a.type === ATTR.ATTRIBUTE_LIST) throw corrupt(listStructure, `extension record ${r} holds an attribute list of its own (a loop)`, a.offset);
          attributes.push(a);
        }
      }
    }
    const file = buildFile(base, attributes, this.geometry.totalClusters);
    const data = file.streams.get(streamKey(ATTR.DATA, ''));
    if (!file.directory && !file.reparse && data && mayBeInterixLink(file.info?.attributes ?? 0, data.size)) {
      const target = interixTarget(await this.reader.read(data, 0, data.size, `data of NTFS MFT record ${number}`));
      if (target !== undefined) file.reparse = { tag: 0, target };
    }
    return file;
  }

  /** MFT record `n`, parsed (fixups applied); its raw bytes go through the block cache. */
  private async record(n: number): Promise<MftRecord> {
    const size = this.geometry.mftRecordSize;
    if (!Number.isSafeInteger(n) || n < 0 || (n + 1) * size > this.mft.size) {
      throw corrupt('NTFS MFT reference', `MFT record ${n} is outside the $MFT's ${Math.floor(this.mft.size / size)} records`);
    }
    const raw = await this.records.get(n, size, async () => {
      const buf = await this.reader.read(this.mft, n * size, size, `NTFS MFT record ${n}`);
      if (buf.length !== size) throw corrupt(`NTFS MFT record ${n}`, 'lies past the $MFT data', this.diskOffset(this.mft, n * size));
      return buf;
    });
    return parseMftRecord(raw, n, this.diskOffset(this.mft, n * size));
  }

  /**
   * Reads record 0 ($MFT) where the boot sector says, takes its own $DATA runs as the
   * map of the MFT, and if the $MFT has an attribute list, reads the extension records
   * through that first map to complete it.
   */
  private async bootstrapMft(): Promise<void> {
    const g = this.geometry;
    const at = g.mftLcn * g.clusterSize;
    const raw = await this.source.read(at, g.mftRecordSize);
    if (raw.length !== g.mftRecordSize) throw corrupt('NTFS MFT record 0', 'lies past the end of the volume', at);
    const rec0 = parseMftRecord(raw, 0, at);
    const own = rec0.attributes.filter((a) => a.type === ATTR.DATA && a.name === '' && (a.resident || a.lowestVcn === 0));
    const first = buildFile(rec0, own, g.totalClusters).streams.get(streamKey(ATTR.DATA, ''));
    if (!first || first.resident) throw corrupt('NTFS MFT record 0', 'the $MFT has no non-resident $DATA', at);
    // The first extent's sizes are the whole stream's; its runs may cover only the start.
    this.mft = { ...first, size: Math.min(first.size, first.clusters * g.clusterSize) };
    if (rec0.attributes.some((a) => a.type === ATTR.ATTRIBUTE_LIST)) {
      this.records.clear();
      const whole = await this.loadFile(0);
      const data = whole.streams.get(streamKey(ATTR.DATA, ''));
      if (!data || data.resident) throw corrupt('NTFS MFT record 0', 'the $MFT has no non-resident $DATA', at);
      this.mft = data;
      this.records.clear();
    } else {
      this.mft = first;
    }
  }

  private async loadUpcase(): Promise<void> {
    try {
      const file = await this.file(MFT_RECORD.UPCASE);
      const data = file.streams.get(streamKey(ATTR.DATA, ''));
      if (!data || data.size !== UPCASE_BYTES) throw corrupt('NTFS $UpCase', `the table is ${data?.size ?? 0} bytes, not ${UPCASE_BYTES}`, file.offset);
      this.upcase = UpCaseTable.fromBytes(await this.reader.read(data, 0, UPCASE_BYTES, 'NTFS $UpCase'), file.offset);
    } catch (err) {
      this.noteList.push(`NTFS $UpCase could not be read (${err instanceof Error ? err.message : String(err)}): names are compared with Unicode upper-casing instead`);
    }
  }

  private async volumeNotes(): Promise<void> {
    try {
      const info = (await this.file(MFT_RECORD.VOLUME)).streams.get(streamKey(0x70, ''));
      if (info?.resident && info.value.length >= 12) {
        const major = info.value[8]!;
        const flags = info.value.readUInt16LE(10);
        if (major < 3) this.noteList.push(`NTFS version ${major}.${info.value[9]} (Windows NT 4 or 2000 era)`);
        if (flags & VOLUME_DIRTY) this.noteList.push('NTFS volume is marked dirty (not cleanly shut down, or hibernated): $LogFile was not replayed, so the latest changes may be missing');
      }
    } catch {
      // $Volume is informational only: files are read without it.
    }
  }
}
