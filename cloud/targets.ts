/**
 * Cloud targets on the command line. Each resolves to byte sources (one per disk) plus
 * the clean-up that must run after the scan, whatever happens:
 *   aws:snapshot/snap-…  an existing EBS snapshot, read in place (nothing created)
 *   aws:volume/vol-…     a snapshot is made, scanned, deleted
 *   aws:instance/i-…     the same for every EBS volume of the instance
 *   aliyun:snapshot/s-…, aliyun:disk/d-…, aliyun:instance/i-…: see aliyun/acquire-disks.ts
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { ByteSource, ReadCounter } from '../mountfs/sources/byte-source.js';
import { EbsSnapshotSource } from './aws/ebs-snapshot-source.js';
import { createTaggedSnapshot, deleteSnapshot, instanceVolumes, newScanId, waitForSnapshot } from './aws/ec2-snapshots.js';
import { ResourceScope, track } from './cleanup.js';
import { acquireAliyun } from './aliyun/acquire-disks.js';

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
  /** Alibaba Cloud: the scanner's zone (default: from DescribeInstances or the metadata service). */
  scannerZone?: string;
  /** Alibaba Cloud: how long an attached disk's device may take to appear. */
  deviceWaitMs?: number;
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
  const scope = new ResourceScope();
  const release = track(async () => {
    try {
      await scope.release();
    } finally {
      ebs.destroy();
      ec2.destroy();
    }
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
        const remove = options.keepSnapshots ? undefined : (id: string) => deleteSnapshot(ec2, id);
        snapshots.push(await scope.create(`snapshot of ${volume}`, () => createTaggedSnapshot(ec2, volume, scanId), remove));
      }
      for (const id of snapshots) await waitForSnapshot(ec2, id);
    }
    const sources: ByteSource[] = [];
    scope.check(`reading ${target.id}`);
    for (const id of snapshots) sources.push(await EbsSnapshotSource.open({ client: ebs, snapshotId: id, counter }));
    return { sources, release };
  } catch (err) {
    await release();
    throw err;
  }
}
