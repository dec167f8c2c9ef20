/**
 * The order in which the disks of an instance are scanned and listed: the root
 * (system) disk first, then by device name compared naturally, so /dev/sdb comes
 * before /dev/sdf, /dev/nvme2n1 before /dev/nvme10n1 and xvdz before xvdaa (the
 * kernel names the 27th disk xvdaa). Compared as plain text, a data disk named
 * /dev/sdb would come before a root disk named /dev/xvda.
 */
import type { DiskReport } from '../mountfs/volume-report.js';

export interface InstanceDisk {
  /** The provider's id of the disk: EBS vol-…, Alibaba Cloud d-…. */
  volumeId: string;
  /** The device name the instance gives it, when the API says. */
  device?: string;
  root: boolean;
}

/** What is known of a disk before its snapshot is read. */
export type KnownDisk = Omit<DiskReport, 'index'> & { snapshotId: string };

/** A disk named on the command line: whether it is a root disk is not known. */
export const namedDisk = (volumeId: string): Partial<InstanceDisk> & { volumeId: string } => ({ volumeId });

/** Runs of digits compare as numbers; other runs shorter first (xvdz before xvdaa), then as text. */
export function compareDeviceNames(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      if (Number(x) !== Number(y)) return Number(x) - Number(y);
      continue;
    }
    if (x.length !== y.length) return x.length - y.length;
    return x < y ? -1 : 1;
  }
  return ta.length - tb.length;
}

export function orderDisks<T extends InstanceDisk>(disks: T[]): T[] {
  const byDevice = (a: T, b: T) => (a.device && b.device ? compareDeviceNames(a.device, b.device) : Number(!a.device) - Number(!b.device));
  return [...disks].sort((a, b) => Number(b.root) - Number(a.root) || byDevice(a, b) || a.volumeId.localeCompare(b.volumeId));
}
