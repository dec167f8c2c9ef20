/**
 * The byte-source defences, in process: names resolve inside the archive a disk came
 * from (and still work there), zstd streams are walked frame by frame and block by
 * block, a zip entry read front to back is inflated once, and spools keep to their
 * budget and go away however the process ends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { openSourceTarget, openTarget } from '../../mountfs/open-target.js';
import { BufferSource } from '../helpers/buffer-source.js';
import { decompress } from '../../mountfs/sources/stream-decompress.js';
import { liveSpools, removeAllSpools, SpoolBudget, spoolToTempFile } from '../../mountfs/sources/temp-spool.js';
import { ZipFileSystem } from '../../mountfs/fs/archive/zip-fs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { makeScratchDir, removeScratchDir, REPO } from '../helpers/images.js';
import { cleanExt4, flatDescriptor, qcow2Overlay, sh } from '../helpers/hostile-disks.js';

const run = promisify(execFile);

async function drain(chunks: AsyncIterable<Buffer>): Promise<{ total: number; largest: number; data: Buffer[] }> {
  let total = 0;
  let largest = 0;
  const data: Buffer[] = [];
  for await (const c of chunks) {
    total += c.length;
    largest = Math.max(largest, c.length);
    if (data.length < 64) data.push(c);
  }
  return { total, largest, data };
}

describe('byte sources against hostile disks', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-sources-');
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('an OVA whose descriptor names a flat extent inside the OVA is read through it', async () => {
    const dir = path.join(scratch, 'ova');
    await mkdir(dir);
    const clean = await cleanExt4(dir);
    await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', clean, path.join(dir, 'disk.vmdk')]);
    await writeFile(path.join(dir, 'disk.ovf'), '<?xml version="1.0"?><Envelope/>\n');
    const ova = path.join(scratch, 'good.ova');
    await sh(`tar -cf ${ova} -C ${dir} disk.ovf disk.vmdk disk-flat.vmdk`);
    const opened = await openTarget(ova, { bytesRead: 0 }, { retain: [] });
    try {
      expect(opened.volumes.find((v) => v.container === 'tar:disk.vmdk > vmdk')).toMatchObject({ filesystem: 'ext4', scanned: true });
    } finally {
      await opened.close();
    }
  });

  it('a qcow2 overlay and its backing file in one tar are read together with --allow-backing', async () => {
    const dir = path.join(scratch, 'tar-backing');
    await mkdir(dir);
    await cleanExt4(dir, 'base.img');
    // The overlay records the backing file by a hypervisor path: only the name counts.
    await qcow2Overlay(path.join(dir, 'overlay.qcow2'), '/var/lib/libvirt/images/base.img');
    // Members of a plain tar are told as disks by size as well as magic.
    await truncate(path.join(dir, 'overlay.qcow2'), 2 << 20);
    const tar = path.join(scratch, 'overlay.tar');
    await sh(`tar -cf ${tar} -C ${dir} overlay.qcow2 base.img`);
    const opened = await openTarget(tar, { bytesRead: 0 }, { retain: [], allowBacking: true });
    try {
      expect(opened.volumes.find((v) => v.container === 'tar:overlay.qcow2 > qcow2')).toMatchObject({ filesystem: 'ext4', scanned: true });
    } finally {
      await opened.close();
    }
  });

  it('a descriptor in a cloud snapshot names no file, not even in the working directory', async () => {
    const descriptor = await flatDescriptor(path.join(scratch, 'snap.vmdk'), 'package.json');
    const source = new BufferSource(await readFile(descriptor), 'snap-0123');
    const err = await openSourceTarget(source, 'cloud-snapshot', { bytesRead: 0 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/a disk in snap-0123 may name no other file/);
  });

  it('refuses an xz stream whose dictionary is past the decoder\'s memory limit, as a limit', async () => {
    const file = path.join(scratch, 'bigdict.xz');
    await sh(`head -c 100K /dev/urandom | xz -T1 --lzma2=dict=1536MiB -c > ${file}`);
    const err = await drain(decompress(Readable.from([await readFile(file)]), 'xz', 'bigdict.xz')).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'limit', structure: 'xz stream' });
  });

  it('refuses a zstd block larger than Block_Maximum_Size, which fzstd alone would regenerate', async () => {
    // Frame header: no checksum, window 8 MiB (exponent 13), then one last RLE block of 2 MiB - 1 bytes.
    const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3]);
    const size = (1 << 21) - 1;
    const h = (size << 3) | (1 << 1) | 1;
    const block = Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x41]);
    const err = await drain(decompress(Readable.from([Buffer.concat([header, block])]), 'zstd', 'rle.zst')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MountfsError);
    expect((err as Error).message).toMatch(/block of 2097151 bytes exceeds the 131072-byte maximum/);
  });

  it('refuses a zstd block whose FSE-coded Huffman weights fzstd would decode forever', async () => {
    // Found by npm run fuzz (tar.zst, seed 1, input 16805), cut down to the frame header and the
    // one compressed block whose literals section starts with the looping description; fzstd
    // alone spins on it (its weight loop reads no bits once in the zero-bit states).
    const stream = Buffer.from(
      '28b52ffd04581d02001663fc3ff06bd406efb2ac9f65b46565e3b110e6ec0dc1e380a016d9ddbdc3a8bbe6a831c29059005f0051008c29291a0f53082845290048c45843028ea46fe2a62a3700000000',
      'hex',
    );
    const err = await drain(decompress(Readable.from([stream]), 'zstd', 'weights.zst')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MountfsError);
    expect((err as MountfsError).kind).toBe('corrupt');
    expect((err as Error).message).toMatch(/zstd block at offset 12: .*the Huffman weights of a literals section do not end within 255/);
  });

  it('decodes zstd zeros a block at a time, skippable frames and several frames included', async () => {
    const zeros = path.join(scratch, 'zeros.zst');
    await sh(`head -c 256M /dev/zero | zstd -q -19 -c > ${zeros}`);
    const result = await drain(decompress(Readable.from([await readFile(zeros)]), 'zstd', 'zeros.zst'));
    expect(result.total).toBe(256 << 20);
    expect(result.largest).toBeLessThanOrEqual(256 << 10);

    const a = randomBytes(300_000);
    const b = Buffer.from('minescan '.repeat(50_000));
    await writeFile(path.join(scratch, 'a'), a);
    await writeFile(path.join(scratch, 'b'), b);
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a5e, 0);
    skippable.writeUInt32LE(5, 4);
    const frames = Buffer.concat([
      skippable,
      (await run('zstd', ['-q', '-c', '--check', path.join(scratch, 'a')], { encoding: 'buffer', maxBuffer: 8 << 20 })).stdout,
      (await run('zstd', ['-q', '-c', '--no-check', path.join(scratch, 'b')], { encoding: 'buffer', maxBuffer: 8 << 20 })).stdout,
    ]);
    // Fed in awkward pieces, so headers and blocks straddle chunk boundaries.
    const pieces: Buffer[] = [];
    for (let at = 0; at < frames.length; at += 7777) pieces.push(frames.subarray(at, at + 7777));
    const out: Buffer[] = [];
    for await (const c of decompress(Readable.from(pieces), 'zstd', 'frames.zst')) out.push(c);
    expect(Buffer.concat(out).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('inflates a zip entry read front to back once, and starts over only for a read behind', async () => {
    const dir = path.join(scratch, 'zip');
    await mkdir(dir);
    const content = Buffer.concat(Array.from({ length: 256 }, (_, i) => Buffer.concat([Buffer.from(`chunk ${i}\n`.repeat(3000)), randomBytes(4096)])));
    await writeFile(path.join(dir, 'big.bin'), content);
    const file = path.join(scratch, 'big.zip');
    await sh(`zip -q -j ${file} ${dir}/big.bin`);
    const zip = await ZipFileSystem.open(file);
    try {
      const node = (await zip.readdir(zip.root)).find((e) => e.name === 'big.bin')!.node;
      const step = 64 << 10;
      const parts: Buffer[] = [];
      for (let at = 0; at < content.length; at += step) parts.push(await zip.read(node, at, step));
      expect(Buffer.concat(parts).equals(content)).toBe(true);
      // Restarting at every read would inflate about size²/(2·step): 128 times the size here.
      expect(zip.inflatedBytes).toBeLessThanOrEqual(content.length + (1 << 20));

      const before = zip.inflatedBytes;
      expect((await zip.read(node, 1000, 100)).equals(content.subarray(1000, 1100))).toBe(true);
      expect(zip.inflatedBytes - before).toBeLessThanOrEqual(1 << 20);

      // Concurrent reads of one entry take turns on its inflater and each gets its own bytes.
      const offsets = [5 << 20, 1 << 20, 3 << 20, 7 << 20];
      const got = await Promise.all(offsets.map((o) => zip.read(node, o, 5000)));
      got.forEach((g, i) => expect(g.equals(content.subarray(offsets[i]!, offsets[i]! + 5000))).toBe(true));
    } finally {
      await zip.close();
    }
  });

  it('stops a spool at its budget with a limit error naming the container and the budget, and removes it', async () => {
    const dir = path.join(scratch, 'spool');
    await mkdir(dir);
    const budget = new SpoolBudget(1 << 20, dir);
    const chunks = async function* () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 << 10, 1 + (i % 200));
    };
    const err = await spoolToTempFile(chunks(), 'gzip in disk.img.gz', budget).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'limit', structure: 'spool of gzip in disk.img.gz' });
    expect((err as Error).message).toMatch(/spool budget of 1048576 bytes/);
    expect(await readdir(dir)).toEqual([]);

    // Zeros are holes: they cost nothing of the budget.
    const zeros = async function* () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 << 10);
    };
    const spooled = await spoolToTempFile(zeros(), 'zeros', budget);
    expect(spooled.size).toBe(4 << 20);
    expect(budget.used).toBe(0);
    expect(liveSpools()).toContain(path.dirname(spooled.path));
    removeAllSpools();
    expect(await readdir(dir)).toEqual([]);
    await spooled.remove();
  });

  it('a zip disk member past the spool budget stops cleanly: nothing left, nothing unhandled', async () => {
    const dir = path.join(scratch, 'zip-budget');
    const spool = path.join(scratch, 'zip-budget-spool');
    await mkdir(dir);
    await mkdir(spool);
    // Random bytes behind an MBR signature: a disk by its magic, and nothing a spool can skip.
    await sh(`head -c 4M /dev/urandom > ${dir}/disk.img && printf '\\x55\\xaa' | dd of=${dir}/disk.img bs=1 seek=510 conv=notrunc status=none`);
    const zip = path.join(scratch, 'budget.zip');
    await sh(`zip -q -j ${zip} ${dir}/disk.img`);
    // The disk is recognised but not read: a failure of the target (an incomplete scan), not a thrown open.
    const opened = await openTarget(zip, { bytesRead: 0 }, { retain: [], spool: { dir: spool, budget: 1 << 20 } });
    await opened.close();
    expect(opened.failures.map((f) => `${f.where}: ${(f.error as Error).message}`)).toEqual([expect.stringMatching(/disk\.img: .*spool of zip:disk\.img .*spool budget of 1048576 bytes/)]);
    expect(await readdir(spool)).toEqual([]);
    // A read still in flight when the archive closed would surface here as an unhandled EBADF.
    await new Promise((r) => setTimeout(r, 200));
  });

  it('removes spools when the process exits without closing them', async () => {
    const dir = path.join(scratch, 'spool-exit');
    await mkdir(dir);
    const module = path.join(REPO, 'dist/mountfs/sources/temp-spool.js');
    const script = `
      const { SpoolBudget, spoolToTempFile } = await import(${JSON.stringify(module)});
      const s = await spoolToTempFile((async function* () { yield Buffer.from('data'); })(), 'test', new SpoolBudget(1 << 20, ${JSON.stringify(dir)}));
      console.log(s.path);
      process.exit(0);`;
    const { stdout } = await run('node', ['--input-type=module', '-e', script]);
    expect(stdout.trim()).toMatch(/minescan-spool-.*\/image$/);
    expect(await readdir(dir)).toEqual([]);
  });
});
