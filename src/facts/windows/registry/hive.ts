/**
 * A Windows registry hive (regf) read lazily from a file: keys and values are read
 * cell by cell through range reads (paged-file.ts), never the whole hive.
 *
 * Written for minescan rather than taken from a library: no maintained pure-JavaScript
 * reader bounds every offset and count, detects subkey-list recursion and key loops and
 * reads through a range reader instead of a whole Buffer, and hives on a scanned disk
 * are attacker-controlled. The format follows the Windows registry file format
 * specification by Maxim Suhanov and the structure notes of hivex (lib/hivex-internal.h).
 *
 * Hostile input: every cell offset must lie in the hive bins data, 8-aligned, inside a
 * hive bin whose header names its own offset, past that header, and the cell must be
 * allocated (a negative size) and end inside its bin; every count must fit its cell.
 * An ri list may hold lf/lh/li lists only (no recursion), a walk that meets a key twice
 * stops with a "key loop" error, and sizes and totals are capped (a `limit` error).
 * Each failure is a MountfsError naming the record and its byte offset in the file.
 */
import { BinaryView } from '../../../../mountfs/binary.js';
import { corrupt, limitExceeded, unsupported } from '../../../../mountfs/errors.js';
import { BASE_BLOCK_SIZE, LOG_BASE_BLOCK_SIZE, parseBaseBlock, type BaseBlock } from './base-block.js';
import { PagedFile, type RangeReader } from './paged-file.js';
import { replayLogs, type LogFile, type Replay } from './transaction-log.js';
import {
  NO_CELL,
  nameHash,
  parseBigData,
  parseKeyNode,
  parseSecurity,
  parseSubkeyList,
  parseValueNode,
  type KeyNode,
  type ValueNode,
} from './records.js';
import { decodeValue, typeName, type DecodedValue } from './value-data.js';

const HBIN_HEADER = 32;
const HBIN_ALIGN = 4096;
/** How far back from a cell its hive bin's header is looked for (bins of big cells span many pages). */
const MAX_HBIN_SEARCH = 16 << 20;
/** No cell of a real hive comes near this. */
const MAX_CELL = 16 << 20;
/** Value data read at most; persistence values are a few hundred bytes. */
export const MAX_VALUE_DATA = 16 << 20;
/** Windows caps a big value's segments at 16344 bytes each. */
const BIG_DATA_SEGMENT = 16344;
/** Subkeys or values of one key at most. */
const MAX_CHILDREN = 1 << 20;

export interface RegistryKey {
  readonly node: KeyNode;
  /** Path from the root key, '\'-separated, '' for the root. */
  readonly path: string;
  readonly name: string;
}

export interface RegistryValue {
  readonly node: ValueNode;
  readonly name: string;
  readonly type: number;
  readonly typeName: string;
  readonly size: number;
}

export interface WalkLimits {
  /** Keys visited at most (a `limit` error past it). */
  maxKeys?: number;
  /** Depth below the start key at most. */
  maxDepth?: number;
}

interface Bin {
  start: number;
  end: number;
}

export class Hive {
  private bins: Bin[] = [];

  private constructor(
    private readonly file: PagedFile,
    readonly baseBlock: BaseBlock,
    /** What the hive is called in messages (its path in the scanned root). */
    readonly label: string,
    /** The transaction log entries applied when the hive was dirty, and why replay stopped where it did. */
    readonly replay?: Replay,
    /** Why logs given for a dirty hive were not used. */
    readonly logNotes: string[] = [],
  ) {}

  /**
   * Opens a hive through a range reader; the file's size bounds every read. A dirty
   * hive's transaction logs, when given (.LOG1 before .LOG2), are replayed over it
   * (transaction-log.ts); the hive is then read as Windows would load it.
   */
  static async open(read: RangeReader, size: number, label: string, logs: LogFile[] = []): Promise<Hive> {
    let file = new PagedFile(read, size, `registry hive ${label}`);
    if (size < BASE_BLOCK_SIZE) throw corrupt('registry base block', `the file has ${size} bytes, less than a base block`, 0);
    let base = parseBaseBlock(await file.read(0, BASE_BLOCK_SIZE));
    const logNotes: string[] = [];
    if (!base.checksumOk) {
      // Windows takes a damaged base block from a log: an old-format log's copy, written with the hive.
      const copy = await baseBlockFromLogs(logs);
      if (!copy) throw corrupt('registry base block', 'checksum mismatch: the base block is damaged and no transaction log holds a copy of it', 508);
      base = { ...copy.base, fileType: 0, dirty: true };
      logNotes.push(`the base block is damaged; the copy in ${copy.label} was used`);
    }
    if (base.fileType !== 0) throw unsupported('registry base block', `file type ${base.fileType} is a transaction log or an external file, not a primary hive`, 28);
    let replay: Replay | undefined;
    if (base.dirty && logs.length > 0) {
      try {
        const r = await replayLogs(base, logs);
        if (r.entries > 0) {
          replay = r;
          base = { ...base, primarySequence: r.sequence, secondarySequence: r.sequence, hiveBinsSize: r.hiveBinsSize, dirty: false };
          file = new PagedFile(read, Math.max(size, BASE_BLOCK_SIZE + r.hiveBinsSize), `registry hive ${label}`, size, r.patches);
        } else logNotes.push(...r.notes);
      } catch (err) {
        // A damaged log leaves the hive as its primary file has it, still dirty.
        logNotes.push(`the logs could not be replayed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (base.hiveBinsSize === 0 || base.hiveBinsSize % HBIN_ALIGN !== 0) {
      throw corrupt('registry base block', `hive bins data size ${base.hiveBinsSize} is not a positive multiple of 4096`, 40);
    }
    if (BASE_BLOCK_SIZE + base.hiveBinsSize > size) {
      throw corrupt('registry base block', `the hive bins data (${base.hiveBinsSize} bytes) runs past the end of the ${size}-byte file: the hive is truncated`, 40);
    }
    const hive = new Hive(file, base, label, replay, logNotes);
    // The root must be a key: reading it now makes a damaged root an error of the open.
    await hive.root();
    return hive;
  }

  /** Sequence numbers differ (and no log replayed them): the newest changes may be in .LOG1/.LOG2 only. */
  get dirty(): boolean {
    return this.baseBlock.dirty;
  }

  /** Bytes read from the hive file so far. */
  get bytesRead(): number {
    return this.file.bytesRead;
  }

  async root(): Promise<RegistryKey> {
    const node = await this.keyNode(this.baseBlock.rootCell);
    return { node, path: '', name: node.name };
  }

  /** The key at a '\'-separated path below `from` (the root when absent), names compared case-insensitively. */
  async openKey(path: string, from?: RegistryKey): Promise<RegistryKey | undefined> {
    let key: RegistryKey | undefined = from ?? (await this.root());
    for (const part of path.split('\\').filter((p) => p !== '')) {
      key = await this.subkey(key, part);
      if (!key) return undefined;
    }
    return key;
  }

  async subkey(key: RegistryKey, name: string): Promise<RegistryKey | undefined> {
    const want = name.toUpperCase();
    // lh lists carry a hash of the upper-cased name; it is only trusted for ASCII
    // names, whose upper case Windows and JavaScript agree on.
    const hash = /^[\x20-\x7e]*$/.test(name) ? nameHash(name) : undefined;
    for (const { offset, hash: h } of await this.subkeyEntries(key)) {
      if (hash !== undefined && h !== undefined && h !== hash) continue;
      const node = await this.keyNode(offset);
      if (node.name.toUpperCase() === want) return this.child(key, node);
    }
    return undefined;
  }

  async subkeys(key: RegistryKey): Promise<RegistryKey[]> {
    const out: RegistryKey[] = [];
    for (const { offset } of await this.subkeyEntries(key)) out.push(this.child(key, await this.keyNode(offset)));
    return out;
  }

  async values(key: RegistryKey): Promise<RegistryValue[]> {
    const { valueCount, valueList } = key.node;
    if (valueCount === 0) return [];
    if (valueCount > MAX_CHILDREN) throw limitExceeded('registry value list', `key ${this.show(key)} declares ${valueCount} values`, this.fileOffset(valueList));
    const list = await this.cell(valueList, 'registry value list');
    if (valueCount * 4 > list.length) throw corrupt('registry value list', `${valueCount} values do not fit in the ${list.length}-byte list of ${this.show(key)}`, list.baseOffset);
    const out: RegistryValue[] = [];
    for (let i = 0; i < valueCount; i++) {
      const cell = list.u32le(i * 4);
      const node = parseValueNode(await this.cell(cell, 'registry value (vk)'), cell);
      out.push({ node, name: node.name, type: node.type, typeName: typeName(node.type), size: node.size });
    }
    return out;
  }

  /** The value of that name ('' for the default value), case-insensitively. */
  async value(key: RegistryKey, name: string): Promise<RegistryValue | undefined> {
    const want = name.toUpperCase();
    return (await this.values(key)).find((v) => v.name.toUpperCase() === want);
  }

  /** The value's bytes: resident, in one cell, or in the segments of a big-data (db) record. */
  async data(value: RegistryValue): Promise<Buffer> {
    const { node } = value;
    if (node.resident) return node.resident;
    if (node.size === 0) return Buffer.alloc(0);
    if (node.size > MAX_VALUE_DATA) throw limitExceeded('registry value data', `value "${node.name}" declares ${node.size} bytes`, this.fileOffset(node.cell));
    const cell = await this.cell(node.dataCell, 'registry value data');
    // Big data (a db record) exists from format 1.4 on; older hives keep big values in one cell.
    if (node.size > BIG_DATA_SEGMENT && this.baseBlock.minorVersion >= 4 && cell.length >= 2 && cell.bytes(0, 2).toString('latin1') === 'db') {
      return this.bigData(cell, node);
    }
    if (node.size > cell.length) {
      throw corrupt('registry value data', `value "${node.name}" declares ${node.size} bytes, its cell holds ${cell.length}`, cell.baseOffset);
    }
    return Buffer.from(cell.bytes(0, node.size));
  }

  async decoded(value: RegistryValue): Promise<DecodedValue> {
    return decodeValue(value.type, await this.data(value));
  }

  /** The self-relative security descriptor of the key's sk cell. */
  async security(key: RegistryKey): Promise<Buffer | undefined> {
    if (key.node.security === NO_CELL) return undefined;
    return parseSecurity(await this.cell(key.node.security, 'registry security (sk)'));
  }

  /**
   * Every key below `start` (itself first), depth first, without recursion. A key met
   * twice is a loop in the hive (a subkey list naming an ancestor, or two lists sharing
   * a key) and ends the walk with a corrupt error.
   */
  async *walk(start?: RegistryKey, limits: WalkLimits = {}): AsyncGenerator<RegistryKey> {
    const maxKeys = limits.maxKeys ?? 4_000_000;
    const maxDepth = limits.maxDepth ?? 512;
    const first = start ?? (await this.root());
    const seen = new Set<number>([first.node.cell]);
    const stack: { key: RegistryKey; depth: number }[] = [{ key: first, depth: 0 }];
    while (stack.length > 0) {
      const { key, depth } = stack.pop()!;
      yield key;
      if (key.node.subkeyCount === 0) continue;
      if (depth >= maxDepth) throw limitExceeded('registry key (nk)', `keys nest deeper than ${maxDepth} below ${this.show(key)}`, this.fileOffset(key.node.cell));
      const children = await this.subkeys(key);
      for (let i = children.length - 1; i >= 0; i--) {
        const child = children[i]!;
        if (seen.has(child.node.cell)) throw corrupt('registry key (nk)', `key loop: ${this.show(child)} is reached twice`, this.fileOffset(child.node.cell));
        if (seen.size >= maxKeys) throw limitExceeded('registry hive', `more than ${maxKeys} keys`, this.fileOffset(child.node.cell));
        seen.add(child.node.cell);
        stack.push({ key: child, depth: depth + 1 });
      }
    }
  }

  /** "SYSTEM\ControlSet001\Services" style, for messages. */
  show(key: RegistryKey): string {
    return key.path === '' ? `the root key of ${this.label}` : `${this.label}\\${key.path}`;
  }

  private child(parent: RegistryKey, node: KeyNode): RegistryKey {
    return { node, name: node.name, path: parent.path === '' ? node.name : `${parent.path}\\${node.name}` };
  }

  private async subkeyEntries(key: RegistryKey): Promise<{ offset: number; hash?: number }[]> {
    const { subkeyCount, subkeyList } = key.node;
    if (subkeyCount === 0) return [];
    if (subkeyCount > MAX_CHILDREN) throw limitExceeded('registry subkey list', `key ${this.show(key)} declares ${subkeyCount} subkeys`, this.fileOffset(key.node.cell));
    const top = parseSubkeyList(await this.cell(subkeyList, 'registry subkey list'));
    const out: { offset: number; hash?: number }[] = [];
    const add = (offsets: number[], hashes?: number[]) => {
      if (out.length + offsets.length > subkeyCount) {
        throw corrupt('registry subkey list', `the lists of ${this.show(key)} hold more than the ${subkeyCount} subkeys it declares`, this.fileOffset(subkeyList));
      }
      offsets.forEach((offset, i) => out.push({ offset, hash: hashes?.[i] }));
    };
    if (top.kind !== 'ri') add(top.offsets, top.hashes);
    else {
      for (const sub of top.offsets) {
        const list = parseSubkeyList(await this.cell(sub, 'registry subkey list'));
        if (list.kind === 'ri') throw corrupt('registry subkey list', `an ri list of ${this.show(key)} names another ri list: recursion`, this.fileOffset(sub));
        add(list.offsets, list.hashes);
      }
    }
    if (out.length !== subkeyCount) {
      throw corrupt('registry subkey list', `${this.show(key)} declares ${subkeyCount} subkeys, its lists hold ${out.length}`, this.fileOffset(subkeyList));
    }
    return out;
  }

  private async bigData(cell: BinaryView, node: ValueNode): Promise<Buffer> {
    const db = parseBigData(cell);
    const needed = Math.ceil(node.size / BIG_DATA_SEGMENT);
    if (db.segments < needed) {
      throw corrupt('registry big data (db)', `value "${node.name}" of ${node.size} bytes needs ${needed} segments, the record has ${db.segments}`, cell.baseOffset);
    }
    const list = await this.cell(db.list, 'registry big data segment list');
    const out = Buffer.alloc(node.size);
    let done = 0;
    for (let i = 0; i < needed; i++) {
      const segment = await this.cell(list.u32le(i * 4), 'registry big data segment');
      const n = Math.min(BIG_DATA_SEGMENT, node.size - done, segment.length);
      segment.buf.copy(out, done, 0, n);
      done += n;
    }
    if (done < node.size) throw corrupt('registry big data (db)', `value "${node.name}" declares ${node.size} bytes, its segments hold ${done}`, cell.baseOffset);
    return out;
  }

  private async keyNode(offset: number): Promise<KeyNode> {
    return parseKeyNode(await this.cell(offset, 'registry key (nk)'), offset);
  }

  private fileOffset(cell: number): number {
    return BASE_BLOCK_SIZE + (cell === NO_CELL ? 0 : cell);
  }

  /** The data of the allocated cell at `offset` (relative to the hive bins data), checked against its bin. */
  private async cell(offset: number, structure: string): Promise<BinaryView> {
    const at = BASE_BLOCK_SIZE + offset;
    if (offset === NO_CELL) throw corrupt(structure, 'the record points to no cell', undefined);
    if (offset % 8 !== 0 || offset + 8 > this.baseBlock.hiveBinsSize) {
      throw corrupt(structure, `cell offset ${offset} is not an 8-aligned offset inside the ${this.baseBlock.hiveBinsSize}-byte hive bins data`, at);
    }
    const bin = await this.binOf(offset, structure);
    if (offset < bin.start + HBIN_HEADER) throw corrupt(structure, `cell offset ${offset} points into the header of the hive bin at ${bin.start}`, at);
    const size = (await this.file.read(at, 4)).readInt32LE(0);
    if (size >= 0) throw corrupt(structure, `the cell at ${offset} is free (size ${size}): a record points to unallocated space`, at);
    const length = -size;
    if (length < 8 || length % 8 !== 0) throw corrupt(structure, `cell size ${length} is not a multiple of 8 of at least 8`, at);
    if (length > MAX_CELL) throw limitExceeded(structure, `cell of ${length} bytes`, at);
    if (offset + length > bin.end) throw corrupt(structure, `the ${length}-byte cell at ${offset} runs past the end of its hive bin (${bin.end})`, at);
    return new BinaryView(await this.file.read(at + 4, length - 4), structure, at + 4);
  }

  /** The hive bin holding the offset: its header is the nearest 4 KiB boundary at or before it that names itself. */
  private async binOf(offset: number, structure: string): Promise<Bin> {
    const known = this.findBin(offset);
    if (known) return known;
    const lowest = Math.max(0, offset - MAX_HBIN_SEARCH);
    for (let start = offset - (offset % HBIN_ALIGN); start >= lowest; start -= HBIN_ALIGN) {
      const header = await this.file.read(BASE_BLOCK_SIZE + start, HBIN_HEADER);
      if (header.toString('latin1', 0, 4) !== 'hbin' || header.readUInt32LE(4) !== start) continue;
      const size = header.readUInt32LE(8);
      if (size < HBIN_ALIGN || size % HBIN_ALIGN !== 0 || start + size > this.baseBlock.hiveBinsSize) {
        throw corrupt('registry hive bin', `hive bin at ${start} has size ${size}, not a multiple of 4096 inside the hive bins data`, BASE_BLOCK_SIZE + start + 8);
      }
      if (offset >= start + size) break;
      const bin = { start, end: start + size };
      this.addBin(bin);
      return bin;
    }
    throw corrupt(structure, `cell offset ${offset} lies in no hive bin (no "hbin" header before it names its own offset)`, BASE_BLOCK_SIZE + offset);
  }

  private findBin(offset: number): Bin | undefined {
    let lo = 0;
    let hi = this.bins.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = this.bins[mid]!;
      if (offset < b.start) hi = mid - 1;
      else if (offset >= b.end) lo = mid + 1;
      else return b;
    }
    return undefined;
  }

  private addBin(bin: Bin): void {
    let i = this.bins.length;
    while (i > 0 && this.bins[i - 1]!.start > bin.start) i--;
    this.bins.splice(i, 0, bin);
  }
}


/** The base block copy of the first valid old-format log, for a hive whose own is damaged. */
async function baseBlockFromLogs(logs: LogFile[]): Promise<{ base: BaseBlock; label: string } | undefined> {
  for (const log of logs) {
    if (log.size < LOG_BASE_BLOCK_SIZE) continue;
    const base = parseBaseBlock(await log.read(0, LOG_BASE_BLOCK_SIZE));
    if (base.checksumOk && base.fileType === 1 && base.primarySequence === base.secondarySequence) return { base, label: log.label };
  }
  return undefined;
}
