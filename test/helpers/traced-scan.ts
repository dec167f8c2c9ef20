/**
 * Runs `node bin/minescan.js scan …` as a child under strace and GNU time, so a test
 * learns from the kernel, not from minescan's own code, which files the scan tried to
 * open (open, openat, openat2, failed attempts included) and how much memory it
 * peaked at. Needs a build (dist/), as the installed command does.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from './images.js';

export interface TracedScan {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Absolute paths of every open the scan attempted. */
  opened: string[];
  /** Peak resident memory of the scan (GNU time's maximum RSS), in bytes. */
  maxRss: number;
}

export interface TracedScanOptions {
  /** Where the trace and time files go. */
  workDir: string;
  env?: NodeJS.ProcessEnv;
  /** Kills the scan (SIGKILL) after this long: a hang fails the test instead of stalling it. */
  timeoutMs?: number;
}

export async function tracedScan(args: string[], options: TracedScanOptions): Promise<TracedScan> {
  const trace = path.join(options.workDir, `trace-${process.pid}-${Date.now()}.txt`);
  const timing = `${trace}.time`;
  const child = spawn(
    '/usr/bin/time',
    ['-v', '-o', timing, 'strace', '-f', '-qq', '-s', '4096', '-o', trace, '-e', 'trace=open,openat,openat2', 'node', path.join(REPO, 'bin/minescan.js'), 'scan', ...args],
    { cwd: REPO, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  if (signal) return { code, signal, stdout, stderr, opened: [], maxRss: 0 };
  const timeText = await readFile(timing, 'utf8');
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(timeText);
  // GNU time reports the command's status; "Command exited with non-zero status N" when not 0.
  const status = /Command exited with non-zero status (\d+)/.exec(timeText);
  return {
    code: status ? Number(status[1]) : code,
    signal,
    stdout,
    stderr,
    opened: openedPaths(await readFile(trace, 'utf8')),
    maxRss: rss ? Number(rss[1]) * 1024 : 0,
  };
}

/** The path argument of every open call in an strace log, made absolute against the scan's working directory. */
export function openedPaths(log: string): string[] {
  const out: string[] = [];
  const call = /\b(?:open|openat|openat2)\((?:AT_FDCWD|\d+<[^>]*>|-?\d+), "((?:[^"\\]|\\.)*)"|\bopen\("((?:[^"\\]|\\.)*)"/g;
  for (const m of log.matchAll(call)) {
    const p = (m[1] ?? m[2])!.replace(/\\(.)/g, '$1');
    out.push(path.resolve(REPO, p));
  }
  return out;
}

/** Opens under `dir` other than `allowed` (exact paths) and the spool directory `spoolDir`. */
export function strayOpens(opened: string[], dir: string, allowed: string[], spoolDir?: string): string[] {
  return opened.filter((p) => {
    if (!(p === dir || p.startsWith(`${dir}/`))) return false;
    if (allowed.includes(p)) return false;
    return !(spoolDir && (p === spoolDir || p.startsWith(`${spoolDir}/`)));
  });
}
