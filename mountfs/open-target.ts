/**
 * Turns what the user named (a directory, an image file, a block device) into the
 * filesystems to scan. Formats are told by their magic bytes, never by file names, and
 * nest freely: containers (qcow2, VMDK, VHD, VHDX) and compression are unwrapped,
 * archives of a root are read as filesystems, archives holding disk images (OVA) are
 * opened as those disks, and disks are split into volumes (GPT, MBR, LVM) whose
 * filesystems are probed. Everything above this file sees only VFSs and the listing.
 */
import { promises as fsp } from 'node:fs';
import type { ByteSource, ReadCounter } from './sources/byte-source.js';
import { FileByteSource } from './sources/file-source.js';
import { CachedByteSource } from './sources/cached-source.js';
import { DirectoryFileSystem } from './fs/dir/directory-fs.js';
import { RawVfs } from './vfs.js';
import { openImage, type ImageOptions, type OpenedParts } from './open-image.js';
import type { Vfs } from './vfs.js';
import type { VolumeReport } from './volume-report.js';

export type { VolumeReport } from './volume-report.js';

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
  /** What the scan needed but could not read (each becomes an error of the report: the scan is incomplete). */
  warnings: string[];
  /** Oddities that cost nothing, for the report's notes (a damaged backup GPT whose primary was used). */
  notes?: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Globs the checks will read: what a single-pass archive must keep. */
  retain: string[];
  /** Follow qcow2 backing files and VHD parents (read-only, beside the image). */
  allowBacking?: boolean;
}

/** Thrown when nothing at all can be read from a target: the CLI exits 2. */
export class UnreadableTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableTargetError';
  }
}

export async function openTarget(target: string, counter: ReadCounter, options: OpenOptions = { retain: [] }): Promise<OpenedTarget> {
  let st;
  try {
    st = await fsp.stat(target);
  } catch (err) {
    throw new UnreadableTargetError(`cannot open ${target}: ${(err as Error).message}`);
  }
  if (st.isDirectory()) return openDirectory(target, counter);
  if (!st.isFile() && !st.isBlockDevice()) throw new UnreadableTargetError(`${target} is neither a directory, an image file nor a block device`);
  let file: FileByteSource;
  try {
    file = await FileByteSource.open(target, counter);
  } catch (err) {
    throw new UnreadableTargetError(`cannot open ${target}: ${(err as Error).message}`);
  }
  const imageOptions: ImageOptions = { ...options, path: target, counter };
  let parts: OpenedParts;
  try {
    parts = await openImage(new CachedByteSource(file), imageOptions);
  } catch (err) {
    await file.close();
    if (err instanceof UnreadableTargetError) throw err;
    throw new UnreadableTargetError(`${target}: ${(err as Error).message}`);
  }
  if (parts.filesystems.length === 0 && parts.volumes.every((v) => v.filesystem === null)) {
    await parts.close();
    await file.close();
    throw new UnreadableTargetError(`${target}: no partition table or filesystem found at offset 0`);
  }
  return {
    kind: st.isBlockDevice() ? 'block-device' : 'image',
    format: parts.format,
    volumes: parts.volumes,
    filesystems: parts.filesystems,
    warnings: parts.warnings,
    notes: parts.notes,
    close: async () => {
      await parts.close();
      await file.close();
    },
  };
}

/** A byte source acquired elsewhere (a cloud snapshot): read like an image file. */
export async function openSourceTarget(source: ByteSource, kind: SourceKind, counter: ReadCounter, options: OpenOptions = { retain: [] }): Promise<OpenedTarget> {
  let parts: OpenedParts;
  try {
    parts = await openImage(new CachedByteSource(source), { ...options, path: source.description, counter });
  } catch (err) {
    throw new UnreadableTargetError(`${source.description}: ${(err as Error).message}`);
  }
  if (parts.filesystems.length === 0 && parts.volumes.every((v) => v.filesystem === null)) {
    await parts.close();
    throw new UnreadableTargetError(`${source.description}: no partition table or filesystem found at offset 0`);
  }
  return { kind, format: parts.format, volumes: parts.volumes, filesystems: parts.filesystems, warnings: parts.warnings, notes: parts.notes, close: () => parts.close() };
}

async function openDirectory(target: string, counter: ReadCounter): Promise<OpenedTarget> {
  const vfs = new RawVfs(await DirectoryFileSystem.open(target, counter));
  return {
    kind: 'directory',
    format: 'directory',
    volumes: [{ index: 0, scheme: 'directory', type: 'directory', start: 0, size: 0, filesystem: 'directory', scanned: true, notes: [] }],
    filesystems: [{ volumeIndex: 0, vfs }],
    warnings: [],
    close: () => vfs.close(),
  };
}
