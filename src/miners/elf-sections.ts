/**
 * The byte ranges of an ELF file that hold its constant strings (.rodata, .data and
 * their variants), read from the section header table (System V gABI, "Sections";
 * elf(5)). A miner's pools, algorithm names and help text live there, so reading only
 * those ranges skips the code. The headers are the attacker's: every offset and count
 * is checked against the file, and anything odd (no table, extended numbering, a
 * section past the end, overlaps of the table itself) gives undefined so the caller
 * reads the whole file instead. Packed files (UPX) have no section table at all.
 */
import { BinaryView } from '../../mountfs/binary.js';

export interface FileRange {
  offset: number;
  length: number;
}

export interface ElfIdent {
  class: 32 | 64;
  littleEndian: boolean;
}

/** Reads `length` bytes at `offset` of the file (fewer at its end). */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

const MAX_SECTIONS = 4096;
const MAX_SHSTRTAB = 256 << 10;
const SHT_NOBITS = 8;
const SHN_XINDEX = 0xffff;
const STRING_SECTION = /^\.(?:rodata|data|data\.rel\.ro|rdata|const|go\.buildinfo|comment)(?:\..*)?$/;

/** Class and byte order from the first 16 bytes; undefined when this is no ELF file. */
export function elfIdent(head: Buffer): ElfIdent | undefined {
  if (head.length < 16 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const cls = head[4];
  const data = head[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return undefined;
  return { class: cls === 1 ? 32 : 64, littleEndian: data === 1 };
}

/**
 * The string-carrying sections of the file, in file order, merged where they touch;
 * undefined when the section headers cannot be trusted or name no such section.
 */
export async function stringSections(head: Buffer, fileSize: number, readAt: ReadAt): Promise<FileRange[] | undefined> {
  const ident = elfIdent(head);
  if (!ident) return undefined;
  const h = new BinaryView(head, 'ELF header');
  const is64 = ident.class === 64;
  if (head.length < (is64 ? 64 : 52)) return undefined;
  const u16 = (v: BinaryView, o: number) => (ident.littleEndian ? v.u16le(o) : v.u16be(o));
  const u32 = (v: BinaryView, o: number) => (ident.littleEndian ? v.u32le(o) : v.u32be(o));
  const addr = (v: BinaryView, o: number) => (is64 ? (ident.littleEndian ? v.u64le(o) : v.u64be(o)) : u32(v, o));

  let shoff: number;
  try {
    shoff = addr(h, is64 ? 0x28 : 0x20);
  } catch {
    return undefined; // an offset beyond 2^53: not a file we can hold
  }
  const shentsize = u16(h, is64 ? 0x3a : 0x2e);
  const shnum = u16(h, is64 ? 0x3c : 0x30);
  const shstrndx = u16(h, is64 ? 0x3e : 0x32);
  const minEntry = is64 ? 64 : 40;
  if (shoff === 0 || shnum === 0 || shnum > MAX_SECTIONS || shentsize < minEntry || shstrndx >= shnum || shstrndx === SHN_XINDEX) return undefined;
  const tableBytes = shnum * shentsize;
  if (shoff + tableBytes > fileSize) return undefined;
  const table = await readAt(shoff, tableBytes);
  if (table.length !== tableBytes) return undefined;
  const tv = new BinaryView(table, 'ELF section header table', shoff);

  interface Section {
    name: number;
    type: number;
    offset: number;
    size: number;
  }
  const sections: Section[] = [];
  try {
    for (let i = 0; i < shnum; i++) {
      const e = tv.slice(i * shentsize, shentsize, 'ELF section header');
      sections.push({
        name: u32(e, 0),
        type: u32(e, 4),
        offset: addr(e, is64 ? 24 : 16),
        size: addr(e, is64 ? 32 : 20),
      });
    }
  } catch {
    return undefined;
  }
  const inFile = (s: Section) => s.type !== SHT_NOBITS && s.offset <= fileSize && s.size <= fileSize - s.offset;
  const names = sections[shstrndx]!;
  if (!inFile(names) || names.size === 0 || names.size > MAX_SHSTRTAB) return undefined;
  const strtab = await readAt(names.offset, names.size);
  if (strtab.length !== names.size) return undefined;

  const ranges: FileRange[] = [];
  for (const s of sections) {
    if (s.type === SHT_NOBITS || s.size === 0 || s.name >= strtab.length) continue;
    const end = strtab.indexOf(0, s.name);
    const name = strtab.toString('latin1', s.name, end === -1 ? strtab.length : end);
    if (!STRING_SECTION.test(name)) continue;
    if (!inFile(s)) return undefined;
    ranges.push({ offset: s.offset, length: s.size });
  }
  if (ranges.length === 0) return undefined;
  return merge(ranges);
}

function merge(ranges: FileRange[]): FileRange[] {
  ranges.sort((a, b) => a.offset - b.offset);
  const out: FileRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else {
      out.push({ ...r });
    }
  }
  return out;
}
