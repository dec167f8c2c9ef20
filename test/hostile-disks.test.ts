/**
 * Hostile disks at the byte-source level, each scanned by the installed command in a
 * child process traced with strace: the scan ends (exit 2, or 3 when it read what it
 * could), in bounded time and memory, says why in its report, opens no host file or
 * device but its target and its own spool, and leaves nothing in the temporary or
 * spool directory, after a normal exit or a SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeScratchDir, removeScratchDir, REPO } from './helpers/images.js';
import { cleanExt4, flatDescriptor, qcow2Overlay, sh } from './helpers/hostile-disks.js';
import type { TracedScan } from './helpers/traced-scan.js';
import { containment, expectContained as expectContainedScan, expectSigtermLeavesNothing, scanTraced, type Containment } from './helpers/contained-scan.js';
import { qemuConvert, writeDifferencingVhd } from './helpers/vhd-image.js';

describe('hostile disks (traced child scans)', () => {
  let scratch: string;
  let c: Containment;
  let clean: string;
  const loops: string[] = [];

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-hostile-');
    c = await containment(scratch);
    clean = await cleanExt4(scratch);
  });
  afterAll(async () => {
    for (const loop of loops) await sh(`losetup -d ${loop}`).catch(() => undefined);
    if (scratch) await removeScratchDir(scratch);
  });

  const scan = (target: string, ...extra: string[]) => scanTraced(c, target, extra);

  /** The whole bar: the traced scan, then the same scan stopped by SIGTERM. */
  async function expectContained(r: TracedScan, target: string, reason: RegExp, decoys: string[] = [], extra: string[] = []): Promise<void> {
    await expectContainedScan(c, r, target, { reason, decoys });
    await expectSigtermLeavesNothing(c, target, extra);
  }

  it('a VMDK descriptor inside an OVA resolves its extents inside the OVA, never beside it', async () => {
    const dir = path.join(scratch, 'ova');
    await mkdir(dir);
    await flatDescriptor(path.join(dir, 'disk.vmdk'), 'clean.img');
    await writeFile(path.join(dir, 'disk.ovf'), '<?xml version="1.0"?><Envelope/>\n');
    await sh(`cp ${clean} ${dir}/clean.img && tar -cf ${scratch}/evil.ova -C ${dir} disk.ovf disk.vmdk`);
    const decoy = path.join(scratch, 'clean.img');
    const r = await scan(path.join(scratch, 'evil.ova'));
    await expectContained(r, path.join(scratch, 'evil.ova'), /clean\.img: no such member inside/, [decoy]);
  });

  it('a VMDK descriptor inside gzip names no file at all', async () => {
    const dir = path.join(scratch, 'gz');
    await mkdir(dir);
    await flatDescriptor(path.join(dir, 'disk.vmdk'), 'clean.img');
    await sh(`gzip -c ${dir}/disk.vmdk > ${scratch}/disk.vmdk.gz`);
    const r = await scan(path.join(scratch, 'disk.vmdk.gz'));
    await expectContained(r, path.join(scratch, 'disk.vmdk.gz'), /inside gzip may name no other file/, [path.join(scratch, 'clean.img')]);
  });

  it('a qcow2 overlay inside a zip finds its backing file among the zip members only', async () => {
    const dir = path.join(scratch, 'zip');
    await mkdir(dir);
    // A zip's disk members are told by size as well as magic: the overlay is padded to 1 MiB.
    await qcow2Overlay(path.join(dir, 'overlay.qcow2'), 'clean.img');
    await truncate(path.join(dir, 'overlay.qcow2'), 2 << 20);
    await sh(`zip -q -j ${scratch}/evil.zip ${dir}/overlay.qcow2`);
    const r = await scan(path.join(scratch, 'evil.zip'), '--allow-backing');
    await expectContained(r, path.join(scratch, 'evil.zip'), /clean\.img: no such member inside/, [path.join(scratch, 'clean.img')], ['--allow-backing']);
  });

  it('a VMDK descriptor at the start of a block device names none of the host\'s devices', async () => {
    const cleanLoop = (await sh(`losetup -r -f --show ${clean}`)).stdout.trim();
    loops.push(cleanLoop);
    const dir = path.join(scratch, 'dev');
    await mkdir(dir);
    const descriptor = await flatDescriptor(path.join(dir, 'disk.vmdk'), path.basename(cleanLoop));
    await truncate(descriptor, 1 << 20);
    const loop = (await sh(`losetup -r -f --show ${descriptor}`)).stdout.trim();
    loops.push(loop);
    const r = await scan(loop);
    await expectContained(r, loop, /on block device .* may name no other file/, [cleanLoop]);
  });

  it('a descriptor naming a FIFO, a character device or a symlink beside it opens none of them, and does not hang', async () => {
    await sh(`mkfifo ${scratch}/pipe-flat && mknod ${scratch}/null-flat c 1 3`);
    await symlink(clean, path.join(scratch, 'link-flat'));
    for (const [name, kind] of [['pipe-flat', 'a FIFO'], ['null-flat', 'a character device'], ['link-flat', 'a symbolic link']]) {
      const target = await flatDescriptor(path.join(scratch, `${name}.vmdk`), name!);
      const r = await scan(target);
      await expectContained(r, target, new RegExp(`${name}: is ${kind}, not a regular file`), [path.join(scratch, name!)]);
    }
  });

  it('a qcow2 backing file that is a FIFO is refused without opening it, with --allow-backing', async () => {
    await sh(`mkfifo ${scratch}/backing-pipe`);
    const target = await qcow2Overlay(path.join(scratch, 'fifo-backed.qcow2'), '/var/lib/libvirt/images/backing-pipe');
    const r = await scan(target, '--allow-backing');
    await expectContained(r, target, /backing-pipe: is a FIFO, not a regular file/, [path.join(scratch, 'backing-pipe')], ['--allow-backing']);
  });

  it('a VHD parent that is a character device is refused without opening it, with --allow-backing', async () => {
    const dir = path.join(scratch, 'vhd');
    await mkdir(dir);
    const parent = await qemuConvert(clean, path.join(dir, 'parent.vhd'), 'vpc', ['subformat=dynamic']);
    await sh(`mknod ${scratch}/vhd-parent-dev c 1 3`);
    const target = path.join(scratch, 'child.vhd');
    await writeDifferencingVhd(target, { parent, parentName: 'vhd-parent-dev', writes: [] });
    const r = await scan(target, '--allow-backing');
    await expectContained(r, target, /vhd-parent-dev: is a character device, not a regular file/, [path.join(scratch, 'vhd-parent-dev')], ['--allow-backing']);
  });

  it('a zstd frame declaring a 2 GiB window (zstd --long=31) is refused before anything is allocated', async () => {
    const target = path.join(scratch, 'long31.zst');
    await sh(`head -c 100K /dev/urandom | zstd -q --long=31 -c > ${target}`);
    const r = await scan(target);
    await expectContained(r, target, /window of 2147483648 bytes is larger than 134217728/);
  });

  it('a zstd stream of 2 GiB of zeros is decoded a block at a time', async () => {
    const target = path.join(scratch, 'zeros.zst');
    await sh(`head -c 2G /dev/zero | zstd -q -3 -c > ${target}`);
    const r = await scan(target);
    await expectContained(r, target, /no partition table or filesystem found/);
  });

  it('a gzip of 256 MiB of zeros spools nothing to disk and ends', async () => {
    const target = path.join(scratch, 'zeros.gz');
    await sh(`head -c 256M /dev/zero | gzip -1 -c > ${target}`);
    const r = await scan(target);
    await expectContained(r, target, /no partition table or filesystem found/);
  });

  it('a compressed image writing past --spool-budget stops with a limit error naming the container and the budget', async () => {
    const target = path.join(scratch, 'text.gz');
    await sh(`yes minescan | head -c 64M | gzip -1 -c > ${target}`);
    const r = await scan(target, '--spool-budget', '16M');
    await expectContained(r, target, /spool of gzip .*more than the spool budget of 16777216 bytes/, [], ['--spool-budget', '16M']);
  });

  it('SIGTERM while a spool is being written removes it and exits 143', async () => {
    const target = path.join(scratch, 'big.gz');
    await sh(`yes minescan-spool | head -c 512M | gzip -1 -c > ${target}`);
    const child = spawn('node', [path.join(REPO, 'bin/minescan.js'), 'scan', target, '--format', 'json', '--spool-dir', c.spool], {
      cwd: REPO,
      env: { ...process.env, TMPDIR: c.tmp },
      stdio: 'ignore',
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Wait until the spool exists, then stop the scan in the middle of writing it.
    for (let i = 0; i < 600 && (await readdir(c.spool)).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await readdir(c.spool)).length).toBe(1);
    child.kill('SIGTERM');
    expect(await closed).toBe(143);
    expect(await readdir(c.spool)).toEqual([]);
    expect(await readdir(c.tmp)).toEqual([]);
    await rm(target);
  });
});
