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
import { StoppingError } from './cleanup.js';

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
  /**
   * Ends the retries at once when it aborts (a signal): no new attempt, and a backoff
   * sleep under way is cut short, with a StoppingError. A call already sent is not cut:
   * its answer may be a resource to undo. A scan's calls pass the scan's signal; the
   * calls that undo what a scan made pass none, so they run to their end.
   */
  signal?: AbortSignal;
  /**
   * Answers that mean "not yet" rather than "no" (EC2's NotFound for a resource minescan
   * has just created, eventual-consistency.ts): retried like a passing error until
   * `until` (ms since the epoch), then taken as the answer.
   */
  notYet?: { test: (err: unknown) => boolean; until: number };
}

/** "120", "120s", "2m", "500ms" → milliseconds; the default when unset. */
export function parseRetryTime(text: string | undefined, fallbackMs = 120_000, name = 'MINESCAN_CLOUD_RETRY_TIME'): number {
  if (text === undefined || text.trim() === '') return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`${name} "${text}" is not a duration like 120s, 2m or 500ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm'];
}

export async function withRetries<T>(fn: () => Promise<T>, what: string, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? Number(process.env.MINESCAN_CLOUD_ATTEMPTS ?? Infinity);
  const base = options.baseMs ?? Number(process.env.MINESCAN_CLOUD_BACKOFF_MS ?? 200);
  const max = options.maxMs ?? 20_000;
  const deadline = Date.now() + (options.budgetMs ?? parseRetryTime(process.env.MINESCAN_CLOUD_RETRY_TIME));
  const started = Date.now();
  const signal = options.signal;
  const stopped = () => new StoppingError(what);
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw stopped();
    try {
      // A call that waited for its slot past the stop is not sent.
      return await callSlots(() => (signal?.aborted ? Promise.reject(stopped()) : fn()));
    } catch (err) {
      if (err instanceof StoppingError) throw err;
      // Full jitter: a fleet of scanners backing off together must not retry in step.
      const delay = Math.random() * Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
      const notYet = options.notYet?.test(err) === true && Date.now() + delay <= options.notYet.until;
      if (!(isRetryable(err) || notYet) || attempt >= attempts || Date.now() + delay > deadline) {
        if (err instanceof Error && attempt > 1) err.message = `${what}: ${err.message} (gave up after ${attempt} attempts in ${((Date.now() - started) / 1000).toFixed(1)} s)`;
        throw err;
      }
      if (signal?.aborted) throw stopped();
      await sleep(delay, undefined, { signal }).catch(() => {
        throw stopped();
      });
    }
  }
}
