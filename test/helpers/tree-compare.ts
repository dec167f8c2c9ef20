/**
 * Compares what minescan reads through a VFS with the host tree it was built from:
 * the same entries, types, symlink targets, sizes and MD5 of every regular file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Vfs } from '../../mountfs/vfs.js';

export interface TreeEntry {
  type: string;
  size?: number;
  md5?: string;
  target?: string;
}

async function md5(stream: NodeJS.ReadableStream): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every entry below a host directory, by path inside it. */
export async function hostTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const visit = async (rel: string) => {
    for (const name of await readdir(path.join(root, rel))) {
      const childRel = `${rel}/${name}`;
      const full = path.join(root, childRel);
      const st = await lstat(full);
      if (st.isDirectory()) {
        out.set(childRel, { type: 'directory' });
        await visit(childRel);
      } else if (st.isSymbolicLink()) out.set(childRel, { type: 'symlink', target: await readlink(full) });
      else if (st.isFile()) out.set(childRel, { type: 'file', size: st.size, md5: await md5(createReadStream(full)) });
      else out.set(childRel, { type: 'other' });
    }
  };
  await visit('');
  return out;
}

/** Every entry minescan reads, by path; `skip` drops paths such as /lost+found. */
export async function vfsTree(vfs: Vfs, skip: (p: string) => boolean = () => false): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  for await (const e of vfs.walk(['/**'])) {
    if (skip(e.path)) continue;
    const t = e.stat.type;
    if (t === 'directory') out.set(e.path, { type: 'directory' });
    else if (t === 'symlink') out.set(e.path, { type: 'symlink', target: await vfs.readlink(e.path) });
    else if (t === 'file') out.set(e.path, { type: 'file', size: e.stat.size, md5: await md5(vfs.createReadStream(e.path)) });
    else out.set(e.path, { type: 'other' });
  }
  return out;
}

export const sorted = (m: Map<string, TreeEntry>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
