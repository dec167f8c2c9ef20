/**
 * MS-VHDX stores GUIDs in the Windows layout: the first three fields little-endian,
 * the last eight bytes as they are. Compared as their canonical text.
 */
export function guidAt(buf: Buffer, at: number): string {
  const hex = (from: number, to: number) => buf.subarray(at + from, at + to).toString('hex');
  const le = (from: number, len: number) => Buffer.from(buf.subarray(at + from, at + from + len)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${hex(8, 10)}-${hex(10, 16)}`.toUpperCase();
}

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
