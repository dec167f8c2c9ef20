/**
 * Retries of cloud calls that fail for passing reasons: throttling
 * (RequestLimitExceeded, Throttling, Throttling.User, SlowDown), 5xx answers and
 * connection resets, with jittered exponential backoff. Anything else fails at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';

/**
 * Every cloud call of the process goes through one limiter, apart from the one that
 * bounds how many instances a fleet scans at once: a fleet of scans must not flood
 * the account's API rate limits. A call waits here, never while holding another slot.
 */
const callSlots = pLimit(Number(process.env.MINESCAN_CLOUD_CONCURRENCY ?? 16));

export interface RetryOptions {
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
}

const THROTTLING = /^(RequestLimitExceeded|Throttling|ThrottlingException|Throttling\.User|Throttling\.Api|SlowDown|TooManyRequestsException|RequestThrottled|ServiceUnavailable|InternalError|InternalFailure)$/;

export function isTransient(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; statusCode?: number; $retryable?: unknown };
  const status = e?.$metadata?.httpStatusCode ?? e?.statusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e?.$retryable) return true;
  if (THROTTLING.test(e?.name ?? '') || THROTTLING.test(e?.code ?? '')) return true;
  return /ECONNRESET|ETIMEDOUT|EPIPE|socket hang up/.test(String((err as Error)?.message ?? ''));
}

export async function withRetries<T>(fn: () => Promise<T>, what: string, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? Number(process.env.MINESCAN_CLOUD_ATTEMPTS ?? 6);
  const base = options.baseMs ?? Number(process.env.MINESCAN_CLOUD_BACKOFF_MS ?? 200);
  const max = options.maxMs ?? 20_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await callSlots(fn);
    } catch (err) {
      if (attempt >= attempts || !isTransient(err)) {
        if (err instanceof Error && attempt > 1) err.message = `${what}: ${err.message} (after ${attempt} attempts)`;
        throw err;
      }
      // Full jitter: a fleet of scanners backing off together must not retry in step.
      await sleep(Math.random() * Math.min(max, base * 2 ** (attempt - 1)));
    }
  }
}
