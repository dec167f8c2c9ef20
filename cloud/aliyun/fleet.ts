/**
 * Alibaba Cloud for the fleet commands: the instances of each region (DescribeInstances,
 * paged with NextToken, narrowed by tags), and the clean-up of what a killed run left:
 * temporary disks and snapshots tagged minescan:created-by, older than a threshold.
 */
import { createRequire } from 'node:module';
import { withRetries } from '../retry.js';
import type { FleetInstance, TagFilter } from '../fleet/aws-instances.js';
import { ecsClient, TAG_CREATED_BY } from './ecs-disk-flow.js';

const Ecs = createRequire(import.meta.url)('@alicloud/ecs20140526') as typeof import('@alicloud/ecs20140526');

export async function listAliyunInstances(regions: string[], filters: TagFilter[], endpoint?: string): Promise<FleetInstance[]> {
  const out: FleetInstance[] = [];
  for (const region of regions) {
    const ecs = ecsClient({ region, endpoint });
    let token: string | undefined;
    do {
      const res = await withRetries(
        () => ecs.describeInstances(new Ecs.DescribeInstancesRequest({ regionId: region, maxResults: 100, nextToken: token, tag: filters.map((f) => ({ key: f.key, value: f.value })) })),
        `DescribeInstances ${region}`,
      );
      for (const i of res.body?.instances?.instance ?? []) if (i.instanceId) out.push({ id: i.instanceId, region });
      token = res.body?.nextToken || undefined;
    } while (token);
  }
  return out;
}

export interface AliyunCleanupResult {
  deleted: string[];
  kept: string[];
  failed: Array<{ id: string; reason: string }>;
}

export async function cleanupAliyun(region: string, olderThanMs: number, endpoint?: string, now = Date.now()): Promise<AliyunCleanupResult> {
  const ecs = ecsClient({ region, endpoint });
  const result: AliyunCleanupResult = { deleted: [], kept: [], failed: [] };
  const tag = [{ key: TAG_CREATED_BY, value: 'minescan' }];
  const old = (created?: string) => now - Date.parse(created ?? new Date(now).toISOString()) >= olderThanMs;
  const disks = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, tag, pageSize: 100 })), 'DescribeDisks (minescan tag)');
  for (const d of disks.body?.disks?.disk ?? []) {
    if (!d.diskId) continue;
    if (!old(d.creationTime)) {
      result.kept.push(d.diskId);
      continue;
    }
    try {
      if (d.instanceId) await withRetries(() => ecs.detachDisk(new Ecs.DetachDiskRequest({ instanceId: d.instanceId, diskId: d.diskId })), `DetachDisk ${d.diskId}`);
      await withRetries(() => ecs.deleteDisk(new Ecs.DeleteDiskRequest({ diskId: d.diskId })), `DeleteDisk ${d.diskId}`, { attempts: 8 });
      result.deleted.push(d.diskId);
    } catch (err) {
      result.failed.push({ id: d.diskId, reason: (err as Error).message });
    }
  }
  const snaps = await withRetries(() => ecs.describeSnapshots(new Ecs.DescribeSnapshotsRequest({ regionId: region, tag, pageSize: 100 })), 'DescribeSnapshots (minescan tag)');
  for (const s of snaps.body?.snapshots?.snapshot ?? []) {
    if (!s.snapshotId) continue;
    if (!old(s.creationTime)) {
      result.kept.push(s.snapshotId);
      continue;
    }
    try {
      await withRetries(() => ecs.deleteSnapshot(new Ecs.DeleteSnapshotRequest({ snapshotId: s.snapshotId, force: true })), `DeleteSnapshot ${s.snapshotId}`);
      result.deleted.push(s.snapshotId);
    } catch (err) {
      result.failed.push({ id: s.snapshotId, reason: (err as Error).message });
    }
  }
  return result;
}
