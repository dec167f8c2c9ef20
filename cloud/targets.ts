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
import { EbsSnapshotSource } from './aws/ebs-snapshot-source.js';
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
}

export interface AcquiredSources {
  sources: ByteSource[];
  release(): Promise<void>;
}

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
  // Our own retries (cloud/retry.ts) decide; the SDK's would multiply them.
  const config = { region: options.region, endpoint: options.endpoint, maxAttempts: 1 };
  const ebs = new EBSClient(config);
  const ec2 = new EC2Client(config);
  const releases: Array<() => Promise<void>> = [];
  const release = track(async () => {
    for (const r of releases.reverse()) await r();
    ebs.destroy();
    ec2.destroy();
  });
  try {
    let snapshots: string[];
    if (target.kind === 'snapshot') {
      snapshots = [target.id];
    } else {
      const volumes = target.kind === 'volume' ? [target.id] : await instanceVolumes(ec2, target.id);
      const scanId = newScanId();
      snapshots = [];
      for (const volume of volumes) {
        const id = await createTaggedSnapshot(ec2, volume, scanId);
        snapshots.push(id);
        if (!options.keepSnapshots) releases.push(() => deleteSnapshot(ec2, id));
      }
      for (const id of snapshots) await waitForSnapshot(ec2, id);
    }
    const sources: ByteSource[] = [];
    for (const id of snapshots) sources.push(await EbsSnapshotSource.open({ client: ebs, snapshotId: id, counter }));
    return { sources, release };
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
    let snapshots: string[];
    if (target.kind === 'snapshot') {
      snapshots = [target.id];
    } else {
      const disks = target.kind === 'disk' ? [target.id] : await instanceDisks(ecs, region, target.id);
      snapshots = [];
      for (const disk of disks) {
        const id = await aliyun.createSnapshot(ecs, disk, scanId);
        snapshots.push(id);
        if (!options.keepSnapshots) releases.push(() => aliyun.deleteSnapshot(ecs, id));
      }
    }
    const sources: ByteSource[] = [];
    for (const snapshot of snapshots) {
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
      sources.push(source);
    }
    return { sources, release };
  } catch (err) {
    await release();
    throw err;
  }
}
