/**
 * The VMDK text descriptor (VMware Virtual Disk Format 1.1, "The Descriptor File"):
 * a "# Disk DescriptorFile" header, key=value settings (createType, parentCID), and
 * extent lines `ACCESS SECTORS TYPE ["FILE" [OFFSET]]` that concatenate into the
 * virtual disk. It is found alone (monolithicFlat, twoGbMaxExtent*, vmfs) or embedded
 * in a sparse extent (monolithicSparse, streamOptimized). Extent file names are plain
 * names beside the descriptor: anything that could reach another directory is refused.
 */
import path from 'node:path';
import { corrupt, limitExceeded } from '../../errors.js';

export const DESCRIPTOR_SIGNATURE = '# Disk DescriptorFile';
/** Descriptors are a few KiB; a 2 TiB twoGbMaxExtent disk lists ~1000 extents. */
export const MAX_DESCRIPTOR_BYTES = 1024 * 1024;
export const MAX_EXTENTS = 4096;
/** parentCID of a disk without a parent. */
const NO_PARENT = 'ffffffff';

export interface ExtentLine {
  access: 'RW' | 'RDONLY' | 'NOACCESS';
  sectors: number;
  /** FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, ... (upper case). */
  type: string;
  fileName?: string;
  /** Start of the extent's data in its file, in sectors (FLAT/VMFS). */
  offset: number;
}

export interface VmdkDescriptor {
  createType?: string;
  /** Set when the disk is a delta over a parent (parentCID is not ffffffff). */
  parent?: { cid: string; hint?: string };
  extents: ExtentLine[];
}

export function isDescriptorText(head: Buffer): boolean {
  return head.subarray(0, DESCRIPTOR_SIGNATURE.length).toString('latin1') === DESCRIPTOR_SIGNATURE;
}

const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?(?:\s+.*)?$/;
const SETTING = /^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?\s*$/;

/**
 * Parses descriptor text (stopping at the first NUL, as embedded descriptors are
 * padded with them). `at` is the descriptor's offset in its file, for errors.
 */
export function parseDescriptor(text: string, at = 0): VmdkDescriptor {
  const structure = 'VMDK descriptor';
  const nul = text.indexOf('\0');
  const lines = (nul === -1 ? text : text.slice(0, nul)).split(/\r?\n/);
  const settings = new Map<string, string>();
  const extents: ExtentLine[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const ext = EXTENT_LINE.exec(line);
    if (ext) {
      if (extents.length >= MAX_EXTENTS) throw limitExceeded(structure, `more than ${MAX_EXTENTS} extents`, at);
      const sectors = Number(ext[2]);
      const offset = Number(ext[5] ?? 0);
      if (!Number.isSafeInteger(sectors * 512) || !Number.isSafeInteger(offset * 512)) {
        throw corrupt(structure, `line ${i + 1}: extent size or offset is larger than any supported disk`, at);
      }
      const type = ext[3]!.toUpperCase();
      if (type !== 'ZERO' && ext[4] === undefined) throw corrupt(structure, `line ${i + 1}: ${type} extent without a file name`, at);
      extents.push({ access: ext[1] as ExtentLine['access'], sectors, type, fileName: ext[4], offset });
      return;
    }
    const kv = SETTING.exec(line);
    if (kv) settings.set(kv[1]!, kv[2]!.trim());
    // Anything else (ddb lines with odd quoting, vendor extensions) does not change where data is.
  });
  const parentCid = settings.get('parentCID')?.toLowerCase();
  return {
    createType: settings.get('createType'),
    parent: parentCid && parentCid !== NO_PARENT ? { cid: parentCid, hint: settings.get('parentFileNameHint') } : undefined,
    extents,
  };
}

/**
 * Refuses an extent file name that could leave the descriptor's directory: an absolute
 * path, any "/" (and "\", a separator to the Windows tools that write descriptors),
 * ".", "..", an empty name or a NUL.
 */
export function checkExtentName(name: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw corrupt('VMDK descriptor', `extent file name ${JSON.stringify(name)} is not a plain file name beside the descriptor`);
  }
}

/** The path of extent `name` named by the descriptor at `descriptorPath`: beside it, never elsewhere. */
export function resolveExtentPath(descriptorPath: string, name: string): string {
  checkExtentName(name);
  return path.join(path.dirname(descriptorPath), name);
}
