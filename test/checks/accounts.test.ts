/**
 * The accounts check over a planted tree: second uid-0 accounts, a known-bad name, a
 * system account with a shell and a password (SYS_UID_MAX from login.defs), empty
 * passwords in passwd and in shadow, malformed lines (NIS entries excepted),
 * administrator groups, and account changes in auth.log, a dated RHEL secure log and
 * audit.log (uid 0, uid changed to 0, deleted, vanished without a logged deletion,
 * hex-encoded and failed audit records); exact rule ids, severities, lines and
 * remediation (userdel never removes /root; chattr first on a locked passwd). A log
 * bigger than the read budget is read at its head and tail only. Clean counterparts:
 * this machine's own account files, the planted clean tree, and the debootstrapped
 * Debian root when it is there, give nothing above info.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { accountsCheck } from '../../src/checks/accounts.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { makeScratchDir, plantTree, removeScratchDir } from '../helpers/images.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const DEBIAN_ROOT = fixture('debianRoot');
const HASH = '$y$j9T$Q1nq0o2v3HhP0yZ6F9bX5.$Lq3b4l0wJp8xUqk1o7rT3nZ2yW8aVd6cFhG9eK1mN0P';

async function put(root: string, rel: string, text: string): Promise<string> {
  const p = path.join(root, rel);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
  return p;
}

const summary = (fs: Finding[]) => fs.map((f) => `${f.severity} ${f.rule} ${f.path}${f.line !== undefined ? `:${f.line}` : ''}`).sort();
const aboveInfo = (fs: Finding[]) => fs.filter((f) => severityRank(f.severity) > severityRank('info'));

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'sync:x:4:65534:sync:/bin:/bin/sync',
  'games:x:5:60:games:/usr/games:/bin/bash',
  'toor:x:0:0::/root:/bin/sh',
  'shaojiang99:x:0:0::/home/shaojiang99:/bin/bash',
  'open::1002:1002::/home/open:/bin/bash',
  'nopass:x:1003:1003::/home/nopass:/bin/bash',
  'broken:line',
  '+@netgroup',
  'admin:x:1000:1000:Admin,,,:/home/admin:/bin/bash',
  'svc:x:600:600::/var/lib/svc:/bin/bash',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
].join('\n');

const SHADOW = [
  `root:${HASH}:19700:0:99999:7:::`,
  'daemon:*:19700:0:99999:7:::',
  `sync:${HASH}:19700:0:99999:7:::`,
  `games:${HASH}:19700:0:99999:7:::`,
  `toor:${HASH}:19700:0:99999:7:::`,
  `shaojiang99:${HASH}:19701:0:99999:7:::`,
  'nopass::19700:0:99999:7:::',
  ':no name',
  `admin:${HASH}:19700:0:99999:7:::`,
  `svc:${HASH}:19700:0:99999:7:::`,
  'www-data:*:19700:0:99999:7:::',
].join('\n');

const AUTH_LOG = [
  'Nov  2 03:12:01 web1 sshd[811]: Accepted publickey for admin from 192.0.2.10 port 50522 ssh2',
  'Nov  3 01:02:03 web1 useradd[4242]: new user: name=toor, UID=0, GID=0, home=/root, shell=/bin/sh, from=/dev/pts/1',
  'Nov  3 01:02:04 web1 useradd[4243]: new user: name=admin, UID=1000, GID=1000, home=/home/admin, shell=/bin/bash',
  'Nov  3 01:02:05 web1 useradd[4244]: new user: name=shaojiang99, UID=0, GID=0, home=/home/shaojiang99, shell=/bin/bash, from=/dev/pts/1',
  'Nov  3 01:02:06 web1 useradd[4245]: new user: name=tmpuser, UID=1005, GID=1005, home=/home/tmpuser, shell=/bin/bash, from=/dev/pts/1',
  "Nov  3 01:09:00 web1 userdel[4301]: delete user 'tmpuser'",
  "Nov  3 01:10:00 web1 usermod[4302]: change user 'svc' UID from '600' to '0'",
  'Nov  3 01:11:00 web1 useradd[4303]: failed adding user',
].join('\n');

const AUDIT_LOG = [
  `type=ADD_USER msg=audit(1730595723.120:812): pid=4243 uid=0 auid=1000 ses=3 msg='op=adding user acct="admin" exe="/usr/sbin/useradd" hostname=web1 addr=? terminal=pts/1 res=success'`,
  `type=ADD_USER msg=audit(1730595800.000:813): pid=4250 uid=0 auid=1000 ses=3 msg='op=add-user acct=6576696C exe="/usr/sbin/useradd" hostname=web1 addr=? terminal=pts/1 res=success'`,
  `type=ADD_USER msg=audit(1730595801.000:814): pid=4251 uid=0 auid=1000 ses=3 msg='op=add-user acct="nope" exe="/usr/sbin/useradd" hostname=web1 addr=? terminal=pts/1 res=failed'`,
  `type=ADD_USER msg=audit(1730595802.000:815): pid=4252 uid=0 auid=1000 ses=3 msg='op=adding home directory acct="admin" exe="/usr/sbin/useradd" hostname=web1 addr=? terminal=pts/1 res=success'`,
  `type=DEL_USER msg=audit(1730595900.000:816): pid=4260 uid=0 auid=1000 ses=3 msg='op=delete-user acct="evil" exe="/usr/sbin/userdel" hostname=web1 addr=? terminal=pts/1 res=success'`,
].join('\n');

describe('accounts check', () => {
  let scratch: string;
  let infected: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-accounts-');
    infected = path.join(scratch, 'infected');
    await put(infected, 'etc/passwd', PASSWD + '\n');
    await put(infected, 'etc/shadow', SHADOW + '\n');
    await put(infected, 'etc/group', 'root:x:0:\nsudo:x:27:admin,www-data\nwheel:x:10:ghostuser\nusers:x:100:svc\n');
    // RHEL 5-style numbering: no SYS_UID_MAX, UID_MIN 500, so uid 600 is an ordinary user.
    await put(infected, 'etc/login.defs', '#SYS_UID_MAX 999\nUID_MIN                   500\nUID_MAX                 60000\n');
    await put(infected, 'var/log/auth.log', AUTH_LOG + '\n');
    await put(infected, 'var/log/secure-20241103', '2024-11-03T01:20:00.123456+00:00 web1 useradd[5000]: new user: name=hidden, UID=1010, GID=1010, home=/home/hidden, shell=/bin/bash, from=/dev/pts/2\n');
    await put(infected, 'var/log/secure-20241027.gz', 'Nov  1 00:00:00 web1 useradd[1]: new user: name=compressed, UID=0, GID=0\n');
    await put(infected, 'var/log/audit/audit.log', AUDIT_LOG + '\n');
    await run('chattr', ['+i', path.join(infected, 'etc/passwd')]);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds the planted accounts and the logged changes', async () => {
    const result = await scanDirectory(infected, [accountsCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(
      [
        'high accounts.system-account-login /etc/passwd:4',
        'high accounts.extra-uid0 /etc/passwd:5',
        'critical accounts.known-bad-name /etc/passwd:6',
        'high accounts.extra-uid0 /etc/passwd:6',
        'high accounts.empty-password /etc/passwd:7',
        'high accounts.empty-password /etc/shadow:7',
        'medium accounts.malformed-line /etc/passwd:9',
        'medium accounts.malformed-line /etc/shadow:8',
        'info accounts.admin-group-member /etc/group:2',
        'medium accounts.system-account-admin-group /etc/group:2',
        'info accounts.admin-group-member /etc/group:3',
        'high accounts.created-suspicious /var/log/auth.log:2',
        'info accounts.created /var/log/auth.log:3',
        'critical accounts.known-bad-name /var/log/auth.log:4',
        'high accounts.created-suspicious /var/log/auth.log:4',
        'info accounts.created /var/log/auth.log:5',
        'high accounts.uid-changed-to-0 /var/log/auth.log:7',
        'medium accounts.created-then-removed /var/log/secure-20241103:1',
        'info accounts.created /var/log/audit/audit.log:1',
        'info accounts.created /var/log/audit/audit.log:2',
      ].sort(),
    );
    expect(result.findings.every((f) => f.category === 'accounts')).toBe(true);
  });

  it('explains each finding and gives commands that are safe to run', async () => {
    const { findings } = await scanDirectory(infected, [accountsCheck]);
    const find = (rule: string, p: string, line: number) => findings.find((f) => f.rule === rule && f.path === p && f.line === line)!;

    const toor = find('accounts.extra-uid0', '/etc/passwd', 5);
    expect(toor.evidence).toBe('toor:x:0:0::/root:/bin/sh');
    expect(toor.message).toBe('account toor has uid 0: it is root under another name (home /root, shell /bin/sh)');
    // Its home is root's: userdel must not take it along; passwd is immutable: unlock first.
    expect(toor.remediation).toMatch(/^chattr -ia \/etc\/passwd\nuserdel -f toor   # its home \/root is shared or a system directory: not removed\n/);

    const bad = find('accounts.known-bad-name', '/etc/passwd', 6);
    expect(bad.message).toBe('/etc/passwd line 6: account shaojiang99 has a name miner intrusions are known to create');
    expect(bad.remediation).toMatch(/^chattr -ia \/etc\/passwd\nuserdel -f -r shaojiang99\n/);

    const games = find('accounts.system-account-login', '/etc/passwd', 4);
    expect(games.message).toContain('system account games (uid 5, at most 499 are system accounts) has a login shell (/bin/bash) and a usable password in /etc/shadow');
    expect(games.remediation).toContain('usermod -L -s /usr/sbin/nologin games');

    expect(find('accounts.empty-password', '/etc/passwd', 7).message).toContain('account open (uid 1002) has an empty password field in /etc/passwd');
    const nopass = find('accounts.empty-password', '/etc/shadow', 7);
    expect(nopass.message).toContain('account nopass (uid 1003) has an empty password field in /etc/shadow');
    expect(nopass.remediation).toContain('usermod -L nopass');
    expect(find('accounts.malformed-line', '/etc/passwd', 9).evidence).toBe('broken:line');

    const www = find('accounts.system-account-admin-group', '/etc/group', 2);
    expect(www.message).toContain('system account www-data (uid 33) is a member of the administrator group sudo');
    expect(www.remediation).toBe('gpasswd -d www-data sudo');
    expect(find('accounts.admin-group-member', '/etc/group', 3).message).toContain('ghostuser (uid unknown (not in /etc/passwd)) is a member of the administrator group wheel');

    const created = find('accounts.created-suspicious', '/var/log/auth.log', 2);
    expect(created.evidence).toBe(AUTH_LOG.split('\n')[1]);
    expect(created.message).toBe('/var/log/auth.log:2: useradd created account toor with uid 0 (a second root) at Nov  3 01:02:03');
    const badLogged = find('accounts.known-bad-name', '/var/log/auth.log', 4);
    expect(badLogged.message).toBe('/var/log/auth.log:4 (useradd created it at Nov  3 01:02:05): account shaojiang99 has a name miner intrusions are known to create');
    expect(find('accounts.created', '/var/log/auth.log', 5).message).toContain('tmpuser (uid 1005) at Nov  3 01:02:06 (deleted since, as the log records)');
    expect(find('accounts.uid-changed-to-0', '/var/log/auth.log', 7).message).toBe('/var/log/auth.log:7: usermod changed the uid of svc from 600 to 0 at Nov  3 01:10:00, making it a second root');
    const hidden = find('accounts.created-then-removed', '/var/log/secure-20241103', 1);
    expect(hidden.message).toContain('created account hidden (uid 1010) at 2024-11-03T01:20:00.123456+00:00 (no longer in /etc/passwd, and no deletion is logged)');
    expect(find('accounts.created', '/var/log/audit/audit.log', 1).message).toBe('/var/log/audit/audit.log:1: audit created account admin (uid 1000) at 2024-11-03T01:02:03.000Z');
    expect(find('accounts.created', '/var/log/audit/audit.log', 2).message).toContain('account evil (uid unknown) at 2024-11-03T01:03:20.000Z (deleted since, as the log records)');
  });

  it('reads a log bigger than its budget at the head and the tail only', async () => {
    const tree = path.join(scratch, 'biglog');
    await put(tree, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nfirst:x:1001:1001::/home/first:/bin/bash\nlast:x:1003:1003::/home/last:/bin/bash\nmiddle:x:1002:1002::/home/middle:/bin/bash\n');
    const noise = 'Nov  3 00:00:00 web1 sshd[1]: Failed password for invalid user x from 198.51.100.1 port 22 ssh2\n';
    const block = noise.repeat(Math.ceil((1 << 20) / noise.length));
    const parts = [
      'Nov  3 00:00:00 web1 useradd[1]: new user: name=first, UID=1001, GID=1001, home=/home/first, shell=/bin/bash\n',
      // 4 MiB are read at the head and 12 MiB at the tail: the line at 6 MiB of 20 is in neither.
      block.repeat(6),
      'Nov  3 00:00:00 web1 useradd[2]: new user: name=middle, UID=0, GID=0, home=/home/middle, shell=/bin/bash\n',
      block.repeat(14),
      'Nov  3 00:00:00 web1 useradd[3]: new user: name=last, UID=1003, GID=1003, home=/home/last, shell=/bin/bash\n',
    ];
    await put(tree, 'var/log/auth.log.1', parts.join(''));
    const result = await scanDirectory(tree, [accountsCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(['info accounts.created /var/log/auth.log.1', 'info accounts.created /var/log/auth.log.1:1']);
    expect(result.findings.find((f) => f.line === undefined)!.message).toContain('(line unknown: in the tail of a large log): useradd created account last');
  });

  it("is quiet on this machine's own account files", async () => {
    const tree = path.join(scratch, 'host');
    await mkdir(path.join(tree, 'etc'), { recursive: true });
    for (const f of ['passwd', 'shadow', 'group', 'login.defs']) if (existsSync(`/etc/${f}`)) await copyFile(`/etc/${f}`, path.join(tree, 'etc', f));
    await put(tree, 'var/log/auth.log', 'Nov  2 03:12:01 web1 sshd[811]: Accepted publickey for admin from 192.0.2.10 port 50522 ssh2\n');
    const result = await scanDirectory(tree, [accountsCheck]);
    expect(result.errors).toEqual([]);
    expect(aboveInfo(result.findings)).toEqual([]);
    expect(result.filesExamined).toBeGreaterThanOrEqual(3);
  });

  it('is quiet on the planted clean tree and on a debootstrapped Debian root', async () => {
    const clean = await plantTree(path.join(scratch, 'clean'), true);
    const planted = await scanDirectory(clean, [accountsCheck]);
    expect(planted.errors).toEqual([]);
    expect(summary(planted.findings)).toEqual(['info accounts.admin-group-member /etc/group:2']);
    const debian = await scanDirectory(DEBIAN_ROOT, [accountsCheck]);
    expect(debian.errors).toEqual([]);
    expect(aboveInfo(debian.findings)).toEqual([]);
  });

  it('stays quick and bounded on hostile account files and logs', async () => {
    const tree = path.join(scratch, 'hostile');
    let junk = '';
    for (let i = 0; i < 200_000; i++) junk += String.fromCharCode((i * 7919) % 256);
    const many = Array.from({ length: 20_000 }, (_, i) => `u${i}:x:0:0::/root:/bin/sh`).join('\n');
    await put(tree, 'etc/passwd', `root:x:0:0:root:/root:/bin/bash\n${many}\n${junk}\n`);
    await put(tree, 'etc/shadow', junk);
    await put(tree, 'etc/group', `sudo:x:27:${'a,'.repeat(1000)}\n${junk}`);
    await put(tree, 'etc/login.defs', junk);
    const longLine = `Nov  3 00:00:00 h useradd[1]: new user: name=${'x'.repeat(100_000)}, UID=0\n`;
    await put(tree, 'var/log/auth.log', `${junk}\n${longLine}${'useradd userdel usermod ADD_USER '.repeat(50_000)}\n`);
    const result = await scanHostile(tree, [accountsCheck], { maxOperations: 300 });
    expect(result.errors).toEqual([]);
    expect(result.findings.filter((f) => f.rule === 'accounts.extra-uid0')).toHaveLength(20_000);
    expect(result.findings.filter((f) => f.path === '/var/log/auth.log')).toEqual([]);
  });

  it('still sees root with an empty password, but not the stock Debian accounts', async () => {
    const tree = path.join(scratch, 'rootempty');
    await put(tree, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nsync:x:4:65534:sync:/bin:/bin/sync\n');
    await put(tree, 'etc/shadow', `root::19700:0:99999:7:::\nsync:${HASH}:19700:0:99999:7:::\n`);
    const result = await scanDirectory(tree, [accountsCheck]);
    expect(summary(result.findings)).toEqual(['high accounts.empty-password /etc/shadow:1']);
  });
});
