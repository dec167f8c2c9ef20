/**
 * Archives of a root and archives carrying disk images, recognised by their bytes (the
 * file names here say nothing), read through openTarget exactly as a scan reads them:
 * the listing and every file's MD5 equal the source tree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { openTarget } from '../../mountfs/open-target.js';
import { decompress } from '../../mountfs/sources/stream-decompress.js';
import { MountfsError } from '../../mountfs/errors.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import { writeRandomTree } from '../helpers/random-tree.js';
import { buildImage, makeScratchDir, removeScratchDir } from '../helpers/images.js';

const run = promisify(execFile);
const sh = (cmd: string) => run('bash', ['-c', cmd], { maxBuffer: 64 << 20 });

describe('archives', () => {
  let scratch: string;
  let tree: string;
  let expected: ReturnType<typeof sorted>;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    tree = path.join(scratch, 'tree');
    await writeRandomTree(tree, 11, { bigDirEntries: 800 });
    expected = sorted(await hostTree(tree));
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  const readBack = async (file: string, retain = ['/**']) => {
    const counter = { bytesRead: 0 };
    const opened = await openTarget(file, counter, { retain });
    try {
      expect(opened.filesystems).toHaveLength(1);
      return { format: opened.format, tree: sorted(await vfsTree(opened.filesystems[0]!.vfs)), volumes: opened.volumes };
    } finally {
      await opened.close();
    }
  };

  it.each([
    ['tar', 'tar -C {tree} -cf {out} .'],
    ['tar+gzip', 'tar -C {tree} -czf {out} .'],
    ['tar+zstd', 'tar -C {tree} --zstd -cf {out} .'],
    ['tar+xz', 'tar -C {tree} -cJf {out} .'],
    ['zip', 'cd {tree} && zip -qry {out} .'],
  ])('reads a %s of a root like the source tree', async (format, cmd) => {
    const out = path.join(scratch, `root-${format}.bin`);
    await sh(cmd.replaceAll('{tree}', tree).replaceAll('{out}', out));
    const got = await readBack(out);
    expect(got.format).toBe(format);
    expect(got.tree).toEqual(expected);
  });

  it('keeps only the declared paths of a single-pass archive, and says so when more is read', async () => {
    const out = path.join(scratch, 'partial.tgz');
    await sh(`tar -C ${tree} -czf ${out} .`);
    const opened = await openTarget(out, { bytesRead: 0 }, { retain: ['/big.bin'] });
    try {
      const vfs = opened.filesystems[0]!.vfs;
      expect((await vfs.readFile('/big.bin', { maxBytes: 16 })).length).toBe(16);
      await expect(vfs.readFile('/sparse.bin')).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && e.kind === 'limit');
      expect((await vfs.stat('/sparse.bin')).size).toBe((5 << 20) + 4);
    } finally {
      await opened.close();
    }
  });

  it('opens compressed and archived disk images as disks', async () => {
    const root = path.join(scratch, 'small');
    await writeRandomTree(root, 3, { files: 10, bigDirEntries: 10 });
    const img = await buildImage(root, path.join(scratch, 'disk.img'), { table: 'gpt', sizeMiB: 24 });
    const want = sorted(await hostTree(root));
    const cases: Array<[string, string]> = [
      ['gzip', `gzip -c ${img} > {out}`],
      ['zstd', `zstd -q -c ${img} > {out}`],
      ['tar', `tar -C ${scratch} -cf {out} disk.img`],
      ['zip', `cd ${scratch} && zip -q {out} disk.img`],
    ];
    for (const [kind, cmd] of cases) {
      const out = path.join(scratch, `disk-${kind}.bin`);
      await sh(cmd.replaceAll('{out}', out));
      const opened = await openTarget(out, { bytesRead: 0 }, { retain: [] });
      try {
        expect(opened.format, kind).toMatch(new RegExp(`^${kind}`));
        expect(opened.volumes.map((v) => [v.scheme, v.filesystem, v.scanned]), kind).toEqual([['gpt', 'ext4', true]]);
        expect(sorted(await vfsTree(opened.filesystems[0]!.vfs, (p) => p.startsWith('/lost+found'))), kind).toEqual(want);
      } finally {
        await opened.close();
      }
    }
  });

  it('is told by content, not by name', async () => {
    const out = path.join(scratch, 'misnamed.qcow2');
    await sh(`tar -C ${tree} -czf ${path.join(scratch, 'x.tgz')} .`);
    await rename(path.join(scratch, 'x.tgz'), out);
    expect((await readBack(out)).format).toBe('tar+gzip');
  });

  it('stops a decompression bomb by ratio and by absolute size', async () => {
    const zeros = path.join(scratch, 'zeros.gz');
    await sh(`head -c 300M /dev/zero | gzip -1 > ${zeros}`);
    const drain = async (limits: { maxOutput: number; maxRatio: number; ratioFloor: number }) => {
      const { createReadStream } = await import('node:fs');
      for await (const _ of decompress(createReadStream(zeros), 'gzip', 'zeros.gz', limits)) void _;
    };
    await expect(drain({ maxOutput: 2 ** 40, maxRatio: 100, ratioFloor: 1 << 20 })).rejects.toThrow(/expands more than 100:1/);
    await expect(drain({ maxOutput: 10 << 20, maxRatio: 2 ** 30, ratioFloor: 2 ** 40 })).rejects.toThrow(/more than 10485760 bytes/);
  });

  it('reports a damaged compressed stream as corrupt, keeping the files read before the damage', async () => {
    const good = path.join(scratch, 'root-tar+gzip.bin');
    const bad = path.join(scratch, 'damaged.tgz');
    await copyFile(good, bad);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(bad);
    bytes.fill(0x55, 2000, 3000);
    await writeFile(bad, bytes);
    const opened = await openTarget(bad, { bytesRead: 0 }, { retain: ['/**'] });
    try {
      expect(opened.failures.map((f) => (f.error as Error).message)).toEqual([expect.stringMatching(/^tar\+gzip stream: .*; the \d+ entries before it were read, the rest of the archive was not$/)]);
      expect(opened.filesystems).toHaveLength(1);
    } finally {
      await opened.close();
    }
    const chunks = decompress(Readable.from([bytes]), 'gzip', 'damaged.tgz');
    await expect((async () => { for await (const _ of chunks) void _; })()).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && e.kind === 'corrupt');
  });

  it('lets a reader stop early without an unhandled error from the stream still being read', async () => {
    // Sniffing reads only a head, and a tar ends at its end-of-archive blocks: the reader
    // stops while the compressed input is still arriving. The input is then destroyed
    // under the inner reader, whose premature close once surfaced as an unhandled 'error'
    // event that killed the process. A slow input keeps that reader waiting every time.
    const { gzipSync } = await import('node:zlib');
    const { randomBytes } = await import('node:crypto');
    const compressed = gzipSync(randomBytes(1 << 20), { level: 1 });
    const slowInput = () => {
      let at = 0;
      return new Readable({
        read() {
          setTimeout(() => {
            this.push(at < compressed.length ? compressed.subarray(at, (at += 16 << 10)) : null);
          }, 2);
        },
      });
    };
    const unhandled: unknown[] = [];
    const onError = (err: unknown) => void unhandled.push(err);
    process.on('uncaughtException', onError);
    try {
      for (let i = 0; i < 5; i++) {
        for await (const _ of decompress(slowInput(), 'gzip', 'slow.gz')) {
          void _;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(unhandled).toEqual([]);
  });
});
