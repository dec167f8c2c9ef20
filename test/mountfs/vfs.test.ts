/**
 * The VFS over a host directory: symlinks resolve inside the scanned root and never on
 * the scanning host, loops end with an error, globs prune, reads are bounded, and the
 * immutable/append-only flags come back from the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { compileGlob } from '../../mountfs/glob.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const run = promisify(execFile);

describe('VFS over a directory', () => {
  let scratch: string;
  let root: string;
  let vfs: RawVfs;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    root = path.join(scratch, 'root');
    await mkdir(path.join(root, 'etc/cron.d'), { recursive: true });
    await mkdir(path.join(root, 'usr/bin'), { recursive: true });
    await mkdir(path.join(root, 'home/a/.ssh'), { recursive: true });
    await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    await writeFile(path.join(root, 'etc/cron.d/job'), '* * * * * root true\n');
    await writeFile(path.join(root, 'usr/bin/big'), Buffer.alloc(3 << 20, 7));
    await writeFile(path.join(root, 'home/a/.ssh/authorized_keys'), 'ssh-ed25519 AAAA a\n');
    await symlink('/etc/passwd', path.join(root, 'abs-link'));
    await symlink('../../../../../../etc/passwd', path.join(root, 'usr/bin/climb'));
    await symlink('usr/bin', path.join(root, 'bin'));
    await symlink('loop-b', path.join(root, 'loop-a'));
    await symlink('loop-a', path.join(root, 'loop-b'));
    await symlink('/nonexistent/file', path.join(root, 'dangling'));
    vfs = new RawVfs(await DirectoryFileSystem.open(root));
  });
  afterAll(async () => {
    await vfs?.close();
    if (scratch) await removeScratchDir(scratch);
  });

  it('resolves an absolute link inside the root, never to the host', async () => {
    const own = (await vfs.readFile('/abs-link')).toString();
    expect(own).toBe('root:x:0:0:root:/root:/bin/bash\n');
    expect(await vfs.realpath('/abs-link')).toBe('/etc/passwd');
    expect((await vfs.lstat('/abs-link')).type).toBe('symlink');
    expect((await vfs.stat('/abs-link')).type).toBe('file');
  });

  it('clamps ".." at the root, as the kernel does for "/.."', async () => {
    expect(await vfs.realpath('/usr/bin/climb')).toBe('/etc/passwd');
    expect(await vfs.realpath('/../../etc/../etc/passwd')).toBe('/etc/passwd');
    expect(await vfs.realpath('/bin/climb')).toBe('/etc/passwd');
  });

  it('ends a symlink loop with an error naming it', async () => {
    await expect(vfs.stat('/loop-a')).rejects.toThrow(/too many levels of symbolic links/);
    await expect(vfs.exists('/dangling')).resolves.toBe(true);
    await expect(vfs.stat('/dangling')).rejects.toSatisfy((e: unknown) => e instanceof MountfsError && e.kind === 'not-found');
  });

  it('bounds reads and streams ranges', async () => {
    expect((await vfs.readFile('/usr/bin/big', { maxBytes: 10 })).length).toBe(10);
    expect((await vfs.readFile('/usr/bin/big')).length).toBe(1 << 20);
    let total = 0;
    for await (const chunk of vfs.createReadStream('/usr/bin/big', { start: 5, end: (3 << 20) - 5 })) total += (chunk as Buffer).length;
    expect(total).toBe((3 << 20) - 10);
  });

  it('walks only what the globs can reach, with dot files', async () => {
    const found: string[] = [];
    for await (const e of vfs.walk(['/etc/cron.d/*', '/home/*/.ssh/authorized_keys'])) found.push(e.path);
    expect(found.sort()).toEqual(['/etc/cron.d/job', '/home/a/.ssh/authorized_keys']);
    const g = compileGlob('/home/*/.ssh/authorized_keys');
    expect(g.mayContain('/home')).toBe(true);
    expect(g.mayContain('/usr')).toBe(false);
    expect(compileGlob('/**/.configrc5').matches('/root/.configrc5')).toBe(true);
    expect(compileGlob('/**/.configrc5').matches('/.configrc5')).toBe(true);
  });

  it('does not follow symlinked directories while walking', async () => {
    const found: string[] = [];
    for await (const e of vfs.walk(['/**'])) found.push(e.path);
    expect(found).toContain('/bin');
    expect(found).not.toContain('/bin/big');
  });

  it('reads immutable and append-only flags from the host', async () => {
    const probe = path.join(root, 'etc/passwd');
    const supported = await run('chattr', ['+i', probe]).then(() => true, () => false);
    if (!supported) return expect(await vfs.flags('/etc/passwd')).toBeUndefined();
    try {
      await run('chattr', ['+a', path.join(root, 'etc/cron.d/job')]);
      const fresh = new RawVfs(await DirectoryFileSystem.open(root));
      expect(await fresh.flags('/etc/passwd')).toEqual({ immutable: true, appendOnly: false });
      expect(await fresh.flags('/etc/cron.d/job')).toEqual({ immutable: false, appendOnly: true });
      expect(await fresh.flags('/home/a/.ssh/authorized_keys')).toEqual({ immutable: false, appendOnly: false });
    } finally {
      await run('chattr', ['-i', probe]);
      await run('chattr', ['-a', path.join(root, 'etc/cron.d/job')]);
    }
  });
});
