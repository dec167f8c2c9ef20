/**
 * The recognition chain for one byte source: unwrap containers and compression, read
 * archives, and split disks into volumes, recursing until filesystems are reached.
 * Each step is told by magic bytes; the depth is bounded so a hostile image cannot
 * nest forever.
 */
import type { BlockCache } from './block-cache.js';
import { Readable } from 'node:stream';
import { limitExceeded, unsupported, within, type MountfsError } from './errors.js';
import type { ByteSource, ReadCounter } from './sources/byte-source.js';
import { FileByteSource } from './sources/file-source.js';
import { SliceByteSource } from './sources/slice-source.js';
import { detectCompression, decompress } from './sources/stream-decompress.js';
import { spoolToTempFile, type SpoolBudget } from './sources/temp-spool.js';
import { nowhere, type NamedFiles } from './sources/named-files.js';
import { MemberByteSource, membersOf } from './archive-members.js';
import { detectVolumes } from './volumes/detect.js';
import { probeFilesystem } from './fs/probe.js';
import { NOTHING_TO_SCAN, openFilesystem, UNSCANNED_REASONS } from './fs/open-filesystem.js';
import { TarFileSystem } from './fs/archive/tar-fs.js';
import { ZipFileSystem } from './fs/archive/zip-fs.js';
import { ZipMemberSpools } from './fs/archive/zip-member-spools.js';
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
  /** Asked before every read of the filesystems' VFSs; throws to stop the scan. */
  checkpoint?: () => void;
  allowBacking?: boolean;
  /** Where the outermost image's VMDK extents, backing files and parents are looked up. */
  files: NamedFiles;
  /** The outermost image's host file, when it is a regular file (a zip is read from it directly). */
  hostPath?: string;
  counter: ReadCounter;
  /** What spools of this target (compressed disks, zip members) may write, and where. */
  spool: SpoolBudget;
  /** The target's one block cache: container tables and filesystem metadata share its bound. */
  cache?: BlockCache;
}

/** Something the image holds that could not be read: the scan of it is incomplete. */
export interface OpenFailure {
  /** Position of the volume concerned in the volume listing. */
  volume?: number;
  /** The archive member or container part concerned, e.g. "disk1.vmdk". */
  where?: string;
  /** Usually a MountfsError, whose kind, structure and offset the report keeps. */
  error: unknown;
}

export interface OpenedParts {
  format: string;
  volumes: VolumeReport[];
  filesystems: Array<{ volumeIndex: number; vfs: Vfs }>;
  /** Damage in the image's tables that may hide data (each means data was missed), typed: kind, structure, offset. */
  warnings: MountfsError[];
  failures: OpenFailure[];
  /** Worth saying, but nothing was missed (a dirty bit, a damaged header whose copy was used). */
  notes: string[];
  close(): Promise<void>;
}

class Parts implements OpenedParts {
  formats: string[] = [];
  volumes: VolumeReport[] = [];
  filesystems: Array<{ volumeIndex: number; vfs: Vfs }> = [];
  warnings: MountfsError[] = [];
  failures: OpenFailure[] = [];
  notes: string[] = [];
  private closers: Array<() => Promise<void>> = [];

  get format(): string {
    return this.formats.join(' > ') || 'raw';
  }

  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  constructor(
    private readonly checkpoint?: () => void,
    readonly cache?: BlockCache,
  ) {}

  addFilesystem(report: VolumeReport, raw: RawFileSystem): void {
    report.notes.push(...raw.notes());
    report.scanned = true;
    this.volumes.push(report);
    for (const error of raw.unreadable?.() ?? []) this.failures.push({ volume: this.volumes.length - 1, error });
    const vfs = new RawVfs(raw, this.checkpoint, this.volumes.length - 1);
    this.filesystems.push({ volumeIndex: this.volumes.length - 1, vfs });
    this.onClose(() => vfs.close());
  }

  /** Lists a volume that was recognised but could not be read, and says why in both places. */
  addUnreadable(report: VolumeReport, error: unknown, note = `cannot read: ${message(error)}`): void {
    report.notes.push(note);
    this.volumes.push(report);
    this.failures.push({ volume: this.volumes.length - 1, error });
  }

  async close(): Promise<void> {
    for (const fn of this.closers.reverse()) await fn().catch(() => undefined);
  }
}

export async function openImage(source: ByteSource, options: ImageOptions): Promise<OpenedParts> {
  const parts = new Parts(options.checkpoint, options.cache);
  try {
    await recognise(source, options, parts, 0, '', options.files, options.hostPath);
  } catch (err) {
    await parts.close();
    throw err;
  }
  return parts;
}

/**
 * `files` is where a disk found in these bytes may look up the files it names (only
 * inside the container the bytes came from). `hostPath` is the file on the host holding
 * exactly these bytes, when there is one (libraries that need a file).
 */
async function recognise(source: ByteSource, options: ImageOptions, parts: Parts, depth: number, container: string, files: NamedFiles, hostPath?: string): Promise<void> {
  if (depth > MAX_DEPTH) throw limitExceeded('image nesting', `more than ${MAX_DEPTH} nested containers`);
  const head = await source.read(0, Math.min(source.size, 4096));

  const unwrapped = await unwrapContainer(source, head, { allowBacking: options.allowBacking ?? false, files, cache: options.cache });
  if (unwrapped) {
    parts.formats.push(unwrapped.format);
    parts.notes.push(...unwrapped.notes);
    parts.onClose(() => unwrapped.source.close());
    const inner = joinContainer(container, unwrapped.format);
    return recognise(unwrapped.source, options, parts, depth + 1, inner, nowhere(`inside ${inner}`));
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
  const where = joinContainer(container, compression);
  const spooled = await spoolToTempFile(stream(), `${where} (${source.description})`, options.spool);
  parts.onClose(() => spooled.remove());
  const inner = await FileByteSource.open(spooled.path);
  parts.onClose(() => inner.close());
  return recognise(inner, options, parts, depth + 1, where, nowhere(`inside ${where}`), spooled.path);
}

/** An uncompressed tar: an OVA (or any archive of disk images) is opened as its disks; anything else as a root tree. */
async function openTar(source: ByteSource, options: ImageOptions, parts: Parts, depth: number, container: string): Promise<void> {
  const fs = await TarFileSystem.open(source);
  const images = await fs.diskImageMembers();
  if (images.length > 0) {
    for (const error of fs.unreadable()) parts.failures.push({ where: source.description, error });
    parts.formats.push(images.some((m) => m.name.endsWith('.ovf')) ? 'ova' : 'tar');
    const members = membersOf(fs, `inside ${container || 'tar'} (${source.description})`, async (name, node, size) => new MemberByteSource(fs, node, size, `${name} in ${source.description}`));
    for (const member of images) {
      if (member.name.endsWith('.ovf')) continue;
      const slice = new SliceByteSource(source, member.offset, member.size, `${member.name} in ${source.description}`);
      try {
        await recognise(slice, options, parts, depth + 1, joinContainer(container, `tar:${member.name}`), members);
      } catch (err) {
        parts.failures.push({ where: member.name, error: err });
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
    const spooled = await spoolToTempFile(byteSourceStream(source), `${container || 'zip'} (${source.description})`, options.spool);
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
  // Each member's spool lives while a filesystem found in it may be read, and no longer.
  const spools = new ZipMemberSpools(zip, (name) => joinContainer(container, `zip:${name}`), options.spool);
  parts.onClose(() => spools.releaseAll());
  let used: string[] = [];
  const members = membersOf(zip, `inside ${container || 'zip'} (${source.description})`, (name) => (used.push(name), spools.acquire(name)));
  for (const member of candidates) {
    used = [member.name];
    const filesystems = parts.filesystems.length;
    try {
      const inner = await spools.acquire(member.name);
      await recognise(inner, options, parts, depth + 1, joinContainer(container, `zip:${member.name}`), members, inner.description);
    } catch (err) {
      parts.failures.push({ where: member.name, error: err });
    }
    // Nothing found in it will be read later: its spool, and those of the files it named, go now.
    if (parts.filesystems.length === filesystems) for (const name of used) await spools.release(name);
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
    // A volume over the same sectors as an earlier one is listed, not read again.
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
  }
  if (pvs.length > 0) await openLogicalVolumes(pvs, parts, container);
}

/** Every logical volume of the volume groups on these physical volumes, probed and opened like partitions. */
async function openLogicalVolumes(pvs: ByteSource[], parts: Parts, container: string): Promise<void> {
  let layout;
  try {
    layout = await detectLvm(pvs);
  } catch (err) {
    parts.failures.push({ where: 'LVM', error: err });
    return;
  }
  parts.warnings.push(...layout.warnings.map((w) => within('LVM', w)));
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
      // A thin pool or an error segment holds no files; any other LV not read may hold anything.
      if (lv.holdsNoData) {
        report.notes.push(reason);
        parts.volumes.push(report);
      } else parts.addUnreadable(report, unsupported(`LV ${lv.vg}/${lv.name}`, reason), reason);
      continue;
    }
    const kind = await probeInto(report, lv.source, parts);
    if (kind) await openInto(report, kind, lv.source, parts);
  }
}

/**
 * The volume's filesystem kind, or null after listing the volume: nothing recognised
 * (a note: BIOS boot and empty partitions hold none), or the probe's read failed (an
 * error: what the volume holds is unknown).
 */
async function probeInto(report: VolumeReport, source: ByteSource, parts: Parts): Promise<string | null> {
  try {
    report.filesystem = await probeFilesystem(source);
  } catch (err) {
    parts.addUnreadable(report, err, `cannot probe: ${message(err)}`);
    return null;
  }
  if (report.filesystem === null) {
    report.notes.push('no filesystem recognised');
    parts.volumes.push(report);
  }
  return report.filesystem;
}

async function openInto(report: VolumeReport, kind: string, source: ByteSource, parts: Parts): Promise<void> {
  let raw;
  try {
    raw = await openFilesystem(kind, source, parts.cache);
  } catch (err) {
    parts.addUnreadable(report, err);
    return;
  }
  if (raw) return parts.addFilesystem(report, raw);
  const reason = UNSCANNED_REASONS[kind] ?? `${kind} is not read by minescan`;
  if (NOTHING_TO_SCAN.has(kind)) {
    report.notes.push(reason);
    parts.volumes.push(report);
  } else parts.addUnreadable(report, unsupported('filesystem', reason), reason);
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

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
