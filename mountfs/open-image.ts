/**
 * The recognition chain for one byte source: unwrap containers and compression, read
 * archives, and split disks into volumes, recursing until filesystems are reached.
 * Each step is told by magic bytes; the depth is bounded so a hostile image cannot
 * nest forever.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import { limitExceeded, MountfsError } from './errors.js';
import type { ByteSource, ReadCounter } from './sources/byte-source.js';
import { FileByteSource } from './sources/file-source.js';
import { SliceByteSource } from './sources/slice-source.js';
import { detectCompression, decompress } from './sources/stream-decompress.js';
import { spoolToTempFile } from './sources/temp-spool.js';
import { detectVolumes } from './volumes/detect.js';
import { probeFilesystem } from './fs/probe.js';
import { NOT_NEEDED, openFilesystem, UNSCANNED_REASONS } from './fs/open-filesystem.js';
import { TarFileSystem } from './fs/archive/tar-fs.js';
import { ZipFileSystem } from './fs/archive/zip-fs.js';
import { isTarHeader } from './fs/archive/tar-header.js';
import { StreamArchiveFileSystem, DEFAULT_RETENTION } from './fs/archive/stream-archive-fs.js';
import { RawVfs, type Vfs } from './vfs.js';
import type { VolumeReport } from './volume-report.js';
import type { Volume } from './volumes/types.js';
import { unwrapContainer } from './sources/containers.js';
import { detectLvm } from './volumes/lvm/lvm.js';
import type { RawFileSystem } from './fs/types.js';

const MAX_DEPTH = 8;

export interface ImageOptions {
  retain: string[];
  allowBacking?: boolean;
  /** Host path of the outermost image: backing files and VMDK extents are looked up beside it. */
  path: string;
  counter: ReadCounter;
}

export interface OpenedParts {
  format: string;
  volumes: VolumeReport[];
  filesystems: Array<{ volumeIndex: number; vfs: Vfs }>;
  /** What the scan needed but could not read: each is an error of the report. */
  warnings: string[];
  /** Oddities that cost nothing (a damaged backup GPT whose primary was used). */
  notes: string[];
  close(): Promise<void>;
}

class Parts implements OpenedParts {
  formats: string[] = [];
  volumes: VolumeReport[] = [];
  filesystems: Array<{ volumeIndex: number; vfs: Vfs }> = [];
  warnings: string[] = [];
  notes: string[] = [];
  private closers: Array<() => Promise<void>> = [];

  get format(): string {
    return this.formats.join(' > ') || 'raw';
  }

  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  addFilesystem(report: VolumeReport, raw: RawFileSystem): void {
    report.notes.push(...raw.notes());
    this.warnings.push(...(raw.errors?.() ?? []));
    report.scanned = true;
    this.volumes.push(report);
    const vfs = new RawVfs(raw);
    this.filesystems.push({ volumeIndex: this.volumes.length - 1, vfs });
    this.onClose(() => vfs.close());
  }

  async close(): Promise<void> {
    for (const fn of this.closers.reverse()) await fn().catch(() => undefined);
  }
}

export async function openImage(source: ByteSource, options: ImageOptions): Promise<OpenedParts> {
  const parts = new Parts();
  try {
    await recognise(source, options, parts, 0, '', options.path);
  } catch (err) {
    await parts.close();
    throw err;
  }
  return parts;
}

/** `hostPath` is the file on the host holding exactly these bytes, when there is one (libraries that need a file). */
async function recognise(source: ByteSource, options: ImageOptions, parts: Parts, depth: number, container: string, hostPath?: string): Promise<void> {
  if (depth > MAX_DEPTH) throw limitExceeded('image nesting', `more than ${MAX_DEPTH} nested containers`);
  const head = await source.read(0, Math.min(source.size, 4096));

  const unwrapped = await unwrapContainer(source, head, {
    allowBacking: options.allowBacking ?? false,
    beside: path.dirname(options.path),
    counter: options.counter,
  });
  if (unwrapped) {
    parts.formats.push(unwrapped.format);
    parts.warnings.push(...unwrapped.notes);
    parts.onClose(() => unwrapped.source.close());
    return recognise(unwrapped.source, options, parts, depth + 1, joinContainer(container, unwrapped.format));
  }

  const compression = detectCompression(head);
  if (compression) return openCompressed(source, compression, options, parts, depth, container);

  if (isTarHeader(head)) return openTar(source, options, parts, depth, container);

  if (isZip(head)) return openZip(source, options, parts, depth, container, hostPath);

  return openDisk(source, parts, container);
}

/** A compressed stream holds either a tar of a root (read in one pass) or a disk image (spooled to a temporary file). */
async function openCompressed(
  source: ByteSource,
  compression: 'gzip' | 'zstd' | 'xz',
  options: ImageOptions,
  parts: Parts,
  depth: number,
  container: string,
): Promise<void> {
  const stream = () => decompress(byteSourceStream(source), compression, source.description);
  const first = await firstBytes(stream(), 512);
  if (isTarHeader(first)) {
    parts.formats.push(`tar+${compression}`);
    const fs = await StreamArchiveFileSystem.fromTar(stream(), `tar+${compression}`, { ...DEFAULT_RETENTION, retain: options.retain });
    parts.addFilesystem(archiveReport(parts, `tar+${compression}`, container), fs);
    return;
  }
  parts.formats.push(compression);
  const spooled = await spoolToTempFile(stream(), source.description);
  parts.onClose(() => spooled.remove());
  const inner = await FileByteSource.open(spooled.path);
  parts.onClose(() => inner.close());
  return recognise(inner, options, parts, depth + 1, joinContainer(container, compression), spooled.path);
}

/** An uncompressed tar: an OVA (or any archive of disk images) is opened as its disks; anything else as a root tree. */
async function openTar(source: ByteSource, options: ImageOptions, parts: Parts, depth: number, container: string): Promise<void> {
  const fs = await TarFileSystem.open(source);
  const images = await fs.diskImageMembers();
  if (images.length > 0) {
    parts.formats.push(images.some((m) => m.name.endsWith('.ovf')) ? 'ova' : 'tar');
    for (const member of images) {
      if (member.name.endsWith('.ovf')) continue;
      const slice = new SliceByteSource(source, member.offset, member.size, `${member.name} in ${source.description}`);
      try {
        await recognise(slice, options, parts, depth + 1, joinContainer(container, `tar:${member.name}`));
      } catch (err) {
        parts.warnings.push(`${member.name}: ${(err as Error).message}`);
      }
    }
    return;
  }
  parts.formats.push('tar');
  parts.addFilesystem(archiveReport(parts, 'tar', container), fs);
}

/** A zip of a root is read as a filesystem; a zip carrying disk images has each image spooled out and opened. */
async function openZip(source: ByteSource, options: ImageOptions, parts: Parts, depth: number, container: string, hostPath?: string): Promise<void> {
  let file = hostPath;
  if (!file) {
    const spooled = await spoolToTempFile(byteSourceStream(source), source.description);
    parts.onClose(() => spooled.remove());
    file = spooled.path;
  }
  const zip = await ZipFileSystem.open(file, options.counter);
  let candidates;
  try {
    candidates = await zip.diskImageCandidates();
  } catch (err) {
    await zip.close();
    throw err;
  }
  if (candidates.length === 0) {
    parts.formats.push('zip');
    parts.addFilesystem(archiveReport(parts, 'zip', container), zip);
    return;
  }
  parts.onClose(() => zip.close());
  parts.formats.push('zip');
  for (const member of candidates) {
    try {
      const spooled = await spoolToTempFile(await zip.memberStream(member.name) as AsyncIterable<Buffer>, member.name);
      parts.onClose(() => spooled.remove());
      const inner = await FileByteSource.open(spooled.path);
      parts.onClose(() => inner.close());
      await recognise(inner, options, parts, depth + 1, joinContainer(container, `zip:${member.name}`), spooled.path);
    } catch (err) {
      parts.warnings.push(`${member.name}: ${(err as Error).message}`);
    }
  }
}

function isZip(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6);
}

function archiveReport(parts: Parts, kind: string, container: string): VolumeReport {
  return {
    index: parts.volumes.length,
    scheme: 'archive',
    type: kind,
    start: 0,
    size: 0,
    filesystem: kind,
    scanned: false,
    notes: [],
    ...(container ? { container } : {}),
  };
}

/** Reads a disk (or a bare filesystem image): the partition table, LVM, then each volume's filesystem. */
async function openDisk(source: ByteSource, parts: Parts, container: string): Promise<void> {
  const layout = await detectVolumes(source);
  parts.warnings.push(...layout.warnings);
  parts.notes.push(...(layout.notes ?? []));
  const pvs: ByteSource[] = [];
  for (const volume of layout.volumes) {
    const report = volumeReport(volume, container);
    if (volume.aliasOf !== undefined || volume.skipReason) {
      if (volume.skipReason) report.notes.push(volume.skipReason);
      parts.volumes.push(report);
      continue;
    }
    const kind = await probeInto(report, volume.source, parts);
    if (kind === 'LVM2_member') {
      pvs.push(volume.source);
      report.notes.push('LVM physical volume: its logical volumes are listed as scheme "lvm"');
      parts.volumes.push(report);
    } else if (kind) await openInto(report, kind, volume.source, parts);
    else parts.volumes.push(report);
  }
  if (pvs.length > 0) await openLogicalVolumes(pvs, parts, container);
}

/** Every logical volume of the volume groups on these physical volumes, probed and opened like partitions. */
async function openLogicalVolumes(pvs: ByteSource[], parts: Parts, container: string): Promise<void> {
  let layout;
  try {
    layout = await detectLvm(pvs);
  } catch (err) {
    parts.warnings.push(`LVM: ${(err as Error).message}`);
    return;
  }
  parts.warnings.push(...layout.warnings.map((w) => `LVM: ${w}`));
  parts.notes.push(...layout.notes.map((n) => `LVM: ${n}`));
  let ordinal = 0;
  for (const lv of layout.logicalVolumes) {
    if (lv.hidden) continue;
    const report: VolumeReport = {
      index: ++ordinal,
      scheme: 'lvm',
      type: `${lv.vg}/${lv.name}`,
      start: 0,
      size: lv.size,
      filesystem: null,
      scanned: false,
      notes: [],
      ...(container ? { container } : {}),
    };
    report.notes.push(...(lv.notes ?? []));
    if (lv.aliasOf !== undefined || lv.skipReason) {
      if (lv.aliasOf !== undefined) report.aliasOf = lv.aliasOf;
      if (lv.skipReason) report.notes.push(lv.skipReason);
      parts.volumes.push(report);
      continue;
    }
    if (!lv.source) {
      const reason = lv.notScannedReason ?? 'cannot be read';
      report.notes.push(reason);
      // A volume whose bytes cannot be read may hold anything: the scan missed it.
      if (!lv.holdsNoData) parts.warnings.push(`${volumeName(report)} is not scanned: ${reason}`);
      parts.volumes.push(report);
      continue;
    }
    const kind = await probeInto(report, lv.source, parts);
    if (kind) await openInto(report, kind, lv.source, parts);
    else parts.volumes.push(report);
  }
}

async function probeInto(report: VolumeReport, source: ByteSource, parts: Parts): Promise<string | null> {
  try {
    report.filesystem = await probeFilesystem(source);
  } catch (err) {
    report.notes.push(`cannot probe: ${(err as Error).message}`);
    parts.warnings.push(`${volumeName(report)} cannot be probed: ${(err as Error).message}`);
    return null;
  }
  if (report.filesystem === null) report.notes.push('no filesystem recognised');
  return report.filesystem;
}

async function openInto(report: VolumeReport, kind: string, source: ByteSource, parts: Parts): Promise<void> {
  try {
    const raw = await openFilesystem(kind, source);
    if (!raw) {
      if (kind !== 'LVM2_member') {
        const reason = UNSCANNED_REASONS[kind] ?? `${kind} is not read by minescan`;
        report.notes.push(reason);
        if (!NOT_NEEDED.has(kind)) parts.warnings.push(`${volumeName(report)} is not scanned: ${reason}`);
      }
      parts.volumes.push(report);
      return;
    }
    parts.addFilesystem(report, raw);
  } catch (err) {
    // Recognised but not readable (an unknown ext4 feature, damaged metadata): its files were not looked at.
    const message = err instanceof MountfsError || err instanceof Error ? err.message : String(err);
    report.notes.push(`cannot read: ${message}`);
    parts.warnings.push(`${volumeName(report)} (${kind}) cannot be read: ${message}`);
    parts.volumes.push(report);
  }
}

/** "gpt volume 2 (Linux filesystem)", "lvm volume vg0/root", for the report's errors. */
function volumeName(report: VolumeReport): string {
  const where = report.container ? ` in ${report.container}` : '';
  return report.scheme === 'lvm' ? `lvm volume ${report.type}${where}` : `${report.scheme} volume ${report.index} (${report.type})${where}`;
}

function volumeReport(volume: Volume, container: string): VolumeReport {
  return {
    index: volume.index,
    scheme: volume.scheme,
    type: volume.type,
    start: volume.start,
    size: volume.size,
    filesystem: null,
    scanned: false,
    notes: [...(volume.notes ?? [])],
    ...(volume.aliasOf !== undefined ? { aliasOf: volume.aliasOf } : {}),
    ...(container ? { container } : {}),
  };
}

function joinContainer(outer: string, inner: string): string {
  return outer ? `${outer} > ${inner}` : inner;
}

/** The source's bytes front to back, in 1 MiB reads. */
function byteSourceStream(source: ByteSource): Readable {
  return Readable.from(
    (async function* () {
      const step = 1 << 20;
      for (let pos = 0; pos < source.size; pos += step) yield await source.read(pos, Math.min(step, source.size - pos));
    })(),
    { objectMode: false },
  );
}

async function firstBytes(chunks: AsyncGenerator<Buffer>, n: number): Promise<Buffer> {
  const got: Buffer[] = [];
  let have = 0;
  try {
    for await (const c of chunks) {
      got.push(c);
      have += c.length;
      if (have >= n) break;
    }
  } finally {
    await chunks.return(undefined);
  }
  return Buffer.concat(got).subarray(0, n);
}
