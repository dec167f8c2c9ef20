/**
 * Virtual-disk containers, told by their magic: qcow2, VMDK (sparse, streamOptimized,
 * or a descriptor naming extents), VHDX and VHD. Each unwraps to the byte source of
 * the virtual disk inside. Files a container names (backing files, parents, extents)
 * are looked up beside the image only, by name, never by a path the image supplies.
 */
import path from 'node:path';
import type { ByteSource, ReadCounter } from './byte-source.js';
import { FileByteSource } from './file-source.js';
import { Qcow2Source, isQcow2 } from './qcow2/qcow2-source.js';
import { VmdkSource, isVmdk, resolveExtentPath } from './vmdk/vmdk-source.js';
import { VhdxSource, isVhdx } from './vhdx/vhdx-source.js';
import { VhdSource, isVhd } from './vhd/vhd-source.js';

export interface UnwrapOptions {
  allowBacking: boolean;
  /** Host directory of the outermost image. */
  beside: string;
  counter: ReadCounter;
}

export interface Unwrapped {
  format: string;
  source: ByteSource;
  notes: string[];
}

export async function unwrapContainer(source: ByteSource, head: Buffer, options: UnwrapOptions): Promise<Unwrapped | null> {
  // Parents are often recorded by their path on the hypervisor: only the name is used, beside the image.
  const besideFile = (name: string): Promise<ByteSource> => FileByteSource.open(path.join(options.beside, path.basename(name)), options.counter);
  if (isQcow2(head)) {
    const q = await Qcow2Source.open(source, { allowBacking: options.allowBacking, openBacking: besideFile });
    return { format: 'qcow2', source: q, notes: q.notes() };
  }
  if (isVmdk(head)) {
    // Extent names are checked (no "/", no "..") before they are joined to the image's folder.
    const openExtent = (name: string) => FileByteSource.open(resolveExtentPath(path.join(options.beside, 'descriptor.vmdk'), name), options.counter);
    const v = await VmdkSource.open(source, { openExtent });
    return { format: 'vmdk', source: v, notes: [] };
  }
  if (isVhdx(head)) {
    const v = await VhdxSource.open(source);
    return { format: 'vhdx', source: v, notes: v.notes() };
  }
  if (await isVhd(source)) {
    const v = await VhdSource.open(source, { allowBacking: options.allowBacking, openParent: besideFile });
    return { format: 'vhd', source: v, notes: v.notes() };
  }
  return null;
}
