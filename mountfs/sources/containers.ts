/**
 * Virtual-disk containers, told by their magic: qcow2, VMDK (sparse, streamOptimized,
 * or a descriptor naming extents), VHDX and VHD. Each unwraps to the byte source of
 * the virtual disk inside. Files a container names (backing files, parents, extents)
 * are looked up only where `NamedFiles` allows (./named-files.ts), by plain name.
 */
import type { BlockCache } from '../block-cache.js';
import type { ByteSource } from './byte-source.js';
import type { NamedFiles } from './named-files.js';
import { Qcow2Source, isQcow2 } from './qcow2/qcow2-source.js';
import { VmdkSource, isVmdk } from './vmdk/vmdk-source.js';
import { VhdxSource, isVhdx } from './vhdx/vhdx-source.js';
import { VhdSource, isVhd } from './vhd/vhd-source.js';

export interface UnwrapOptions {
  allowBacking: boolean;
  /** Where the files this container names are looked up. */
  files: NamedFiles;
  /** The opened target's block cache, for the container's tables. */
  cache?: BlockCache;
}

export interface Unwrapped {
  format: string;
  source: ByteSource;
  notes: string[];
}

export async function unwrapContainer(source: ByteSource, head: Buffer, options: UnwrapOptions): Promise<Unwrapped | null> {
  const named = (name: string): Promise<ByteSource> => options.files.open(name);
  if (isQcow2(head)) {
    const q = await Qcow2Source.open(source, { allowBacking: options.allowBacking, openBacking: named, cache: options.cache });
    return { format: 'qcow2', source: q, notes: q.notes() };
  }
  if (isVmdk(head)) {
    const v = await VmdkSource.open(source, { openExtent: named, cache: options.cache });
    return { format: 'vmdk', source: v, notes: [] };
  }
  if (isVhdx(head)) {
    const v = await VhdxSource.open(source, options.cache);
    return { format: 'vhdx', source: v, notes: v.notes() };
  }
  if (await isVhd(source)) {
    const v = await VhdSource.open(source, { allowBacking: options.allowBacking, openParent: named, cache: options.cache });
    return { format: 'vhd', source: v, notes: v.notes() };
  }
  return null;
}
