/**
 * The process's one SIGINT/SIGTERM handler, for every command. A scheduler that stops
 * minescan must get neither a report of a scan that did not finish nor resources left
 * behind, so on a signal: the running scans are cancelled (`shutdownSignal` aborts;
 * their reports are not written), the registered cleanups run (cloud resources,
 * temporary files), bounded in time, and the process exits with 128 + the signal's
 * number (130, 143). A second signal does not cut the cleanup short: what is left in a
 * cloud account costs money (a scheduler's SIGKILL would; `minescan cleanup` then
 * finds what is left, tagged).
 */
type Cleanup = () => Promise<void> | void;

const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;

const controller = new AbortController();
const cleanups = new Set<Cleanup>();
let installed = false;
let exitCode: number | undefined;

/** Aborts when the process is told to stop: pass it to every scan. */
export const shutdownSignal: AbortSignal = controller.signal;

/** Runs `fn` on shutdown; the returned function unregisters it (when its work is done). */
export function onShutdown(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

/** The exit code of the signal being handled, once one arrived. */
export function shutdownExitCode(): number | undefined {
  return exitCode;
}

/** Installs the handlers (the CLI does, once, for every command). */
export function installShutdown(write: (s: string) => void = (s) => void process.stderr.write(s)): void {
  if (installed) return;
  installed = true;
  let first: string | undefined;
  for (const [signal, code] of Object.entries(SIGNALS)) {
    process.on(signal, () => {
      if (first) return void write(`minescan: ${signal}: still removing what this run created (after ${first})\n`);
      first = signal;
      exitCode = code;
      write(`minescan: ${signal}: stopping; what this run created is removed, no report is written\n`);
      controller.abort(new Error(signal));
      void runCleanups(write).finally(() => process.exit(code));
    });
  }
}

/** Every cleanup at once, bounded by MINESCAN_RELEASE_TIMEOUT_MS (default 10 minutes; the cloud release keeps the same bound). */
async function runCleanups(write: (s: string) => void): Promise<void> {
  const timeoutMs = Number(process.env.MINESCAN_RELEASE_TIMEOUT_MS ?? 600_000) + 1_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      write(`minescan: cleanup did not finish within ${timeoutMs} ms; exiting\n`);
      resolve();
    }, timeoutMs);
  });
  const all = Promise.allSettled(
    [...cleanups].map(async (fn) => {
      try {
        await fn();
      } catch (err) {
        write(`minescan: cleanup failed: ${(err as Error).message ?? String(err)}\n`);
      }
    }),
  );
  await Promise.race([all, timeout]);
  clearTimeout(timer);
}
