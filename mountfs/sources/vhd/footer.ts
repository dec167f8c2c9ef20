/**
 * The VHD hard disk footer: 512 big-endian bytes at the end of every VHD (and, for
 * dynamic and differencing disks, copied at offset 0). It says what kind of disk this
 * is, how large the virtual disk is and where the dynamic header lies. Layout and
 * checksum follow Microsoft's "Virtual Hard Disk Image Format Specification" 1.0,
 * section "Hard Disk Footer Format".
 */
import { BinaryView } from '../../binary.js';
import { corrupt, unsupported } from '../../errors.js';

export const FOOTER_SIZE = 512;
export const COOKIE = 'conectix';

export const DISK_FIXED = 2;
export const DISK_DYNAMIC = 3;
export const DISK_DIFFERENCING = 4;

export interface VhdFooter {
  /** Absolute offset of the dynamic header; null for fixed disks (0xFFFFFFFFFFFFFFFF). */
  dataOffset: number | null;
  /** Size of the virtual disk in bytes, as Hyper-V and QEMU read it. */
  currentSize: number;
  diskType: number;
  /** The disk's identity: a differencing child records its parent's. */
  uniqueId: Buffer;
  /** Four characters naming the tool that made the image ("qemu", "win ", "vpc "). */
  creatorApp: string;
}

export function hasCookie(buf: Buffer, at = 0): boolean {
  return buf.length >= at + 8 && buf.toString('latin1', at, at + 8) === COOKIE;
}

/**
 * The footer checksum is the one's complement of the byte sum of the footer with the
 * checksum field counted as zero. Used by the dynamic header too (with its own field).
 */
export function vhdChecksum(buf: Buffer, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) {
    if (i >= checksumAt && i < checksumAt + 4) continue;
    sum = (sum + buf[i]!) >>> 0;
  }
  return ~sum >>> 0;
}

/**
 * Parses and verifies a footer. `buf` is 512 bytes (an old 511-byte footer padded with
 * a zero byte, which does not change the sum); `offset` is where it lies in the file.
 */
export function parseFooter(buf: Buffer, offset: number): VhdFooter {
  const structure = 'VHD footer';
  const v = new BinaryView(buf, structure, offset);
  if (!hasCookie(buf)) throw corrupt(structure, 'no "conectix" cookie', offset);
  const stored = v.u32be(64);
  const computed = vhdChecksum(v.bytes(0, FOOTER_SIZE), 64);
  if (stored !== computed) {
    throw corrupt(structure, `checksum 0x${stored.toString(16)} does not match the contents (0x${computed.toString(16)})`, offset + 64);
  }
  const version = v.u32be(12);
  if (version >>> 16 !== 1) throw unsupported(structure, `file format version ${version >>> 16}.${version & 0xffff} (only 1.x exists)`, offset + 12);
  const diskType = v.u32be(60);
  if (diskType !== DISK_FIXED && diskType !== DISK_DYNAMIC && diskType !== DISK_DIFFERENCING) {
    throw corrupt(structure, `disk type ${diskType} is none of fixed (2), dynamic (3), differencing (4)`, offset + 60);
  }
  const hi = v.u32be(16);
  const lo = v.u32be(20);
  const dataOffset = hi === 0xffffffff && lo === 0xffffffff ? null : v.u64be(16);
  if (diskType === DISK_FIXED && dataOffset !== null) throw corrupt(structure, 'a fixed disk names a dynamic header', offset + 16);
  if (diskType !== DISK_FIXED && dataOffset === null) throw corrupt(structure, 'a dynamic disk names no dynamic header', offset + 16);
  const currentSize = v.u64be(48);
  if (currentSize % 512 !== 0) throw corrupt(structure, `disk size ${currentSize} is not a whole number of sectors`, offset + 48);
  return {
    dataOffset,
    currentSize,
    diskType,
    uniqueId: Buffer.from(v.bytes(68, 16)),
    creatorApp: v.bytes(28, 4).toString('latin1'),
  };
}
