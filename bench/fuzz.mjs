#!/usr/bin/env node
// The long fuzzing run of minescan's parsers (CI runs a short form in
// test/mountfs/fuzz.test.ts): N mutated inputs per parser (GPT, MBR, LVM, ext4, XFS,
// qcow2, VMDK, VHD, VHDX, tar, zip, tar.gz, tar.zst, tar.xz), each opened through
// the whole recognition chain and walked. Counts crashes (anything but a clean result
// or a typed MountfsError, including a dead process: an uncaught error or a heap over
// --max-old-space-size) and hangs (an input that uses more than the CPU bound, or makes
// no progress for the stall bound: the worker is killed and restarted after it).
// Prints a summary; exits 1 on any crash or hang. Needs root and the tools of
// images/install-tools.sh. Run it niced on a shared machine:
//
//   nice -n 19 npm run fuzz -- [--runs 100000] [--seed 1] [--targets gpt,zip] [--jobs 1]
//                              [--cpu-ms 20000] [--stall-ms 600000] [--out fuzz-summary.json]
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const runs = Number(args.runs ?? 100_000);
const seed = Number(args.seed ?? 1);
const jobs = Number(args.jobs ?? 1);
// Per input: at most this much CPU time, and at most this long without any progress.
const cpuMs = Number(args['cpu-ms'] ?? 20_000);
const stallMs = Number(args['stall-ms'] ?? 600_000);
const ALL = ['gpt', 'mbr', 'lvm', 'ext4', 'xfs', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'tar', 'zip', 'tar.gz', 'tar.zst', 'tar.xz'];
const targets = args.targets ? args.targets.split(',') : ALL;

// The harness lives with the tests (TypeScript): compile it beside the sources, inside
// the repository so node_modules and images/ resolve as they do for the tests.
const build = path.join(repo, `dist-fuzz-${process.pid}`);
const scratch = `/var/tmp/minescan-fuzz-${process.pid}`;
rmSync(build, { recursive: true, force: true });
execFileSync(path.join(repo, 'node_modules/.bin/tsc'), ['-p', path.join(repo, 'tsconfig.json'), '--outDir', build, '--sourceMap', 'false'], { stdio: 'inherit' });
symlinkSync(path.join(repo, 'images'), path.join(build, 'images'));
writeFileSync(path.join(build, 'package.json'), JSON.stringify({ type: 'module' }));
const worker = path.join(build, 'test/helpers/fuzz-worker.js');

/** CPU seconds a process has used, from /proc (utime + stime, in clock ticks of 1/100 s). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Runs one target to the end, restarting its worker after each input that killed or stalled it. */
async function runTarget(name) {
  const total = { target: name, runs: 0, ok: 0, typed: 0, crashes: [], hangs: [], seconds: 0 };
  progress.set(name, total);
  const began = Date.now();
  let next = 0;
  while (next < runs) {
    const result = await new Promise((resolve) => {
      let current = next;
      let lastSeen = Date.now();
      let cpuAtInput = 0;
      let done = false;
      const child = fork(worker, [name, String(runs), String(seed), String(next), String(stallMs), path.join(scratch, name)], {
        execArgv: ['--max-old-space-size=1024'],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
      let started = false;
      child.on('message', (m) => {
        lastSeen = Date.now();
        if (m.type === 'input') {
          current = m.index;
          cpuAtInput = m.cpuSeconds;
          started = true;
        } else if (m.type === 'outcome') {
          total.runs++;
          if (m.kind === 'ok') total.ok++;
          else if (m.kind === 'typed') total.typed++;
          else if (m.kind === 'hang') total.hangs.push(m.index);
          else total.crashes.push({ index: m.index, error: m.error });
        } else if (m.type === 'done') done = true;
      });
      // A hang is an input that burns more than the CPU bound (a loop, synchronous or not),
      // or that makes no progress at all for the stall bound. CPU time, not wall time: on a
      // loaded machine a niced worker may wait minutes for a few milliseconds of CPU.
      // The check runs after the messages already waiting are read (setImmediate follows the
      // poll phase): a starved parent must not blame an input for the CPU of the ones after it.
      const watchdog = setInterval(
        () =>
          setImmediate(() => {
            if (!started || done) return;
            if (cpuSeconds(child.pid) - cpuAtInput > cpuMs / 1000 || Date.now() - lastSeen > stallMs + 60_000) child.kill('SIGKILL');
          }),
        1000,
      );
      child.on('exit', (code, signal) => {
        clearInterval(watchdog);
        if (done) resolve({ finished: true });
        else if (!started) resolve({ fatal: `worker for ${name} failed before its first input (${code ?? signal}): ${stderr}` });
        else if (signal === 'SIGKILL') resolve({ hang: current });
        else resolve({ crash: { index: current, error: `process died (${code ?? signal}): ${stderr.trim().split('\n').slice(-6).join('\n')}` } });
      });
    });
    if (result.fatal) {
      // The base image could not be built (a missing tool): the target is reported as not fuzzed.
      total.fatal = result.fatal;
      break;
    }
    if (result.finished) break;
    // The input that stopped the worker counts as run; the next worker starts after it.
    const stopped = result.hang ?? result.crash.index;
    total.runs++;
    if (result.hang !== undefined) total.hangs.push(result.hang);
    else total.crashes.push(result.crash);
    next = stopped + 1;
  }
  total.seconds = Math.round((Date.now() - began) / 1000);
  if (total.fatal) console.log(`${name}: not fuzzed: ${total.fatal}`);
  else console.log(`${name}: ${total.runs} inputs, ${total.ok} clean, ${total.typed} typed errors, ${total.crashes.length} crashes, ${total.hangs.length} hangs (${total.seconds} s)`);
  return total;
}

mkdirSync(scratch, { recursive: true });
const results = [];
// A long run on a loaded machine may be stopped before it ends: what it has counted so far is kept beside --out.
const progress = new Map();
const saveProgress = setInterval(() => {
  if (args.out) writeFileSync(`${args.out}.progress`, JSON.stringify([...progress.values()], null, 2));
}, 30_000);
try {
  const queue = [...targets];
  await Promise.all(
    Array.from({ length: Math.max(1, jobs) }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) results.push(await runTarget(t));
    }),
  );
} finally {
  clearInterval(saveProgress);
  // The base images are kept when an input failed: mkfs and qemu-img do not make the same bytes twice.
  if (results.every((r) => !r.crashes.length && !r.hangs.length)) rmSync(scratch, { recursive: true, force: true });
  else console.log(`base images kept in ${scratch} (replay: fuzz-harness mutate(base, seed, index))`);
  rmSync(build, { recursive: true, force: true });
}
results.sort((a, b) => ALL.indexOf(a.target) - ALL.indexOf(b.target));
const crashes = results.reduce((n, r) => n + r.crashes.length, 0);
const hangs = results.reduce((n, r) => n + r.hangs.length, 0);
const unfuzzed = results.filter((r) => r.fatal).length;
console.log(`\nfuzzing, seed ${seed}, ${runs} inputs per parser, per-input bounds ${cpuMs} ms of CPU and ${stallMs} ms without progress`);
console.table(results.map((r) => ({ parser: r.target, inputs: r.runs, clean: r.ok, typed: r.typed, crashes: r.crashes.length, hangs: r.hangs.length, seconds: r.seconds })));
for (const r of results) {
  for (const c of r.crashes.slice(0, 5)) console.log(`crash ${r.target} #${c.index}: ${c.error}`);
  if (r.hangs.length) console.log(`hangs ${r.target}: inputs ${r.hangs.slice(0, 20).join(', ')}`);
}
console.log(`${crashes} crashes, ${hangs} hangs${unfuzzed ? `, ${unfuzzed} parsers not fuzzed` : ''}`);
if (args.out) writeFileSync(args.out, JSON.stringify({ seed, runs, cpuMs, stallMs, results }, null, 2));
process.exit(crashes || hangs || unfuzzed ? 1 : 0);
