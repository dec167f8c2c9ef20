/**
 * Retries of cloud calls that fail for passing reasons, with full-jitter exponential
 * backoff, for as long as a time budget allows. Which answers are passing is what each
 * API documents (classification in retryable-errors.ts); anything else fails at once.
 * A call that still fails when the budget is spent fails with the provider's last
 * error, its message saying how many attempts and how long were spent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { isRetryable } from './retryable-errors.js';

export { errorCode, isRetryable } from './retryable-errors.js';

/**
 * Every cloud call of the process goes through one limiter, apart from the one that
 * bounds how many instances a fleet scans at once: a fleet of scans must not flood
 * the account's API rate limits. A call waits here, never while holding another slot.
 */
const callSlots = pLimit(Number(process.env.MINESCAN_CLOUD_CONCURRENCY ?? 16));

export interface RetryOptions {
  /** At most this many attempts (default: as many as the time budget allows). */
  attempts?: number;
  /** First backoff ceiling (default 200 ms, MINESCAN_CLOUD_BACKOFF_MS). */
  baseMs?: number;
  /** Largest backoff ceiling (default 20 s). */
  maxMs?: number;
  /** Time a call may spend on retries, counted from its first attempt (default 120 s, MINESCAN_CLOUD_RETRY_TIME). */
  budgetMs?: number;
}

/** "120", "120s", "2m", "500ms" → milliseconds; the default when unset. */
export function parseRetryTime(text: string | undefined, fallbackMs = 120_000): number {
  if (text === undefined || text.trim() === '') return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`MINESCAN_CLOUD_RETRY_TIME "${text}" is not a duration like 120s, 2m or 500ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm'];
}

export async function withRetries<T>(fn: () => Promise<T>, what: string, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? Number(process.env.MINESCAN_CLOUD_ATTEMPTS ?? Infinity);
  const base = options.baseMs ?? Number(process.env.MINESCAN_CLOUD_BACKOFF_MS ?? 200);
  const max = options.maxMs ?? 20_000;
  const deadline = Date.now() + (options.budgetMs ?? parseRetryTime(process.env.MINESCAN_CLOUD_RETRY_TIME));
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await callSlots(fn);
    } catch (err) {
      // Full jitter: a fleet of scanners backing off together must not retry in step.
      const delay = Math.random() * Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
      if (!isRetryable(err) || attempt >= attempts || Date.now() + delay > deadline) {
        if (err instanceof Error && attempt > 1) err.message = `${what}: ${err.message} (gave up after ${attempt} attempts in ${((Date.now() - started) / 1000).toFixed(1)} s)`;
        throw err;
      }
      await sleep(delay);
    }
  }
}
