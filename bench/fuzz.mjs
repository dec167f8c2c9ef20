#!/usr/bin/env node
// The long fuzzing run of minescan's parsers (CI runs a short form in
// test/mountfs/fuzz.test.ts): N mutated inputs per parser (GPT, MBR, LVM, ext4, XFS,
// qcow2, VMDK, VHD, VHDX, tar, zip, tar.gz, tar.zst, tar.xz, NTFS), each opened through
// the whole recognition chain and walked. Counts crashes (anything but a clean result
// or a typed MountfsError, including a dead process: an uncaught error or a heap over
// --max-old-space-size) and hangs (an input that uses more than the CPU bound, or makes
// no progress for the stall bound: the worker is killed and restarted after it). The
// input a worker is in is read from the record it writes before each input
// (test/helpers/fuzz-watchdog.ts), so a crash or hang names that input and its parser;
// the input is written to --findings and printed with the command that replays it.
// Prints a summary; exits 1 on any crash or hang. Needs root and the tools of
// images/install-tools.sh. Run it niced on a shared machine:
//
//   nice -n 19 npm run fuzz -- [--runs 100000] [--seed 1] [--targets gpt,zip] [--jobs 1]
//                              [--cpu-ms 20000] [--stall-ms 600000] [--out fuzz-summary.json]
//                              [--findings /var/tmp/minescan-fuzz-findings]
//   nice -n 19 npm run fuzz -- --targets zip --replay FILE     (one saved input, alone)
import { execFileSync } from 'node:child_process';
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
const ALL = ['gpt', 'mbr', 'lvm', 'ext4', 'xfs', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'tar', 'zip', 'tar.gz', 'tar.zst', 'tar.xz', 'ntfs'];
const targets = args.targets ? args.targets.split(',') : ALL;
// An input saved by an earlier run, run alone through one target (--targets NAME).
const replay = args.replay ? path.resolve(args.replay) : undefined;
if (replay && targets.length !== 1) throw new Error('--replay needs exactly one --targets');
// Where each input that crashed or hung is written, named by parser, seed and index.
const findings = path.resolve(args.findings ?? '/var/tmp/minescan-fuzz-findings');

// The harness lives with the tests (TypeScript): compile it beside the sources, inside
// the repository so node_modules and images/ resolve as they do for the tests.
const build = path.join(repo, `dist-fuzz-${process.pid}`);
const scratch = `/var/tmp/minescan-fuzz-${process.pid}`;
rmSync(build, { recursive: true, force: true });
execFileSync(path.join(repo, 'node_modules/.bin/tsc'), ['-p', path.join(repo, 'tsconfig.json'), '--outDir', build, '--sourceMap', 'false'], { stdio: 'inherit' });
symlinkSync(path.join(repo, 'images'), path.join(build, 'images'));
writeFileSync(path.join(build, 'package.json'), JSON.stringify({ type: 'module' }));
const worker = path.join(build, 'test/helpers/fuzz-worker.js');

const { watchWorker } = await import(path.join(build, 'test/helpers/fuzz-watchdog.js'));
const { mutate } = await import(path.join(build, 'test/helpers/fuzz-harness.js'));

/**
 * Writes the input that crashed or hung to the findings directory, byte for byte as the
 * parser saw it, and returns the command that runs it again alone under the same bounds.
 */
function saveInput(name, failure) {
  mkdirSync(findings, { recursive: true });
  const dir = path.join(scratch, name);
  // A replayed input is its own file already.
  const file = replay ?? path.join(findings, `${name.replace('.', '-')}-seed${seed}-input${failure.index}.${failure.kind}.bin`);
  if (!replay) {
    const base = { bytes: readFileSync(path.join(dir, 'base.bin')), regions: JSON.parse(readFileSync(path.join(dir, 'base.bin.regions.json'), 'utf8')) };
    writeFileSync(file, mutate(base, seed, failure.index).toBuffer());
  }
  return { ...failure, target: name, file, reproduce: `nice -n 19 npm run fuzz -- --targets ${name} --replay ${file} --cpu-ms ${cpuMs}` };
}

/** Runs one target to the end, restarting its worker after each input that killed or stalled it. */
async function runTarget(name) {
  const total = { target: name, runs: 0, ok: 0, typed: 0, crashes: [], hangs: [], seconds: 0 };
  progress.set(name, total);
  const began = Date.now();
  const dir = path.join(scratch, name);
  mkdirSync(dir, { recursive: true });
  let next = 0;
  const last = replay ? 1 : runs;
  while (next < last) {
    const run = await watchWorker({
      worker,
      args: [name, String(last), String(seed), String(next), String(stallMs), dir, ...(replay ? [replay] : [])],
      dir,
      cpuMs,
      stallMs: stallMs + 60_000,
      execArgv: ['--max-old-space-size=1024'],
      // Progress for the .progress file: the input the worker is in, and the counts of the workers before it.
      onTick: (record) => Object.assign(total, { at: record.index, runs: total.ok + total.typed + record.ok + record.typed + total.crashes.length + total.hangs.length }),
    });
    if (run.fatal) {
      // The base image could not be built (a missing tool): the target is reported as not fuzzed.
      total.fatal = run.fatal;
      break;
    }
    total.ok += run.ok;
    total.typed += run.typed;
    for (const f of run.failures) (f.kind === 'hang' ? total.hangs : total.crashes).push(saveInput(name, f));
    total.runs = total.ok + total.typed + total.crashes.length + total.hangs.length;
    if (run.resumeAt === undefined) break;
    next = run.resumeAt;
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
  else console.log(`base images kept in ${scratch}; the failing inputs are in ${findings}`);
  rmSync(build, { recursive: true, force: true });
}
results.sort((a, b) => ALL.indexOf(a.target) - ALL.indexOf(b.target));
const crashes = results.reduce((n, r) => n + r.crashes.length, 0);
const hangs = results.reduce((n, r) => n + r.hangs.length, 0);
const unfuzzed = results.filter((r) => r.fatal).length;
console.log(`\nfuzzing, seed ${seed}, ${runs} inputs per parser, per-input bounds ${cpuMs} ms of CPU and ${stallMs} ms without progress`);
console.table(results.map((r) => ({ parser: r.target, inputs: r.runs, clean: r.ok, typed: r.typed, crashes: r.crashes.length, hangs: r.hangs.length, seconds: r.seconds })));
for (const r of results) {
  for (const c of r.crashes.slice(0, 5)) console.log(`crash ${r.target} #${c.index}: ${c.error}\n  input: ${c.file}\n  reproduce: ${c.reproduce}`);
  for (const h of r.hangs.slice(0, 20)) console.log(`hang ${r.target} #${h.index}\n  input: ${h.file}\n  reproduce: ${h.reproduce}`);
}
console.log(`${crashes} crashes, ${hangs} hangs${unfuzzed ? `, ${unfuzzed} parsers not fuzzed` : ''}`);
if (args.out) writeFileSync(args.out, JSON.stringify({ seed, runs, cpuMs, stallMs, results }, null, 2));
process.exit(crashes || hangs || unfuzzed ? 1 : 0);
