/**
 * Finding times and the report's timeline: ordering by change time, the window around
 * the first high or critical change, and the examined files that changed inside it.
 * ctime and crtime cannot be set on a host tree, so the end-to-end case builds an ext4
 * image with mkfs.ext4 -d and sets them with debugfs set_inode_field; the host-tree
 * cases order and window by mtime, which fs.utimes sets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildImage, makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { cronCheck } from '../../src/checks/cron.js';
import { sshKeysCheck } from '../../src/checks/ssh-keys.js';
import { indicatorPathsCheck } from '../../src/checks/indicator-paths.js';
import { hashLookupCheck } from '../../src/checks/hash-lookup.js';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import { scanTarget } from '../../src/engine/scan.js';
import { buildTimeline, parseTimelineWindow, persistencePlaces, MAX_CHANGED_FILES } from '../../src/engine/timeline.js';
import { ALL_CHECKS } from '../../src/checks/index.js';

const PERSISTENCE = persistencePlaces(ALL_CHECKS);
import type { Finding } from '../../src/model/finding.js';
import { renderText } from '../../src/report/text.js';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { cli } from '../helpers/run-cli.js';
import { put } from '../helpers/planted-tree.js';

const run = promisify(execFile);
const iso = (s: number) => new Date(s * 1000).toISOString();
const T0 = 1_700_000_000; // 2023-11-14T22:13:20Z
const HOUR = 3600;
const DAY = 86_400;

const MINER_ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(56), Buffer.from('\0XMRig 6.21.0\0donate-level\0')]);
const ADMIN_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin@laptop\n';

const finding = (path: string, severity: Finding['severity'], times?: Finding['times']): Finding => ({
  rule: `test.${severity}`,
  category: 'test',
  severity,
  path,
  message: 'm',
  evidence: 'e',
  remediation: 'r',
  ...(times ? { times } : {}),
});

describe('timeline on hand-made findings', () => {
  it('orders by ctime, falls back to mtime when there is no ctime, and anchors the window on the earliest high change', async () => {
    const findings = [
      finding('/a', 'critical', { mtime: T0 - 10 * DAY, ctime: T0 + 500 }),
      finding('/b', 'high', { mtime: T0 + 9999, ctime: T0 }), // mtime later, ctime earliest: ctime counts
      finding('/c', 'info', { mtime: T0 - DAY, ctime: T0 - 2 * DAY }),
      finding('/d', 'medium'), // no times: not in the timeline
      finding('/e', 'low', { mtime: T0 - 3 * DAY, ctime: 0 }), // an archive: no ctime
    ];
    const t = await buildTimeline(findings, []);
    expect(t.entries).toEqual([
      { finding: 4, changed: iso(T0 - 3 * DAY), basis: 'mtime' },
      { finding: 2, changed: iso(T0 - 2 * DAY), basis: 'ctime' },
      { finding: 1, changed: iso(T0), basis: 'ctime' },
      { finding: 0, changed: iso(T0 + 500), basis: 'ctime' },
    ]);
    expect(t.window).toEqual({ start: iso(T0 - HOUR), end: iso(T0 + DAY), anchor: 1, beforeSeconds: HOUR, afterSeconds: DAY });
  });

  it('has no window without a high or critical finding with times', async () => {
    const t = await buildTimeline([finding('/a', 'medium', { mtime: T0, ctime: T0 }), finding('/b', 'critical')], []);
    expect(t.entries).toHaveLength(1);
    expect(t.window).toBeNull();
    expect(t.changedFiles).toEqual([]);
  });

  it('drops times no Date can hold instead of throwing', async () => {
    const t = await buildTimeline([finding('/a', 'high', { mtime: 1e300, ctime: Number.NaN })], []);
    expect(t.entries).toEqual([]);
  });

  it('reads --timeline-window', () => {
    expect(parseTimelineWindow('1h:24h')).toEqual({ beforeSeconds: HOUR, afterSeconds: DAY });
    expect(parseTimelineWindow('30m')).toEqual({ beforeSeconds: 1800, afterSeconds: 1800 });
    expect(parseTimelineWindow('0:2d')).toEqual({ beforeSeconds: 0, afterSeconds: 2 * DAY });
    for (const bad of ['', '1x', '1h:2h:3h', '-1h', '400d', '1h:']) expect(() => parseTimelineWindow(bad), bad).toThrow(/--timeline-window/);
  });
});

describe('window membership on a host tree (by mtime)', () => {
  let scratch: string;
  let vfs: RawVfs;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-timeline-dir-');
    const files: [string, number][] = [
      ['etc/cron.d/inside', T0 + 2 * HOUR],
      ['etc/cron.d/before', T0 - 2 * HOUR],
      ['etc/cron.d/after', T0 + 2 * DAY],
      ['etc/cron.d/flagged', T0 + HOUR],
    ];
    for (const [rel, mtime] of files) {
      await put(scratch, rel, '# nothing\n');
      await utimes(path.join(scratch, rel), mtime, mtime);
    }
    for (let i = 0; i < MAX_CHANGED_FILES + 7; i++) {
      await put(scratch, `many/f${i}`, '');
      await utimes(path.join(scratch, `many/f${i}`), T0 + i, T0 + i);
    }
    vfs = new RawVfs(await DirectoryFileSystem.open(scratch));
  });
  afterAll(async () => {
    await vfs?.close();
    if (scratch) await removeScratchDir(scratch);
  });

  it('lists examined files changed inside the window that have no finding, with their place', async () => {
    // The anchor's times are made up; the host tree's ctimes are "now", far from T0.
    const anchor = finding('/etc/cron.d/flagged', 'critical', { mtime: T0, ctime: T0 });
    const examined = ['inside', 'before', 'after', 'flagged', 'missing'].map((n) => ({ path: `/etc/cron.d/${n}`, places: ['cron'] }));
    const t = await buildTimeline([anchor], [{ vfs, examined }], undefined, PERSISTENCE);
    expect(t.changedFiles.map((c) => [c.path, c.place, c.times.mtime])).toEqual([['/etc/cron.d/inside', 'cron', iso(T0 + 2 * HOUR)]]);
    const wide = await buildTimeline([{ ...anchor, volume: 2 }], [{ vfs, examined, volume: 2 }], parseTimelineWindow('3h:3d'), PERSISTENCE);
    expect(wide.changedFiles.map((c) => [c.path, c.volume])).toEqual([
      ['/etc/cron.d/before', 2],
      ['/etc/cron.d/inside', 2],
      ['/etc/cron.d/after', 2],
    ]);
  });

  it('takes the persistence places from the checks themselves', () => {
    expect([...PERSISTENCE].sort()).toEqual(
      ['accounts', 'at-jobs', 'cloud-init', 'cron', 'hosts-file', 'kernel-modules', 'ld-preload', 'ld-so-conf', 'services', 'shell-startup', 'ssh-keys', 'sshd-config', 'started-scripts', 'sudoers', 'systemd-generators', 'udev-rules', 'user-services', 'windows-autostart', 'windows-defender', 'windows-hosts-file', 'windows-scheduled-tasks', 'windows-services', 'windows-startup-folders', 'windows-wmi-subscriptions'].sort(),
    );
  });

  it('leaves out files no persistence check examined, unless something starts them', async () => {
    const anchor = finding('/x', 'high', { mtime: T0, ctime: T0 });
    const t = await buildTimeline([anchor], [
      {
        vfs,
        examined: [
          { path: '/etc/cron.d/inside', places: ['package-integrity'] },
          { path: '/many/f1', places: ['hash-lookup'], started: true },
          { path: '/many/f2', places: ['package-integrity', 'hash-lookup'] },
          { path: '/many/f3', places: ['package-integrity', 'sudoers'] },
          { path: '/many/f4', places: ['miner-files'] },
        ],
      },
    ], undefined, PERSISTENCE);
    expect(t.changedFiles.map((c) => [c.path, c.place])).toEqual([
      ['/many/f1', 'hash-lookup'],
      ['/many/f3', 'sudoers'],
    ]);
  });

  it('bounds the list and says how many were left out', async () => {
    const anchor = finding('/x', 'high', { mtime: T0, ctime: T0 });
    const examined = Array.from({ length: MAX_CHANGED_FILES + 7 }, (_, i) => ({ path: `/many/f${i}`, places: ['cron'] }));
    const t = await buildTimeline([anchor], [{ vfs, examined }], undefined, PERSISTENCE);
    expect(t.changedFiles).toHaveLength(MAX_CHANGED_FILES);
    expect(t.changedFilesOmitted).toBe(7);
    expect(t.changedFiles[0]!.path).toBe('/many/f0');
  });
});

describe('times and timeline on an ext4 image (ctime and crtime set with debugfs)', () => {
  let scratch: string;
  let image: string;
  let hashList: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-timeline-img-');
    const root = path.join(scratch, 'root');
    await put(root, 'etc/cron.d/job', '*/5 * * * * root /usr/local/bin/backup\n');
    await put(root, 'usr/local/bin/backup', MINER_ELF, 0o755);
    await put(root, 'etc/cron.d/certbot', '0 */12 * * * root test -x /usr/bin/certbot && perl -e \'sleep int(rand(43200))\' && certbot -q renew\n');
    await put(root, 'etc/cron.d/e2scrub_all', '30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron\n');
    await put(root, 'etc/cron.daily/logrotate', '#!/bin/sh\n/usr/sbin/logrotate /etc/logrotate.conf\n', 0o755);
    await put(root, 'root/.ssh/authorized_keys', ADMIN_KEY, 0o600);
    hashList = path.join(scratch, 'miners.sha256');
    await writeFile(hashList, `${createHash('sha256').update(MINER_ELF).digest('hex')}  Coinminer.Linux.XMRig\n`);
    image = await buildImage(root, path.join(scratch, 'disk.img'), { table: 'none', sizeMiB: 16 });
    const set: [string, string, number][] = [
      ['/usr/local/bin/backup', 'ctime', T0],
      ['/usr/local/bin/backup', 'mtime', 1_550_000_000], // timestomped with touch -r: ctime still tells
      ['/usr/local/bin/backup', 'crtime', T0],
      ['/etc/cron.d/job', 'ctime', T0 + 600],
      ['/etc/cron.d/job', 'mtime', T0 + 600],
      ['/etc/cron.d/certbot', 'ctime', T0 - 1800],
      ['/etc/cron.d/certbot', 'mtime', T0 - 1800],
      ['/etc/cron.d/e2scrub_all', 'ctime', T0 + 2 * DAY],
      ['/etc/cron.d/e2scrub_all', 'mtime', T0 + 2 * DAY],
      ['/etc/cron.daily/logrotate', 'ctime', T0 - 30 * DAY],
      ['/etc/cron.daily/logrotate', 'mtime', T0 - 30 * DAY],
      ['/root/.ssh/authorized_keys', 'ctime', T0 + HOUR],
      ['/root/.ssh/authorized_keys', 'mtime', T0 + HOUR],
    ];
    const commands = path.join(scratch, 'debugfs.cmd');
    await writeFile(commands, set.map(([p, field, t]) => `set_inode_field ${p} ${field} @${t}`).join('\n') + '\n');
    await run('debugfs', ['-w', '-f', commands, image]);
  }, 120_000);
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('fills ISO times on findings, orders the timeline by ctime and lists what else changed in the window', async () => {
    const hashes = await loadHashLists([hashList], { bundled: false });
    const report = await scanTarget(image, { checks: [cronCheck, sshKeysCheck, indicatorPathsCheck, hashLookupCheck], rules: await builtinRules(), hashes });
    expect(report.errors).toEqual([]);
    const miner = report.findings.findIndex((f) => f.rule === 'hash.known-malware');
    // Seconds on findings, with the filesystem's fraction (debugfs zeroed the nanoseconds).
    expect(report.findings[miner]!.times).toEqual({ mtime: 1_550_000_000, ctime: T0, crtime: T0 });
    const line = report.findings.findIndex((f) => f.rule === 'correlation.persistence-starts-malicious');
    expect(report.findings[line]).toMatchObject({ path: '/etc/cron.d/job', line: 1, times: { ctime: T0 + 600 } });
    const key = report.findings.findIndex((f) => f.rule === 'ssh.authorized-key');
    expect(key).toBeGreaterThanOrEqual(0);
    // run-parts starts the unpackaged logrotate script: an info inventory finding.
    const script = report.findings.findIndex((f) => f.path === '/etc/cron.daily/logrotate');
    expect(report.findings[script]!.rule).toBe('hash.started-file');

    const t = report.timeline;
    expect(t.entries.map((e) => [e.finding, e.changed])).toEqual([
      [script, iso(T0 - 30 * DAY)],
      [miner, iso(T0)],
      [line, iso(T0 + 600)],
      [key, iso(T0 + HOUR)],
    ]);
    expect(t.window).toEqual({ start: iso(T0 - HOUR), end: iso(T0 + DAY), anchor: miner, beforeSeconds: HOUR, afterSeconds: DAY });
    // certbot changed 30 minutes before the miner, e2scrub_all two days after; the job, the
    // miner, the key and the logrotate script have findings of their own.
    expect(t.changedFiles).toEqual([{ path: '/etc/cron.d/certbot', place: 'cron', times: { mtime: iso(T0 - 1800), ctime: iso(T0 - 1800), crtime: expect.any(String) } }]);
    expect(t.changedFilesOmitted).toBe(0);

    const text = renderText([report], { color: false });
    expect(text).toContain('Timeline (file changes, earliest first):');
    expect(text).toContain(`  ${iso(T0)} changed  CRITICAL /usr/local/bin/backup (hash.known-malware)`);
    expect(text).toContain(`Window ${iso(T0 - HOUR)} — ${iso(T0 + DAY)}, around /usr/local/bin/backup:`);
    expect(text).toContain(`  ${iso(T0 - 1800)} changed, ${iso(T0 - 1800)} modified  /etc/cron.d/certbot (cron)`);
    expect(text).toContain('started by: /etc/cron.d/job:1');
    expect(text).toContain(`changed ${iso(T0)} · modified ${iso(1_550_000_000)} · created ${iso(T0)}`);

    const narrow = await scanTarget(image, {
      checks: [cronCheck, sshKeysCheck, indicatorPathsCheck, hashLookupCheck],
      rules: await builtinRules(),
      hashes,
      timelineWindow: parseTimelineWindow('0:3d'),
    });
    expect(narrow.timeline.changedFiles.map((c) => c.path)).toEqual(['/etc/cron.d/e2scrub_all']);
  }, 120_000);

  it('takes --timeline-window on the command line and refuses a malformed one', async () => {
    const ok = await cli(['scan', image, '--format', 'json', '--fail-on', 'none', '--quiet', '--output', path.join(scratch, 'r.json'), '--timeline-window', '0:3d']);
    expect(ok.code).toBe(0);
    const bad = await cli(['scan', image, '--timeline-window', '3 days']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--timeline-window takes durations like 30m, 1h, 2d/);
  }, 120_000);
});
