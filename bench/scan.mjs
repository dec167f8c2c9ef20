#!/usr/bin/env node
// minescan's speed and memory targets, measured on a real disk: a clean Debian
// bookworm root (debootstrap) on a sparse 8 GiB GPT disk, as raw, qcow2 and
// streamOptimized VMDK, and the same root as a tar.gz read in one pass. Each scan runs
// in a child process so its peak memory (max RSS) is its own. Exits 1 when a target is
// missed. Needs root and the tools of images/install-tools.sh; run with `npm run bench`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The tests' cache (test/helpers/test-cache.ts): the same root, built once for both.
const cache = process.env.MINESCAN_TEST_CACHE || '/var/tmp';
const root = path.join(cache, 'minescan-debian-root');
const work = process.env.MINESCAN_BENCH_DIR ?? path.join(cache, 'minescan-bench');
// Besides the programs it verifies against the package database (stats.bytesHashed,
// about 100 MiB on this root), a scan reads every directory and inode (miner files are
// looked for wherever they are) and the few files the checks name. On this minimal
// root that metadata is a quarter of what the image allocates; on a real server's
// disk, with its data, a far smaller share.
const TARGETS = { seconds: 30, rssMiB: 768, readFraction: 0.3 };

mkdirSync(work, { recursive: true });
// Under the lock the tests' global setup takes, so a test run and the benchmark never build it at once.
execFileSync('flock', [`${root}.lock`, path.join(repo, 'images/build-debian-root.sh'), root], { stdio: 'inherit' });
const raw = path.join(work, 'debian-8g.img');
if (!existsSync(raw)) execFileSync(path.join(repo, 'images/build-image.sh'), [root, raw, '--table', 'gpt', '--size-mib', '8192'], { stdio: 'inherit' });
const variants = [
  ['raw', raw],
  ['qcow2', path.join(work, 'debian-8g.qcow2'), ['convert', '-O', 'qcow2', raw]],
  ['vmdk-stream', path.join(work, 'debian-8g.vmdk'), ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw]],
  ['tar.gz', path.join(work, 'debian-root.tar.gz')],
];
for (const [name, file, qemu] of variants) {
  if (existsSync(file)) continue;
  if (qemu) execFileSync('qemu-img', [...qemu, file], { stdio: 'inherit' });
  else if (name === 'tar.gz') execFileSync('tar', ['-C', root, '-czf', file, '.'], { stdio: 'inherit' });
}

let failed = false;
console.log('variant       seconds   max RSS MiB   bytes read   bytes hashed   unhashed of allocated   findings');
for (const [name, file] of variants) {
  const t0 = process.hrtime.bigint();
  // /usr/bin/time reports the child's peak RSS; the report gives bytes read.
  const run = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, path.join(repo, 'bin/minescan.js'), 'scan', file, '--format', 'json', '--fail-on', 'none', '--quiet', '--output', path.join(work, `${name}.json`)], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (run.status !== 0) {
    console.log(`${name}: scan failed: ${run.stderr}`);
    failed = true;
    continue;
  }
  const rssMiB = Number(run.stderr.trim().split('\n').pop()) / 1024;
  const report = JSON.parse(execFileSync('cat', [path.join(work, `${name}.json`)], { encoding: 'utf8' }));
  const allocated = statSync(file).blocks * 512;
  const fraction = (report.stats.bytesRead - report.stats.bytesHashed) / allocated;
  // Compressed grains and the tar.gz are read compressed but hashed decompressed: no share to compare.
  const streamed = name === 'tar.gz' || name === 'vmdk-stream';
  console.log(`${name.padEnd(12)} ${seconds.toFixed(1).padStart(8)} ${rssMiB.toFixed(0).padStart(13)} ${String(report.stats.bytesRead).padStart(12)} ${String(report.stats.bytesHashed).padStart(14)} ${(streamed ? 'n/a' : `${(fraction * 100).toFixed(1)}%`).padStart(23)} ${String(report.findings.length).padStart(10)}`);
  if (seconds > TARGETS.seconds || rssMiB > TARGETS.rssMiB || (!streamed && fraction > TARGETS.readFraction)) failed = true;
}
console.log(`targets: under ${TARGETS.seconds} s and ${TARGETS.rssMiB} MiB each; random-access formats read under ${TARGETS.readFraction * 100}% of what they allocate, besides the bytes they hash`);
process.exit(failed ? 1 : 0);
