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
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withRetries } from '../retry.js';
import { orderDisks, type InstanceDisk } from '../disk-order.js';
import { isStopping, StoppingError } from '../cleanup.js';

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
  /** Its zone, where temporary disks are made (default: from DescribeInstances or the metadata service). */
  scannerZone?: string;
  /** Where attached disks appear (default /dev/disk/by-id). */
  deviceDir?: string;
  /** Instance metadata service (default http://100.100.100.200). */
  metadataUrl?: string;
  pollMs?: number;
  timeoutMs?: number;
  /** How long an attached disk's block device may take to appear (default 2 minutes). */
  deviceWaitMs?: number;
  /**
   * The scan's signal: the scan's waits (polls, backoffs, the device) and a create's
   * retries end at once when it aborts; releases never take it.
   */
  signal?: AbortSignal;
}

/** Alibaba Cloud answers a disk or snapshot in the wrong state for the call with this code. */
const WRONG_STATE = /IncorrectDiskStatus|IncorrectSnapshotStatus|IncorrectInstanceStatus/;
const codeOf = (err: unknown) => String((err as { code?: string })?.code ?? (err as Error)?.message ?? '');

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

export async function instanceDisks(ecs: EcsClient, region: string, instanceId: string, signal?: AbortSignal): Promise<InstanceDisk[]> {
  const res = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, instanceId, pageSize: 100 })), `DescribeDisks ${instanceId}`, { signal });
  const disks = res.body?.disks?.disk ?? [];
  if (disks.length === 0) throw new Error(`instance ${instanceId} has no disks (or does not exist)`);
  // The system disk first, then data disks by device name.
  return orderDisks(disks.filter((d) => d.diskId).map((d) => ({ volumeId: d.diskId!, device: d.device || undefined, root: d.type === 'system' })));
}

/**
 * Creates are retried with the same ClientToken: a create whose answer was lost (a 5xx
 * after the service made the resource) gives back that resource instead of a second one.
 * A stop ends the retries at once (a throttled create must not hold the release up);
 * what an attempt whose answer was lost made is then found by the scan's tags and removed.
 */
export async function createSnapshot(ecs: EcsClient, region: string, diskId: string, scanId: string, signal?: AbortSignal): Promise<string> {
  const clientToken = randomUUID();
  const res = await stoppableCreate(
    () => ecs.createSnapshot(new Ecs.CreateSnapshotRequest({ diskId, snapshotName: `minescan-${scanId.slice(0, 8)}`, tag: tags(scanId), clientToken })),
    `CreateSnapshot ${diskId}`,
    signal,
    async () => {
      const res = await withRetries(() => ecs.describeSnapshots(new Ecs.DescribeSnapshotsRequest({ regionId: region, diskId, tag: tags(scanId).slice(0, 1), pageSize: 100 })), `DescribeSnapshots (scan ${scanId})`);
      for (const s of res.body?.snapshots?.snapshot ?? []) if (s.snapshotId && s.sourceDiskId === diskId) await deleteSnapshot(ecs, s.snapshotId);
    },
  );
  if (!res.body?.snapshotId) throw new Error(`CreateSnapshot of ${diskId} returned no snapshot id`);
  return res.body.snapshotId;
}

/** Runs a create's retries under the scan's signal; stopped after an attempt was sent, `removeMade` undoes what the attempts may have made. */
async function stoppableCreate<T>(call: () => Promise<T>, what: string, signal: AbortSignal | undefined, removeMade: () => Promise<void>): Promise<T> {
  let sent = 0;
  try {
    return await withRetries(() => (sent++, call()), what, { signal });
  } catch (err) {
    if (err instanceof StoppingError && sent > 0) await removeMade().catch((e: Error) => process.stderr.write(`minescan: cleanup after ${what} failed: ${e.message}; \`minescan cleanup\` removes it later\n`));
    throw err;
  }
}

export async function waitSnapshot(ecs: EcsClient, region: string, snapshotId: string, options: AliyunOptions): Promise<void> {
  await poll(options, `snapshot ${snapshotId}`, true, async () => {
    const res = await withRetries(() => ecs.describeSnapshots(new Ecs.DescribeSnapshotsRequest({ regionId: region, snapshotIds: JSON.stringify([snapshotId]) })), `DescribeSnapshots ${snapshotId}`, { signal: options.signal });
    const s = res.body?.snapshots?.snapshot?.[0];
    if (!s) throw new Error(`snapshot ${snapshotId} not found`);
    if (s.status === 'failed') throw new Error(`snapshot ${snapshotId} failed`);
    return s.status === 'accomplished';
  });
}

export async function createDiskFromSnapshot(ecs: EcsClient, region: string, zoneId: string, snapshotId: string, scanId: string, options: AliyunOptions): Promise<string> {
  const clientToken = randomUUID();
  const res = await stoppableCreate(
    () => ecs.createDisk(new Ecs.CreateDiskRequest({ regionId: region, zoneId, snapshotId, diskCategory: 'cloud_essd', diskName: `minescan-${scanId.slice(0, 8)}`, tag: tags(scanId), clientToken })),
    `CreateDisk from ${snapshotId}`,
    options.signal,
    async () => {
      const res = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, tag: tags(scanId).slice(0, 1), pageSize: 100 })), `DescribeDisks (scan ${scanId})`);
      for (const d of res.body?.disks?.disk ?? []) if (d.diskId && d.sourceSnapshotId === snapshotId) await releaseDisk(ecs, region, d.diskId, options);
    },
  );
  if (!res.body?.diskId) throw new Error(`CreateDisk from ${snapshotId} returned no disk id`);
  return res.body.diskId;
}

export async function waitDisk(ecs: EcsClient, region: string, diskId: string, status: string, options: AliyunOptions): Promise<void> {
  await poll(options, `disk ${diskId} to become ${status}`, true, async () => {
    const res = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, diskIds: JSON.stringify([diskId]) })), `DescribeDisks ${diskId}`, { signal: options.signal });
    const d = res.body?.disks?.disk?.[0];
    if (!d) throw new Error(`disk ${diskId} not found`);
    return d.status === status;
  });
}

export async function attachDisk(ecs: EcsClient, instanceId: string, diskId: string, signal?: AbortSignal): Promise<void> {
  await withRetries(() => ecs.attachDisk(new Ecs.AttachDiskRequest({ instanceId, diskId, deleteWithInstance: true })), `AttachDisk ${diskId}`, { signal });
}

/**
 * Removes a temporary disk whatever state it is in: a disk still creating or attaching
 * rejects DetachDisk and DeleteDisk with IncorrectDiskStatus, so this waits (bounded)
 * for a state it can act on, detaches an attached disk, waits for it to be available
 * and deletes it. A disk that is gone is done.
 */
export async function releaseDisk(ecs: EcsClient, region: string, diskId: string, options: AliyunOptions): Promise<void> {
  await poll({ ...options, timeoutMs: options.timeoutMs ?? 600_000 }, `disk ${diskId} to be deleted`, false, async () => {
    const res = await withRetries(() => ecs.describeDisks(new Ecs.DescribeDisksRequest({ regionId: region, diskIds: JSON.stringify([diskId]) })), `DescribeDisks ${diskId}`);
    const d = res.body?.disks?.disk?.[0];
    if (!d) return true;
    try {
      if (d.status === 'Available') {
        await withRetries(() => ecs.deleteDisk(new Ecs.DeleteDiskRequest({ diskId })), `DeleteDisk ${diskId}`);
        return true;
      }
      if (d.status === 'In_use' && d.instanceId) await withRetries(() => ecs.detachDisk(new Ecs.DetachDiskRequest({ instanceId: d.instanceId, diskId })), `DetachDisk ${diskId}`);
    } catch (err) {
      // Its state moved between the look and the call: look again.
      if (!WRONG_STATE.test(codeOf(err))) throw err;
    }
    return false;
  });
}

export async function deleteSnapshot(ecs: EcsClient, snapshotId: string): Promise<void> {
  await withRetries(() => ecs.deleteSnapshot(new Ecs.DeleteSnapshotRequest({ snapshotId, force: true })), `DeleteSnapshot ${snapshotId}`);
}

export const DEFAULT_DEVICE_WAIT_MS = 120_000;

/** The attached disk's block device, by the serial the guest sees: the disk id without "d-". */
export async function findDevice(diskId: string, options: AliyunOptions): Promise<string> {
  const dir = options.deviceDir ?? '/dev/disk/by-id';
  const want = `virtio-${diskId.replace(/^d-/, '')}`;
  const deadline = Date.now() + (options.deviceWaitMs ?? DEFAULT_DEVICE_WAIT_MS);
  for (;;) {
    if (isStopping()) throw new StoppingError(`waiting for the device of ${diskId}`);
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    // udev may cut the serial at 20 characters.
    const hit = names.find((n) => n === want || (want.length > 27 && n === want.slice(0, 27)));
    if (hit) return path.join(dir, hit);
    if (Date.now() > deadline) throw new Error(`disk ${diskId} is attached but ${path.join(dir, want)} did not appear`);
    await sleep(options.pollMs ?? 1000, undefined, { signal: options.signal }).catch(() => {
      throw new StoppingError(`waiting for the device of ${diskId}`);
    });
  }
}

/**
 * The scanner's own instance id and zone: given (--scanner-instance, --scanner-zone),
 * the zone of a given instance from DescribeInstances, or else the instance metadata
 * service, in its hardened mode too (a session token first, as IMDSv2 on AWS).
 */
export async function scannerIdentity(ecs: EcsClient, options: AliyunOptions): Promise<{ instanceId: string; zoneId: string }> {
  if (options.scannerInstance && options.scannerZone) return { instanceId: options.scannerInstance, zoneId: options.scannerZone };
  if (options.scannerInstance) {
    const res = await withRetries(
      () => ecs.describeInstances(new Ecs.DescribeInstancesRequest({ regionId: options.region, instanceIds: JSON.stringify([options.scannerInstance]) })),
      `DescribeInstances ${options.scannerInstance}`,
      { signal: options.signal },
    );
    const zoneId = res.body?.instances?.instance?.find((i) => i.instanceId === options.scannerInstance)?.zoneId;
    if (!zoneId) throw new Error(`scanner instance ${options.scannerInstance} not found in ${options.region}; pass --scanner-zone`);
    return { instanceId: options.scannerInstance, zoneId };
  }
  try {
    const get = await metadataReader(options.metadataUrl ?? process.env.MINESCAN_ALIYUN_METADATA_URL ?? 'http://100.100.100.200');
    return { instanceId: await get('instance-id'), zoneId: options.scannerZone ?? (await get('zone-id')) };
  } catch (err) {
    throw new Error(`cannot tell which instance minescan runs on (${(err as Error).message}); run it on an ECS instance or pass --scanner-instance`);
  }
}

/** Reads metadata keys with a session token when the service hands one out; without, when it does not know the token call. */
async function metadataReader(base: string): Promise<(key: string) => Promise<string>> {
  const headers: Record<string, string> = {};
  const tokenRes = await fetch(`${base}/latest/api/token`, {
    method: 'PUT',
    headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': '300' },
    signal: AbortSignal.timeout(3000),
  });
  if (tokenRes.ok) headers['X-aliyun-ecs-metadata-token'] = (await tokenRes.text()).trim();
  else if (tokenRes.status !== 404 && tokenRes.status !== 405) throw new Error(`metadata token: HTTP ${tokenRes.status}`);
  return async (key) => {
    const res = await fetch(`${base}/latest/meta-data/${key}`, { headers, signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`metadata ${key}: HTTP ${res.status}`);
    return (await res.text()).trim();
  };
}

/** Polls with backoff until done; a wait for the scan (not for a release) gives up when minescan stops. */
async function poll(options: AliyunOptions, what: string, stopsWithScan: boolean, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
  let wait = options.pollMs ?? Number(process.env.MINESCAN_SNAPSHOT_POLL_MS ?? 5000);
  for (;;) {
    if (stopsWithScan && isStopping()) throw new StoppingError(`waiting for ${what}`);
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(wait, undefined, { signal: stopsWithScan ? options.signal : undefined }).catch(() => {
      throw new StoppingError(`waiting for ${what}`);
    });
    wait = Math.min(wait * 1.5, 30_000);
  }
}
