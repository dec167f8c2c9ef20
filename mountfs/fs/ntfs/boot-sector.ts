/**
 * The NTFS boot sector ($Boot, sector 0 of the volume): the geometry everything else is
 * found with — bytes per sector, the cluster size (a sector count, or for clusters
 * above 128 sectors a negative power of two), the volume's size, where the $MFT starts,
 * and the sizes of MFT and index records (a cluster count, or a negative power of two
 * in bytes when a record is smaller than a cluster).
 *
 * Layout: NTFS_BOOT_SECTOR in ntfs-3g's include/ntfs-3g/layout.h and the Linux-NTFS
 * documentation ("Boot sector"). Every size is checked against the others here once,
 * so later code never multiplies by a value the image made up.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';

const STRUCT = 'NTFS boot sector';
export const BOOT_SECTOR_BYTES = 512;

export interface NtfsGeometry {
  bytesPerSector: number;
  clusterSize: number;
  /** Clusters in the volume (the boot sector's sector count, rounded down to clusters). */
  totalClusters: number;
  mftLcn: number;
  mftMirrLcn: number;
  mftRecordSize: number;
  indexRecordSize: number;
  serial: string;
}

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/** A record size byte: positive = clusters, negative = 2^-n bytes. */
function recordSize(v: BinaryView, at: number, clusterSize: number, what: string): number {
  const raw = v.u8(at);
  const size = raw < 0x80 ? raw * clusterSize : raw >= 0xe1 && raw <= 0xf7 ? 2 ** (256 - raw) : 0;
  // 256 bytes .. 2 MiB: Windows uses 1 KiB / 4 KiB; anything outside is a lie.
  if (!isPowerOfTwo(size) || size < 256 || size > 2 << 20) throw corrupt(STRUCT, `${what} size byte 0x${raw.toString(16)} (${size} bytes) is not a power of two in 256 B..2 MiB`, at);
  return size;
}

export function parseBootSector(buf: Buffer): NtfsGeometry {
  const v = new BinaryView(buf, STRUCT, 0);
  if (v.length < BOOT_SECTOR_BYTES || v.cstring(3, 8, 'latin1') !== 'NTFS    ') throw corrupt(STRUCT, 'no "NTFS    " OEM identifier', 3);
  const bytesPerSector = v.u16le(0x0b);
  if (!isPowerOfTwo(bytesPerSector) || bytesPerSector < 256 || bytesPerSector > 4096) {
    throw corrupt(STRUCT, `${bytesPerSector} bytes per sector is not a power of two in 256..4096`, 0x0b);
  }
  const spcRaw = v.u8(0x0d);
  // Above 0x80 the byte is a negative exponent: 0xF4 = 2^12 sectors per cluster.
  const sectorsPerCluster = spcRaw <= 0x80 ? spcRaw : spcRaw >= 0xe0 ? 2 ** (256 - spcRaw) : 0;
  const clusterSize = sectorsPerCluster * bytesPerSector;
  if (!isPowerOfTwo(sectorsPerCluster) || clusterSize > 2 ** 31) {
    throw corrupt(STRUCT, `sectors-per-cluster byte 0x${spcRaw.toString(16)} gives no valid cluster size`, 0x0d);
  }
  const totalSectors = v.u64le(0x28);
  const totalClusters = Math.floor(totalSectors / sectorsPerCluster);
  if (totalClusters < 1) throw corrupt(STRUCT, `the volume has ${totalSectors} sectors, less than one cluster`, 0x28);
  const mftLcn = v.u64le(0x30);
  const mftMirrLcn = v.u64le(0x38);
  if (mftLcn >= totalClusters) throw corrupt(STRUCT, `$MFT cluster ${mftLcn} is outside the volume's ${totalClusters} clusters`, 0x30);
  const mftRecordSize = recordSize(v, 0x40, clusterSize, 'MFT record');
  const indexRecordSize = recordSize(v, 0x44, clusterSize, 'index record');
  return {
    bytesPerSector,
    clusterSize,
    totalClusters,
    mftLcn,
    mftMirrLcn,
    mftRecordSize,
    indexRecordSize,
    serial: v.bytes(0x48, 8).toString('hex'),
  };
}
