/**
 * Which input a fuzzing worker is running, told through a file, not through IPC: the
 * long run (bench/fuzz.mjs) kills a worker whose input loops synchronously, and must
 * then name that input and no other. An IPC message sent just before a synchronous
 * loop may never leave the worker, and one that did may sit unread in a starved
 * parent, so the parent once blamed a hang on the input before it. The worker writes
 * the input's index and its CPU count into a fixed-size record with one pwrite
 * before the parser runs; the parent reads that record, so what it reads is what the
 * worker was doing. Outcomes that are not ok or typed go to a journal written with
 * appendFileSync before the record moves on, so a kill loses none of them.
 * Only node: imports, so a test can load this file in a worker of its own.
 */
import { fork } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

const RECORD = 512;

export interface InputRecord {
  /** The input the worker is in (`running`) or has just ended (`done`); `finished`: all are done. */
  index: number;
  phase: 'running' | 'done' | 'finished';
  /** The worker's CPU seconds when the input started. */
  cpuSeconds: number;
  /** Inputs this worker ended cleanly or with a typed error. */
  ok: number;
  typed: number;
}

export type Failure = { index: number; kind: 'crash' | 'hang'; error: string };

const recordFile = (dir: string) => path.join(dir, 'input.rec');
const journalFile = (dir: string) => path.join(dir, 'failures.jsonl');

/** The worker's side: marks each input before it runs and records how it ended. */
export class InputMarker {
  private readonly fd: number;
  private ok = 0;
  private typed = 0;
  private index = -1;
  constructor(private readonly dir: string) {
    this.fd = openSync(recordFile(dir), 'w');
  }

  start(index: number): void {
    this.index = index;
    this.write('running');
  }

  end(kind: 'ok' | 'typed' | 'crash' | 'hang', error = ''): void {
    if (kind === 'ok') this.ok++;
    else if (kind === 'typed') this.typed++;
    else appendFileSync(journalFile(this.dir), `${JSON.stringify({ index: this.index, kind, error } satisfies Failure)}\n`);
    this.write('done');
  }

  finish(): void {
    this.write('finished');
    closeSync(this.fd);
  }

  private write(phase: InputRecord['phase']): void {
    const cpu = process.cpuUsage();
    const record: InputRecord = { index: this.index, phase, cpuSeconds: (cpu.user + cpu.system) / 1e6, ok: this.ok, typed: this.typed };
    // Fixed size, one write at offset 0, never a truncation: a reader sees a whole record.
    const bytes = Buffer.alloc(RECORD, 0x20);
    bytes.write(JSON.stringify(record));
    writeSync(this.fd, bytes, 0, RECORD, 0);
  }
}

function readRecord(dir: string): InputRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile(dir), 'utf8')) as InputRecord;
  } catch {
    return undefined;
  }
}

/** CPU seconds a process has used, from /proc (utime + stime, in clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export interface WorkerRun {
  ok: number;
  typed: number;
  failures: Failure[];
  /** Where the next worker starts, when this one stopped before the end. */
  resumeAt?: number;
  /** The worker stopped before its first input (its base image could not be built). */
  fatal?: string;
}

export interface WatchOptions {
  worker: string;
  args: string[];
  /** The worker's own directory: its record and journal (emptied first). */
  dir: string;
  /** An input over this much CPU time is a hang (CPU, not wall time: a niced worker may wait). */
  cpuMs: number;
  /** An input with no change of record for this long is a hang too (an I/O stall). */
  stallMs: number;
  execArgv?: string[];
  /** Called every second with the record, for progress. */
  onTick?: (record: InputRecord) => void;
}

/** Runs one worker to its end or until an input kills or stalls it; names that input from the record. */
export async function watchWorker(options: WatchOptions): Promise<WorkerRun> {
  rmSync(recordFile(options.dir), { force: true });
  rmSync(journalFile(options.dir), { force: true });
  const child = fork(options.worker, options.args, { execArgv: options.execArgv ?? [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  let killedFor: number | undefined;
  let seen = '';
  let seenAt = Date.now();
  const watchdog = setInterval(() => {
    const before = readRecord(options.dir);
    if (!before || before.phase !== 'running') return;
    const cpu = cpuSeconds(child.pid!);
    const after = readRecord(options.dir);
    const key = `${before.index}`;
    if (key !== seen) [seen, seenAt] = [key, Date.now()];
    options.onTick?.(before);
    // The input read before and after the CPU count is the same one: the CPU is its own.
    if (after?.index !== before.index || after.phase !== 'running') return;
    if (cpu - before.cpuSeconds > options.cpuMs / 1000 || Date.now() - seenAt > options.stallMs) {
      killedFor = before.index;
      child.kill('SIGKILL');
    }
  }, 1000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearInterval(watchdog);
  const record = readRecord(options.dir);
  const failures: Failure[] = existsSync(journalFile(options.dir))
    ? readFileSync(journalFile(options.dir), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Failure)
    : [];
  const run: WorkerRun = { ok: record?.ok ?? 0, typed: record?.typed ?? 0, failures };
  if (!record) return { ...run, fatal: `worker failed before its first input (${code ?? signal}): ${stderr}` };
  if (record.phase === 'finished') return run;
  if (killedFor !== undefined) {
    failures.push({ index: killedFor, kind: 'hang', error: `over ${options.cpuMs} ms of CPU or ${options.stallMs} ms without progress` });
    // Had the input ended just as it was killed, the next one was not run: start there.
    return { ...run, resumeAt: record.index === killedFor && record.phase === 'running' ? killedFor + 1 : record.index + (record.phase === 'done' ? 1 : 0) };
  }
  const died = `process died (${code ?? signal})${record.phase === 'done' ? ' after the input ended' : ''}: ${stderr.trim().split('\n').slice(-6).join('\n')}`;
  // A worker that stopped itself after an input it journalled (an asynchronous hang) resumes after it.
  if (record.phase === 'done' && failures.at(-1)?.index === record.index && code === HANG_EXIT) return { ...run, resumeAt: record.index + 1 };
  failures.push({ index: record.index, kind: 'crash', error: died });
  return { ...run, resumeAt: record.index + 1 };
}

/** The exit code of a worker that stops after an input that did not end in time (its work may still be running). */
export const HANG_EXIT = 75;
