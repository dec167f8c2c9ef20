/**
 * Launch chains followed the way a shell runs them: a `cd DIR` on one line and `./prog`
 * or `nohup ./prog &` on a later one; programs named through `~/`, `$HOME/` or a
 * variable the script set earlier (export, readonly, a bare assignment); start-up files
 * that run a hidden file in a home, or ignore Ctrl-C before starting something. Each
 * variation is planted with its own names and places, beside the ordinary lines that
 * look alike and must stay quiet (`cd /opt/app && ./bin/start`, `. ~/.bash_aliases`,
 * `~/.local/bin/tool`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import { startedScriptsCheck } from '../../src/checks/started-scripts.js';
import { shellStartupCheck } from '../../src/checks/shell-startup.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { plantFiles } from '../helpers/planted-tree.js';

const CHECKS = [cronCheck, startedScriptsCheck, shellStartupCheck];
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(56), Buffer.from('stand-in\0')]);
const PASSWD = ['root:x:0:0:root:/root:/bin/bash', 'deploy:x:1001:1001::/home/deploy:/bin/bash', 'ops:x:1002:1002::/srv/ops:/bin/bash', ''].join('\n');

const loud = (f: Finding) => severityRank(f.severity) >= severityRank('medium');
const at = (findings: Finding[], p: string) => findings.filter((f) => f.path === p && loud(f)).map((f) => `${f.line}:${f.rule}`).sort();

describe('launch chains', () => {
  let scratch: string;
  let findings: Finding[];

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-launch-chains-');
    const root = path.join(scratch, 'root');
    await plantFiles(root, {
      'etc/passwd': PASSWD,
      // cd on one line, nohup ./prog & on a later one.
      'etc/cron.d/logrotate-extra': '*/20 * * * * root /usr/local/sbin/logrotate-extra\n',
      'usr/local/sbin/logrotate-extra': {
        content: '#!/bin/sh\ncd /dev/shm/.cache || exit 0\nchmod +x .sys\nnohup ./.sys -c conf >/dev/null 2>&1 &\n',
        mode: 0o755,
      },
      'dev/shm/.cache/.sys': { content: ELF, mode: 0o755 },
      // A user's crontab runs ~/bin/sync.sh, which starts a program through a variable built on $HOME.
      'var/spool/cron/crontabs/deploy': '*/30 * * * * ~/bin/sync.sh >/dev/null 2>&1\n',
      'home/deploy/bin/sync.sh': {
        content: '#!/bin/bash\nexport W="$HOME/.local/share/.dbus"\nmkdir -p "$W"\nreadonly D=$W/dbus-daemon\nsetsid $D --session &\n',
        mode: 0o755,
      },
      'home/deploy/.local/share/.dbus/dbus-daemon': { content: ELF, mode: 0o755 },
      // root's .bashrc ignores Ctrl-C, then runs a hidden file in root's home through ~/.
      'root/.bashrc': "alias ll='ls -l'\nif [ -f ~/.bash_aliases ]; then . ~/.bash_aliases; fi\ntrap '' INT\n~/.sysupdate >/dev/null 2>&1 &\n",
      'root/.bash_aliases': "alias la='ls -A'\n",
      'root/.sysupdate': { content: ELF, mode: 0o755 },
      // ops's .profile: the same behaviour in other words, $HOME and a hidden directory.
      'srv/ops/.profile': 'PATH="$HOME/.local/bin:$PATH"\ntrap "" 2 3\n( cd $HOME/.X11-cache && ./Xvfb -nolisten tcp & )\n~/.local/bin/tool --version >/dev/null\n',
      'srv/ops/.X11-cache/Xvfb': { content: ELF, mode: 0o755 },
      'srv/ops/.local/bin/tool': { content: ELF, mode: 0o755 },
      // Ordinary: an app started from its own directory, a user's tool in ~/.local/bin.
      'etc/cron.d/app': '@reboot deploy cd /opt/app && ./bin/start\n',
      'opt/app/bin/start': { content: '#!/bin/sh\ncd /opt/app\nexec ./server --port 8080\n', mode: 0o755 },
      'opt/app/server': { content: ELF, mode: 0o755 },
      'home/deploy/.bashrc': 'export PATH="$HOME/.local/bin:$PATH"\n[ -s "$HOME/.nvm/nvm.sh" ] && . "$HOME/.nvm/nvm.sh"\n',
      'home/deploy/.nvm/nvm.sh': 'nvm() { :; }\n',
    });
    const result = await scanDirectory(root, CHECKS);
    expect(result.errors).toEqual([]);
    findings = result.findings;
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('follows a cd on one line to the ./prog a later line starts', () => {
    expect(at(findings, '/usr/local/sbin/logrotate-extra')).toEqual(['4:command.started-from-temp']);
  });

  it('follows ~/ in a crontab and a variable built on $HOME in the script it starts', () => {
    expect(at(findings, '/home/deploy/bin/sync.sh')).toEqual(['5:command.started-from-hidden']);
  });

  it('finds a hidden file in the home that a start-up file runs, and the trap that keeps Ctrl-C from stopping it', () => {
    expect(at(findings, '/root/.bashrc')).toEqual(['3:startup.ignores-interrupt', '4:command.started-from-hidden']);
    expect(at(findings, '/srv/ops/.profile')).toEqual(['2:startup.ignores-interrupt', '3:command.started-from-hidden']);
  });

  it('stays quiet on an app started from its own directory, ~/.bash_aliases, nvm and ~/.local/bin', () => {
    expect(at(findings, '/etc/cron.d/app')).toEqual([]);
    expect(at(findings, '/opt/app/bin/start')).toEqual([]);
    expect(at(findings, '/home/deploy/.bashrc')).toEqual([]);
    expect(findings.filter((f) => f.path === '/root/.bashrc' && f.line === 2)).toEqual([]);
    expect(findings.filter((f) => f.path === '/srv/ops/.profile' && f.line === 4)).toEqual([]);
  });
});
