/**
 * An Alibaba Cloud target read through temporary disks: snapshot the disks (unless
 * given a snapshot), make a disk from each snapshot in the scanner's zone, attach it
 * to the scanner and open its block device read-only. Every create goes through a
 * ResourceScope, so a signal at any step, a create still in flight included, leaves
 * nothing behind: disks are detached and deleted from whatever state they are in.
 */
import type { ReadCounter } from '../../mountfs/sources/byte-source.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { ResourceScope, track } from '../cleanup.js';
import { newScanId, type AcquiredDisk, type AcquiredSources, type CloudOptions } from '../acquired.js';
import { namedDisk, type KnownDisk } from '../disk-order.js';
import * as ecsFlow from './ecs-disk-flow.js';

export async function acquireAliyun(
  target: { kind: string; id: string },
  counter: ReadCounter,
  options: CloudOptions,
): Promise<AcquiredSources> {
  const region = options.region ?? process.env.ALIBABA_CLOUD_REGION_ID;
  if (!region) throw new Error('Alibaba Cloud targets need --region or ALIBABA_CLOUD_REGION_ID');
  const flow: ecsFlow.AliyunOptions = {
    region,
    endpoint: options.endpoint,
    scannerInstance: options.scannerInstance,
    scannerZone: options.scannerZone,
    deviceDir: process.env.MINESCAN_DEVICE_DIR,
    deviceWaitMs: options.deviceWaitMs,
    signal: options.signal,
  };
  const ecs = ecsFlow.ecsClient(flow);
  const scope = new ResourceScope();
  const release = track(() => scope.release());
  try {
    const scanner = await ecsFlow.scannerIdentity(ecs, flow);
    const scanId = newScanId();
    let snapshots: KnownDisk[];
    if (target.kind === 'snapshot') {
      snapshots = [{ snapshotId: target.id }];
    } else {
      const disks = target.kind === 'disk' ? [namedDisk(target.id)] : await ecsFlow.instanceDisks(ecs, region, target.id, options.signal);
      snapshots = [];
      for (const disk of disks) {
        const remove = options.keepSnapshots ? undefined : (id: string) => ecsFlow.deleteSnapshot(ecs, id);
        const id = await scope.create(`snapshot of ${disk.volumeId}`, () => ecsFlow.createSnapshot(ecs, region, disk.volumeId, scanId, options.signal), remove);
        snapshots.push({ ...disk, snapshotId: id });
      }
    }
    const acquired: AcquiredDisk[] = [];
    for (const [index, { snapshotId: snapshot, ...known }] of snapshots.entries()) {
      await ecsFlow.waitSnapshot(ecs, region, snapshot, flow);
      const disk = await scope.create(
        `disk from ${snapshot}`,
        () => ecsFlow.createDiskFromSnapshot(ecs, region, scanner.zoneId, snapshot, scanId, flow),
        (id) => ecsFlow.releaseDisk(ecs, region, id, flow),
      );
      await ecsFlow.waitDisk(ecs, region, disk, 'Available', flow);
      scope.check(`attaching ${disk}`);
      await ecsFlow.attachDisk(ecs, scanner.instanceId, disk, options.signal);
      await ecsFlow.waitDisk(ecs, region, disk, 'In_use', flow);
      const device = await ecsFlow.findDevice(disk, flow);
      scope.check(`opening ${device}`);
      const source = await FileByteSource.open(device, counter);
      scope.defer(`closing ${device}`, () => source.close());
      acquired.push({ source, disk: { index, snapshotId: snapshot, ...known } });
    }
    return { disks: acquired, release };
  } catch (err) {
    await release();
    throw err;
  }
}
