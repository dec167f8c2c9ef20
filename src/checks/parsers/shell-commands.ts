/**
 * Which programs does this command line start? A reader of simple commands over the
 * tokens of shell-lexer.ts that sees through wrappers (`nohup`, `exec`, `setsid`,
 * `nice`, `env`, `sudo`, `timeout`, `screen -dmS`...), shells (`bash -c "..."`,
 * `sh /root/.configrc5/a/upd`), `cd DIR && ./x`, `start-stop-daemon --exec $DAEMON`
 * with the script's own assignments, and systemd's Exec*= syntax (`-@:+!` prefixes,
 * `;` separated commands). It only reports absolute paths: a bare `run-parts` or `test`
 * is resolved by PATH on the live system, which an offline scan cannot reproduce
 * reliably. Only what is executed counts: `test -x /tmp/x`, `rm -rf /tmp/x` or a
 * `PrivateTmp=` line start nothing.
 */
import { normalizePath, joinPath, basename } from '../../../mountfs/path.js';
import { lexShell, OPAQUE, splitExecWords, type Word } from './shell-lexer.js';

export { heredocDelimiters, shellCommentStart, stripShellComment } from './shell-lexer.js';

/**
 * Assignments a script made so far (`DAEMON=/usr/sbin/cron`), for `$DAEMON` later on;
 * `HOME` when the caller knows whose shell runs the script (for `~/` too), and the
 * working directory a `cd` left for the lines after it (under CWD, no shell name).
 */
export type ShellVars = Map<string, string>;
/** The key of the working directory in ShellVars: a `cd DIR` line, then `./prog` lines later. */
export const CWD = '\0cwd';
/** A ShellVars for a script run by the account whose home is `home`. */
export function shellVarsFor(home: string | undefined): ShellVars {
  return home ? new Map([['HOME', home]]) : new Map();
}

/** `bash -c "sh -c '...'"` and `$(...)` nest; hostile input must not recurse without end. */
const MAX_DEPTH = 6;

interface ParseState {
  vars: ShellVars;
  /** Working directory after a `cd /abs` earlier on the same line. */
  cwd?: string;
  depth: number;
  out: Set<string>;
  /** Paths only read into the shell (`. FILE`, `source FILE`), a subset of out. */
  sourced: Set<string>;
}

/** A file a command line starts, or only sources: a sourced file runs in the shell that reads it, as configuration does. */
export interface StartedProgram {
  path: string;
  sourced: boolean;
}

/** Programs a shell command line starts, as absolute normalised paths, in order. */
export function startedByShellLine(line: string, vars: ShellVars = new Map()): string[] {
  return shellLineStarts(line, vars).map((p) => p.path);
}

/** What a shell command line starts or sources, in order; a file both started and sourced counts as started. */
export function shellLineStarts(line: string, vars: ShellVars = new Map()): StartedProgram[] {
  const cwd = vars.get(CWD);
  const state: ParseState = { vars, depth: 0, out: new Set(), sourced: new Set(), ...(cwd !== undefined ? { cwd } : {}) };
  parseShell(line, state);
  // The shell keeps the directory a top-level `cd` went to for the lines that follow.
  if (state.cwd === undefined) vars.delete(CWD);
  else vars.set(CWD, state.cwd);
  return [...state.out].map((path) => ({ path, sourced: state.sourced.has(path) }));
}

/**
 * Programs a systemd Exec*= value starts (the part after "="). systemd does no shell
 * parsing: the first word is the program, `@` makes the second word argv[0], and a lone
 * `;` separates commands; a shell it starts with -c is parsed as shell.
 */
export function startedByExecValue(value: string, vars: ShellVars = new Map()): string[] {
  const state: ParseState = { vars, depth: 0, out: new Set(), sourced: new Set() };
  const m = /^\s*([-@:+!]*)\s*/.exec(value)!;
  const argv0Given = m[1]!.includes('@');
  let command: Word[] = [];
  const flush = () => {
    if (argv0Given && command.length > 1) command.splice(1, 1);
    if (command.length > 0) simpleCommand(command, state);
    command = [];
  };
  for (const word of splitExecWords(value.slice(m[0].length))) {
    if (word.text === ';' && !word.quoted) flush();
    else command.push(word);
  }
  flush();
  return [...state.out];
}

function parseShell(src: string, state: ParseState): void {
  if (state.depth > MAX_DEPTH) return;
  const { tokens, substitutions } = lexShell(src);
  for (const sub of substitutions) parseShell(sub, { ...state, depth: state.depth + 1 });
  let words: Word[] = [];
  // The working directory outside each open subshell "( ... )": a cd inside one ends with it.
  const outside: (string | undefined)[] = [];
  for (const t of tokens) {
    if (t.kind === 'word') {
      words.push(t);
      continue;
    }
    // A ")" that closes nothing ends a case pattern ("start)", "/tmp/*)"): not a command.
    if (t.text === ')' && outside.length === 0) {
      words = [];
      continue;
    }
    if (words.length > 0) simpleCommand(words, state);
    words = [];
    if (t.text === '(') outside.push(state.cwd);
    else if (t.text === ')') setCwd(state, outside.pop());
  }
  if (words.length > 0) simpleCommand(words, state);
}

const KEYWORDS = new Set(['!', '{', '}', 'if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'esac', 'in', 'time', 'coproc']);
/** Builtins whose `NAME=value` words assign as a bare assignment does. */
const DECLARERS = new Set(['export', 'readonly', 'declare', 'typeset', 'local']);
/** Compound commands whose first words are not commands: `for f in /tmp/*`. */
const NOT_COMMANDS = new Set(['for', 'case', 'select', 'function', 'declare', 'typeset', 'local', 'readonly', 'export', 'alias', 'unset', 'trap']);
const SHELLS = /^(?:ba|da|z|k|mk|a|c|tc|fi|y|pdk)?sh$/;
/** Interpreters whose first non-option argument is a script they run. */
const INTERPRETERS = /^(?:perl|python[0-9.]*|php[0-9.]*|ruby|node|nodejs|lua[0-9.]*)$/;

interface Wrapper {
  /** Options that take the next word as their value. */
  withValue?: string[];
  /** Positional words before the command (timeout's duration, taskset's mask). */
  positional?: number;
  /** Assignments may follow (env). */
  assignments?: boolean;
}

/** Commands that run the rest of their words as a command. */
const WRAPPERS: Record<string, Wrapper> = {
  nohup: {},
  exec: { withValue: ['-a'] },
  setsid: {},
  nice: { withValue: ['-n', '--adjustment'] },
  ionice: { withValue: ['-c', '-n', '--class', '--classdata'] },
  env: { withValue: ['-u', '--unset', '-C', '--chdir'], assignments: true },
  sudo: { withValue: ['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-U', '-T', '--user', '--group'] },
  doas: { withValue: ['-u', '-C'] },
  timeout: { withValue: ['-s', '-k', '--signal', '--kill-after'], positional: 1 },
  stdbuf: { withValue: ['-i', '-o', '-e'] },
  taskset: { positional: 1 },
  chrt: { positional: 1 },
  builtin: {},
  busybox: {},
  screen: { withValue: ['-S', '-c', '-t', '-T', '-e', '-h', '-p', '-L', '-Logfile'] },
  flock: { withValue: ['-w', '-E', '--timeout', '--conflict-exit-code'], positional: 1 },
  // The init-script helpers of LSB (/lib/lsb/init-functions) and RHEL (/etc/init.d/functions).
  start_daemon: { withValue: ['-n', '-p'] },
  daemon: { withValue: ['--user', '--pidfile', '--check'] },
};

function simpleCommand(words: Word[], state: ParseState): void {
  let i = 0;
  const n = words.length;
  const at = (k: number) => words[k]!.text;
  // Leading assignments: remembered when nothing follows them ("DAEMON=/usr/sbin/cron").
  while (i < n && isAssignment(words[i]!)) i++;
  if (i === n) {
    remember(words, state.vars);
    return;
  }
  for (;;) {
    if (i >= n) return;
    const w = at(i);
    if (words[i]!.quoted) break;
    if (KEYWORDS.has(w)) {
      i++;
      continue;
    }
    if (DECLARERS.has(w)) {
      remember(words.slice(i + 1).filter(isAssignment), state.vars);
      return;
    }
    if (NOT_COMMANDS.has(w)) return;
    if (w === 'command' && i + 1 < n && /^-[vV]/.test(at(i + 1))) return;
    if (w === 'command') {
      i++;
      while (i < n && at(i).startsWith('-')) i++;
      continue;
    }
    const wrapper = WRAPPERS[w.slice(w.lastIndexOf('/') + 1)];
    if (!wrapper) break;
    // "/usr/bin/env /tmp/x": the wrapper is started too.
    if (w.includes('/')) addPath(w, state);
    i++;
    while (i < n && /^-/.test(at(i)) && at(i) !== '--') {
      const opt = at(i);
      i++;
      if (wrapper.withValue?.includes(opt)) i++;
      // "screen -dmS name": a cluster whose last letter takes a value.
      else if (/^-[A-Za-z]{2,}$/.test(opt) && wrapper.withValue?.includes(`-${opt.slice(-1)}`)) i++;
    }
    if (i < n && at(i) === '--') i++;
    i += wrapper.positional ?? 0;
    if (wrapper.assignments) while (i < n && isAssignment(words[i]!)) i++;
    if (w === 'flock' && i < n && at(i) === '-c') {
      if (i + 1 < n) parseShell(at(i + 1), { ...state, depth: state.depth + 1 });
      return;
    }
  }
  const word = at(i);
  const args = words.slice(i + 1);

  if (word === 'cd') {
    const target = args[0] ? expand(args[0].text, state.vars) : undefined;
    state.cwd = target === undefined ? undefined : resolve(target, state.cwd);
    return;
  }
  if (word === '.' || word === 'source') {
    addPath(args[0]?.text, state, true);
    return;
  }
  if (word === 'su' || word === 'runuser') {
    const c = args.findIndex((a) => a.text === '-c' || a.text === '--command');
    if (c >= 0 && args[c + 1]) parseShell(args[c + 1]!.text, { ...state, depth: state.depth + 1 });
    else if (word === 'runuser') {
      const dd = args.findIndex((a) => a.text === '--');
      if (dd >= 0 && dd + 1 < args.length) simpleCommand(args.slice(dd + 1), state);
    }
    return;
  }

  const program = addPath(word, state);
  const name = basename(program ?? expand(word, state.vars) ?? word);
  if (SHELLS.test(name)) shellArguments(args, state);
  else if (INTERPRETERS.test(name)) interpreterArguments(args, state);
  else if (name === 'start-stop-daemon') startStopDaemon(args, state);
}

/** `sh -c '...'` parses the string; `sh [-opts] script` starts the script. */
function shellArguments(args: Word[], state: ParseState): void {
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!.text;
    if (/^-[A-Za-z]*c[A-Za-z]*$/.test(a)) {
      if (args[k + 1]) parseShell(args[k + 1]!.text, { ...state, depth: state.depth + 1 });
      return;
    }
    if (a === '-o' || a === '+o' || a === '-O' || a === '+O') {
      k++;
      continue;
    }
    if (a === '--') {
      addPath(args[k + 1]?.text, state);
      return;
    }
    if (/^[-+]/.test(a)) continue;
    addPath(a, state);
    return;
  }
}

function interpreterArguments(args: Word[], state: ParseState): void {
  for (const arg of args) {
    const a = arg.text;
    // Inline code or a module: no script file to record.
    if (/^-[A-Za-z]*[ecmrE]$/.test(a)) return;
    if (a.startsWith('-')) continue;
    addPath(a, state);
    return;
  }
}

function startStopDaemon(args: Word[], state: ParseState): void {
  const texts = args.map((a) => a.text);
  if (!texts.some((t) => t === '--start' || t === '-S' || /^-[A-Za-z]*S/.test(t))) return;
  for (let k = 0; k < texts.length; k++) {
    const t = texts[k]!;
    const eq = /^--(?:exec|startas)=(.*)$/.exec(t);
    if (eq) addPath(eq[1], state);
    else if (['--exec', '-x', '--startas', '-a'].includes(t)) addPath(texts[k + 1], state);
  }
}

/** Records the program (or the sourced file) if it resolves to an absolute path; returns that path. */
function addPath(raw: string | undefined, state: ParseState, sourced = false): string | undefined {
  if (raw === undefined) return undefined;
  const value = expand(raw, state.vars);
  if (value === undefined || value === '' || value.startsWith('~')) return undefined;
  // A bare name is looked up in PATH: not a path the scan can name.
  if (!value.includes('/')) return undefined;
  const path = resolve(value, state.cwd);
  if (path === undefined || path === '/dev/null') return undefined;
  if (!sourced) state.sourced.delete(path);
  else if (!state.out.has(path)) state.sourced.add(path);
  state.out.add(path);
  return path;
}

function resolve(value: string, cwd: string | undefined): string | undefined {
  if (value.startsWith('/')) return normalizePath(value);
  if (cwd === undefined) return undefined;
  return normalizePath(joinPath(cwd, value));
}

/**
 * Substitutes `$NAME`, `${NAME}` and a leading `~/` (HOME) from the script's
 * assignments; undefined when something stays unknown.
 */
function expand(raw: string, vars: ShellVars): string | undefined {
  if (raw.includes(OPAQUE)) return undefined;
  let text = raw;
  if (text === '~' || text.startsWith('~/')) {
    const home = vars.get('HOME');
    if (home === undefined) return undefined;
    text = home + text.slice(1);
  }
  if (!text.includes('$')) return text;
  let unknown = false;
  const out = text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, a?: string, b?: string) => {
    const v = vars.get((a ?? b)!);
    if (v === undefined) unknown = true;
    return v ?? '';
  });
  return unknown || out.includes('$') ? undefined : out;
}

/** Records `NAME=value` words (`+=` appends); a value that cannot be known forgets the name. */
function remember(assignments: Word[], vars: ShellVars): void {
  for (const w of assignments) {
    const eq = w.text.indexOf('=');
    const append = w.text[eq - 1] === '+';
    const name = w.text.slice(0, append ? eq - 1 : eq);
    const value = expand(w.text.slice(eq + 1), vars);
    const before = append ? vars.get(name) ?? '' : '';
    if (value !== undefined) vars.set(name, before + value);
    else vars.delete(name);
  }
}

function setCwd(state: ParseState, cwd: string | undefined): void {
  if (cwd === undefined) delete state.cwd;
  else state.cwd = cwd;
}

function isAssignment(t: Word): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*\+?=/.test(t.text);
}
