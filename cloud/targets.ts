/**
 * Cloud targets on the command line, each handed to its provider, which resolves it
 * to byte sources (one per disk) plus the clean-up that must run after the scan,
 * whatever happens:
 *   aws:snapshot/snap-…  an existing EBS snapshot, read in place (nothing created)
 *   aws:volume/vol-…     a snapshot is made, scanned, deleted
 *   aws:instance/i-…     the same for every EBS volume of the instance
 *   (aws/acquire-snapshots.ts)
 *   aliyun:snapshot/s-…, aliyun:disk/d-…, aliyun:instance/i-…: see aliyun/acquire-disks.ts
 */
import type { ReadCounter } from '../mountfs/sources/byte-source.js';
import { acquireAws } from './aws/acquire-snapshots.js';
import { acquireAliyun } from './aliyun/acquire-disks.js';
import type { AcquiredSources, CloudOptions } from './acquired.js';

export type { AcquiredDisk, AcquiredSources, CloudOptions } from './acquired.js';

export interface CloudTarget {
  provider: 'aws' | 'aliyun';
  kind: string;
  id: string;
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
  return acquireAws(target, counter, options);
}
