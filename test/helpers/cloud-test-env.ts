/**
 * What every cloud test sets up: fake credentials for both SDKs, fast polls and
 * backoff (the fakes answer at once), and the planted infected and clean disk images
 * the fakes serve as volumes, disks and snapshots.
 */
import path from 'node:path';
import { buildImage, IMMUTABLE_LIST, plantTree } from './images.js';

export function setCloudTestEnv(): void {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'secret';
  process.env.ALIBABA_CLOUD_ACCESS_KEY_ID = 'LTAItest';
  process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = 'secret';
  process.env.MINESCAN_CLOUD_BACKOFF_MS = '5';
  process.env.MINESCAN_SNAPSHOT_POLL_MS = '5';
}

/** The infected image (GPT, its immutable files locked) and the clean one (its partition table as asked, the same size unless cleanMiB), under scratch. */
export async function plantedImages(scratch: string, options: { sizeMiB: number; cleanMiB?: number; cleanTable: 'gpt' | 'mbr' }): Promise<{ infected: string; clean: string }> {
  const infected = await buildImage(await plantTree(path.join(scratch, 'infected')), path.join(scratch, 'infected.img'), { table: 'gpt', sizeMiB: options.sizeMiB, immutable: IMMUTABLE_LIST });
  const clean = await buildImage(await plantTree(path.join(scratch, 'clean'), true), path.join(scratch, 'clean.img'), { table: options.cleanTable, sizeMiB: options.cleanMiB ?? options.sizeMiB });
  return { infected, clean };
}
