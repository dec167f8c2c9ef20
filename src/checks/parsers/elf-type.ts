/**
 * What an ELF file is to the kernel and the dynamic linker, from its file header and
 * program headers (System V gABI, "ELF Header" and "Program Header"; elf(5)): a program
 * (ET_EXEC, or a position-independent ET_DYN with an entry point and a PT_INTERP, the
 * way `gcc -pie` builds one), a shared object (ET_DYN without an interpreter: what
 * `-shared` builds), or something else (relocatable objects, core files). A program
 * named like a library or kept in a library directory is a disguise.
 *
 * The bytes are the attacker's: the program header table is read only when its offset,
 * entry size and count fit the bytes given, and at most MAX_PHNUM entries; anything
 * odd gives `unknown` rather than a guess.
 */
import { elfIdent } from '../../miners/elf-sections.js';

export type ElfType = 'program' | 'shared-object' | 'other' | 'unknown';

const ET_EXEC = 2;
const ET_DYN = 3;
const PT_INTERP = 3;
/** Real programs have a dozen program headers; the kernel refuses more than 64 KiB of them. */
const MAX_PHNUM = 256;
/** Enough for the file header and every program header of any real program. */
export const ELF_TYPE_BYTES = 64 + MAX_PHNUM * 56;

/** Judges the first ELF_TYPE_BYTES of a file; undefined when it is no ELF file. */
export function elfType(head: Buffer): ElfType | undefined {
  const ident = elfIdent(head);
  if (!ident) return undefined;
  const is64 = ident.class === 64;
  if (head.length < (is64 ? 64 : 52)) return 'unknown';
  const u16 = (o: number) => (ident.littleEndian ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number) => (ident.littleEndian ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const word = (o: number) => (is64 ? Number(ident.littleEndian ? head.readBigUInt64LE(o) : head.readBigUInt64BE(o)) : u32(o));
  const type = u16(16);
  if (type === ET_EXEC) return 'program';
  if (type !== ET_DYN) return 'other';
  const entry = word(24);
  const phoff = word(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  if (phnum === 0) return 'shared-object';
  if (phnum > MAX_PHNUM || phentsize < (is64 ? 56 : 32) || phoff + phnum * phentsize > head.length) return 'unknown';
  let interp = false;
  for (let i = 0; i < phnum; i++) if (u32(phoff + i * phentsize) === PT_INTERP) interp = true;
  return interp && entry !== 0 ? 'program' : 'shared-object';
}
