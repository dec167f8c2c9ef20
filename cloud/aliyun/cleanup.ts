/**
 * `minescan cleanup aliyun`: removes what a killed run left, the temporary disks and
 * snapshots tagged minescan:created-by, older than a threshold so a run still in
 * progress elsewhere keeps its own.
 */
import { createRequire } from 'node:module';
import { withRetries } from '../retry.js';
import { deleteSnapshot, ecsClient, releaseDisk, TAG_CREATED_BY } from './ecs-disk-flow.js';

const Ecs = createRequire(import.meta.url)('@alicloud/ecs20140526') as typeof import('@alicloud/ecs20140526');

export interface AliyunCleanupResult {
  deleted: string[];
  kept: string[];
  failed: Array<{ id: string; reason: string }>;
}

/**
 * Every page of the tagged disks and snapshots is read before anything is deleted (a
 * deletion would shift the pages); an attached disk is detached and waited for
 * before its deletion, through the same release a scan uses.
 */
export async function cleanupAliyun(region: string, olderThanMs: number, endpoint?: string, now = Date.now()): Promise<AliyunCleanupResult> {
  const flow = { region, endpoint };
  const ecs = ecsClient(flow);
  const result: AliyunCleanupResult = { deleted: [], kept: [], failed: [] };
  const tag = [{ key: TAG_CREATED_BY, value: 'minescan' }];
  const old = (created?: string) => now - Date.parse(created ?? new Date(now).toISOString()) >= olderThanMs;
  const disks = await allPages(async (pageNumber) => {
    const res = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, tag, pageSize: PAGE, pageNumber })), 'DescribeDisks (minescan tag)');
    return { items: res.body?.disks?.disk ?? [], total: res.body?.totalCount ?? 0 };
  });
  const snapshots = await allPages(async (pageNumber) => {
    const res = await withRetries(() => ecs.describeSnapshots(new Ecs.DescribeSnapshotsRequest({ regionId: region, tag, pageSize: PAGE, pageNumber })), 'DescribeSnapshots (minescan tag)');
    return { items: res.body?.snapshots?.snapshot ?? [], total: res.body?.totalCount ?? 0 };
  });
  const remove = async (id: string | undefined, created: string | undefined, del: (id: string) => Promise<void>) => {
    if (!id) return;
    if (!old(created)) return void result.kept.push(id);
    try {
      await del(id);
      result.deleted.push(id);
    } catch (err) {
      result.failed.push({ id, reason: (err as Error).message });
    }
  };
  // Disks first: a disk made from a snapshot is gone before the snapshot is deleted.
  for (const d of disks) await remove(d.diskId, d.creationTime, (id) => releaseDisk(ecs, region, id, flow));
  for (const s of snapshots) await remove(s.snapshotId, s.creationTime, (id) => deleteSnapshot(ecs, id));
  return result;
}

const PAGE = 100;

/** Pages numbered from 1 until TotalCount items are read (or a page comes back empty). */
async function allPages<T>(page: (n: number) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
  const out: T[] = [];
  for (let n = 1; ; n++) {
    const { items, total } = await page(n);
    out.push(...items);
    if (items.length === 0 || out.length >= total) return out;
  }
}
