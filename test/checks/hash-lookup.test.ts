import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hashLookupCheck } from '../../src/checks/hash-lookup.js';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import type { Check, StartedFile } from '../../src/model/check.js';
import type { Finding } from '../../src/model/finding.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { hashVfsFile } from '../../src/hashes/hash-file.js';
import { RawVfs, type Vfs } from '../../mountfs/vfs.js';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { randomBytes } from 'node:crypto';

const run = promisify(execFile);
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const MINER = '\x7fELF\x02\x01\x01 XMRig 6.21.0 stratum+tcp:// randomx';
const OTHER = '\x7fELF\x02\x01\x01 procps-ng ps';
const SCRIPT = '#!/bin/sh\ncd /root/.configrc5/a && ./kswapd0\n';

async function put(root: string, rel: string, content: string, mode = 0o755): Promise<void> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content, 'latin1');
  await chmod(file, mode);
}

/** Stands in for the persistence checks: records files as started, the way they do. */
function starter(files: StartedFile[]): Check {
  return {
    id: 'fake-starter',
    description: 'records started files for the test',
    paths: [],
    run: async (ctx) => {
      for (const f of files) ctx.started(f);
    },
  };
}

const summary = (findings: Finding[]) => findings.map((f) => `${f.rule} ${f.severity} ${f.path}`).sort();

describe('hash-lookup', () => {
  let scratch: string;
  let root: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-hash-'));
    root = path.join(scratch, 'root');
    await put(root, 'usr/bin/kswaped', MINER);
    await put(root, 'usr/bin/ps', OTHER);
    await put(root, 'usr/bin/not-executable', MINER, 0o644);
    await put(root, 'usr/sbin/cron', OTHER + ' cron');
    await put(root, 'tmp/.ICE-unix/.x/miner', MINER);
    await put(root, 'etc/cron.daily/0anacron', MINER);
    await put(root, 'opt/app/run', SCRIPT);
    await put(root, 'root/.configrc5/a/upd', SCRIPT);
    await symlink('/opt/app/run', path.join(root, 'usr/bin/app'));
    await put(root, 'var/lib/dpkg/info/cron.list', '/usr/sbin/cron\n', 0o644);
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('finds every executable whose MD5 is on a plain list, naming the list entry', async () => {
    const list = path.join(scratch, 'miners.txt');
    await writeFile(list, `# known miners\n${md5(MINER)}  Coinminer.Linux.XMRig\n`);
    const result = await scanDirectory(root, [hashLookupCheck], await loadHashLists([list]));
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual([
      'hash.known-malware critical /etc/cron.daily/0anacron',
      'hash.known-malware critical /tmp/.ICE-unix/.x/miner',
      'hash.known-malware critical /usr/bin/kswaped',
    ]);
    const f = result.findings.find((x) => x.path === '/usr/bin/kswaped')!;
    expect(f.category).toBe('malware/hash');
    expect(f.message).toBe(`/usr/bin/kswaped is Coinminer.Linux.XMRig: its digest is on the hash list ${list}`);
    expect(f.evidence).toBe(
      `md5 ${md5(MINER)} sha256 ${sha256(MINER)} size ${MINER.length}; listed as md5 ${md5(MINER)} (Coinminer.Linux.XMRig)`,
    );
    expect(f.remediation).toContain('rm -f /usr/bin/kswaped');
    // Executables only (the 0644 copy is left out), each hashed once.
    const hashedFiles = [MINER, OTHER, OTHER + ' cron', MINER, MINER].reduce((n, s) => n + s.length, 0);
    expect(result.bytesHashed).toBe(hashedFiles);
  });

  it('matches ClamAV .hdb entries only at the stated size, and .hsb SHA-256 entries', async () => {
    const hdb = path.join(scratch, 'miners.hdb');
    await writeFile(hdb, `${md5(MINER)}:${MINER.length + 1}:Wrong.Size\n`);
    const none = await scanDirectory(root, [hashLookupCheck], await loadHashLists([hdb]));
    expect(none.findings).toEqual([]);

    const hsb = path.join(scratch, 'miners.hsb');
    await writeFile(hsb, `${sha256(OTHER)}:${OTHER.length}:Unix.Trojan.FakePs\n`);
    const result = await scanDirectory(root, [hashLookupCheck], await loadHashLists([hdb, hsb]));
    expect(summary(result.findings)).toEqual(['hash.known-malware critical /usr/bin/ps']);
    expect(result.findings[0]!.evidence).toContain(`listed as sha256 ${sha256(OTHER)} (Unix.Trojan.FakePs)`);
  });

  it('hashes a SHA-1 only when a list uses SHA-1', async () => {
    const sha1 = createHash('sha1').update(OTHER).digest('hex');
    const list = path.join(scratch, 'sha1.txt');
    await writeFile(list, `${sha1} FakePs\n`);
    const result = await scanDirectory(root, [hashLookupCheck], await loadHashLists([list]));
    expect(summary(result.findings)).toEqual(['hash.known-malware critical /usr/bin/ps']);
    expect(result.findings[0]!.evidence).toContain(`sha1 ${sha1}`);
  });

  it('without lists hashes only started files and inventories the ones no package owns', async () => {
    const started: StartedFile[] = [
      { path: '/root/.configrc5/a/upd', startedBy: '/var/spool/cron/crontabs/root:1' },
      { path: '/root/.configrc5/a/upd', startedBy: '/var/spool/cron/crontabs/root:2' },
      { path: '/usr/bin/app', startedBy: '/etc/systemd/system/app.service' },
      { path: '/usr/sbin/cron', startedBy: '/lib/systemd/system/cron.service' },
      { path: '/opt/gone', startedBy: '/etc/rc.local:2' },
      { path: 'relative/tool', startedBy: '/etc/crontab:9' },
      { path: '/opt/app', startedBy: '/etc/crontab:10' },
    ];
    const result = await scanDirectory(root, [starter(started), hashLookupCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual([
      'hash.started-file info /opt/app/run',
      'hash.started-file info /root/.configrc5/a/upd',
    ]);
    const upd = result.findings.find((f) => f.path === '/root/.configrc5/a/upd')!;
    expect(upd.category).toBe('inventory/hash');
    expect(upd.evidence).toBe(`md5 ${md5(SCRIPT)} sha256 ${sha256(SCRIPT)} size ${SCRIPT.length}`);
    expect(upd.message).toContain('started by /var/spool/cron/crontabs/root:1; /var/spool/cron/crontabs/root:2');
    // upd, run (through the /usr/bin/app symlink) and the packaged cron: nothing in /usr/bin was read.
    expect(result.bytesHashed).toBe(SCRIPT.length * 2 + (OTHER + ' cron').length);
  });

  it('reports a started file on a list as critical, not as inventory', async () => {
    const list = path.join(scratch, 'scripts.txt');
    await writeFile(list, `${md5(SCRIPT)} Outlaw.upd\n`);
    const started = [{ path: '/root/.configrc5/a/upd', startedBy: '/var/spool/cron/crontabs/root:1' }];
    const result = await scanDirectory(root, [starter(started), hashLookupCheck], await loadHashLists([list]));
    const onUpd = result.findings.filter((f) => f.path === '/root/.configrc5/a/upd');
    expect(onUpd.map((f) => `${f.rule} ${f.severity}`)).toEqual(['hash.known-malware critical']);
    expect(result.findings.find((f) => f.path === '/opt/app/run')).toBeUndefined();
  });

  it('skips files over the size bound with an info note, without reading them', async () => {
    const big = path.join(scratch, 'big');
    await mkdir(path.join(big, 'opt'), { recursive: true });
    // Sparse: 300 MiB on paper, nothing on disk.
    const fh = await open(path.join(big, 'opt/huge'), 'w');
    await fh.truncate(300 * 1024 * 1024);
    await fh.close();
    const result = await scanDirectory(big, [starter([{ path: '/opt/huge', startedBy: '/etc/crontab:3' }]), hashLookupCheck]);
    expect(summary(result.findings)).toEqual(['hash.file-too-large info /opt/huge']);
    expect(result.findings[0]!.message).toBe('/opt/huge (314572800 bytes) is larger than the hashing limit and was not hashed');
    expect(result.bytesHashed).toBe(0);
  });

  it("finds nothing in a copy of the host's /usr/sbin against a list of other digests", async () => {
    const host = path.join(scratch, 'host');
    await mkdir(path.join(host, 'usr'), { recursive: true });
    await run('cp', ['-al', '/usr/sbin', path.join(host, 'usr/sbin')]).catch(() => run('cp', ['-a', '/usr/sbin', path.join(host, 'usr/sbin')]));
    const list = path.join(scratch, 'unrelated.txt');
    await writeFile(list, `${md5(MINER)} A\n${sha256(MINER)} B\n`);
    const result = await scanDirectory(host, [hashLookupCheck], await loadHashLists([list]));
    expect(result.errors).toEqual([]);
    expect(result.findings).toEqual([]);
    expect(result.bytesHashed).toBeGreaterThan(100_000);
  });
});

describe('hashVfsFile', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-hashfile-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('streams a file of many chunks through every algorithm in one pass', async () => {
    const bytes = randomBytes(3 * 256 * 1024 + 17);
    await writeFile(path.join(scratch, 'blob'), bytes);
    const vfs = new RawVfs(await DirectoryFileSystem.open(scratch));
    const digest = (alg: string) => createHash(alg).update(bytes).digest('hex');
    const plain = await hashVfsFile(vfs, '/blob');
    expect(plain).toEqual({ kind: 'hashed', size: bytes.length, digests: { md5: digest('md5'), sha256: digest('sha256') } });
    const withSha1 = await hashVfsFile(vfs, '/blob', { algorithms: new Set(['md5', 'sha1', 'sha256']) });
    expect(withSha1.kind === 'hashed' && withSha1.digests.sha1).toBe(digest('sha1'));
    expect(await hashVfsFile(vfs, '/blob', { maxBytes: bytes.length - 1 })).toEqual({ kind: 'too-large', size: bytes.length });
    await vfs.close();
  });

  it('takes the digests a read-once source computed, without reading the file again', async () => {
    const known = { md5: 'a'.repeat(32), sha256: 'b'.repeat(64) };
    const vfs = {
      stat: async () => ({ type: 'file', size: 512 * 1024 * 1024 }),
      knownDigests: async () => known,
      createReadStream: () => {
        throw new Error('the bytes were not kept');
      },
    } as unknown as Vfs;
    expect(await hashVfsFile(vfs, '/usr/bin/big')).toEqual({ kind: 'hashed', size: 512 * 1024 * 1024, digests: known });
  });
});
