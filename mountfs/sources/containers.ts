/**
 * Virtual-disk containers, told by their magic: VHDX and VHD today. Each unwraps to the
 * byte source of the virtual disk inside. Files a container names (a differencing
 * disk's parent) are looked up beside the image only, by name, never by a path the
 * image supplies.
 */
import path from 'node:path';
import type { ByteSource, ReadCounter } from './byte-source.js';
import { FileByteSource } from './file-source.js';
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
