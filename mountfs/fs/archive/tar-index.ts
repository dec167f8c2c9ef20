/**
 * Walks the headers of an uncompressed tar on a random-access byte source, skipping
 * every file body, and yields one entry per file with where its bytes are. Resolves
 * the GNU long-name/long-link records, pax extended headers (path, linkpath, size,
 * uid, gid, times) and both GNU sparse encodings (old 'S' headers and pax 1.0).
 */
import { corrupt, limitExceeded, unsupported } from '../../errors.js';
import type { ByteSource } from '../../sources/byte-source.js';
import { BLOCK, isZeroBlock, parsePaxRecords, parseSparseExtension, parseTarHeader, type TarEntryType } from './tar-header.js';

const MAX_META_RECORD = 1 << 20;
const MAX_SPARSE_PAIRS = 1 << 20;

export interface TarDataRef {
  /** Byte offset of the entry's stored data in the archive. */
  offset: number;
  /** Stored (packed) length. */
  stored: number;
  /** For sparse files: [logical offset, length] runs, stored back to back from `offset`. */
  sparse?: Array<[number, number]>;
}

export interface TarEntry {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Logical size (the real size for sparse files). */
  size: number;
  mtime: number;
  atime?: number;
  ctime?: number;
  linkname: string;
  data: TarDataRef;
  /** Offset of the header, for error messages. */
  headerOffset: number;
}

export async function* indexTar(source: ByteSource): AsyncGenerator<TarEntry> {
  let pos = 0;
  let pax = new Map<string, string>();
  let globalPax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  while (pos + BLOCK <= source.size) {
    const block = await source.read(pos, BLOCK);
    if (isZeroBlock(block)) return;
    const h = parseTarHeader(block, pos);
    const dataOffset = pos + BLOCK;
    const next = dataOffset + Math.ceil(h.size / BLOCK) * BLOCK;
    // The padding of the last block may be missing, the data itself may not.
    if (next > source.size + BLOCK || dataOffset + h.size > source.size) throw corrupt('tar entry', `${h.name}: its ${h.size} bytes run past the end of the archive`, pos);
    const readMeta = async (what: string) => {
      if (h.size > MAX_META_RECORD) throw limitExceeded(what, `${h.size}-byte record`, pos);
      return source.read(dataOffset, h.size);
    };
    switch (h.type) {
      case 'pax-header':
        pax = parsePaxRecords(await readMeta('pax header'), dataOffset);
        break;
      case 'pax-global':
        globalPax = new Map([...globalPax, ...parsePaxRecords(await readMeta('pax global header'), dataOffset)]);
        break;
      case 'gnu-longname':
        longName = cstring(await readMeta('GNU long name'));
        break;
      case 'gnu-longlink':
        longLink = cstring(await readMeta('GNU long link'));
        break;
      default: {
        const meta = new Map([...globalPax, ...pax]);
        const entry: TarEntry = {
          name: meta.get('path') ?? longName ?? h.name,
          type: h.type === 'gnu-sparse' ? 'file' : h.type,
          mode: h.mode,
          uid: intOr(meta.get('uid'), h.uid),
          gid: intOr(meta.get('gid'), h.gid),
          size: intOr(meta.get('size'), h.size),
          mtime: floatOr(meta.get('mtime'), h.mtime),
          atime: floatOr(meta.get('atime'), undefined),
          ctime: floatOr(meta.get('ctime'), undefined),
          linkname: meta.get('linkpath') ?? longLink ?? h.linkname,
          data: { offset: dataOffset, stored: intOr(meta.get('size'), h.size) },
          headerOffset: pos,
        };
        let end = next;
        if (h.type === 'gnu-sparse' && h.sparse) {
          const map = [...h.sparse.map];
          let more = h.sparse.extended;
          let ext = dataOffset;
          while (more) {
            const extBlock = await source.read(ext, BLOCK);
            const part = parseSparseExtension(extBlock, ext);
            map.push(...part.map);
            more = part.extended;
            ext += BLOCK;
            if (map.length > MAX_SPARSE_PAIRS) throw limitExceeded('GNU sparse map', 'too many runs', pos);
          }
          entry.size = h.sparse.realSize;
          entry.data = { offset: ext, stored: h.size, sparse: map };
          end = ext + Math.ceil(h.size / BLOCK) * BLOCK;
        } else if (meta.get('GNU.sparse.major') === '1' && meta.get('GNU.sparse.minor') === '0') {
          const { map, headerBytes } = await readPaxSparseMap(source, dataOffset, h.size);
          entry.name = meta.get('GNU.sparse.name') ?? entry.name;
          entry.size = intOr(meta.get('GNU.sparse.realsize'), entry.size);
          entry.data = { offset: dataOffset + headerBytes, stored: h.size - headerBytes, sparse: map };
        } else if (meta.has('GNU.sparse.map') || meta.has('GNU.sparse.offset')) {
          throw unsupported('tar sparse entry', `${entry.name}: pax sparse format 0.x`, pos);
        }
        checkSparse(entry);
        yield entry;
        pax = new Map();
        longName = undefined;
        longLink = undefined;
        pos = end;
        continue;
      }
    }
    pos = next;
  }
  // Every tar writer ends the archive with zero blocks: without them it was cut short.
  throw corrupt('tar archive', `the archive ends at byte ${source.size} without its end-of-archive blocks: it was cut short`, pos);
}

/** pax sparse 1.0: the data starts with the run count and the runs in decimal lines, padded to a block. */
async function readPaxSparseMap(source: ByteSource, offset: number, stored: number): Promise<{ map: Array<[number, number]>; headerBytes: number }> {
  const numbers: number[] = [];
  let text = '';
  let consumed = 0;
  let count = -1;
  while (count < 0 || numbers.length < 1 + count * 2) {
    if (consumed >= stored || consumed > MAX_META_RECORD) throw corrupt('pax sparse map', 'map does not end', offset);
    text += (await source.read(offset + consumed, BLOCK)).toString('latin1');
    consumed += BLOCK;
    const lines = text.split('\n');
    text = lines.pop()!;
    for (const l of lines) {
      if (!/^\d+$/.test(l)) throw corrupt('pax sparse map', `not a number: ${JSON.stringify(l.slice(0, 20))}`, offset);
      numbers.push(Number(l));
      if (numbers.length === 1) {
        count = numbers[0]!;
        if (count > MAX_SPARSE_PAIRS) throw limitExceeded('pax sparse map', `${count} runs`, offset);
      }
      if (count >= 0 && numbers.length === 1 + count * 2) break;
    }
  }
  const map: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) map.push([numbers[1 + i * 2]!, numbers[2 + i * 2]!]);
  return { map, headerBytes: consumed };
}

function checkSparse(entry: TarEntry): void {
  const runs = entry.data.sparse;
  if (!runs) return;
  let stored = 0;
  let last = 0;
  for (const [off, len] of runs) {
    if (off < last || off + len > entry.size) throw corrupt('tar sparse map', `${entry.name}: run ${off}+${len} is out of order or past the file size`, entry.headerOffset);
    last = off + len;
    stored += len;
  }
  if (stored > entry.data.stored) throw corrupt('tar sparse map', `${entry.name}: runs hold more than the stored data`, entry.headerOffset);
}

function cstring(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul === -1 ? b.length : nul).toString('utf8');
}

function intOr(v: string | undefined, fallback: number): number {
  if (v === undefined || !/^\d+$/.test(v)) return fallback;
  return Number(v);
}

function floatOr<T extends number | undefined>(v: string | undefined, fallback: T): number | T {
  if (v === undefined) return fallback;
  const n = Number(v);
  return Number.isFinite(n) ? n : fallback;
}
