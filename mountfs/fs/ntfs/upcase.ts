/**
 * $UpCase (MFT record 10): the table Windows upper-cases names with when it compares
 * them, one 16-bit code for each of the 65536 UTF-16 code units, written by the
 * formatter of the volume. Lookups through the VFS compare names folded with it, so
 * "C:\WINDOWS\system32" finds "Windows\System32" exactly as Windows would, even where
 * the volume's table differs from JavaScript's own upper-casing.
 */
import { corrupt } from '../../errors.js';

export const UPCASE_BYTES = 65536 * 2;

export class UpCaseTable {
  private constructor(private readonly table: Uint16Array) {}

  static fromBytes(buf: Buffer, offset: number): UpCaseTable {
    if (buf.length !== UPCASE_BYTES) throw corrupt('NTFS $UpCase', `${buf.length} bytes, the table has ${UPCASE_BYTES}`, offset);
    const table = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = buf.readUInt16LE(i * 2);
    return new UpCaseTable(table);
  }

  /** A table from JavaScript's upper-casing, for volumes whose own table cannot be read. */
  static fallback(): UpCaseTable {
    const table = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) {
      const up = String.fromCharCode(i).toUpperCase();
      table[i] = up.length === 1 ? up.charCodeAt(0) : i;
    }
    return new UpCaseTable(table);
  }

  fold(name: string): string {
    let out = '';
    for (let i = 0; i < name.length; i++) out += String.fromCharCode(this.table[name.charCodeAt(i)]!);
    return out;
  }
}
