/**
 * Cloud targets on the command line. Each resolves to byte sources (one per disk) plus
 * the clean-up that must run after the scan, whatever happens:
 *   aws:snapshot/snap-…  an existing EBS snapshot, read in place (nothing created)
 *   aws:volume/vol-…     a snapshot is made, scanned, deleted
 *   aws:instance/i-…     the same for every EBS volume of the instance
 *   aliyun:snapshot/s-…, aliyun:disk/d-…, aliyun:instance/i-…: see aliyun/ecs-disk-flow.ts
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { ByteSource, ReadCounter } from '../mountfs/sources/byte-source.js';
import type { DiskReport } from '../mountfs/volume-report.js';
import { DEFAULT_CACHE_BYTES, openEbsSnapshot } from './aws/ebs-snapshot-source.js';
import type { InstanceDisk } from './disk-order.js';
import { createTaggedSnapshot, deleteSnapshot, instanceVolumes, newScanId, waitForSnapshot } from './aws/ec2-snapshots.js';
import { track } from './cleanup.js';
import { FileByteSource } from '../mountfs/sources/file-source.js';
import * as aliyun from './aliyun/ecs-disk-flow.js';
import { ecsClient, instanceDisks, scannerIdentity } from './aliyun/ecs-disk-flow.js';

export interface CloudTarget {
  provider: 'aws' | 'aliyun';
  kind: string;
  id: string;
}

export interface CloudOptions {
  region?: string;
  /** Overrides the endpoint of every service (tests, private endpoints). */
  endpoint?: string;
  /** Keep the snapshots minescan made (for a later look). */
  keepSnapshots?: boolean;
  /** Alibaba Cloud: the instance temporary disks are attached to (default: the one minescan runs on). */
  scannerInstance?: string;
  /** Bytes of snapshot blocks kept in memory for the whole target (default 256 MiB). */
  cacheBytes?: number;
}

/** One disk of a target: its bytes and who it is, root disk first. */
export interface AcquiredDisk {
  source: ByteSource;
  disk: DiskReport;
}

export interface AcquiredSources {
  disks: AcquiredDisk[];
  release(): Promise<void>;
}

/** What is known of a disk before its snapshot is read. */
type KnownDisk = Omit<DiskReport, 'index'> & { snapshotId: string };

/** A disk named on the command line: whether it is a root disk is not known. */
const namedDisk = (volumeId: string): Partial<InstanceDisk> & { volumeId: string } => ({ volumeId });

const TARGET = /^(aws|aliyun):([a-z]+)\/([A-Za-z0-9-]+)$/;

export function parseCloudTarget(target: string): CloudTarget | null {
  const m = TARGET.exec(target);
  return m ? { provider: m[1] as CloudTarget['provider'], kind: m[2]!, id: m[3]! } : null;
}

export async function acquireCloudSources(target: CloudTarget, counter: ReadCounter, options: CloudOptions = {}): Promise<AcquiredSources> {
  if (target.provider === 'aliyun' && ['snapshot', 'disk', 'instance'].includes(target.kind)) return acquireAliyun(target, counter, options);
  if (target.provider !== 'aws' || !['snapshot', 'volume', 'instance'].includes(target.kind)) {
    throw new Error(`${target.provider}:${target.kind}/${target.id}: not a target minescan knows (aws:snapshot|volume|instance/…, aliyun:snapshot|disk|instance/…)`);
  }
  // Our own retries (cloud/retry.ts) decide; the SDK's would multiply them. A connection
  // that stalls ends in a TimeoutError, which is retried like a throttle, never a hang.
  const config = { region: options.region, endpoint: options.endpoint, maxAttempts: 1, requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 } };
  const ebs = new EBSClient(config);
  const ec2 = new EC2Client(config);
  const releases: Array<() => Promise<void>> = [];
  const release = track(async () => {
    for (const r of releases.reverse()) await r();
    ebs.destroy();
    ec2.destroy();
  });
  try {
    let snapshots: KnownDisk[];
    if (target.kind === 'snapshot') {
      snapshots = [{ snapshotId: target.id }];
    } else {
      const volumes = target.kind === 'volume' ? [namedDisk(target.id)] : await instanceVolumes(ec2, target.id);
      const scanId = newScanId();
      snapshots = [];
      for (const volume of volumes) {
        const id = await createTaggedSnapshot(ec2, volume.volumeId, scanId);
        snapshots.push({ ...volume, snapshotId: id });
        if (!options.keepSnapshots) releases.push(() => deleteSnapshot(ec2, id));
      }
      for (const s of snapshots) await waitForSnapshot(ec2, s.snapshotId);
    }
    // One budget for the target, shared by its disks.
    const cacheBytes = Math.floor((options.cacheBytes ?? DEFAULT_CACHE_BYTES) / snapshots.length);
    const disks: AcquiredDisk[] = [];
    for (const [index, s] of snapshots.entries()) disks.push({ source: await openEbsSnapshot({ client: ebs, snapshotId: s.snapshotId, counter, cacheBytes }), disk: { index, ...s } });
    return { disks, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** Snapshot (unless given one), temporary disk in the scanner's zone, attach, read the device; undo it all on release. */
async function acquireAliyun(target: CloudTarget, counter: ReadCounter, options: CloudOptions): Promise<AcquiredSources> {
  const region = options.region ?? process.env.ALIBABA_CLOUD_REGION_ID;
  if (!region) throw new Error('Alibaba Cloud targets need --region or ALIBABA_CLOUD_REGION_ID');
  const flow = { region, endpoint: options.endpoint, scannerInstance: options.scannerInstance, deviceDir: process.env.MINESCAN_DEVICE_DIR };
  const ecs = ecsClient(flow);
  const releases: Array<() => Promise<void>> = [];
  const release = track(async () => {
    for (const r of releases.reverse()) await r().catch((err: Error) => process.stderr.write(`minescan: cleanup: ${err.message}\n`));
  });
  try {
    const scanner = await scannerIdentity(flow);
    const scanId = newScanId();
    let snapshots: KnownDisk[];
    if (target.kind === 'snapshot') {
      snapshots = [{ snapshotId: target.id }];
    } else {
      const disks = target.kind === 'disk' ? [namedDisk(target.id)] : await instanceDisks(ecs, region, target.id);
      snapshots = [];
      for (const disk of disks) {
        const id = await aliyun.createSnapshot(ecs, disk.volumeId, scanId);
        snapshots.push({ ...disk, snapshotId: id });
        if (!options.keepSnapshots) releases.push(() => aliyun.deleteSnapshot(ecs, id));
      }
    }
    const acquired: AcquiredDisk[] = [];
    for (const [index, { snapshotId: snapshot, ...known }] of snapshots.entries()) {
      await aliyun.waitSnapshot(ecs, region, snapshot, flow);
      const disk = await aliyun.createDiskFromSnapshot(ecs, region, scanner.zoneId, snapshot, scanId);
      releases.push(() => aliyun.deleteDisk(ecs, disk));
      await aliyun.waitDisk(ecs, region, disk, 'Available', flow);
      await aliyun.attachDisk(ecs, scanner.instanceId, disk);
      releases.push(async () => {
        await aliyun.detachDisk(ecs, scanner.instanceId, disk);
        await aliyun.waitDisk(ecs, region, disk, 'Available', flow);
      });
      await aliyun.waitDisk(ecs, region, disk, 'In_use', flow);
      const device = await aliyun.findDevice(disk, flow);
      const source = await FileByteSource.open(device, counter);
      releases.push(() => source.close());
      acquired.push({ source, disk: { index, snapshotId: snapshot, ...known } });
    }
    return { disks: acquired, release };
  } catch (err) {
    await release();
    throw err;
  }
}
