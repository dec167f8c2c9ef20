/**
 * The dpkg reader against databases dpkg itself wrote: packages built with dpkg-deb and
 * installed with dpkg --root (a multiarch one among them), conffiles, a local and a
 * package diversion made with dpkg-divert, an alternative from update-alternatives; the
 * records must say what dpkg says (md5sums, dpkg -S, dpkg-query's Conffiles). Then
 * hostile info files: a huge line, bad hex, ../ paths, NUL bytes, binary junk, a
 * truncated diversions file: the good lines still count, each bad file is reported
 * once, nothing throws.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs, type Vfs } from '../../mountfs/vfs.js';
import { openDpkgDatabase } from '../../src/facts/dpkg-db.js';
import { readAlternativeLinks } from '../../src/facts/alternatives.js';
import { noSkips, vfsLines } from '../../src/facts/vfs-lines.js';
import { Facts } from '../../src/facts/facts.js';
import type { PackagedFile } from '../../src/facts/package-db.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { addAlternative, buildDeb, divert, initDpkgRoot, installDebs } from '../helpers/dpkg-root.js';

const run = promisify(execFile);
const md5 = (s: string | Buffer) => createHash('md5').update(s).digest('hex');

/** Binary junk, the same every run: no "/" to start a path, a newline every `lineEvery` bytes. */
function junk(bytes: number, lineEvery: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) {
    const v = (i * 131 + 7) % 256;
    b[i] = (i + 1) % lineEvery === 0 ? 0x0a : v === 0x0a || v === 0x2f ? 0x00 : v;
  }
  return b;
}

interface Errors {
  list: Array<{ path: string; message: string }>;
  onError: (path: string, err: unknown) => void;
}
function errors(): Errors {
  const list: Errors['list'] = [];
  return { list, onError: (p, e) => void list.push({ path: p, message: e instanceof Error ? e.message : String(e) }) };
}

async function openVfs(root: string): Promise<Vfs> {
  return new RawVfs(await DirectoryFileSystem.open(root));
}

async function records(root: string, errs = errors()): Promise<PackagedFile[]> {
  const vfs = await openVfs(root);
  try {
    const db = await openDpkgDatabase(vfs, errs.onError);
    expect(db).not.toBeNull();
    const out: PackagedFile[] = [];
    for await (const f of db!.files()) out.push(f);
    return out;
  } finally {
    await vfs.close();
  }
}

describe('dpkg database reader', () => {
  let scratch: string;
  let root: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-dpkg-');
    root = path.join(scratch, 'root');
    await initDpkgRoot(root);
    const debs = [
      await buildDeb(scratch, {
        name: 'demo-tools',
        files: [
          { path: '/usr/bin/demo', content: '#!/bin/sh\necho demo\n', mode: 0o755 },
          { path: '/usr/bin/demo-helper', content: '#!/bin/sh\necho helper\n', mode: 0o755 },
          { path: '/usr/bin/name with space', content: 'spaced\n', mode: 0o755 },
          { path: '/etc/demo/demo.conf', content: 'setting=1\n', conffile: true },
        ],
      }),
      await buildDeb(scratch, {
        name: 'libdemo1',
        architecture: 'amd64',
        multiArchSame: true,
        files: [{ path: '/usr/lib/x86_64-linux-gnu/libdemo.so.1', content: '\x7fELF library\n' }],
      }),
      await buildDeb(scratch, { name: 'demo-override', files: [{ path: '/usr/share/demo-override/README', content: 'x\n' }] }),
      // As bookworm's pkgconf ships: a conffile it no longer installs, flagged for removal.
      await buildDeb(scratch, {
        name: 'demo-pkgconf',
        files: [{ path: '/usr/share/demo-pkgconf/personality', content: 'Triplet: x86_64-linux-gnu\n' }],
        removeOnUpgrade: ['/etc/dpkg/dpkg.cfg.d/demo-pkgconf-hook'],
      }),
    ];
    await installDebs(root, debs);
    await divert(root, '/usr/bin/demo', '/usr/bin/demo.distrib');
    await divert(root, '/usr/bin/demo-helper', '/usr/bin/demo-helper.real', 'demo-override');
    await addAlternative(root, '/usr/bin/demo-alt', 'demo-alt', '/usr/bin/demo.distrib');
  }, 120_000);
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('gives every md5sums entry with its digest, as dpkg recorded it, multiarch names without their architecture', async () => {
    const errs = errors();
    const got = await records(root, errs);
    expect(errs.list).toEqual([]);
    const digests = got.filter((f) => f.digest).map((f) => `${f.package} ${f.path} ${f.algorithm} ${f.digest}`).sort();
    const info = path.join(root, 'var/lib/dpkg/info');
    const expected: string[] = [];
    for (const [stem, pkg] of [['demo-tools', 'demo-tools'], ['libdemo1:amd64', 'libdemo1'], ['demo-override', 'demo-override'], ['demo-pkgconf', 'demo-pkgconf']]) {
      for (const line of (await readFile(path.join(info, `${stem}.md5sums`), 'utf8')).split('\n').filter(Boolean)) {
        const [sum, file] = [line.slice(0, 32), line.slice(34)];
        expected.push(`${pkg} /${file} md5 ${sum}`);
      }
    }
    expect(digests).toEqual(expected.sort());
    expect(digests).toContain(`demo-tools /usr/bin/name with space md5 ${md5('spaced\n')}`);
    expect(digests).toContain(`libdemo1 /usr/lib/x86_64-linux-gnu/libdemo.so.1 md5 ${md5('\x7fELF library\n')}`);
  });

  it('marks conffiles as config, as dpkg-query lists them, and keeps their md5', async () => {
    const { stdout } = await run('dpkg-query', [`--root=${root}`, '-W', '-f', '${Conffiles}', 'demo-tools']);
    expect(stdout.trim()).toBe(`/etc/demo/demo.conf ${md5('setting=1\n')}`);
    const got = await records(root);
    const config = got.filter((f) => f.config && f.package === 'demo-tools');
    expect(config).toEqual([{ path: '/etc/demo/demo.conf', package: 'demo-tools', config: true, digest: md5('setting=1\n'), algorithm: 'md5' }]);
    expect(got.filter((f) => f.path === '/usr/bin/demo-helper.real' || f.path === '/usr/bin/demo.distrib')).toEqual([]);
  });

  it('reads a .conffiles line with flags (remove-on-upgrade) as its path, not as a damaged line', async () => {
    const info = await readFile(path.join(root, 'var/lib/dpkg/info/demo-pkgconf.conffiles'), 'utf8');
    expect(info).toBe('remove-on-upgrade /etc/dpkg/dpkg.cfg.d/demo-pkgconf-hook\n');
    const errs = errors();
    const got = await records(root, errs);
    expect(errs.list).toEqual([]);
    expect(got.filter((f) => f.package === 'demo-pkgconf' && f.config).map((f) => f.path)).toEqual(['/etc/dpkg/dpkg.cfg.d/demo-pkgconf-hook']);
  });

  it('keeps a diverted file owned by its package, as dpkg -S does, and says where its bytes went', async () => {
    const got = await records(root);
    const byPath = (p: string) => got.filter((f) => f.path === p).map((f) => ({ package: f.package, divertedTo: f.divertedTo }));
    expect(byPath('/usr/bin/demo')).toEqual([{ package: 'demo-tools', divertedTo: '/usr/bin/demo.distrib' }]);
    expect(byPath('/usr/bin/demo-helper')).toEqual([{ package: 'demo-tools', divertedTo: '/usr/bin/demo-helper.real' }]);
    const { stdout } = await run('dpkg', [`--root=${root}`, '-S', '/usr/bin/demo']);
    expect(stdout).toContain('demo-tools: /usr/bin/demo');
  });

  it('lists paths only the .list names (directories) without a digest, once each', async () => {
    const got = await records(root);
    const dirs = got.filter((f) => f.path === '/usr/bin');
    expect(dirs.map((f) => f.package).sort()).toEqual(['demo-tools']);
    expect(dirs[0]!.digest).toBeUndefined();
    const keys = got.map((f) => `${f.package} ${f.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    const { stdout } = await run('dpkg', [`--root=${root}`, '-L', 'demo-tools']);
    const listed = stdout.split('\n').filter((l) => l.startsWith('/') && l !== '/.');
    expect(got.filter((f) => f.package === 'demo-tools').map((f) => f.path).sort()).toEqual([...new Set(listed)].sort());
  });

  it('ignores, and lists, the info files of a package the status file does not know', async () => {
    const info = path.join(root, 'var/lib/dpkg/info');
    await writeFile(path.join(info, 'sysupdate.list'), '/.\n/usr/bin/kdevtmpfsi\n');
    await writeFile(path.join(info, 'sysupdate.md5sums'), `${md5('miner')}  usr/bin/kdevtmpfsi\n`);
    try {
      const got = await records(root);
      expect(got.filter((f) => f.package === 'sysupdate')).toEqual([]);
      const vfs = await openVfs(root);
      try {
        const db = await openDpkgDatabase(vfs, () => undefined);
        expect(await db!.unregisteredInfo()).toEqual([
          { package: 'sysupdate', files: ['/var/lib/dpkg/info/sysupdate.list', '/var/lib/dpkg/info/sysupdate.md5sums'] },
        ]);
        expect(await new Facts(vfs).packages.owner('/usr/bin/kdevtmpfsi')).toEqual({ kind: 'unowned' });
      } finally {
        await vfs.close();
      }
      const { stdout } = await run('dpkg', [`--root=${root}`, '-S', '/usr/bin/kdevtmpfsi']).catch((e: { stdout: string }) => e);
      expect(stdout).toBe('');

      // An entry of dpkg's journal not yet folded into status counts as known.
      await writeFile(path.join(root, 'var/lib/dpkg/updates/0001'), 'Package: sysupdate\nStatus: install ok unpacked\nVersion: 1\n');
      expect((await records(root)).filter((f) => f.package === 'sysupdate').map((f) => f.path)).toEqual(['/usr/bin/kdevtmpfsi']);
    } finally {
      await rm(path.join(root, 'var/lib/dpkg/updates/0001'), { force: true });
      await rm(path.join(info, 'sysupdate.list'));
      await rm(path.join(info, 'sysupdate.md5sums'));
    }
  });

  it('reads the links update-alternatives made', async () => {
    const errs = errors();
    const vfs = await openVfs(root);
    try {
      expect(await readAlternativeLinks(vfs, errs.onError)).toEqual([{ link: '/usr/bin/demo-alt', group: 'demo-alt' }]);
    } finally {
      await vfs.close();
    }
    expect(errs.list).toEqual([]);
  });

  it('answers package ownership through Facts, merged-/usr spellings included', async () => {
    const vfs = await openVfs(root);
    try {
      const facts = new Facts(vfs);
      expect(await facts.packages.owner('/usr/bin/demo')).toEqual({ kind: 'owned', package: 'demo-tools', manager: 'dpkg' });
      expect(await facts.packages.owner('/lib/x86_64-linux-gnu/libdemo.so.1')).toEqual({ kind: 'owned', package: 'libdemo1', manager: 'dpkg' });
      expect(await facts.packages.owner('/usr/bin/nothing')).toEqual({ kind: 'unowned' });
      expect((await facts.packageDatabases()).map((d) => d.kind)).toEqual(['dpkg']);
      const managed = await facts.packageManagedPaths();
      expect([...managed.keys()].sort()).toEqual(['/usr/bin/demo', '/usr/bin/demo-alt', '/usr/bin/demo-helper']);
      expect(managed.get('/usr/bin/demo')).toBe('diverted to /usr/bin/demo.distrib by the admin (dpkg-divert --local)');
    } finally {
      await vfs.close();
    }
  });

  it('says ownership is unknown without a dpkg database', async () => {
    const empty = path.join(scratch, 'empty');
    await mkdir(path.join(empty, 'etc'), { recursive: true });
    const vfs = await openVfs(empty);
    try {
      expect(await openDpkgDatabase(vfs, () => undefined)).toBeNull();
      const facts = new Facts(vfs);
      expect((await facts.packages.owner('/usr/bin/ps')).kind).toBe('unknown');
    } finally {
      await vfs.close();
    }
  });

  it('reads lines within both bounds: a long line is skipped whole, a line cut by the byte bound is dropped', async () => {
    const dir = path.join(scratch, 'lines');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'text'), 'one\r\ntwo\n' + 'x'.repeat(50) + '\nthree\nfour-is-cut-here\n');
    const vfs = await openVfs(dir);
    try {
      const skips = noSkips();
      const got: string[] = [];
      for await (const l of vfsLines(vfs, '/text', { maxBytes: 70, maxLineBytes: 10 }, skips)) got.push(`${l.line}:${l.text}`);
      expect(got).toEqual(['1:one', '2:two', '4:three']);
      expect(skips).toEqual({ longLines: 1, cut: true });
      const whole = noSkips();
      got.length = 0;
      for await (const l of vfsLines(vfs, '/text', { maxBytes: 1000, maxLineBytes: 100 }, whole)) got.push(l.text);
      expect(got).toEqual(['one', 'two', 'x'.repeat(50), 'three', 'four-is-cut-here']);
      expect(whole).toEqual({ longLines: 0, cut: false });
    } finally {
      await vfs.close();
    }
  });

  describe('hostile info files', () => {
    let hostile: string;
    const good = md5('good\n');

    beforeAll(async () => {
      hostile = path.join(scratch, 'hostile');
      await mkdir(path.join(hostile, 'var/lib/dpkg/info'), { recursive: true });
      const info = (n: string) => path.join(hostile, 'var/lib/dpkg/info', n);
      const lines = [
        `${good}  usr/bin/first`,
        `${'z'.repeat(32)}  usr/bin/badhex`,
        `${good.slice(0, 31)}  usr/bin/shorthex`,
        `${good}  ../../etc/shadow`,
        `${good}  usr/bin/../../../etc/passwd`,
        `${good}  usr/bin/nul\0name`,
        `${good}  ${'a/'.repeat(3000)}deep`,
        `${good}  usr/bin/after-junk`,
      ];
      await writeFile(info('evil.md5sums'), lines.join('\n') + '\n');
      // 8 MiB without a newline, then a good line that must still be read.
      await appendFile(info('evil.md5sums'), Buffer.alloc(8 << 20, 0x41));
      await appendFile(info('evil.md5sums'), `\n${good}  usr/bin/after-huge-line\n`);
      await writeFile(info('junk.md5sums'), junk(256 << 10, 100));
      await writeFile(info('junk.list'), Buffer.concat([junk(4000, 5000), Buffer.from('\n/usr/bin/listed\n')]));
      await writeFile(info('Bad_Name!.md5sums'), `${good}  usr/bin/x\n`);
      await writeFile(info('noeol.md5sums'), `${good}  usr/bin/no-newline-at-end`);
      await writeFile(path.join(hostile, 'var/lib/dpkg/diversions'), '/usr/bin/a\n/usr/bin/a.real\n:\n/usr/bin/b\nrelative/path\npkg\n/usr/bin/c\n');
      await writeFile(
        path.join(hostile, 'var/lib/dpkg/status'),
        [
          'Package: evil',
          'Status: install ok installed',
          'Conffiles:',
          ' /etc/evil/a.conf 0123456789abcdef0123456789abcdef',
          ' /etc/evil/old.conf 0123456789abcdef0123456789abcdef obsolete',
          ' /etc/evil/with space.conf newconffile',
          ' /etc/../../escape 0123456789abcdef0123456789abcdef',
          ' notapath',
          `Description: ${'x'.repeat(200_000)}`,
          '',
          'Package: junk',
          'Status: install ok installed',
          '',
          'Package: noeol',
          'Status: install ok installed',
          '',
        ].join('\n'),
      );
    });

    it('keeps the good lines, drops the bad ones and reports each bad file once, without throwing', async () => {
      const errs = errors();
      const got = await records(hostile, errs);
      const paths = got.map((f) => `${f.package} ${f.path}${f.digest ? ' ' + f.digest : ''}${f.config ? ' config' : ''}${f.divertedTo ? ' -> ' + f.divertedTo : ''}`).sort();
      expect(paths).toEqual(
        [
          `evil /usr/bin/first ${good}`,
          `evil /usr/bin/after-junk ${good}`,
          `evil /usr/bin/after-huge-line ${good}`,
          `noeol /usr/bin/no-newline-at-end ${good}`,
          'junk /usr/bin/listed',
          'evil /etc/evil/a.conf 0123456789abcdef0123456789abcdef config',
          'evil /etc/evil/old.conf 0123456789abcdef0123456789abcdef config',
          'evil /etc/evil/with space.conf config',
        ].sort(),
      );
      const byFile = new Map(errs.list.map((e) => [e.path, e.message]));
      expect(byFile.get('/var/lib/dpkg/info/evil.md5sums')).toBe(
        'dpkg info: 5 line(s) that are not a digest and a path inside the root; 2 line(s) over 4136 bytes skipped',
      );
      expect(byFile.get('/var/lib/dpkg/info/junk.md5sums')).toBe('dpkg info: 2622 line(s) that are not a digest and a path inside the root');
      expect(byFile.get('/var/lib/dpkg/info/junk.list')).toBe('dpkg info: 1 line(s) that are not a digest and a path inside the root');
      expect(byFile.get('/var/lib/dpkg/info/Bad_Name!.md5sums')).toBe('dpkg info: "Bad_Name!" is not a package name; its files were not read');
      expect(byFile.get('/var/lib/dpkg/diversions')).toBe(
        'dpkg diversions: 1 diversion(s) that do not name two absolute paths and a package; a trailing incomplete diversion',
      );
      expect(byFile.get('/var/lib/dpkg/status')).toBe('dpkg status: 2 Conffiles line(s) that are not "<path> <md5>"; 1 line(s) over 65536 bytes skipped');
      expect(errs.list.length).toBe(byFile.size);
    });

    it('applies the one good diversion of a damaged diversions file', async () => {
      const vfs = await openVfs(hostile);
      try {
        const db = await openDpkgDatabase(vfs, () => undefined);
        expect([...(await db!.diversions()).values()]).toEqual([{ from: '/usr/bin/a', to: '/usr/bin/a.real', by: ':' }]);
      } finally {
        await vfs.close();
      }
    });
  });
});
