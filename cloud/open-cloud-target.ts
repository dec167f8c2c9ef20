/**
 * A cloud target opened like a local one: its disks (one per volume of an instance)
 * are acquired from the cloud code, root disk first, each read as an image, and listed
 * together, every volume carrying the provider's ids of its disk (volume, snapshot,
 * device, root or not) so a finding's `volume` leads to one disk; the cloud resources
 * are released when the target is closed, or if opening fails.
 */
import { openSourceTarget, UnreadableTargetError, type OpenedTarget, type OpenOptions } from '../mountfs/open-target.js';
import type { ReadCounter } from '../mountfs/sources/byte-source.js';
import { acquireCloudSources, parseCloudTarget, type CloudOptions, type CloudTarget } from './targets.js';

/** What the CLI hands the engine: opens aws:… and aliyun:… targets with these options, and no other (undefined). */
export function cloudTargetOpener(cloud: CloudOptions): (name: string, counter: ReadCounter, options: OpenOptions) => Promise<OpenedTarget | undefined> {
  return async (name, counter, options) => {
    const target = parseCloudTarget(name);
    return target ? openCloudTarget(name, target, counter, options, cloud) : undefined;
  };
}

export async function openCloudTarget(name: string, target: CloudTarget, counter: ReadCounter, options: OpenOptions, cloud: CloudOptions = {}): Promise<OpenedTarget> {
  let acquired;
  try {
    acquired = await acquireCloudSources(target, counter, cloud);
  } catch (err) {
    throw new UnreadableTargetError(`${name}: ${(err as Error).message}`, { cause: err });
  }
  const opened: OpenedTarget[] = [];
  try {
    for (const { source } of acquired.disks) opened.push(await openSourceTarget(source, 'cloud-snapshot', counter, options));
  } catch (err) {
    for (const o of opened) await o.close();
    await acquired.release();
    throw err;
  }
  // Each disk numbers its volumes from 0; the listing puts them one after the other.
  const volumes = opened.flatMap((o, i) => o.volumes.map((v) => ({ ...v, disk: acquired.disks[i]!.disk })));
  let offset = 0;
  const filesystems = [];
  const failures = [];
  for (const o of opened) {
    filesystems.push(...o.filesystems.map((f) => ({ ...f, volumeIndex: f.volumeIndex + offset })));
    failures.push(...o.failures.map((f) => (f.volume === undefined ? f : { ...f, volume: f.volume + offset })));
    offset += o.volumes.length;
  }
  return {
    kind: 'cloud-snapshot',
    format: opened.map((o) => o.format).join(', '),
    volumes,
    filesystems,
    warnings: opened.flatMap((o) => o.warnings),
    failures,
    notes: opened.flatMap((o) => o.notes),
    close: async () => {
      for (const o of opened) await o.close();
      await acquired.release();
    },
  };
}
