/**
 * Alibaba Cloud targets: aliyun:snapshot/s-…, aliyun:disk/d-…, aliyun:instance/i-….
 * The ECS API (2014-05-26) offers no operation that reads a snapshot's blocks, so the
 * disk is read the documented way: snapshot it (tagged), create a temporary disk from
 * the snapshot in the scanner's own zone, attach it to the scanner instance, find its
 * block device by serial (/dev/disk/by-id/virtio-<disk id without "d-">) and read that
 * device read-only; afterwards detach and delete the disk and delete the snapshot.
 * The scanned instance and its disks are only ever read (CreateSnapshot).
 */
import { createRequire } from 'node:module';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withRetries } from '../retry.js';
import { orderDisks, type InstanceDisk } from '../disk-order.js';

// The SDK is CommonJS without named ESM exports under Node.
const require = createRequire(import.meta.url);
const Ecs = require('@alicloud/ecs20140526') as typeof import('@alicloud/ecs20140526');
const OpenApi = require('@alicloud/openapi-client') as typeof import('@alicloud/openapi-client');

export const TAG_SCAN_ID = 'minescan:scan-id';
export const TAG_CREATED_BY = 'minescan:created-by';

type EcsClient = InstanceType<typeof Ecs.default>;

export interface AliyunOptions {
  region: string;
  /** host:port or URL of the ECS endpoint (default ecs.<region>.aliyuncs.com). */
  endpoint?: string;
  /** The instance that runs minescan, where temporary disks are attached. */
  scannerInstance?: string;
  /** Where attached disks appear (default /dev/disk/by-id). */
  deviceDir?: string;
  /** Instance metadata service (default http://100.100.100.200). */
  metadataUrl?: string;
  pollMs?: number;
  timeoutMs?: number;
}

export function ecsClient(options: AliyunOptions): EcsClient {
  const endpoint = options.endpoint ?? `ecs.${options.region}.aliyuncs.com`;
  const url = /^https?:\/\//.test(endpoint) ? new URL(endpoint) : undefined;
  const config = new OpenApi.Config({
    accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID,
    accessKeySecret: process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    securityToken: process.env.ALIBABA_CLOUD_SECURITY_TOKEN,
    regionId: options.region,
    endpoint: url ? url.host : endpoint,
    protocol: url ? url.protocol.replace(':', '') : 'https',
  });
  return new Ecs.default(config);
}

const tags = (scanId: string) => [
  { key: TAG_SCAN_ID, value: scanId },
  { key: TAG_CREATED_BY, value: 'minescan' },
];

export async function instanceDisks(ecs: EcsClient, region: string, instanceId: string): Promise<InstanceDisk[]> {
  const res = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, instanceId, pageSize: 100 })), `DescribeDisks ${instanceId}`);
  const disks = res.body?.disks?.disk ?? [];
  if (disks.length === 0) throw new Error(`instance ${instanceId} has no disks (or does not exist)`);
  // The system disk first, then data disks by device name.
  return orderDisks(disks.filter((d) => d.diskId).map((d) => ({ volumeId: d.diskId!, device: d.device || undefined, root: d.type === 'system' })));
}

export async function createSnapshot(ecs: EcsClient, diskId: string, scanId: string): Promise<string> {
  const res = await withRetries(() => ecs.createSnapshot(new Ecs.CreateSnapshotRequest({ diskId, snapshotName: `minescan-${scanId.slice(0, 8)}`, tag: tags(scanId) })), `CreateSnapshot ${diskId}`);
  if (!res.body?.snapshotId) throw new Error(`CreateSnapshot of ${diskId} returned no snapshot id`);
  return res.body.snapshotId;
}

export async function waitSnapshot(ecs: EcsClient, region: string, snapshotId: string, options: AliyunOptions): Promise<void> {
  await poll(options, `snapshot ${snapshotId}`, async () => {
    const res = await withRetries(() => ecs.describeSnapshots(new Ecs.DescribeSnapshotsRequest({ regionId: region, snapshotIds: JSON.stringify([snapshotId]) })), `DescribeSnapshots ${snapshotId}`);
    const s = res.body?.snapshots?.snapshot?.[0];
    if (!s) throw new Error(`snapshot ${snapshotId} not found`);
    if (s.status === 'failed') throw new Error(`snapshot ${snapshotId} failed`);
    return s.status === 'accomplished';
  });
}

export async function createDiskFromSnapshot(ecs: EcsClient, region: string, zoneId: string, snapshotId: string, scanId: string): Promise<string> {
  const res = await withRetries(
    () => ecs.createDisk(new Ecs.CreateDiskRequest({ regionId: region, zoneId, snapshotId, diskCategory: 'cloud_essd', diskName: `minescan-${scanId.slice(0, 8)}`, tag: tags(scanId) })),
    `CreateDisk from ${snapshotId}`,
  );
  if (!res.body?.diskId) throw new Error(`CreateDisk from ${snapshotId} returned no disk id`);
  return res.body.diskId;
}

export async function waitDisk(ecs: EcsClient, region: string, diskId: string, status: string, options: AliyunOptions): Promise<void> {
  await poll(options, `disk ${diskId} to become ${status}`, async () => {
    const res = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, diskIds: JSON.stringify([diskId]) })), `DescribeDisks ${diskId}`);
    const d = res.body?.disks?.disk?.[0];
    if (!d) throw new Error(`disk ${diskId} not found`);
    return d.status === status;
  });
}

export async function attachDisk(ecs: EcsClient, instanceId: string, diskId: string): Promise<void> {
  await withRetries(() => ecs.attachDisk(new Ecs.AttachDiskRequest({ instanceId, diskId, deleteWithInstance: true })), `AttachDisk ${diskId}`);
}

export async function detachDisk(ecs: EcsClient, instanceId: string, diskId: string): Promise<void> {
  await withRetries(() => ecs.detachDisk(new Ecs.DetachDiskRequest({ instanceId, diskId })), `DetachDisk ${diskId}`);
}

export async function deleteDisk(ecs: EcsClient, diskId: string): Promise<void> {
  await withRetries(() => ecs.deleteDisk(new Ecs.DeleteDiskRequest({ diskId })), `DeleteDisk ${diskId}`);
}

export async function deleteSnapshot(ecs: EcsClient, snapshotId: string): Promise<void> {
  await withRetries(() => ecs.deleteSnapshot(new Ecs.DeleteSnapshotRequest({ snapshotId, force: true })), `DeleteSnapshot ${snapshotId}`);
}

/** The attached disk's block device, by the serial the guest sees: the disk id without "d-". */
export async function findDevice(diskId: string, options: AliyunOptions): Promise<string> {
  const dir = options.deviceDir ?? '/dev/disk/by-id';
  const want = `virtio-${diskId.replace(/^d-/, '')}`;
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  for (;;) {
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    // udev may cut the serial at 20 characters.
    const hit = names.find((n) => n === want || (want.length > 27 && n === want.slice(0, 27)));
    if (hit) return path.join(dir, hit);
    if (Date.now() > deadline) throw new Error(`disk ${diskId} is attached but ${path.join(dir, want)} did not appear`);
    await sleep(options.pollMs ?? 1000);
  }
}

/** The scanner's own instance id and zone, from the instance metadata service unless given. */
export async function scannerIdentity(options: AliyunOptions): Promise<{ instanceId: string; zoneId: string }> {
  const base = options.metadataUrl ?? process.env.MINESCAN_ALIYUN_METADATA_URL ?? 'http://100.100.100.200';
  const get = async (key: string) => {
    const res = await fetch(`${base}/latest/meta-data/${key}`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`metadata ${key}: HTTP ${res.status}`);
    return (await res.text()).trim();
  };
  try {
    return { instanceId: options.scannerInstance ?? (await get('instance-id')), zoneId: await get('zone-id') };
  } catch (err) {
    throw new Error(`cannot tell which instance minescan runs on (${(err as Error).message}); run it on an ECS instance or pass --scanner-instance`);
  }
}

async function poll(options: AliyunOptions, what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
  let wait = options.pollMs ?? Number(process.env.MINESCAN_SNAPSHOT_POLL_MS ?? 5000);
  for (;;) {
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(wait);
    wait = Math.min(wait * 1.5, 30_000);
  }
}
