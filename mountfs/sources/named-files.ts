/**
 * Where the files a disk names are looked up: VMDK extents, qcow2 backing files, VHD
 * parents. The disk is hostile, so the names it gives never reach past the place the
 * disk came from:
 * - an image file on the host: its own directory, regular files only (no device, FIFO
 *   or symlink), by plain name;
 * - a disk inside an archive (OVA, tar, zip): that archive's members only;
 * - a disk on a block device, in a compressed stream, inside another container or a
 *   cloud snapshot: nowhere. A device's directory is /dev, and a name there would
 *   be one of the scanning host's own disks.
 * Hypervisors record parents by their path on the hypervisor, so only the last
 * component of a name is used.
 */
import path from 'node:path';
import { notFound, unsupported } from '../errors.js';
import type { ByteSource, ReadCounter } from './byte-source.js';
import { FileByteSource } from './file-source.js';

export interface NamedFiles {
  /** Where names resolve, for messages: "beside /img/disk.vmdk", "inside tar:disk.ova". */
  readonly where: string;
  /** Opens the file a disk names; the caller closes what it gets. */
  open(name: string): Promise<ByteSource>;
}

/** The last path component of a name a disk gives, or an error for names that are no file. */
export function plainName(name: string, where: string): string {
  const base = path.posix.basename(name.replaceAll('\\', '/'));
  if (base === '' || base === '.' || base === '..' || base.includes('\0')) throw unsupported('named file', `"${name}" names no file (${where})`);
  return base;
}

/** Regular files in the host directory of an image file. */
export function besideHostFile(image: string, counter: ReadCounter): NamedFiles {
  const dir = path.dirname(image);
  const where = `beside ${image}`;
  return {
    where,
    open: (name) => FileByteSource.openRegular(path.join(dir, plainName(name, where)), counter),
  };
}

/** No file can be named: the disk's references resolve nowhere. */
export function nowhere(where: string): NamedFiles {
  return {
    where,
    open: async (name) => {
      throw unsupported('named file', `the disk names ${name}, and a disk ${where} may name no other file`);
    },
  };
}

/** Members of an archive, found by `lookup` under their plain name. */
export function archiveMembers(where: string, lookup: (name: string) => Promise<ByteSource | null>): NamedFiles {
  return {
    where,
    open: async (name) => {
      const member = await lookup(plainName(name, where));
      if (!member) throw notFound(name, `no such member ${where}`);
      return member;
    },
  };
}
