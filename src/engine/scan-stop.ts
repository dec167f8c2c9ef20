/**
 * When a scan must stop: the run was cancelled (its AbortSignal), or a time budget ran
 * out, the whole scan's or the current phase's. The checkpoint is asked before every
 * read (mountfs calls it from the byte source and the VFS), and between checks, so a
 * stop takes effect at the next read whatever loop is reading. The first stop is
 * remembered with where it happened; everything that fails after it is its
 * consequence, not damage in the image.
 */

/** A cancelled scan: `scanTarget` rejects with it and no report exists. */
export class ScanInterruptedError extends Error {
  constructor(message = 'the scan was interrupted') {
    super(message);
    this.name = 'ScanInterruptedError';
  }
}

/** Thrown by the checkpoint into whatever is reading. */
export class ScanStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanStoppedError';
  }
}

export type ScanPhase = 'open' | 'checks';

export interface PhaseBudgets {
  /** Opening the target: containers, volumes, filesystems, a single-pass archive. */
  open?: number;
  /** Running the checks over every filesystem, with correlation and the timeline. */
  checks?: number;
}

export interface Stop {
  /** Budget ran out (`limit`) or the run was cancelled (`interrupted`). */
  kind: 'limit' | 'interrupted';
  message: string;
  /** Where it stopped: "opening the target", "check cron", "the timeline". */
  where: string;
  /** The check that was running, when one was. */
  check?: string;
}

export class ScanStop {
  private readonly deadline: number;
  private phaseDeadline = Infinity;
  private phaseBudgetMs?: number;
  private phase: ScanPhase = 'open';
  private stop?: Stop;
  /** Where the scan is, for the report when it stops there. */
  private where = 'opening the target';
  private check?: string;

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly budgetMs: number | undefined,
    private readonly phases: PhaseBudgets = {},
    private readonly now: () => number = Date.now,
  ) {
    this.deadline = budgetMs === undefined ? Infinity : now() + budgetMs;
  }

  /** Starts a phase: its own budget, if any, counts from now. */
  enter(phase: ScanPhase, where: string): void {
    this.at(where);
    this.phase = phase;
    this.phaseBudgetMs = this.phases[phase];
    this.phaseDeadline = this.phaseBudgetMs === undefined ? Infinity : this.now() + this.phaseBudgetMs;
  }

  /** A step of the current phase, e.g. "the timeline". */
  at(where: string, check?: string): void {
    this.where = where;
    this.check = check;
  }

  enterCheck(id: string): void {
    this.at(`check ${id}`, id);
  }

  /**
   * Why the scan stopped, once a checkpoint or shouldStop() found it must. A budget
   * that runs out after the last read stops nothing: the scan was complete.
   */
  get stopped(): Stop | undefined {
    return this.stop;
  }

  /** Whether the scan must stop now (and, from then on, why). */
  shouldStop(): Stop | undefined {
    return this.stop ?? this.poll();
  }

  /** Throws when the scan must stop; cheap enough to call before every read. */
  readonly checkpoint = (): void => {
    const stop = this.shouldStop();
    if (stop) throw new ScanStoppedError(stop.message);
  };

  private poll(): Stop | undefined {
    if (this.signal?.aborted) return this.stopHere('interrupted', 'the scan was interrupted');
    const t = this.now();
    if (t >= this.deadline) return this.stopHere('limit', `time budget of ${formatMs(this.budgetMs!)} reached during ${this.where}; what follows it was not scanned`);
    if (t >= this.phaseDeadline) {
      const phase = this.phase === 'open' ? 'opening the target' : 'the checks';
      return this.stopHere('limit', `time budget of ${formatMs(this.phaseBudgetMs!)} for ${phase} reached during ${this.where}; what follows it was not scanned`);
    }
    return undefined;
  }

  private stopHere(kind: Stop['kind'], message: string): Stop {
    this.stop = { kind, message, where: this.where, ...(this.check !== undefined ? { check: this.check } : {}) };
    return this.stop;
  }
}

function formatMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
