/**
 * One 512-byte tar header block (POSIX ustar, with the GNU and pax extensions that
 * `tar`, `docker export` and backup tools write). Written here rather than taken from
 * tar-stream because indexing an uncompressed tar on a random-access source must read
 * only the headers and skip every file body; tar-stream consumes the whole stream.
 * Follows POSIX.1-2017 pax/ustar and GNU tar's documentation of its formats.
 */
import { corrupt } from '../../errors.js';

export const BLOCK = 512;

export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'directory'
  | 'fifo'
  | 'pax-header'
  | 'pax-global'
  | 'gnu-longname'
  | 'gnu-longlink'
  | 'gnu-sparse'
  | 'other';

export interface TarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: TarEntryType;
  linkname: string;
  /** GNU old-style sparse map (type 'S'): [offset, length] pairs and the real size. */
  sparse?: { map: Array<[number, number]>; realSize: number; extended: boolean };
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
  x: 'pax-header',
  g: 'pax-global',
  L: 'gnu-longname',
  K: 'gnu-longlink',
  S: 'gnu-sparse',
};

/** True for an all-zero block, which marks the end of the archive (two in a row). */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Does this block look like the first header of a tar (valid checksum, ustar magic or a plausible old header)? */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK || isZeroBlock(block.subarray(0, BLOCK))) return false;
  if (!checksumOk(block)) return false;
  return block.toString('latin1', 257, 262) === 'ustar' || block[99] === 0;
}

export function parseTarHeader(block: Buffer, offset: number): TarHeader {
  if (block.length < BLOCK) throw corrupt('tar header', 'archive ends inside a header', offset);
  if (!checksumOk(block)) throw corrupt('tar header', 'header checksum does not match', offset);
  const magic = block.toString('latin1', 257, 263);
  const ustar = magic.startsWith('ustar');
  let name = cstr(block, 0, 100);
  if (ustar && magic === 'ustar\x00') {
    const prefix = cstr(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const flag = String.fromCharCode(block[156]!);
  const header: TarHeader = {
    name,
    mode: numeric(block, 100, 8, offset),
    uid: numeric(block, 108, 8, offset),
    gid: numeric(block, 116, 8, offset),
    size: numeric(block, 124, 12, offset),
    mtime: numeric(block, 136, 12, offset),
    type: TYPES[flag] ?? 'other',
    linkname: cstr(block, 157, 100),
  };
  if (header.type === 'gnu-sparse') {
    header.sparse = {
      map: sparsePairs(block, 386, 4, offset),
      extended: block[482] !== 0,
      realSize: numeric(block, 483, 12, offset),
    };
  }
  return header;
}

/** The pairs of a GNU sparse extension block (21 pairs, then the "more follow" flag). */
export function parseSparseExtension(block: Buffer, offset: number): { map: Array<[number, number]>; extended: boolean } {
  return { map: sparsePairs(block, 0, 21, offset), extended: block[504] !== 0 };
}

function sparsePairs(block: Buffer, start: number, count: number, offset: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const at = start + i * 24;
    if (block[at] === 0) break;
    out.push([numeric(block, at, 12, offset), numeric(block, at + 12, 12, offset)]);
  }
  return out;
}

/** Octal text, or GNU base-256 when the top bit of the first byte is set. */
function numeric(block: Buffer, at: number, len: number, offset: number): number {
  const first = block[at]!;
  if (first & 0x80) {
    if (first === 0xff) throw corrupt('tar header', 'negative base-256 number', offset + at);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + block[at + i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw corrupt('tar header', 'number too large', offset + at);
    }
    return v;
  }
  const text = block.toString('latin1', at, at + len).replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw corrupt('tar header', `field is not an octal number: ${JSON.stringify(text)}`, offset + at);
  const v = parseInt(text, 8);
  if (!Number.isSafeInteger(v)) throw corrupt('tar header', 'number too large', offset + at);
  return v;
}

function checksumOk(block: Buffer): boolean {
  const stored = block.toString('latin1', 148, 156).replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  const want = parseInt(stored, 8);
  return want === unsigned || want === signed;
}

function cstr(block: Buffer, at: number, len: number): string {
  const b = block.subarray(at, at + len);
  const nul = b.indexOf(0);
  return b.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

/**
 * pax extended header records: "<len> <key>=<value>\n", len counting the whole record.
 */
export function parsePaxRecords(data: Buffer, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space === -1 || space - pos > 20) throw corrupt('pax header', 'record has no length', offset + pos);
    const len = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length) {
      throw corrupt('pax header', `record length ${len} is impossible`, offset + pos);
    }
    const record = data.toString('utf8', space + 1, pos + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}
