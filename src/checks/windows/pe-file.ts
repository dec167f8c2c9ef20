/**
 * Is it a Windows program? A PE file starts with the DOS header ("MZ") whose e_lfanew
 * (offset 0x3C) points at the "PE\0\0" signature (PE/COFF specification, 3.1-3.2). The
 * signature is checked, not just "MZ", so a text file starting with MZ is not taken for
 * one; e_lfanew is bounded by the file's size.
 */
export const PE_HEAD_BYTES = 0x40;
/** Linkers put the PE header within the first KiB or so; a far e_lfanew is no program Windows loads. */
const MAX_LFANEW = 0x10000;

/** e_lfanew when the head is a DOS header that may lead to a PE header; undefined otherwise. */
export function peHeaderOffset(head: Buffer, size: number): number | undefined {
  if (head.length < PE_HEAD_BYTES || head[0] !== 0x4d || head[1] !== 0x5a) return undefined;
  const lfanew = head.readUInt32LE(0x3c);
  return lfanew >= PE_HEAD_BYTES && lfanew <= MAX_LFANEW && lfanew + 4 <= size ? lfanew : undefined;
}

export function isPeSignature(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32BE(0) === 0x50450000;
}
