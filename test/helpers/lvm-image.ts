/**
 * LVM2 physical volumes for the LVM reader tests. This kernel has no device-mapper, so
 * no LV can be activated; the real lvm2 tools still write PV labels and VG metadata on
 * loop devices (pvcreate, vgcreate, vgchange) and restore hand-written VG metadata
 * (vgcfgrestore). Filesystem bytes are then written into the PV files at the extents
 * the metadata names, with offsets computed here from what `pvs`/`vgs` report. A
 * writer of the on-disk format (label, metadata area, text) builds PVs byte by byte for
 * the damage tests; the tests check that lvm2 itself accepts what it writes.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32Update } from '../../mountfs/crc32.js';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LVM_ENV = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };
/** No backup or archive files in /etc/lvm from tests. */
const LVM_CONFIG = 'backup { backup = 0 archive = 0 }';

/** Loop devices attached by one test file, detached at the end. */
export class LoopDevices {
  private readonly devices: string[] = [];

  async attach(file: string, window?: { offset: number; size: number }): Promise<string> {
    const args = ['-f', '--show'];
    if (window) args.push('--offset', String(window.offset), '--sizelimit', String(window.size));
    const { stdout } = await run('losetup', [...args, file]);
    const dev = stdout.trim();
    this.devices.push(dev);
    return dev;
  }

  async detach(dev: string): Promise<void> {
    const i = this.devices.indexOf(dev);
    if (i >= 0) this.devices.splice(i, 1);
    await run('losetup', ['-d', dev]);
  }

  async detachAll(): Promise<void> {
    for (const dev of this.devices.splice(0)) await run('losetup', ['-d', dev]).catch(() => undefined);
  }
}

/**
 * Runs an lvm2 command that sees only `devices`. Without device-mapper every command
 * complains about /dev/mapper/control; those lines are dropped from errors.
 */
export async function lvm(command: string, args: string[], devices: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, ['--config', LVM_CONFIG, '--devices', devices.join(','), ...args], { env: LVM_ENV });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const useful = (e.stderr ?? '').split('\n').filter((l) => l && !/mapper|device-mapper|kernel driver/i.test(l));
    throw new Error(`${command} ${args.join(' ')}: ${useful.join(' | ') || e.message}`);
  }
}

/** One value of a `pvs`/`vgs` report, in sectors where it is a size. */
export async function report(command: 'pvs' | 'vgs', field: string, target: string, devices: string[]): Promise<string> {
  const out = await lvm(command, ['--noheadings', '--units', 's', '--nosuffix', '-o', field, target], devices);
  return out.trim();
}

const UUID_CHARS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#';

export function randomLvmUuid(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += UUID_CHARS[randomInt(UUID_CHARS.length)];
  return dashed(s);
}

export function dashed(uuid: string): string {
  const plain = uuid.replace(/-/g, '');
  const out: string[] = [];
  let at = 0;
  for (const n of [6, 4, 4, 4, 4, 4, 6]) {
    out.push(plain.slice(at, at + n));
    at += n;
  }
  return out.join('-');
}

export interface PvSpec {
  key: string;
  uuid: string;
  /** Sectors. */
  devSize: number;
  peStart: number;
  peCount: number;
}

export interface SegmentSpec {
  startExtent: number;
  extentCount: number;
  type?: string;
  /** [pv key, first extent] per stripe. */
  stripes?: Array<[string, number]>;
  /** Sectors, for more than one stripe. */
  stripeSize?: number;
  /** Extra `key = value` lines, e.g. for thin or snapshot segments. */
  extra?: string[];
}

export interface LvSpec {
  name: string;
  visible?: boolean;
  segments: SegmentSpec[];
}

export interface VgSpec {
  name: string;
  id: string;
  seqno: number;
  /** Sectors. */
  extentSize: number;
  pvs: PvSpec[];
  lvs: LvSpec[];
}

/** The VG metadata text as LVM writes it into a metadata area (the VG section, then the header fields). */
export function vgText(vg: VgSpec): string {
  const lines: string[] = [
    `${vg.name} {`,
    `id = "${vg.id}"`,
    `seqno = ${vg.seqno}`,
    'format = "lvm2"',
    'status = ["RESIZEABLE", "READ", "WRITE"]',
    'flags = []',
    `extent_size = ${vg.extentSize}`,
    'max_lv = 0',
    'max_pv = 0',
    'metadata_copies = 0',
    '',
    'physical_volumes {',
  ];
  for (const pv of vg.pvs) {
    lines.push(
      `${pv.key} {`,
      `id = "${dashed(pv.uuid)}"`,
      'device = "/dev/null"\t# Hint only',
      'status = ["ALLOCATABLE"]',
      'flags = []',
      `dev_size = ${pv.devSize}`,
      `pe_start = ${pv.peStart}`,
      `pe_count = ${pv.peCount}`,
      '}',
    );
  }
  lines.push('}');
  if (vg.lvs.length) {
    lines.push('', 'logical_volumes {');
    for (const lv of vg.lvs) {
      lines.push(
        '',
        `${lv.name} {`,
        `id = "${randomLvmUuid()}"`,
        `status = ["READ", "WRITE"${lv.visible === false ? '' : ', "VISIBLE"'}]`,
        'flags = []',
        `segment_count = ${lv.segments.length}`,
      );
      lv.segments.forEach((s, i) => {
        lines.push('', `segment${i + 1} {`, `start_extent = ${s.startExtent}`, `extent_count = ${s.extentCount}`, '', `type = "${s.type ?? 'striped'}"`);
        if (s.stripes) {
          lines.push(`stripe_count = ${s.stripes.length}`);
          if (s.stripes.length > 1) lines.push(`stripe_size = ${s.stripeSize}`);
          lines.push('', 'stripes = [', s.stripes.map(([pv, pe]) => `"${pv}", ${pe}`).join(',\n'), ']');
        }
        lines.push(...(s.extra ?? []), '}');
      });
      lines.push('}');
    }
    lines.push('}');
  }
  lines.push('}', '# Generated by minescan tests', '', 'contents = "Text Format Volume Group"', 'version = 1', '', 'description = ""', '');
  return lines.join('\n');
}

/** Restores hand-written metadata onto PVs made by pvcreate (needs --force for thin pools). */
export async function restoreVg(dir: string, vg: VgSpec, devices: string[]): Promise<void> {
  const file = path.join(dir, `${vg.name}-${vg.seqno}.vg`);
  await writeFile(file, vgText(vg));
  await lvm('vgcfgrestore', ['--force', '-f', file, vg.name], devices);
}

/** The PV's facts as lvm2 reports them: everything the tests compute offsets from. */
export async function pvFacts(dev: string, devices: string[]): Promise<{ uuid: string; peStart: number; peCount: number; devSize: number }> {
  const [uuid, peStart, peCount, devSize] = (await report('pvs', 'pv_uuid,pe_start,pv_pe_count,dev_size', dev, devices)).split(/\s+/);
  return { uuid: uuid!, peStart: Number(peStart), peCount: Number(peCount), devSize: Number(devSize) };
}

/**
 * Writes an LV's contents into PV files at the places its segments name: the PV file
 * and the byte offset of its extent 0 (pe_start, plus the partition start) per PV key.
 * Striped segments are written chunk by chunk, chunk n on stripe n mod k, row n div k.
 */
export async function writeLvContents(
  data: Buffer,
  lv: LvSpec,
  extentBytes: number,
  pvs: Map<string, { file: string; extentZero: number }>,
): Promise<void> {
  for (const seg of lv.segments) {
    const segStart = seg.startExtent * extentBytes;
    const segBytes = seg.extentCount * extentBytes;
    const stripes = seg.stripes!;
    const chunk = stripes.length === 1 ? segBytes : seg.stripeSize! * 512;
    for (let rel = 0, n = 0; rel < segBytes; rel += chunk, n++) {
      const [key, pe] = stripes[n % stripes.length]!;
      const pv = pvs.get(key)!;
      const at = pv.extentZero + pe * extentBytes + Math.floor(n / stripes.length) * chunk;
      const piece = data.subarray(segStart + rel, segStart + rel + chunk);
      const fh = await open(pv.file, 'r+');
      await fh.write(piece, 0, piece.length, at);
      await fh.close();
    }
  }
}

// ---- The on-disk format written byte by byte (LVM2 lib/label/label.h, lib/format_text/layout.h) ----

/** LVM's calc_crc: seed 0xf597a6cf, reflected CRC-32 steps, no final XOR. */
export function lvmCrc(buf: Buffer): number {
  return crc32Update(0xf597a6cf, buf);
}

export interface PvImageOptions {
  uuid: string;
  /** Bytes. */
  size: number;
  /** Bytes from the start to extent 0. */
  peStart: number;
  /** Metadata area at 4 KiB, this many bytes. */
  mdaSize: number;
  /** The metadata text (a NUL is appended, as LVM does). */
  text: string;
  /** Where in the ring the text starts (bytes from the area start, at least 512): lets it wrap. */
  textOffset?: number;
  /** Sector of the label (LVM writes sector 1). */
  labelSector?: number;
}

/** A PV image in memory: label, PV header, metadata area header and text, zeros elsewhere. */
export function buildPvImage(o: PvImageOptions): Buffer {
  const img = Buffer.alloc(o.size);
  const mdaStart = 4096;
  const sector = o.labelSector ?? 1;
  const label = img.subarray(sector * 512, sector * 512 + 512);
  label.write('LABELONE', 0, 'latin1');
  label.writeBigUInt64LE(BigInt(sector), 8);
  label.writeUInt32LE(32, 20);
  label.write('LVM2 001', 24, 'latin1');
  label.write(o.uuid.replace(/-/g, ''), 32, 'latin1');
  label.writeBigUInt64LE(BigInt(o.size), 64);
  label.writeBigUInt64LE(BigInt(o.peStart), 72); // data area: offset, size 0 (to the end)
  label.writeBigUInt64LE(BigInt(mdaStart), 104); // after the data list's terminator
  label.writeBigUInt64LE(BigInt(o.mdaSize), 112);
  label.writeUInt32LE(2, 136); // PV header extension version 2, after the metadata list's terminator
  label.writeUInt32LE(1, 140); // PV_EXT_USED: the PV belongs to a VG
  label.writeUInt32LE(lvmCrc(label.subarray(20)), 16);

  const text = Buffer.from(o.text + '\0', 'utf8');
  const offset = o.textOffset ?? 512;
  const ring = img.subarray(mdaStart, mdaStart + o.mdaSize);
  const first = Math.min(text.length, o.mdaSize - offset);
  text.copy(ring, offset, 0, first);
  text.copy(ring, 512, first);
  const header = ring.subarray(0, 512);
  header.write(' LVM2 x[5A%r0N*>', 4, 'latin1');
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(BigInt(mdaStart), 24);
  header.writeBigUInt64LE(BigInt(o.mdaSize), 32);
  header.writeBigUInt64LE(BigInt(offset), 40);
  header.writeBigUInt64LE(BigInt(text.length), 48);
  header.writeUInt32LE(lvmCrc(text), 56);
  header.writeUInt32LE(lvmCrc(header.subarray(4)), 0);
  return img;
}

/** Recomputes the CRCs of a built PV image after a test edited it. */
export function fixPvCrcs(img: Buffer, labelSector = 1, mdaStart = 4096): void {
  const label = img.subarray(labelSector * 512, labelSector * 512 + 512);
  label.writeUInt32LE(lvmCrc(label.subarray(20)), 16);
  const header = img.subarray(mdaStart, mdaStart + 512);
  header.writeUInt32LE(lvmCrc(header.subarray(4)), 0);
}
