/**
 * Cloud targets on the command line: `aws:snapshot/snap-…` today. A target resolves to
 * a byte source plus the clean-up that must run after the scan, whatever happens.
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import type { ByteSource, ReadCounter } from '../mountfs/sources/byte-source.js';
import { EbsSnapshotSource } from './aws/ebs-snapshot-source.js';

export interface CloudTarget {
  provider: 'aws' | 'aliyun';
  kind: string;
  id: string;
}

export interface CloudOptions {
  region?: string;
  /** Overrides the endpoint of every service (tests, private endpoints). */
  endpoint?: string;
}

export interface AcquiredSource {
  source: ByteSource;
  release(): Promise<void>;
}

const TARGET = /^(aws|aliyun):([a-z]+)\/([A-Za-z0-9-]+)$/;

export function parseCloudTarget(target: string): CloudTarget | null {
  const m = TARGET.exec(target);
  return m ? { provider: m[1] as CloudTarget['provider'], kind: m[2]!, id: m[3]! } : null;
}

export function isCloudTarget(target: string): boolean {
  return /^(aws|aliyun):/.test(target);
}

export async function acquireCloudSource(target: CloudTarget, counter: ReadCounter, options: CloudOptions = {}): Promise<AcquiredSource> {
  if (target.provider === 'aws' && target.kind === 'snapshot') {
    // Our own retries (cloud/retry.ts) decide; the SDK's would multiply them.
    const client = new EBSClient({ region: options.region, endpoint: options.endpoint, maxAttempts: 1 });
    const source = await EbsSnapshotSource.open({ client, snapshotId: target.id, counter });
    return {
      source,
      release: async () => {
        await source.close();
        client.destroy();
      },
    };
  }
  throw new Error(`${target.provider}:${target.kind}/${target.id}: this kind of cloud target is not supported yet (supported: aws:snapshot/snap-…)`);
}
