/**
 * One line of the report's volume listing: every partition, logical volume or archive
 * member that was found, whether it was scanned, and why not.
 */
export interface VolumeReport {
  /** Partition number as the OS names it (sda1 = 1), 0 for a bare filesystem, the ordinal of a logical volume or archive member. Findings' `volume` is the position in the listing instead. */
  index: number;
  /** "gpt", "mbr", "none", "lvm", "directory", "archive". */
  scheme: string;
  /** "Linux filesystem", "0x83 Linux", "vg0/root", ... */
  type: string;
  /** Byte offset within the disk it was found on (0 for logical volumes and archives). */
  start: number;
  size: number;
  filesystem: string | null;
  scanned: boolean;
  /** Why a volume was not scanned, or what was odd about it (a journal needing recovery). */
  notes: string[];
  /** The volume this one is an alias of (same first sector, lying within it): listed, not scanned again. */
  aliasOf?: string;
  /** The chain of containers this volume sits in, outermost first, e.g. "ova:disk1.vmdk > vmdk". */
  container?: string;
  /** The disk the volume lies on, when the target has several disks or names them (cloud targets). */
  disk?: DiskReport;
}

/** Which disk of a target a volume was read from, in the provider's own ids. */
export interface DiskReport {
  /** Position of the disk in the target: 0 is the root (system) disk when there is one. */
  index: number;
  /** The provider's id of the disk (EBS vol-…, Alibaba Cloud d-…), when a disk or instance was named. */
  volumeId?: string;
  /** The snapshot that was read: the one named, or the one minescan made. */
  snapshotId?: string;
  /** The device name the instance gives the disk (/dev/xvda), when known. */
  device?: string;
  /** Whether it is the instance's root (system) disk, when known. */
  root?: boolean;
}
