/**
 * Everything minescan creates in a cloud account is released in a `finally`; this
 * registry also releases it when the process is told to stop (SIGINT, SIGTERM), so a
 * scan killed by a scheduler leaves nothing behind. What a SIGKILL leaves, tagged,
 * `minescan cleanup` finds.
 */
type Release = () => Promise<void>;

const pending = new Set<Release>();
let installed = false;

/** Registers a release; the returned function runs it once and unregisters it. */
export function track(release: Release): () => Promise<void> {
  let done = false;
  const once: Release = async () => {
    if (done) return;
    done = true;
    pending.delete(once);
    await release();
  };
  pending.add(once);
  return once;
}

export async function releaseAll(): Promise<void> {
  for (const r of [...pending]) await r().catch((err: Error) => process.stderr.write(`minescan: cleanup failed: ${err.message}\n`));
}

/** Installs the signal handlers (the CLI does, once). */
export function releaseOnSignals(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      process.stderr.write(`minescan: ${signal}: removing what this run created\n`);
      void releaseAll().finally(() => process.exit(code));
    });
  }
}
