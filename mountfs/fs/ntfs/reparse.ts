/**
 * $REPARSE_POINT: what a reparse point says. Symbolic links and junctions (mount
 * points) become VFS symlinks: their target is rewritten to a path inside the scanned
 * volume — "\??\C:\Users\x" and "C:\Users\x" become "/Users/x" (any drive letter is
 * taken as this volume's root, since the scan sees one volume), backslashes become
 * slashes, and relative targets stay relative. The VFS then resolves them inside the
 * scanned root, as it does Linux symlinks. WSL symlinks (LX_SYMLINK) carry a POSIX
 * target and are taken as they are. Every other kind (deduplication, WOF, OneDrive
 * placeholders, ...) is reported by its tag and not followed.
 *
 * Layout: REPARSE_POINT and the symlink / mount point reparse data in ntfs-3g's
 * layout.h and reparse.c's description, and [MS-FSCC] 2.1.2 "Reparse Tags".
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';

export const REPARSE_TAG = {
  MOUNT_POINT: 0xa0000003,
  SYMLINK: 0xa000000c,
  LX_SYMLINK: 0xa000001d,
  WOF: 0x80000017,
  DEDUP: 0x80000013,
} as const;

const SYMLINK_FLAG_RELATIVE = 0x1;

export interface ReparsePoint {
  tag: number;
  /** The target as a VFS path, for symlinks and junctions only. */
  target?: string;
}

/** A Windows path as a path inside the scanned volume. */
export function windowsTargetToVfs(target: string, relative: boolean): string {
  let t = target;
  if (t.startsWith('\\??\\') || t.startsWith('\\\\?\\')) t = t.slice(4);
  if (!relative && /^[A-Za-z]:/.test(t)) t = t.slice(2);
  t = t.replace(/\\/g, '/');
  if (!relative && !t.startsWith('/')) t = `/${t}`;
  return t;
}

function pathBuffer(v: BinaryView, base: number, relative: boolean): string {
  const subOffset = v.u16le(0);
  const subLength = v.u16le(2);
  const printOffset = v.u16le(4);
  const printLength = v.u16le(6);
  // The print name is what Windows shows; the substitute name is the one followed. Prefer the substitute.
  const [offset, length] = subLength > 0 ? [subOffset, subLength] : [printOffset, printLength];
  if (base + offset + length > v.length || length % 2 !== 0) throw corrupt(v.structure, `link target at +${offset} (${length} bytes) runs past the reparse data`, v.baseOffset + base);
  return windowsTargetToVfs(v.bytes(base + offset, length).toString('utf16le'), relative);
}

/** The reparse point value (the attribute's whole value). */
export function parseReparsePoint(value: BinaryView): ReparsePoint {
  const tag = value.u32le(0);
  const dataLength = value.u16le(4);
  if (8 + dataLength > value.length) throw corrupt(value.structure, `reparse data of ${dataLength} bytes runs past the ${value.length}-byte attribute`, value.baseOffset + 4);
  const data = value.slice(8, dataLength, value.structure);
  if (tag === REPARSE_TAG.SYMLINK) {
    const relative = (data.u32le(8) & SYMLINK_FLAG_RELATIVE) !== 0;
    return { tag, target: pathBuffer(data, 12, relative) };
  }
  if (tag === REPARSE_TAG.MOUNT_POINT) return { tag, target: pathBuffer(data, 8, false) };
  if (tag === REPARSE_TAG.LX_SYMLINK) {
    // A 4-byte version (2), then the UTF-8 target.
    return { tag, target: data.bytes(4, data.length - 4).toString('utf8') };
  }
  return { tag };
}
