/**
 * XFS images for tests, made by the real tools. Two ways in:
 *  - a loop mount (v5 only: this kernel refuses v4), so the kernel writes the files the
 *    way a server does (sparse files, unwritten extents, btree data forks, chattr);
 *  - mkfs.xfs -p with a protofile written from a host tree, for what the kernel will
 *    not mount (v4, 512-byte blocks). mkfs 6.1 takes no directory for -p, hence the
 *    protofile; it stores files densely (holes become written zeros).
 * mkfs.xfs refuses filesystems under 300 MB unless it believes it runs under fstests,
 * so the three variables fstests sets are passed to it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { lstat, mkdtemp, readdir, readlink, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const run = promisify(execFile);
const SMALL_FS_ENV = { ...process.env, TEST_DIR: '/tmp', TEST_DEV: '/dev/null', QA_CHECK_FS: '1' };

export async function mkfsXfs(image: string, sizeMiB: number, args: string[], protofile?: string): Promise<void> {
  await run('truncate', ['-s', `${sizeMiB}M`, image]);
  await run('mkfs.xfs', ['-f', '-q', ...args, ...(protofile ? ['-p', protofile] : []), image], { env: SMALL_FS_ENV });
}

/** Runs `fn` with the image mounted read-write on a fresh loop device; always unmounts and detaches. */
export async function withLoopMount<T>(image: string, fn: (mnt: string) => Promise<T>): Promise<T> {
  const mnt = await mkdtemp(path.join(path.dirname(image), 'mnt-'));
  const dev = (await run('losetup', ['-f', '--show', image])).stdout.trim();
  try {
    await run('mount', ['-t', 'xfs', dev, mnt]);
    try {
      return await fn(mnt);
    } finally {
      await run('umount', [mnt]);
    }
  } finally {
    await run('losetup', ['-d', dev]);
    await rmdir(mnt);
  }
}

/** A v5 image holding a copy of `tree` written by the kernel; `extra` runs on the mount afterwards. */
export async function xfsFromTreeByMount(
  tree: string,
  image: string,
  args: string[],
  sizeMiB = 128,
  extra?: (mnt: string) => Promise<void>,
): Promise<void> {
  await mkfsXfs(image, sizeMiB, args);
  await withLoopMount(image, async (mnt) => {
    await run('cp', ['-a', `${tree}/.`, mnt]);
    if (extra) await extra(mnt);
  });
}

/** Any image, v4 included, built by mkfs.xfs itself from a protofile describing `tree`. */
export async function xfsFromTreeByProto(tree: string, image: string, args: string[], sizeMiB = 128): Promise<void> {
  const proto = `${image}.proto`;
  await writeFile(proto, await protofile(tree));
  await mkfsXfs(image, sizeMiB, args, proto);
}

/**
 * mkfs.xfs's protofile format (xfs_mkfs(8), "-p"): a boot line, a size line, the root's
 * mode/uid/gid, then per entry "name mode uid gid [source|target|major minor]", each
 * directory's entries closed by "$". Mode is type (-dlbcp), setuid (u/-), setgid (g/-),
 * three octal digits. Names are whitespace-separated tokens, so they may not hold any.
 */
export async function protofile(tree: string): Promise<string> {
  const lines = ['/dev/null', '0 0'];
  const modeOf = (type: string, mode: number) =>
    `${type}${mode & 0o4000 ? 'u' : '-'}${mode & 0o2000 ? 'g' : '-'}${(mode & 0o777).toString(8).padStart(3, '0')}`;
  const visit = async (dir: string, depth: number) => {
    const indent = ' '.repeat(depth);
    for (const name of (await readdir(dir)).sort()) {
      if (/\s/.test(name)) throw new Error(`protofile names cannot hold whitespace: ${JSON.stringify(name)}`);
      const full = path.join(dir, name);
      const st = await lstat(full);
      const owner = `${st.uid} ${st.gid}`;
      if (st.isDirectory()) {
        lines.push(`${indent}${name} ${modeOf('d', st.mode)} ${owner}`);
        await visit(full, depth + 1);
        lines.push(`${indent}$`);
      } else if (st.isSymbolicLink()) {
        const target = await readlink(full);
        if (/\s/.test(target)) throw new Error(`protofile symlink targets cannot hold whitespace: ${target}`);
        lines.push(`${indent}${name} ${modeOf('l', st.mode)} ${owner} ${target}`);
      } else if (st.isFile()) {
        lines.push(`${indent}${name} ${modeOf('-', st.mode)} ${owner} ${full}`);
      } else if (st.isFIFO()) {
        lines.push(`${indent}${name} ${modeOf('p', st.mode)} ${owner}`);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const major = Math.floor(st.rdev / 256) & 0xfff;
        const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
        lines.push(`${indent}${name} ${modeOf(st.isCharacterDevice() ? 'c' : 'b', st.mode)} ${owner} ${major} ${minor}`);
      }
    }
  };
  const root = await lstat(tree);
  lines.push(`${modeOf('d', root.mode)} ${root.uid} ${root.gid}`);
  await visit(tree, 1);
  lines.push('$', '');
  return lines.join('\n');
}

/** One field of an inode as xfs_db prints it, e.g. inodeField(img, 131, 'core.format') → "2 (extents)". */
export async function xfsDbInodeField(image: string, ino: number, field: string): Promise<string> {
  const out = (await run('xfs_db', ['-r', '-c', `inode ${ino}`, '-c', `print ${field}`, image])).stdout;
  const m = new RegExp(`^${field.replace(/\./g, '\\.')}(?:\\[[^\\]]*\\])? = (.*)$`, 'm').exec(out);
  if (!m) throw new Error(`xfs_db printed no ${field} for inode ${ino}: ${out}`);
  return m[1]!;
}

/** The byte offset of an AG-packed file-system block, as xfs_db converts it. */
export async function xfsDbFsbToByte(image: string, fsb: number): Promise<number> {
  const out = (await run('xfs_db', ['-r', '-c', `convert fsb ${fsb} byte`, image])).stdout;
  const m = /\((\d+)\)/.exec(out) ?? /(\d+)/.exec(out);
  if (!m) throw new Error(`xfs_db could not convert fsb ${fsb}: ${out}`);
  return Number(m[1]);
}

/** The byte offset of an inode, as xfs_db converts it. */
export async function xfsDbInodeByte(image: string, ino: number): Promise<number> {
  const out = (await run('xfs_db', ['-r', '-c', `convert ino ${ino} byte`, image])).stdout;
  const m = /\((\d+)\)/.exec(out) ?? /(\d+)/.exec(out);
  if (!m) throw new Error(`xfs_db could not convert inode ${ino}: ${out}`);
  return Number(m[1]);
}

