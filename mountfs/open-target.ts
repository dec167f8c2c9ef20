/**
 * Turns what the user named (a directory, an image file, a block device) into the
 * filesystems to scan: byte source → volumes → probed filesystems → one VFS each.
 * Everything above this file sees only VFSs and the volume listing for the report.
 */
import { promises as fsp } from 'node:fs';
import { MountfsError } from './errors.js';
import { FileByteSource } from './sources/file-source.js';
import { CachedByteSource } from './sources/cached-source.js';
import type { ByteSource, ReadCounter } from './sources/byte-source.js';
import { detectVolumes } from './volumes/detect.js';
import type { PartitionScheme } from './volumes/types.js';
import { probeFilesystem } from './fs/probe.js';
import { openFilesystem, UNSCANNED_REASONS } from './fs/open-filesystem.js';
import { DirectoryFileSystem } from './fs/dir/directory-fs.js';
import { RawVfs, type Vfs } from './vfs.js';

export type SourceKind = 'directory' | 'image' | 'block-device';

export interface VolumeReport {
  index: number;
  scheme: PartitionScheme | 'directory';
  type: string;
  start: number;
  size: number;
  filesystem: string | null;
  scanned: boolean;
  /** Why a volume was not scanned, or what was odd about it (journal needing recovery). */
  notes: string[];
}

export interface OpenedFilesystem {
  /** Index of the volume in the report's volume listing. */
  volumeIndex: number;
  vfs: Vfs;
}

export interface OpenedTarget {
  kind: SourceKind;
  /** "raw" for disk images and devices, "directory" for a mounted tree. */
  format: string;
  volumes: VolumeReport[];
  filesystems: OpenedFilesystem[];
  /** Problems that did not stop the target from being read. */
  warnings: string[];
  close(): Promise<void>;
}

/** Thrown when nothing at all can be read from a target: the CLI exits 2. */
export class UnreadableTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableTargetError';
  }
}

export async function openTarget(target: string, counter: ReadCounter): Promise<OpenedTarget> {
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
  try {
    return await openDisk(new CachedByteSource(file), st.isBlockDevice() ? 'block-device' : 'image', 'raw');
  } catch (err) {
    await file.close();
    throw err;
  }
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

/** Reads a disk (or a bare filesystem image): the partition table, then each partition's filesystem. */
export async function openDisk(source: ByteSource, kind: SourceKind, format: string): Promise<OpenedTarget> {
  if (source.size === 0) throw new UnreadableTargetError(`${source.description} is empty: no partition table or filesystem found at offset 0`);
  const layout = await detectVolumes(source);
  const volumes: VolumeReport[] = [];
  const filesystems: OpenedFilesystem[] = [];
  const warnings = [...layout.warnings];
  for (const volume of layout.volumes) {
    const report: VolumeReport = {
      index: volume.index,
      scheme: volume.scheme,
      type: volume.type,
      start: volume.start,
      size: volume.size,
      filesystem: null,
      scanned: false,
      notes: [],
    };
    volumes.push(report);
    try {
      report.filesystem = await probeFilesystem(volume.source);
      if (report.filesystem === null) {
        report.notes.push('no filesystem recognised');
        continue;
      }
      const raw = await openFilesystem(report.filesystem, volume.source);
      if (!raw) {
        report.notes.push(UNSCANNED_REASONS[report.filesystem] ?? `${report.filesystem} is not read by minescan yet`);
        continue;
      }
      report.notes.push(...raw.notes());
      report.scanned = true;
      filesystems.push({ volumeIndex: volumes.length - 1, vfs: new RawVfs(raw) });
    } catch (err) {
      report.notes.push(`cannot read: ${err instanceof MountfsError || err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (filesystems.length === 0 && layout.scheme === 'none' && volumes[0]?.filesystem === null) {
    await source.close();
    throw new UnreadableTargetError(`${source.description}: no partition table or filesystem found at offset 0`);
  }
  return {
    kind,
    format,
    volumes,
    filesystems,
    warnings,
    close: async () => {
      for (const fs of filesystems) await fs.vfs.close();
      await source.close();
    },
  };
}
