/**
 * Everything minescan creates in a cloud account is released in a `finally`; this
 * registry also releases it when the process is told to stop (SIGINT, SIGTERM: the
 * CLI's shutdown handler calls releaseAll), so a
 * scan killed by a scheduler leaves nothing behind. A create call still in flight when
 * the release begins is waited for, and what it returns is released at once: its
 * answer may arrive after the signal. What a SIGKILL leaves, tagged at creation,
 * `minescan cleanup` finds.
 */
type Release = () => Promise<void>;

const pending = new Set<Release>();
let stopping = false;

/** True once the release of everything has begun: no new cloud resource may be created. */
export function isStopping(): boolean {
  return stopping;
}

/** Thrown by a create (or a wait) asked for after the release began. */
export class StoppingError extends Error {
  constructor(what: string) {
    super(`${what}: minescan is stopping`);
    this.name = 'StoppingError';
  }
}

/** Registers a release; the returned function runs it once (callers after the first wait for it) and unregisters it. */
export function track(release: Release): () => Promise<void> {
  let running: Promise<void> | undefined;
  const once: Release = () => {
    running ??= (async () => {
      try {
        await release();
      } finally {
        pending.delete(once);
      }
    })();
    return running;
  };
  pending.add(once);
  return once;
}

/** Releases everything registered, concurrently, and what creates still in flight return; resolves once nothing is left or the bound passes. */
export async function releaseAll(timeoutMs = Number(process.env.MINESCAN_RELEASE_TIMEOUT_MS ?? 600_000)): Promise<void> {
  stopping = true;
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) {
    const round = [...pending].map((r) => r().catch((err: Error) => process.stderr.write(`minescan: cleanup failed: ${err.message}\n`)));
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    await Promise.race([Promise.all(round), bound]);
    clearTimeout(timer);
  }
  if (pending.size > 0) process.stderr.write(`minescan: ${pending.size} cleanup(s) did not finish in time; \`minescan cleanup\` removes what is left (it is tagged)\n`);
}

/**
 * The resources one target acquires, released in reverse order of creation. A create
 * is registered before its call is sent, so a release that begins while the answer is
 * on its way waits for it (bounded) and undoes what it made.
 */
export class ResourceScope {
  private readonly undo: Array<{ what: string; run: Release }> = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private released = false;

  /** Runs a create call; `release` undoes what it returned, even when the answer comes after the release began. */
  create<T>(what: string, call: () => Promise<T>, release?: (value: T) => Promise<void>): Promise<T> {
    this.check(what);
    const run = (async () => {
      const value = await call();
      if (this.released) {
        // The answer came after the release began: undo it now, and stop this flow.
        if (release) await release(value).catch((err: Error) => process.stderr.write(`minescan: cleanup of ${what} failed: ${err.message}\n`));
        throw new StoppingError(what);
      }
      if (release) this.undo.push({ what, run: () => release(value) });
      return value;
    })();
    // The release waits for the whole of it, the undoing of a late answer included.
    this.inflight.add(run);
    run.then(
      () => this.inflight.delete(run),
      () => this.inflight.delete(run),
    );
    return run;
  }

  /** Registers the undoing of a step that creates nothing (closing a device, a client). */
  defer(what: string, run: Release): void {
    this.undo.push({ what, run });
  }

  /** Throws when the scope is released or the process stops, so a flow stops starting work. */
  check(what: string): void {
    if (this.released || stopping) throw new StoppingError(what);
  }

  async release(): Promise<void> {
    this.released = true;
    // A create in flight undoes its own result when it resolves (above); wait for it.
    await Promise.allSettled([...this.inflight]);
    // A failed undo says so and the others go on; it changes nothing the scan read, and
    // what it left is tagged for `minescan cleanup`.
    while (this.undo.length) {
      const step = this.undo.pop()!;
      await step.run().catch((err: Error) => process.stderr.write(`minescan: cleanup of ${step.what} failed: ${err.message}; \`minescan cleanup\` removes it later\n`));
    }
  }
}

