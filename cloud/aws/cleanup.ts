/**
 * `minescan cleanup aws`: deletes the snapshots a killed run left behind, found by the
 * tag every snapshot minescan makes carries, and only those older than a threshold so a
 * run still in progress elsewhere keeps its own.
 */
import { DeleteSnapshotCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { withRetries } from '../retry.js';
import { ownSnapshots, TAG_CREATED_BY } from './ec2-snapshots.js';

export interface CleanupResult {
  deleted: string[];
  kept: string[];
  failed: Array<{ id: string; reason: string }>;
}

export async function cleanupAwsSnapshots(ec2: EC2Client, olderThanMs: number, now = Date.now()): Promise<CleanupResult> {
  const result: CleanupResult = { deleted: [], kept: [], failed: [] };
  // Every page is read before anything is deleted, so a deletion cannot shift a page under the listing.
  const found = await ownSnapshots(ec2, [{ Name: `tag:${TAG_CREATED_BY}`, Values: ['minescan'] }], 'DescribeSnapshots (minescan tag)');
  for (const snap of found) {
    if (now - (snap.started?.getTime() ?? now) < olderThanMs) {
      result.kept.push(snap.id);
      continue;
    }
    try {
      await withRetries(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snap.id })), `DeleteSnapshot ${snap.id}`);
      result.deleted.push(snap.id);
    } catch (err) {
      result.failed.push({ id: snap.id, reason: (err as Error).message });
    }
  }
  return result;
}

/** "6h", "90m", "2d", "30s" → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration like 30m, 6h or 2d`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}
