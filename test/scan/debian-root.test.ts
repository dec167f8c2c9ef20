/**
 * A real server root: Debian bookworm from debootstrap with the packages a server has.
 * Scanned as a directory and as an 8 GiB sparse GPT disk image, it must give no finding
 * of medium severity or more, the image must read back file for file, and the scan
 * must read only a small part of the disk besides the programs it verifies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { scanTarget } from '../../src/engine/scan.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { severityRank } from '../../src/model/finding.js';
import type { ScanReport } from '../../src/model/report.js';
import { openTarget } from '../../mountfs/open-target.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { buildImage, makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const ROOT = fixture('debianRoot');
const DISK_BYTES = 8 * 1024 ** 3;

const loud = (r: ScanReport) => r.findings.filter((f) => severityRank(f.severity) >= severityRank('medium'));

describe('clean Debian root', () => {
  let scratch: string;
  let image: string;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    image = await buildImage(ROOT, path.join(scratch, 'debian.img'), { table: 'gpt', sizeMiB: DISK_BYTES / 2 ** 20 });
  }, 600_000);
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  const scan = async (target: string) => scanTarget(target, { checks: ALL_CHECKS, rules: await builtinRules(), hashes: EMPTY_HASH_LIST });

  it('gives no finding of medium severity or more as a directory', async () => {
    const report = await scan(ROOT);
    expect(report).toMatchObject({ status: 'complete', errors: [] });
    expect(loud(report)).toEqual([]);
  });

  it('gives no finding of medium severity or more as a sparse 8 GiB disk image, reading a small part of it', async () => {
    expect((await stat(image)).size).toBe(DISK_BYTES);
    const report = await scan(image);
    expect(report).toMatchObject({ status: 'complete', errors: [], notes: [] });
    expect(loud(report)).toEqual([]);
    expect(report.stats.filesExamined).toBeGreaterThan(50);
    expect(report.stats.bytesRead).toBeGreaterThan(0);
    // The package integrity check verifies the system's programs and libraries on purpose;
    // the rest is metadata (every directory and inode: miner files are looked for
    // wherever they are) and the few files the checks read.
    expect(report.stats.bytesHashed).toBeGreaterThan(50 << 20);
    expect(report.stats.bytesRead - report.stats.bytesHashed).toBeLessThan(DISK_BYTES / 100);
  });

  it.each([
    ['qcow2', [], true],
    ['vmdk', ['-o', 'subformat=monolithicSparse'], true],
    ['vmdk', ['-o', 'subformat=streamOptimized'], false],
  ] as const)(
    'reads a small part of the same disk as %s %s',
    async (format, extra, uncompressed) => {
      const out = path.join(scratch, `debian.${format}.${extra.join('')}`);
      await run('qemu-img', ['convert', '-O', format, ...extra, image, out]);
      const allocated = (await stat(out)).blocks * 512;
      const report = await scan(out);
      expect(report.source!.format).toBe(format);
      expect(report.errors).toEqual([]);
      expect(loud(report)).toEqual([]);
      if (uncompressed) {
        // Besides the programs the integrity check hashes on purpose, a scan reads every
        // directory and inode and a few files: on this small root, a third of what it allocates.
        expect(report.stats.bytesRead - report.stats.bytesHashed).toBeLessThan(allocated / 3);
      } else {
        // Compressed grains are read compressed and hashed decompressed: the two do not
        // subtract; the hashed programs are most of this root, so only the bound holds.
        expect(report.stats.bytesRead).toBeLessThan(allocated);
      }
    },
  );

  it('reads every file of the image back as the source tree has it', async () => {
    const counter = { bytesRead: 0 };
    const opened = await openTarget(image, counter);
    try {
      const vfs = opened.filesystems[0]!.vfs;
      let files = 0;
      for await (const entry of vfs.walk(['/**'])) {
        if (entry.path === '/lost+found' || entry.path.startsWith('/lost+found/')) continue;
        const host = path.join(ROOT, entry.path);
        const hostStat = await lstat(host);
        expect(entry.stat.mode, entry.path).toBe(hostStat.mode);
        expect(entry.stat.uid, entry.path).toBe(hostStat.uid);
        if (entry.stat.type === 'symlink') expect(await vfs.readlink(entry.path)).toBe(await readlink(host));
        if (entry.stat.type !== 'file') continue;
        files++;
        expect(entry.stat.size, entry.path).toBe(hostStat.size);
        const [ours, theirs] = await Promise.all([md5(vfs.createReadStream(entry.path)), md5(createReadStream(host))]);
        expect(ours, entry.path).toBe(theirs);
      }
      expect(files).toBeGreaterThan(1000);
    } finally {
      await opened.close();
    }
  });
});

async function md5(stream: NodeJS.ReadableStream): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}
