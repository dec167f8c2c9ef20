/**
 * Turns what the user named (a directory, an image file, a block device) into the
 * filesystems to scan. Formats are told by their magic bytes, never by file names, and
 * nest freely: containers (qcow2, VMDK, VHD, VHDX) and compression are unwrapped,
 * archives of a root are read as filesystems, archives holding disk images (OVA) are
 * opened as those disks, and disks are split into volumes (GPT, MBR, LVM) whose
 * filesystems are probed. Everything above this file sees only VFSs and the listing.
 */
import { BlockCache, DEFAULT_CACHE_BYTES } from './block-cache.js';
import { promises as fsp } from 'node:fs';
import type { ByteSource, ReadCounter } from './sources/byte-source.js';
import { FileByteSource } from './sources/file-source.js';
import { CachedByteSource } from './sources/cached-source.js';
import { DirectoryFileSystem } from './fs/dir/directory-fs.js';
import { RawVfs } from './vfs.js';
import { GuardedByteSource } from './sources/guarded-source.js';
import { openImage, type ImageOptions, type OpenedParts, type OpenFailure } from './open-image.js';
import { besideHostFile, nowhere } from './sources/named-files.js';
import { SpoolBudget, type SpoolOptions } from './sources/temp-spool.js';
import type { Vfs } from './vfs.js';
import type { MountfsError } from './errors.js';
import type { VolumeReport } from './volume-report.js';

export type { DiskReport, VolumeReport } from './volume-report.js';
export type { OpenFailure } from './open-image.js';

export type SourceKind = 'directory' | 'image' | 'block-device' | 'cloud-snapshot';

export interface OpenedFilesystem {
  /** Index of the volume in the report's volume listing. */
  volumeIndex: number;
  vfs: Vfs;
}

export interface OpenedTarget {
  kind: SourceKind;
  /** The chain of formats read, outermost first: "raw", "qcow2", "tar+gzip", "tar > vmdk", "directory". */
  format: string;
  volumes: VolumeReport[];
  filesystems: OpenedFilesystem[];
  /**
   * Damage in the target's tables (a partition table, LVM metadata) that may hide data,
   * while the rest was read: each becomes an `errors` entry of the report with its kind,
   * structure and offset, and makes the scan incomplete.
   */
  warnings: MountfsError[];
  /** The same, typed: volumes recognised but unreadable, archive members that failed. */
  failures: OpenFailure[];
  /** Worth telling, but nothing was missed (a qcow2 dirty bit, a header copy used). */
  notes: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Globs the checks will read: what a single-pass archive must keep. */
  retain: string[];
  /** Follow qcow2 backing files and VHD parents (read-only, beside the image). */
  allowBacking?: boolean;
  /**
   * Asked before every read, of the target's bytes and of its filesystems; it throws
   * when the scan must stop (a time budget, a cancelled run), and the caller that
   * supplied it knows why.
   */
  checkpoint?: () => void;
  /** Where compressed disks and zip members are spooled, and how much they may write. */
  spool?: SpoolOptions;
  /**
   * The bound of the target's one block cache (--cache-size): the image's chunks, its
   * container tables and its filesystems' metadata all live within it. A source that
   * brings its own cache (a cloud snapshot) keeps that one's bound.
   */
  cacheBytes?: number;
}

/** Thrown when nothing at all can be read from a target: the CLI exits 2. */
export class UnreadableTargetError extends Error {
  /** `cause`: the MountfsError behind it, so the report keeps its kind, structure and offset. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreadableTargetError';
  }
}

export async function openTarget(target: string, counter: ReadCounter, options: OpenOptions = { retain: [] }): Promise<OpenedTarget> {
  let st;
  try {
    st = await fsp.stat(target);
  } catch (err) {
    throw new UnreadableTargetError(`cannot open ${target}: ${(err as Error).message}`, { cause: err });
  }
  if (st.isDirectory()) return openDirectory(target, counter, options.checkpoint);
  if (!st.isFile() && !st.isBlockDevice()) throw new UnreadableTargetError(`${target} is neither a directory, an image file nor a block device`);
  let file: FileByteSource;
  try {
    file = await FileByteSource.open(target, counter);
  } catch (err) {
    throw new UnreadableTargetError(`cannot open ${target}: ${(err as Error).message}`, { cause: err });
  }
  // A disk on a block device names nothing: beside /dev/sdX are the scanning host's own disks.
  const device = st.isBlockDevice();
  let parts: OpenedParts;
  try {
    const cache = new BlockCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES);
    const imageOptions: ImageOptions = {
      cache,
      retain: options.retain,
      allowBacking: options.allowBacking,
      files: device ? nowhere(`on block device ${target}`) : besideHostFile(target, counter),
      hostPath: device ? undefined : target,
      counter,
      spool: await SpoolBudget.create(options.spool),
    };
    parts = await openImage(new CachedByteSource(guard(file, options), { cache }), imageOptions);
  } catch (err) {
    await file.close();
    if (err instanceof UnreadableTargetError) throw err;
    throw new UnreadableTargetError(`${target}: ${(err as Error).message}`, { cause: err });
  }
  if (foundNothing(parts)) {
    await parts.close();
    await file.close();
    throw new UnreadableTargetError(nothingFound(target, parts), { cause: parts.warnings[0] });
  }
  return {
    kind: device ? 'block-device' : 'image',
    format: parts.format,
    volumes: parts.volumes,
    filesystems: parts.filesystems,
    warnings: parts.warnings,
    failures: parts.failures,
    notes: parts.notes,
    close: async () => {
      await parts.close();
      await file.close();
    },
  };
}

/** A byte source acquired elsewhere (a cloud snapshot): read like an image file, through its own cache when it brings one. */
export async function openSourceTarget(source: ByteSource, kind: SourceKind, counter: ReadCounter, options: OpenOptions = { retain: [] }): Promise<OpenedTarget> {
  let parts: OpenedParts;
  try {
    const cached = source instanceof CachedByteSource ? source : new CachedByteSource(source, { cache: new BlockCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES) });
    parts = await openImage(guard(cached, options), {
      cache: cached.cache,
      retain: options.retain,
      allowBacking: options.allowBacking,
      files: nowhere(`in ${source.description}`),
      counter,
      spool: await SpoolBudget.create(options.spool),
    });
  } catch (err) {
    throw new UnreadableTargetError(`${source.description}: ${(err as Error).message}`, { cause: err });
  }
  if (foundNothing(parts)) {
    await parts.close();
    throw new UnreadableTargetError(nothingFound(source.description, parts), { cause: parts.warnings[0] });
  }
  const { format, volumes, filesystems, warnings, failures, notes } = parts;
  return { kind, format, volumes, filesystems, warnings, failures, notes, close: () => parts.close() };
}

/**
 * Nothing recognised, and nothing failed: the bytes are simply not a disk. When a read
 * or a structure failed instead, the target is opened with those failures, so the
 * report says what failed and where rather than "nothing found".
 */
function foundNothing(parts: OpenedParts): boolean {
  return parts.filesystems.length === 0 && parts.failures.length === 0 && parts.volumes.every((v) => v.filesystem === null);
}

function nothingFound(name: string, parts: OpenedParts): string {
  const why = parts.warnings.length ? ` (${parts.warnings.map((w) => w.message).join('; ')})` : '';
  return `${name}: no partition table or filesystem found at offset 0${why}`;
}

function guard(source: ByteSource, options: OpenOptions): ByteSource {
  return options.checkpoint ? new GuardedByteSource(source, options.checkpoint) : source;
}

async function openDirectory(target: string, counter: ReadCounter, checkpoint?: () => void): Promise<OpenedTarget> {
  const vfs = new RawVfs(await DirectoryFileSystem.open(target, counter), checkpoint);
  return {
    kind: 'directory',
    format: 'directory',
    volumes: [{ index: 0, scheme: 'directory', type: 'directory', start: 0, size: 0, filesystem: 'directory', scanned: true, notes: [] }],
    filesystems: [{ volumeIndex: 0, vfs }],
    warnings: [],
    failures: [],
    notes: [],
    close: () => vfs.close(),
  };
}
