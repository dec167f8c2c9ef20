/**
 * SIGINT and SIGTERM, for a real minescan process: the running scan is cancelled and
 * its report is not written (a half-done report must never pass for a verdict), what
 * the run created is removed, and the exit code is 128 + the signal's number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { REPO, buildImage, makeScratchDir, plantTree, removeScratchDir } from './helpers/images.js';
import { startFakeAws, type FakeAws } from './helpers/fake-aws.js';

describe('shutdown on a signal', () => {
  let scratch: string;
  let image: string;
  const fakes: FakeAws[] = [];

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-shutdown-');
    image = await buildImage(await plantTree(path.join(scratch, 'tree'), true), path.join(scratch, 'disk.img'), { table: 'gpt', sizeMiB: 16 });
  });
  afterAll(async () => {
    for (const f of fakes) await f.close();
    if (scratch) await removeScratchDir(scratch);
  });

  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal} mid-scan: exit ${code}, no report file, the snapshot it made deleted`, async () => {
      // A snapshot that never completes keeps the scan waiting, so the signal surely arrives mid-scan.
      const f = await startFakeAws({ volumes: { 'vol-slow': image }, pendingPolls: 1_000_000 });
      fakes.push(f);
      const out = path.join(scratch, `${signal}.json`);
      const child = spawn('node', [path.join(REPO, 'bin/minescan.js'), 'scan', 'aws:volume/vol-slow', '--region', 'us-east-1', '--endpoint', f.endpoint, '--output', out], {
        env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret', MINESCAN_SNAPSHOT_POLL_MS: '20' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      while (f.snapshots.size === 0) await new Promise((r) => setTimeout(r, 20));
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(stderr).toMatch(new RegExp(`${signal}: stopping`));
      await expect(access(out)).rejects.toThrow(/ENOENT/);
      expect([...f.snapshots.values()].every((s) => s.deleted)).toBe(true);
    });
  }
});
