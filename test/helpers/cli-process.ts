/**
 * The minescan command line as a child process (bin/minescan.js over the build), for
 * tests that signal it: its output as it comes, a wait for a line of it, its exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO } from './images.js';
import type { Holds } from './held-requests.js';

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr matches (the process has reached that point). */
  waitForStderr(pattern: RegExp): Promise<void>;
  /** The exit code, or 128+signal number when the process was killed by one it did not handle. */
  exit: Promise<number>;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn('node', [path.join(REPO, 'bin/minescan.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => {
    err += d;
    for (const w of [...waiters]) if (w.pattern.test(err)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  const exit = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitForStderr: (pattern) =>
      pattern.test(err)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ pattern, resolve })),
            exit.then((code) => Promise.reject(new Error(`minescan exited ${code} before printing ${pattern}: ${err}`))),
          ]),
    exit,
  };
}

/** The signals a scheduler sends, with the exit code minescan answers each with. */
export const STOP_SIGNALS = [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const;

/**
 * Starts minescan, waits until the fake holds the chosen answer, signals, and lets the
 * answer go once minescan says it is stopping (so the answer arrives after the signal).
 */
export async function signalAt(holds: Holds, at: { hold: string; skip: number }, args: string[], signal: NodeJS.Signals, env: NodeJS.ProcessEnv = {}) {
  const held = holds.hold(at.hold, at.skip);
  const run = startCli(args, env);
  await Promise.race([held.reached, run.exit.then((code) => Promise.reject(new Error(`exited ${code} before ${at.hold}: ${run.stderr()}`)))]);
  run.child.kill(signal);
  await run.waitForStderr(new RegExp(`${signal}: stopping`));
  held.release();
  return { code: await run.exit, stdout: run.stdout(), stderr: run.stderr() };
}
