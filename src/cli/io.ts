/**
 * What every command shares: where output goes, the exit codes pipelines rely on, the
 * error that means "used wrongly" (exit 2 with the usage), and the scan time budgets.
 */
import { parseDuration } from '../../cloud/aws/cleanup.js';
import { promises as fsp } from 'node:fs';
import type { PhaseBudgets } from '../engine/scan-stop.js';
import type { SpoolOptions } from '../../mountfs/sources/temp-spool.js';
import { parseSize } from './size.js';
export const EXIT_CLEAN = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_ERROR = 2;
/** The scan could not read everything it needed (report.status "incomplete"): no verdict. */
export const EXIT_INCOMPLETE = 3;

export class UsageError extends Error {}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  isTty: boolean;
}

/** The options that bound a target's scan in time, for every command that scans. */
export const TIME_BUDGET_OPTIONS = {
  'time-budget': { type: 'string' },
  'open-time-budget': { type: 'string' },
  'checks-time-budget': { type: 'string' },
} as const;

/** ScanOptions' budgets from those options ("30m", "90s"). */
export function timeBudgets(values: { 'time-budget'?: string; 'open-time-budget'?: string; 'checks-time-budget'?: string }): { timeBudgetMs?: number; phaseBudgetsMs: PhaseBudgets } {
  const ms = (option: keyof typeof TIME_BUDGET_OPTIONS): number | undefined => {
    const text = values[option];
    if (text === undefined) return undefined;
    try {
      return parseDuration(text);
    } catch (err) {
      throw new UsageError(`--${option}: ${(err as Error).message}`);
    }
  };
  const overall = ms('time-budget');
  return { ...(overall !== undefined ? { timeBudgetMs: overall } : {}), phaseBudgetsMs: { open: ms('open-time-budget'), checks: ms('checks-time-budget') } };
}

/** Where compressed disks and zip members are spooled, and how much they may write (--spool-dir, --spool-budget). */
export async function spoolOptions(values: { 'spool-dir'?: string; 'spool-budget'?: string }): Promise<SpoolOptions> {
  let budget: number | undefined;
  if (values['spool-budget'] !== undefined) {
    const size = parseSize(values['spool-budget']);
    if (size === null) throw new UsageError(`--spool-budget must be a size such as 4G or 512M, not "${values['spool-budget']}"`);
    budget = size;
  }
  const dir = values['spool-dir'];
  if (dir !== undefined) {
    const st = await fsp.stat(dir).catch(() => null);
    if (!st?.isDirectory()) throw new UsageError(`--spool-dir ${dir} is not a directory`);
  }
  return { dir, budget };
}

/** The bound of the block cache: a cloud snapshot's blocks, an image's metadata (--cache-size, else MINESCAN_CACHE_SIZE); undefined: the default. */
export function cacheSizeOption(text: string | undefined = process.env.MINESCAN_CACHE_SIZE): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const bytes = parseSize(text);
  if (bytes === null || bytes < 1) throw new UsageError(`--cache-size must be a size such as 256M or 1G, not "${text}"`);
  return bytes;
}
