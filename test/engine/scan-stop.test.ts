/**
 * When a scan stops, on a clock the test moves: the overall budget and each phase's,
 * measured from the phase's start; a budget that runs out after the last read stops
 * nothing; the first stop is kept with where it happened; a cancelled signal wins.
 */
import { describe, expect, it } from 'vitest';
import { ScanStop, ScanStoppedError } from '../../src/engine/scan-stop.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('ScanStop', () => {
  it('stops at the first checkpoint after the overall budget, naming where, and stays stopped', () => {
    const c = clock();
    const stop = new ScanStop(undefined, 60_000, {}, c.now);
    stop.enter('open', 'opening the target');
    c.advance(59_999);
    expect(() => stop.checkpoint()).not.toThrow();
    stop.enter('checks', 'the checks');
    stop.enterCheck('cron');
    c.advance(1);
    expect(stop.stopped).toBeUndefined();
    expect(() => stop.checkpoint()).toThrow(ScanStoppedError);
    stop.enterCheck('services');
    expect(stop.stopped).toEqual({ kind: 'limit', check: 'cron', where: 'check cron', message: 'time budget of 1m reached during check cron; what follows it was not scanned' });
    expect(() => stop.checkpoint()).toThrow(/check cron/);
  });

  it('measures a phase budget from the start of the phase', () => {
    const c = clock();
    const stop = new ScanStop(undefined, undefined, { open: 5_000, checks: 10_000 }, c.now);
    stop.enter('open', 'opening the target');
    c.advance(4_000);
    stop.checkpoint();
    stop.enter('checks', 'the checks');
    c.advance(9_000);
    stop.checkpoint();
    stop.at('the timeline');
    c.advance(1_000);
    expect(stop.shouldStop()).toMatchObject({ kind: 'limit', where: 'the timeline', message: expect.stringMatching(/^time budget of 10s for the checks reached during the timeline/) });
  });

  it('a budget that runs out after the last checkpoint stops nothing', () => {
    const c = clock();
    const stop = new ScanStop(undefined, 1_000, {}, c.now);
    stop.checkpoint();
    c.advance(5_000);
    expect(stop.stopped).toBeUndefined();
  });

  it('a cancelled signal stops it as interrupted', () => {
    const controller = new AbortController();
    const stop = new ScanStop(controller.signal, undefined);
    stop.checkpoint();
    controller.abort();
    expect(() => stop.checkpoint()).toThrow(/interrupted/);
    expect(stop.stopped).toMatchObject({ kind: 'interrupted' });
  });
});
