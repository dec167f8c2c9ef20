/**
 * EC2 is eventually consistent: for a while after CreateSnapshot answers, a call naming
 * the new snapshot (DescribeSnapshots by id, DeleteSnapshot) may answer
 * InvalidSnapshot.NotFound, and DescribeSnapshots filtered by tag may not list it yet.
 * For a snapshot minescan itself has just made, that answer means "not yet", never
 * "nothing there": it is asked again within a bounded window counted from the create
 * (MINESCAN_EC2_CONSISTENCY_TIME, default 60 s), and only after the window is it taken
 * as the answer.
 */
import { errorCode, parseRetryTime } from '../retry.js';

/** EC2's answers for a snapshot it does not know (yet). */
const NOT_FOUND = new Set(['InvalidSnapshot.NotFound', 'InvalidSnapshotID.NotFound']);

export function snapshotNotFound(err: unknown): boolean {
  return NOT_FOUND.has(errorCode(err) ?? '');
}

/** The time (ms since the epoch) until which EC2 may still not know what minescan creates now. */
export function visibleBy(now = Date.now()): number {
  return now + parseRetryTime(process.env.MINESCAN_EC2_CONSISTENCY_TIME, 60_000, 'MINESCAN_EC2_CONSISTENCY_TIME');
}

/** Retry options for a call naming a snapshot minescan made: its NotFound is "not yet" until `until`. */
export function untilVisible(until: number): { notYet: { test: (err: unknown) => boolean; until: number } } {
  return { notYet: { test: snapshotNotFound, until } };
}

/**
 * Whether a failed create may still have made its resource: the answer was lost (no
 * HTTP answer: a dropped connection, a timeout) or was a server error after the work
 * (500). Throttling and unavailability (503) and the final 4xx refusals are answered
 * before anything is made.
 */
export function mayHaveMade(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return status === undefined || (status >= 500 && status !== 503);
}
