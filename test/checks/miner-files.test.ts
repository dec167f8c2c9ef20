/**
 * The miner-files check on a tree of real gcc-built ELF files and miner configs in
 * the places attackers use (hidden temporary directories, renamed in /usr/local/bin),
 * beside the lookalikes that must stay quiet: a library mentioning RandomX, a script
 * hunting for xmrig, an ordinary config.json, a package-owned copy of a miner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { makeMinerFilesCheck, minerFilesCheck, MINER_FILE_GLOBS } from '../../src/checks/miner-files.js';
import { compileGlob } from '../../mountfs/glob.js';
import type { Finding } from '../../src/model/finding.js';
import { severityRank } from '../../src/model/finding.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { builtinRules, scanDirectory, scanDirectoryCounting } from '../helpers/scan-dir.js';
import { scanTarget } from '../../src/engine/scan.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { UPX_STRINGS, XMRIG_LIKE_STRINGS, XMRIG_STRINGS, XMR_WALLET, compileElf, dropSectionTable } from '../miners/elf-fixtures.js';
import { fixture } from '../helpers/fixtures.js';

const DEBIAN_ROOT = fixture('debianRoot');
const run = promisify(execFile);

/** XMRig's config.json format (xmrig/xmrig src/config.json), with a comment and a trailing comma as XMRig tolerates. */
const XMRIG_CONFIG = `{
    "api": { "id": null, "worker-id": null },
    "autosave": true,
    "background": true,
    // dropped by the loader
    "randomx": { "init": -1, "mode": "auto", "1gb-pages": false },
    "cpu": { "enabled": true, "huge-pages": true, "max-threads-hint": 100 },
    "donate-level": 0,
    "pools": [
        {
            "algo": null,
            "coin": "monero",
            "url": "pool.hashvault.pro:443",
            "user": "${XMR_WALLET}",
            "pass": "x",
            "tls": true,
        },
        { "url": "stratum+tcp://45.9.148.21:14444", "user": "${XMR_WALLET}" }
    ],
}
`;

let root: string;
let build: string;
let findings: Finding[];
let errors: Array<{ path?: string; message: string }>;

async function put(rel: string, content: string | Buffer): Promise<void> {
  await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
  await writeFile(path.join(root, rel), content);
}

async function placeElf(rel: string, built: string): Promise<void> {
  await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
  await copyFile(built, path.join(root, rel));
}

beforeAll(async () => {
  root = await makeScratchDir('minescan-minerfiles-');
  build = await makeScratchDir('minescan-minerfiles-build-');
  const xmrig = await compileElf(build, 'xmrig', XMRIG_STRINGS);
  const like = await compileElf(build, 'like', XMRIG_LIKE_STRINGS);
  const cpuminer = await compileElf(build, 'cpuminer', ['Usage: minerd [OPTIONS]', '  -a, --algo=ALGO       specify the algorithm to use', 'scrypt', 'sha256d', 'stratum+tcp://']);
  const packed = await compileElf(build, 'packed', UPX_STRINGS);
  await dropSectionTable(packed);
  const randomxLib = await compileElf(build, 'randomx-bench', ['RandomX benchmark: %d hashes', 'randomx']);
  const hunter = await compileElf(build, 'hunter', ['pgrep -f xmrig', 'randomx', 'kill miners']);

  // Miners.
  await placeElf('usr/local/bin/kworker', xmrig);
  await placeElf('root/.cache/.x/sysupdate', like);
  await placeElf('tmp/.z/minerd-static', cpuminer);
  await placeElf('usr/bin/.sshd', packed);
  await put('var/tmp/.ICE-unix/.x/c.json', XMRIG_CONFIG);
  await put('dev/shm/p', `stratum+tcp://xmr.2miners.com:2222 ${XMR_WALLET}\n`);
  // The package database's own files get only the ELF test; a hidden file there is read.
  await put('var/lib/dpkg/info/.x.json', XMRIG_CONFIG);
  await put('var/lib/dpkg/info/fake.templates', XMRIG_CONFIG);
  // A top-level directory whose name is glob syntax is walked as a literal name.
  await put('[x]{a,b}/c.json', XMRIG_CONFIG);
  // Quiet: lookalikes and ordinary administration.
  await placeElf('opt/bench/bin/randomx-bench', randomxLib);
  await placeElf('usr/local/sbin/miner-hunter', hunter);
  await put('etc/myapp/config.json', '{"url": "https://api.example.com:443/v1", "user": "svc", "pools": [], "timeout": 30}\n');
  await put('root/bin/check-miners.sh', '#!/bin/sh\npgrep -f xmrig && echo found\ngrep -rl "stratum+tcp" /tmp /var/tmp\n');
  await put('home/ann/notes.txt', 'pool stats: https://supportxmr.com (randomx)\n');
  await put('opt/app/package.json', '{"name": "app", "scripts": {"start": "node server.js --port 3333"}}\n');
  // A package-owned copy: package integrity is another check's business.
  await placeElf('usr/bin/owned-miner', xmrig);
  await put('var/lib/dpkg/info/owned.list', '/usr/bin/owned-miner\n');
  await put('var/lib/dpkg/status', 'Package: owned\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n');
  // Hostile: a long line, junk named like a config, an ELF header with garbage, a directory loop.
  await put('tmp/huge.json', `{"pools": [${'"x",'.repeat(200_000)}]}`);
  await put('tmp/junk.conf', Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256)));
  await put('tmp/.bad-elf', Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.alloc(57, 0xff), Buffer.from('\0xmrig\0')]));
  await symlink('.', path.join(root, 'tmp/.z/loop'));
  await mkdir(path.join(root, 'proc/1'), { recursive: true });
  await placeElf('proc/1/exe', xmrig); // a /proc copy in a directory tree is never walked

  const result = await scanDirectory(root, [minerFilesCheck]);
  findings = result.findings;
  errors = result.errors;
}, 120_000);

afterAll(async () => {
  await removeScratchDir(root);
  await removeScratchDir(build);
});

const at = (p: string) => findings.filter((f) => f.path === p);

describe('miner-files check', () => {
  it('finds an XMRig build renamed in /usr/local/bin: critical, with its built-in pool and wallet', () => {
    expect(at('/usr/local/bin/kworker')).toEqual([
      expect.objectContaining({
        rule: 'miner.xmrig-binary',
        severity: 'critical',
        category: 'malware/miner',
        indicators: { pools: ['pool.supportxmr.com:3333'], wallets: [XMR_WALLET] },
      }),
    ]);
    const f = at('/usr/local/bin/kworker')[0]!;
    expect(f.evidence).toContain('donate.v2.xmrig.com');
    expect(f.message).toContain('pool.supportxmr.com:3333');
    expect(f.remediation).toContain('rm -f /usr/local/bin/kworker');
  });

  it('finds a customised XMRig build without its name in a hidden directory: high', () => {
    expect(at('/root/.cache/.x/sysupdate')).toEqual([
      expect.objectContaining({ rule: 'miner.xmrig-like-binary', severity: 'high', indicators: { pools: ['gulf.moneroocean.stream:10128'], wallets: [] } }),
    ]);
  });

  it('finds cpuminer and a UPX-packed ELF hidden in /usr/bin', () => {
    expect(at('/tmp/.z/minerd-static').map((f) => [f.rule, f.severity])).toEqual([['miner.cpuminer-binary', 'high']]);
    expect(at('/usr/bin/.sshd').map((f) => [f.rule, f.severity])).toEqual([['miner.packed-elf', 'medium']]);
  });

  it('finds the XMRig config hidden in /var/tmp/.ICE-unix/.x with its pools and wallet', () => {
    expect(at('/var/tmp/.ICE-unix/.x/c.json')).toEqual([
      expect.objectContaining({
        rule: 'miner.config',
        severity: 'high',
        line: 13,
        evidence: '"url": "pool.hashvault.pro:443",',
        indicators: { pools: ['pool.hashvault.pro:443', '45.9.148.21:14444'], wallets: [XMR_WALLET] },
      }),
    ]);
  });

  it('finds a pool list with no telling name', () => {
    expect(at('/dev/shm/p')).toEqual([
      expect.objectContaining({ rule: 'miner.config-text', severity: 'high', line: 1, indicators: { pools: ['xmr.2miners.com:2222'], wallets: [XMR_WALLET] } }),
    ]);
  });

  it('reports nothing else: lookalikes, package-owned copies, /proc and hostile files stay quiet', () => {
    const expected = ['/usr/local/bin/kworker', '/root/.cache/.x/sysupdate', '/tmp/.z/minerd-static', '/usr/bin/.sshd', '/var/tmp/.ICE-unix/.x/c.json', '/dev/shm/p', '/var/lib/dpkg/info/.x.json', '/[x]{a,b}/c.json'];
    expect(findings.map((f) => f.path).sort()).toEqual(expected.sort());
    expect(errors).toEqual([]);
  });

  it('says so when the byte budget runs out, having read the likeliest places first', async () => {
    const small = await makeScratchDir('minescan-minerfiles-budget-');
    try {
      await mkdir(path.join(small, 'var/tmp/.x'), { recursive: true });
      await mkdir(path.join(small, 'usr/local/bin'), { recursive: true });
      await mkdir(path.join(small, 'etc/app'), { recursive: true });
      await writeFile(path.join(small, 'var/tmp/.x/c.json'), XMRIG_CONFIG);
      await copyFile(path.join(build, 'xmrig'), path.join(small, 'usr/local/bin/kworker'));
      await writeFile(path.join(small, 'etc/app/app.conf'), 'listen 8080\n');
      // Enough for the hidden temporary config (read first), not for the ELF after it.
      const r = await scanDirectory(small, [makeMinerFilesCheck({ scanByteBudget: XMRIG_CONFIG.length + 100 })]);
      expect(r.findings.map((f) => [f.rule, f.path])).toEqual([['miner.config', '/var/tmp/.x/c.json']]);
      expect(r.errors).toEqual([
        { kind: 'limit', structure: 'miner-files check', message: expect.stringMatching(new RegExp(`${XMRIG_CONFIG.length + 100}-byte read budget ran out; .*: 1$`)) },
      ]);
    } finally {
      await removeScratchDir(small);
    }
  });

  it('declares globs that keep the hiding places of a single-pass archive, not every system binary', () => {
    const globs = MINER_FILE_GLOBS.map(compileGlob);
    const kept = (p: string) => globs.some((g) => g.matches(p));
    for (const p of ['/usr/local/bin/kworker', '/root/.cache/.x/sysupdate', '/tmp/.z/minerd-static', '/usr/bin/.sshd', '/var/tmp/.ICE-unix/.x/c.json', '/dev/shm/p', '/home/ann/.config/xmrig.json', '/opt/xmrig-6.21.0/xmrig', '/etc/.x/config.json']) {
      expect(kept(p), p).toBe(true);
    }
    for (const p of ['/usr/bin/ls', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/var/log/syslog', '/var/cache/apt/pkgcache.bin', '/var/lib/docker/overlay2/a/diff/bin/ls']) {
      expect(kept(p), p).toBe(false);
    }
  });
});

describe('miner-files on a tar.gz read in one pass', () => {
  it('reads the declared hiding places and says how many unowned ELF files it could not read', async () => {
    const tree = await makeScratchDir('minescan-minerfiles-tar-');
    try {
      await mkdir(path.join(tree, 'var/tmp/.ICE-unix/.x'), { recursive: true });
      await mkdir(path.join(tree, 'root/.cache/.x'), { recursive: true });
      await mkdir(path.join(tree, 'usr/bin'), { recursive: true });
      await writeFile(path.join(tree, 'var/tmp/.ICE-unix/.x/c.json'), XMRIG_CONFIG);
      await copyFile(path.join(build, 'like'), path.join(tree, 'root/.cache/.x/sysupdate'));
      // Visible in /usr/bin and unowned: not kept by a single-pass read (see the check's header).
      await copyFile(path.join(build, 'xmrig'), path.join(tree, 'usr/bin/kworker'));
      const archive = path.join(build, 'root.tar.gz');
      await run('tar', ['-czf', archive, '-C', tree, '.']);
      const report = await scanTarget(archive, { checks: [minerFilesCheck], rules: await builtinRules(), hashes: EMPTY_HASH_LIST });
      expect(report.source).toMatchObject({ format: 'tar+gzip' });
      expect(report.findings.map((f) => [f.rule, f.path]).sort()).toEqual([
        ['miner.config', '/var/tmp/.ICE-unix/.x/c.json'],
        ['miner.xmrig-like-binary', '/root/.cache/.x/sysupdate'],
      ]);
      expect(report.errors).toEqual([
        expect.objectContaining({ path: '/usr/bin/kworker', message: expect.stringMatching(/single-pass source did not keep .*: 1$/) }),
      ]);
    } finally {
      await removeScratchDir(tree);
    }
  }, 60_000);
});

describe('miner-files on the clean Debian root', () => {
  it('reports nothing of medium or more, reading little, without errors', async () => {
    const { result: r, counts } = await scanDirectoryCounting(DEBIAN_ROOT, [minerFilesCheck]);
    expect(r.findings.filter((f) => severityRank(f.severity) >= severityRank('medium'))).toEqual([]);
    expect(r.errors).toEqual([]);
    expect(r.filesExamined).toBeGreaterThan(20);
    // Programs are read in bounded windows, and only those a miner could hide as: about
    // 800 of the root's 7,400 files and 1 MiB.
    expect(counts.bytesRead).toBeLessThan(4 << 20);
    expect(counts.filesRead).toBeLessThan(2_000);
  }, 60_000);
});
