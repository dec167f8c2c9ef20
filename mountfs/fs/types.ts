/**
 * The contract between a filesystem reader (ext4, a host directory, later XFS and
 * archives) and the VFS. A reader works on nodes, never on paths: path walking,
 * symlink resolution inside the scanned root, globbing and read limits live once, in
 * the VFS, so no reader can let a symlink escape to the scanning host.
 */
import type { MountfsError } from '../errors.js';

export type FileType = 'file' | 'directory' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'unknown';

/**
 * The file type byte of a directory entry, as ext4 (EXT4_FT_*) and XFS (XFS_DIR3_FT_*)
 * both number it; 0 and anything else say nothing.
 */
export const DIR_ENTRY_FILE_TYPES: Readonly<Record<number, FileType>> = {
  1: 'file',
  2: 'directory',
  3: 'char',
  4: 'block',
  5: 'fifo',
  6: 'socket',
  7: 'symlink',
};

export interface InodeFlags {
  immutable: boolean;
  appendOnly: boolean;
}

export interface Stat {
  type: FileType;
  /** Full st_mode, type bits included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, fractional where the filesystem stores nanoseconds. */
  atime: number;
  mtime: number;
  ctime: number;
  /** Creation time where the filesystem records it. */
  crtime?: number;
  ino: number;
  /**
   * The device within this filesystem, where it spans several (st_dev of a host
   * directory with mounts below it); absent where one filesystem is one device.
   */
  dev?: number;
  nlink: number;
  /** Immutable / append-only; undefined when this source cannot tell. */
  flags?: InodeFlags;
  /**
   * Windows file attributes (FILE_ATTRIBUTE_*: 0x1 read-only, 0x2 hidden, 0x4 system,
   * 0x20 archive, 0x400 reparse point, 0x800 compressed, ...) on filesystems that keep
   * them (NTFS); absent elsewhere.
   */
  dosAttributes?: number;
  /** The reparse tag of an NTFS reparse point (0xA000000C symlink, 0xA0000003 junction, ...; 0 an Interix symlink). */
  reparseTag?: number;
}

/** A named data stream of a file (an NTFS alternate data stream). */
export interface RawStream {
  name: string;
  size: number;
  /** The node read() reads the stream's bytes from. */
  node: NodeId;
}

/** An opaque handle for a file in one filesystem (an inode number, a host path). */
export type NodeId = number | string;

export interface RawDirEntry {
  name: string;
  node: NodeId;
  /** From the directory entry when the filesystem stores it; the VFS stats otherwise. */
  type?: FileType;
}

/** Digests computed while a file's bytes passed once (single-pass archives). */
export interface FileDigests {
  md5: string;
  sha256: string;
}

export interface RawFileSystem {
  /** "ext4", "ext3", "ext2", "directory", ... */
  readonly kind: string;
  readonly root: NodeId;
  stat(node: NodeId): Promise<Stat>;
  /** Entries of a directory, without "." and "..". */
  readdir(node: NodeId): Promise<RawDirEntry[]>;
  /** The raw target of a symlink, as stored. */
  readlink(node: NodeId): Promise<string>;
  /** Up to `length` bytes of a regular file at `offset`; holes read as zeros. */
  read(node: NodeId, offset: number, length: number): Promise<Buffer>;
  /** Inode flags when stat() cannot give them cheaply (host directories). */
  flags?(node: NodeId): Promise<InodeFlags | undefined>;
  /** Digests already known without reading the file again (single-pass sources). */
  digests?(node: NodeId): Promise<FileDigests | undefined>;
  /**
   * How this filesystem compares names in lookups: both sides folded with it must be
   * equal (NTFS upper-cases with the volume's $UpCase table). Absent: names are
   * compared byte for byte, as on Linux.
   */
  foldName?(name: string): string;
  /** Named data streams of a file (NTFS alternate data streams); absent where there are none. */
  streams?(node: NodeId): Promise<RawStream[]>;
  /** Things the report should say about this filesystem, e.g. "journal needs recovery". */
  notes(): string[];
  /**
   * Parts of the filesystem found unreadable while opening it (a truncated archive, a
   * retention budget that ran out): each becomes an `errors` entry of the report.
   */
  unreadable?(): MountfsError[];
  close(): Promise<void>;
}
