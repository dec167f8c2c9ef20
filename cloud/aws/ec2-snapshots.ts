/**
 * Snapshots minescan makes of a volume (aws:volume/vol-…) or of every volume of an
 * instance (aws:instance/i-…), to read through the EBS direct APIs. Each snapshot is
 * tagged (minescan:scan-id, minescan:created-by) so `minescan cleanup` can find one a
 * killed run left behind, and is deleted after the scan unless the caller keeps it.
 * Nothing here writes to the instance or its volumes: CreateSnapshot only reads them.
 */
import {
  CreateSnapshotCommand,
  DeleteSnapshotCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';
import { withRetries } from '../retry.js';
import { orderDisks, type InstanceDisk } from '../disk-order.js';
import { isStopping, StoppingError } from '../cleanup.js';
import { mayHaveMade, untilVisible, visibleBy } from './eventual-consistency.js';

export const TAG_SCAN_ID = 'minescan:scan-id';
export const TAG_CREATED_BY = 'minescan:created-by';

export interface SnapshotWaitOptions {
  /** Give up after this long (default 1 hour: large volumes take a while). */
  timeoutMs?: number;
  pollMs?: number;
  /** The scan's signal: the wait (a poll's sleep, a throttled call's backoff) ends at once when it aborts. */
  signal?: AbortSignal;
  /** Until when EC2 may not know the snapshot yet (minescan just made it): its NotFound means "not yet". */
  visibleBy?: number;
}

/** The EBS volumes attached to an instance, the root volume first, then in device order. */
export async function instanceVolumes(ec2: EC2Client, instanceId: string, signal?: AbortSignal): Promise<InstanceDisk[]> {
  const out = await withRetries(() => ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })), `DescribeInstances ${instanceId}`, { signal });
  const instance = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  if (!instance) throw new Error(`instance ${instanceId} not found`);
  return orderDisks(
    (instance.BlockDeviceMappings ?? [])
      .filter((m) => m.Ebs?.VolumeId)
      .map((m) => ({ volumeId: m.Ebs!.VolumeId!, device: m.DeviceName, root: m.DeviceName !== undefined && m.DeviceName === instance.RootDeviceName })),
  );
}

/** What one create of a volume's snapshot made: the snapshot to read, and any others a retried create made. */
export interface CreatedSnapshot {
  snapshotId: string;
  /** Snapshots of the same volume and scan that a retried create made besides it: never read, deleted with it. */
  extra: string[];
  /** Until when (ms since the epoch) EC2 may still answer NotFound for them (eventual-consistency.ts). */
  visibleBy: number;
}

/**
 * CreateSnapshot has no idempotency token: when its answer is lost (a 5xx, a dropped
 * connection) after EC2 made the snapshot, the retry makes another. So after a create
 * whose attempts may have made more than one, every snapshot carrying this scan's tags
 * for the volume is looked up and handed back, and after a create that failed, they
 * are deleted here. EC2's listings lag behind its creates, so the lookup keeps looking
 * (bounded) until it sees as many as the attempts may have made; what it still misses
 * is tagged for `minescan cleanup`. The scan's signal ends the create's retries (a
 * throttled create must not hold the release up); the lookup then finds what the
 * attempts made.
 */
export async function createTaggedSnapshot(ec2: EC2Client, volumeId: string, scanId: string, signal?: AbortSignal): Promise<CreatedSnapshot> {
  let sent = 0;
  /** Attempts that failed after EC2 may have made a snapshot. */
  let uncertain = 0;
  try {
    const out = await withRetries(async () => {
      sent++;
      try {
        return await ec2.send(
          new CreateSnapshotCommand({
            VolumeId: volumeId,
            Description: `minescan scan ${scanId} of ${volumeId}`,
            TagSpecifications: [
              {
                ResourceType: 'snapshot',
                Tags: [
                  { Key: TAG_SCAN_ID, Value: scanId },
                  { Key: TAG_CREATED_BY, Value: 'minescan' },
                ],
              },
            ],
          }),
        );
      } catch (err) {
        if (mayHaveMade(err)) uncertain++;
        throw err;
      }
    }, `CreateSnapshot ${volumeId}`, { signal });
    if (!out.SnapshotId) throw new Error(`CreateSnapshot of ${volumeId} returned no snapshot id`);
    const snapshotId = out.SnapshotId;
    const until = visibleBy();
    if (uncertain === 0) return { snapshotId, extra: [], visibleBy: until };
    const found = await scanSnapshots(ec2, volumeId, scanId, { known: snapshotId, count: 1, until });
    return { snapshotId, extra: found.filter((id) => id !== snapshotId), visibleBy: until };
  } catch (err) {
    if (sent > 0) {
      const until = visibleBy();
      const made = await scanSnapshots(ec2, volumeId, scanId, { count: uncertain, until }).catch(() => [] as string[]);
      const failed = (await Promise.allSettled(made.map((id) => deleteSnapshot(ec2, id, until)))).filter((r) => r.status === 'rejected');
      if (failed.length) process.stderr.write(`minescan: ${failed.length} snapshot(s) of ${volumeId} a failed create left could not be deleted; \`minescan cleanup\` removes them later\n`);
    }
    throw err;
  }
}

/**
 * Every snapshot this scan made of the volume, found by its tags: looked for again,
 * until `until`, while the listing lacks `known` or holds fewer than `count`, as a
 * listing may not show a snapshot made moments ago. A listing that shows the last
 * create's snapshot shows those the earlier attempts made; without that one (the
 * create failed), as many as the attempts whose answer was lost are looked for.
 */
async function scanSnapshots(ec2: EC2Client, volumeId: string, scanId: string, expected: { known?: string; count: number; until: number }): Promise<string[]> {
  const what = `DescribeSnapshots (scan ${scanId}, ${volumeId})`;
  const filters = [
    { Name: `tag:${TAG_SCAN_ID}`, Values: [scanId] },
    { Name: 'volume-id', Values: [volumeId] },
  ];
  let poll = pollMs();
  for (;;) {
    const found = (await ownSnapshots(ec2, filters, what)).map((s) => s.id);
    const complete = found.length >= expected.count && (expected.known === undefined || found.includes(expected.known));
    if (complete) return found;
    if (Date.now() + poll > expected.until) {
      process.stderr.write(`minescan: ${what} lists ${found.length} of the snapshot(s) its create may have made; \`minescan cleanup\` removes any it did not list (they are tagged)\n`);
      return found;
    }
    await sleep(poll);
    poll = Math.min(poll * 1.5, 30_000);
  }
}

const pollMs = () => Number(process.env.MINESCAN_SNAPSHOT_POLL_MS ?? 5000);

/** The account's own snapshots that pass the filters, every page read. */
export async function ownSnapshots(ec2: EC2Client, filters: Array<{ Name: string; Values: string[] }>, what: string): Promise<Array<{ id: string; started?: Date }>> {
  const found: Array<{ id: string; started?: Date }> = [];
  let token: string | undefined;
  do {
    const page = await withRetries(() => ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters, NextToken: token, MaxResults: 500 })), what);
    for (const snap of page.Snapshots ?? []) if (snap.SnapshotId) found.push({ id: snap.SnapshotId, started: snap.StartTime });
    token = page.NextToken;
  } while (token);
  return found;
}

/** Deletes a created snapshot and the extra ones its create made; every deletion is tried, the first failure is thrown. */
export async function deleteCreated(ec2: EC2Client, made: CreatedSnapshot, keep: boolean): Promise<void> {
  const ids = keep ? made.extra : [made.snapshotId, ...made.extra];
  const failed = (await Promise.allSettled(ids.map((id) => deleteSnapshot(ec2, id, made.visibleBy)))).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function waitForSnapshot(ec2: EC2Client, snapshotId: string, options: SnapshotWaitOptions = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
  let poll = options.pollMs ?? pollMs();
  const visibility = options.visibleBy === undefined ? {} : untilVisible(options.visibleBy);
  for (;;) {
    if (isStopping()) throw new StoppingError(`waiting for snapshot ${snapshotId}`);
    const out = await withRetries(() => ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })), `DescribeSnapshots ${snapshotId}`, { signal: options.signal, ...visibility });
    const state = out.Snapshots?.[0]?.State;
    if (state === 'completed') return;
    if (state === 'error') throw new Error(`snapshot ${snapshotId} failed: ${out.Snapshots?.[0]?.StateMessage ?? 'no reason given'}`);
    if (Date.now() > deadline) throw new Error(`snapshot ${snapshotId} did not complete in time (state ${state})`);
    await sleep(poll, undefined, { signal: options.signal }).catch(() => {
      throw new StoppingError(`waiting for snapshot ${snapshotId}`);
    });
    poll = Math.min(poll * 1.5, 30_000);
  }
}

/** Deletes a snapshot; one minescan made until `visibleBy` may still be unknown to EC2, so its NotFound is asked again until then. */
export async function deleteSnapshot(ec2: EC2Client, snapshotId: string, visibleBy?: number): Promise<void> {
  await withRetries(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })), `DeleteSnapshot ${snapshotId}`, visibleBy === undefined ? {} : untilVisible(visibleBy));
}
