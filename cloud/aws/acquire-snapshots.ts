/**
 * An AWS target read through the EBS direct APIs: an existing snapshot in place, or a
 * tagged snapshot made of a volume (or of every volume of an instance, root first),
 * waited for, read and deleted. Every create goes through a ResourceScope, so a signal
 * at any step, a create still in flight included, leaves nothing behind.
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { ReadCounter } from '../../mountfs/sources/byte-source.js';
import { DEFAULT_CACHE_BYTES, openEbsSnapshot } from './ebs-snapshot-source.js';
import { namedDisk, type KnownDisk } from '../disk-order.js';
import { createTaggedSnapshot, deleteCreated, instanceVolumes, waitForSnapshot } from './ec2-snapshots.js';
import { ResourceScope, track } from '../cleanup.js';
import { newScanId, type AcquiredDisk, type AcquiredSources, type CloudOptions } from '../acquired.js';

export async function acquireAws(target: { kind: string; id: string }, counter: ReadCounter, options: CloudOptions): Promise<AcquiredSources> {
  // Our own retries (cloud/retry.ts) decide; the SDK's would multiply them. A connection
  // that stalls ends in a TimeoutError, which is retried like a throttle, never a hang.
  const config = { region: options.region, endpoint: options.endpoint, maxAttempts: 1, requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 } };
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
    let snapshots: KnownDisk[];
    if (target.kind === 'snapshot') {
      snapshots = [{ snapshotId: target.id }];
    } else {
      const volumes = target.kind === 'volume' ? [namedDisk(target.id)] : await instanceVolumes(ec2, target.id, options.signal);
      const scanId = newScanId();
      snapshots = [];
      const visible = new Map<string, number>();
      for (const volume of volumes) {
        // A snapshot kept for a later look is kept alone: the extra ones a retried create made go.
        const made = await scope.create(`snapshot of ${volume.volumeId}`, () => createTaggedSnapshot(ec2, volume.volumeId, scanId, options.signal), (m) => deleteCreated(ec2, m, !!options.keepSnapshots));
        snapshots.push({ ...volume, snapshotId: made.snapshotId });
        visible.set(made.snapshotId, made.visibleBy);
      }
      for (const s of snapshots) await waitForSnapshot(ec2, s.snapshotId, { signal: options.signal, visibleBy: visible.get(s.snapshotId) });
    }
    // One budget for the target, shared by its disks.
    const cacheBytes = Math.floor((options.cacheBytes ?? DEFAULT_CACHE_BYTES) / snapshots.length);
    scope.check(`reading ${target.id}`);
    const disks: AcquiredDisk[] = [];
    for (const [index, s] of snapshots.entries()) disks.push({ source: await openEbsSnapshot({ client: ebs, snapshotId: s.snapshotId, counter, cacheBytes, signal: options.signal }), disk: { index, ...s } });
    return { disks, release };
  } catch (err) {
    await release();
    throw err;
  }
}
