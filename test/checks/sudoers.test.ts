/**
 * The sudoers check on planted trees: passwordless ALL, ALL for a service account, an
 * unknown name, a no-home account and everyone, unpackaged drop-ins, aliases, includes
 * (relative, #include and @includedir, a loop), dangerous Defaults and programs in temp
 * directories, with exact rules, lines and severities; Debian's stock sudoers and README
 * and cloud-init's default-user file stay below medium; hostile files end quickly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseUserSpec, sudoersCheck, sudoersLines } from '../../src/checks/sudoers.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingSummary, unfilledTemplates } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, put } from '../helpers/planted-tree.js';

const STOCK_SUDOERS = `#
# This file MUST be edited with the 'visudo' command as root.
#
Defaults\tenv_reset
Defaults\tmail_badpass
Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults\tuse_pty
#Defaults:%sudo env_keep += "http_proxy https_proxy ftp_proxy all_proxy no_proxy"

# User privilege specification
root\tALL=(ALL:ALL) ALL

# Allow members of group sudo to execute any command
%sudo\tALL=(ALL:ALL) ALL

# See sudoers(5) for more information on "@include" directives:

@includedir /etc/sudoers.d
`;
const README = '#\n# The default /etc/sudoers file created on installation of the\n# sudo  package now includes the directive:\n# \n# \t@includedir /etc/sudoers.d\n#\n';
const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
  'admin:x:1000:1000:Admin:/home/admin:/bin/bash',
  'debian:x:1001:1001:Debian:/home/debian:/bin/bash',
  'ghost:x:1002:1002::/home/ghost:/bin/bash',
  'deploy:x:1003:1003::/home/deploy:/bin/bash',
].join('\n');

async function plantStock(root: string): Promise<void> {
  await put(root, 'etc/sudoers', STOCK_SUDOERS);
  await put(root, 'etc/sudoers.d/README', README);
  await put(root, 'var/lib/dpkg/info/sudo.list', '/etc/sudoers\n/etc/sudoers.d\n/etc/sudoers.d/README\n');
  await put(root, 'etc/passwd', `${PASSWD}\n`);
  for (const home of ['admin', 'debian', 'deploy']) await mkdir(path.join(root, 'home', home), { recursive: true });
}

describe('sudoers check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-sudoers-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');

    await plantStock(infected);
    await put(
      infected,
      'etc/sudoers.d/90-sys',
      [
        '# system maintenance',
        'www-data ALL=(ALL) ALL',
        'nobody1 ALL=(ALL) ALL',
        'ghost ALL = (root) \\',
        '   ALL',
        'User_Alias OPS = admin, deploy',
        'Cmnd_Alias EVERYTHING = ALL',
        'OPS ALL=(ALL) NOPASSWD: EVERYTHING',
        'ALL ALL=(ALL) ALL',
        'deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app, /tmp/.u/run',
        'Defaults env_keep += "LD_PRELOAD"',
        'Defaults:deploy !authenticate',
        '#include ../sudoers.extra',
        '',
      ].join('\n'),
    );
    await put(infected, 'etc/sudoers.extra', '#1000 ALL=(ALL:ALL) NOPASSWD:ALL\n@include /etc/sudoers\n');
    // sudo skips names with a dot or ending in "~" in an includedir.
    await put(infected, 'etc/sudoers.d/backup.bak', 'ghost ALL=(ALL) NOPASSWD: ALL\n');
    await put(infected, 'etc/sudoers.d/old~', 'ghost ALL=(ALL) NOPASSWD: ALL\n');

    await plantStock(clean);
    // A package tool's leftover beside its configuration: skipped by sudo, and nobody's plan.
    await put(clean, 'etc/sudoers.d/ops.dpkg-old', 'ops ALL=(ALL) ALL\n');
    await put(clean, 'etc/sudoers.d/90-cloud-init-users', '# Created by cloud-init v. 22.4.2 on Mon, 06 Nov 2023 00:00:00 +0000\n\n# User rules for debian\ndebian ALL=(ALL) NOPASSWD:ALL\n');

    await put(hostile, 'etc/passwd', `${PASSWD}\n`);
    await put(hostile, 'etc/sudoers', `@includedir /etc/sudoers.d\n${'admin ALL=(ALL) ALL, '.repeat(50_000)}\n${'\\\n'.repeat(20_000)}\n`);
    await put(hostile, 'etc/sudoers.d/loop', '@include /etc/sudoers\n#include /etc/sudoers.d/loop\n');
    const junk = junkBytes(200_000);
    await put(hostile, 'etc/sudoers.d/junk', junk);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports each planted grant once, most severe first, with exact lines', async () => {
    const result = await scanDirectory(infected, [sudoersCheck]);
    expect(result.errors).toEqual([]);
    expect(unfilledTemplates(result.findings)).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(
      [
        'high sudoers.all-to-odd-account /etc/sudoers.d/90-sys:2',
        'high sudoers.all-to-odd-account /etc/sudoers.d/90-sys:3',
        'high sudoers.all-to-odd-account /etc/sudoers.d/90-sys:4',
        'high sudoers.nopasswd-all /etc/sudoers.d/90-sys:8',
        'high sudoers.all-to-odd-account /etc/sudoers.d/90-sys:9',
        'low sudoers.unpackaged-grant /etc/sudoers.d/90-sys:10',
        'high sudoers.command-in-temp-or-hidden /etc/sudoers.d/90-sys:10',
        'high sudoers.keeps-preload /etc/sudoers.d/90-sys:11',
        'high sudoers.authentication-off /etc/sudoers.d/90-sys:12',
        'high sudoers.nopasswd-all /etc/sudoers.extra:1',
        // Skipped by sudo, reported all the same: written where grants go.
        'medium sudoers.skipped-drop-in /etc/sudoers.d/backup.bak:1',
        'medium sudoers.skipped-drop-in /etc/sudoers.d/old~:1',
      ].sort(),
    );
    const byLine = (p: string, line: number, rule: string) => result.findings.find((f) => f.path === p && f.line === line && f.rule === rule)!;
    expect(byLine('/etc/sudoers.d/90-sys', 2, 'sudoers.all-to-odd-account').message).toContain('www-data has the system uid 33');
    expect(byLine('/etc/sudoers.d/90-sys', 3, 'sudoers.all-to-odd-account').message).toContain('nobody1 is not in /etc/passwd');
    const ghost = byLine('/etc/sudoers.d/90-sys', 4, 'sudoers.all-to-odd-account');
    expect(ghost.message).toContain('ghost has no home directory');
    expect(ghost.evidence).toBe('ghost ALL = (root)     ALL');
    expect(byLine('/etc/sudoers.d/90-sys', 8, 'sudoers.nopasswd-all').message).toContain('admin, deploy run any command as root without a password');
    expect(byLine('/etc/sudoers.d/90-sys', 9, 'sudoers.all-to-odd-account').message).toContain('every account');
    const grant = byLine('/etc/sudoers.d/90-sys', 10, 'sudoers.unpackaged-grant');
    expect(grant.message).toContain('lets deploy run /usr/bin/systemctl restart app, /tmp/.u/run as root');
    expect(grant.remediation).toContain("sed -i '10d' /etc/sudoers.d/90-sys");
    expect(grant.remediation).toContain('visudo -c');
    expect(grant.remediation).toContain('rm -f /etc/sudoers.d/90-sys');
    expect(byLine('/etc/sudoers.extra', 1, 'sudoers.nopasswd-all').message).toContain('#1000');
    const skipped = byLine('/etc/sudoers.d/old~', 1, 'sudoers.skipped-drop-in');
    expect(skipped.message).toContain('sudo skips it');
    expect(skipped.remediation).toContain('rm -f');
  });

  it('parses sudoers lines and user specifications', () => {
    expect(sudoersLines('a b \\\n c # comment\n#include x\n# plain comment\n%#1000 ALL=ALL\n').map((l) => [l.line, l.text])).toEqual([
      [1, 'a b   c'],
      [3, '#include x'],
      [5, '%#1000 ALL=ALL'],
    ]);
    const none = { users: new Map(), commands: new Map() };
    expect(parseUserSpec('alice, bob  ALL = (ALL:ALL) NOPASSWD: SETENV: ALL', none)).toMatchObject({ users: ['alice', 'bob'], runas: 'ALL:ALL', nopasswd: true, allCommands: true });
    expect(parseUserSpec('alice ALL=(root) /usr/bin/apt, /usr/bin/ls', none)).toMatchObject({ allCommands: false, nopasswd: false, commands: '/usr/bin/apt, /usr/bin/ls' });
    expect(parseUserSpec('Defaults env_reset', none)).toBeUndefined();
  });

  it("keeps Debian's stock files silent and cloud-init's default user low", async () => {
    const result = await scanDirectory(clean, [sudoersCheck]);
    expect(result.errors).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(['low sudoers.cloud-init-nopasswd /etc/sudoers.d/90-cloud-init-users:4']);
  });

  it('reads hostile files quickly and bounded', async () => {
    const result = await scanHostile(hostile, [sudoersCheck], { maxOperations: 8_000 });
    // sudo reads the whole file, so the 1 MiB line granting admin everything is read too.
    expect(result.findings.filter((f) => f.severity === 'high' || f.severity === 'critical').map((f) => [f.rule, f.path, f.line])).toEqual([
      ['sudoers.all-to-odd-account', '/etc/sudoers', 2],
    ]);
  });
});
