/**
 * The bar every hostile disk is held to, in one place: scanned by the installed command
 * in a child process under strace and GNU time (traced-scan.ts), the scan ends with
 * exit 2, or incomplete (exit 3) with the reason in its report (or, for a class minescan
 * reads whole, complete with what it was meant to find); its peak RSS stays under a
 * generous bound; it opens no host file or device but its target, its own spool
 * and what node itself needs (the strace log is checked against a list of them); and it leaves nothing in the temporary or spool
 * directory, whether it ends normally or is stopped by SIGTERM.
 */
import { expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from './images.js';
import { strayOpens, tracedScan, type TracedScan } from './traced-scan.js';

/** Generous: only a runaway allocation gets near it (the zstd bombs reached 2 and 4 GiB). */
export const MAX_RSS = 768 << 20;
/** Device nodes node itself may open. */
const NODE_DEVICES = new Set(['/dev/null', '/dev/urandom', '/dev/random', '/dev/tty', '/dev/pts/ptmx']);
/**
 * What the node runtime opens on its own, outside the scan: minescan's installed files,
 * shared libraries, time zone, resolver and TLS configuration (read at start-up by
 * c-ares and OpenSSL), and its own process and cgroup limits. Any other host path
 * opened is one the disk made minescan open.
 */
const RUNTIME = [
  new RegExp(`^${REPO.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`),
  /^\/(usr\/)?lib(64|32)?\//,
  /^\/usr\/(local\/)?bin\/node$/,
  /^\/etc\/(ld\.so\.cache|localtime|resolv\.conf|nsswitch\.conf|netsvc\.conf|svc\.conf|host\.conf|hosts|gai\.conf)$/,
  /^\/usr\/share\/zoneinfo\//,
  /^\/(etc|usr\/lib)\/ssl\//,
  /^\/proc\/(self\/|meminfo$|sys\/vm\/|cpuinfo$|stat$)/,
  /^\/sys\/(fs\/cgroup\/|devices\/system\/cpu\/)/,
];

/**
 * Opens that are neither the target (a block device's own sysfs entry included), the
 * spool or temporary directory, node's devices nor its runtime.
 */
export async function hostOpens(c: Containment, opened: string[], target: string): Promise<string[]> {
  const inside = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
  const st = await stat(target);
  const sysfs = st.isBlockDevice() ? `/sys/dev/block/${(st.rdev >> 8) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}` : undefined;
  return opened.filter(
    (p) => p !== target && !(sysfs && inside(p, sysfs)) && !inside(p, c.spool) && !inside(p, c.tmp) && !NODE_DEVICES.has(p) && !RUNTIME.some((r) => r.test(p)),
  );
}

export interface Containment {
  /** Where targets and traces are; a scan may open nothing under it but its target and spool. */
  scratch: string;
  tmp: string;
  spool: string;
}

export async function containment(scratch: string): Promise<Containment> {
  const c = { scratch, tmp: path.join(scratch, 'tmp'), spool: path.join(scratch, 'spool') };
  await mkdir(c.tmp, { recursive: true });
  await mkdir(c.spool, { recursive: true });
  return c;
}

const scanArgs = (c: Containment, target: string, extra: string[]) => [target, '--format', 'json', '--fail-on', 'none', '--spool-dir', c.spool, ...extra];

/** `timeoutMs`: past it the scan is killed (a hang fails the test instead of stalling it). */
export const scanTraced = (c: Containment, target: string, extra: string[] = [], timeoutMs?: number) =>
  tracedScan(scanArgs(c, target, extra), { workDir: c.scratch, env: { TMPDIR: c.tmp }, timeoutMs });

export interface Expected {
  /** What the report's errors must say (the scan is incomplete, or exit 2). */
  reason?: RegExp;
  /** A finding "rule path" the report must hold. */
  finding?: string;
  /** The scan must read everything (complete, exit 0 under --fail-on none). */
  complete?: boolean;
  /** Host files the disk named, never to be opened. */
  decoys?: string[];
  /** Other paths under scratch the scan may open (a directory target's files). */
  allowed?: (p: string) => boolean;
}

interface Report {
  status?: string;
  errors: Array<{ message: string; path?: string }>;
  findings?: Array<{ rule: string; path: string }>;
}

/** The report of a traced scan (the first, for a command that wrote several). */
export function reportOf(r: TracedScan): Report {
  const parsed = JSON.parse(r.stdout);
  return Array.isArray(parsed) ? parsed[0] : parsed;
}

export async function expectContained(c: Containment, r: TracedScan, target: string, want: Expected): Promise<Report | undefined> {
  expect(r.signal).toBeNull();
  let report: Report | undefined;
  if (want.complete) {
    expect(r.code, r.stderr).toBe(0);
    report = reportOf(r);
    expect(report.status).toBe('complete');
    expect(report.errors).toEqual([]);
  } else {
    expect([2, 3], r.stderr).toContain(r.code);
    // Exit 2 may come with a report or without one (a target not opened at all).
    if (r.code === 3 || r.stdout.trim()) {
      report = reportOf(r);
      expect(report.status).toBe('incomplete');
    }
    const said = report ? report.errors.map((e) => `${e.path ?? ''} ${e.message}`).join('\n') : r.stderr;
    expect(said).toMatch(want.reason ?? /./);
  }
  if (want.finding) expect(report!.findings!.map((f) => `${f.rule} ${f.path}`)).toContain(want.finding);
  expect(r.maxRss).toBeGreaterThan(0);
  expect(r.maxRss).toBeLessThan(MAX_RSS);
  const traceFiles = (p: string) => path.basename(p).startsWith('trace-');
  expect(strayOpens(r.opened, c.scratch, [target], c.spool).filter((p) => !traceFiles(p) && !(want.allowed?.(p) ?? false))).toEqual([]);
  expect(r.opened.filter((p) => p.startsWith('/dev/') && p !== target && !NODE_DEVICES.has(p))).toEqual([]);
  // Nowhere else on the host either: every open is the target, a spool, or node's own runtime.
  expect((await hostOpens(c, r.opened, target)).filter((p) => !(want.allowed?.(p) ?? false))).toEqual([]);
  for (const decoy of want.decoys ?? []) expect(r.opened).not.toContain(decoy);
  expect(await readdir(c.spool)).toEqual([]);
  expect(await readdir(c.tmp)).toEqual([]);
  return report;
}

/** CPU seconds a process has used (utime + stime, clock ticks of 1/100 s), 0 once it is gone. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

/**
 * Scans `target` and sends SIGTERM once the scan has used `cpuSeconds` of CPU (past
 * loading its modules, into reading the disk), or once its spool exists: it must stop
 * with 143 (or have ended on its own) and leave nothing in the temporary or spool
 * directory. Counted in CPU, not in wall time, so a loaded machine stops it at the same point.
 */
export async function expectSigtermLeavesNothing(c: Containment, target: string, extra: string[] = [], cpuSecondsBeforeStop = 1.5): Promise<void> {
  const child = spawn('node', [path.join(REPO, 'bin/minescan.js'), 'scan', ...scanArgs(c, target, extra)], {
    cwd: REPO,
    env: { ...process.env, TMPDIR: c.tmp },
    stdio: 'ignore',
  });
  let exited = false;
  const closed = new Promise<number | NodeJS.Signals | null>((resolve) => child.on('close', (code, signal) => ((exited = true), resolve(code ?? signal))));
  while (!exited && (await cpuSeconds(child.pid!)) < cpuSecondsBeforeStop && (await readdir(c.spool)).length === 0) await new Promise((r) => setTimeout(r, 20));
  const stopped = !exited;
  if (stopped) child.kill('SIGTERM');
  const code = await closed;
  // 143 from minescan's handler; the signal itself when it came before the handler was set or after it was let go.
  if (stopped) expect([143, 0, 1, 2, 3, 'SIGTERM']).toContain(code);
  expect(await readdir(c.spool)).toEqual([]);
  expect(await readdir(c.tmp)).toEqual([]);
}
