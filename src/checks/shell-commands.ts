/**
 * Which programs does this command line start? A small shell lexer (quotes, escapes,
 * `$(...)` and backticks, redirections glued to words as in `upd>/dev/null`, `2>&1`,
 * here-documents) and a reader of simple commands that sees through wrappers (`nohup`,
 * `exec`, `setsid`, `nice`, `env`, `sudo`, `timeout`, `screen -dmS`...), shells
 * (`bash -c "..."`, `sh /root/.configrc5/a/upd`), `cd DIR && ./x`,
 * `start-stop-daemon --exec $DAEMON` with the script's own assignments, and systemd's
 * Exec*= syntax (`-@:+!` prefixes, `;` separated commands). It only reports absolute
 * paths: a bare `run-parts` or `test` is resolved by PATH on the live system, which an
 * offline scan cannot reproduce reliably. Only what is executed counts: `test -x /tmp/x`,
 * `rm -rf /tmp/x` or a `PrivateTmp=` line start nothing.
 */
import { normalizePath, joinPath, basename } from '../../mountfs/path.js';

/** Assignments a script made so far (`DAEMON=/usr/sbin/cron`), for `$DAEMON` later on. */
export type ShellVars = Map<string, string>;

/** `bash -c "sh -c '...'"` and `$(...)` nest; hostile input must not recurse without end. */
const MAX_DEPTH = 6;
/** A lexer budget: lines longer than this are read up to here only. */
const MAX_LEX_CHARS = 256 * 1024;
/** Marks an expansion the offline scan cannot evaluate (`$(...)`, backticks). */
const OPAQUE = '\u0000';

interface Word {
  kind: 'word';
  text: string;
  /** Some of it was quoted or escaped: not a keyword, not a descriptor number. */
  quoted: boolean;
}
type Token = Word | { kind: 'op'; text: string };

interface Lexed {
  tokens: Token[];
  /** Bodies of `$(...)`, backticks and `<(...)`: commands in their own right. */
  substitutions: string[];
  /** Delimiters of here-documents started on this line (`<<EOF`). */
  heredocs: string[];
}

interface ParseState {
  vars: ShellVars;
  /** Working directory after a `cd /abs` earlier on the same line. */
  cwd?: string;
  depth: number;
  out: Set<string>;
}

/** Programs a shell command line starts, as absolute normalised paths, in order. */
export function startedByShellLine(line: string, vars: ShellVars = new Map()): string[] {
  const state: ParseState = { vars, depth: 0, out: new Set() };
  parseShell(line, state);
  return [...state.out];
}

/** Delimiters of the here-documents a shell line opens (`cat <<EOF >x`), so callers can skip their bodies. */
export function heredocDelimiters(line: string): string[] {
  return lexShell(line).heredocs;
}

/**
 * Programs a systemd Exec*= value starts (the part after "="). systemd does no shell
 * parsing: the first word is the program, `@` makes the second word argv[0], and a lone
 * `;` separates commands; a shell it starts with -c is parsed as shell.
 */
export function startedByExecValue(value: string, vars: ShellVars = new Map()): string[] {
  const state: ParseState = { vars, depth: 0, out: new Set() };
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

/** Index where an unquoted shell comment starts, or -1. */
export function shellCommentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
      continue;
    }
    if (c === '\\') i++;
    else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '#' && (i === 0 || /[\s;&|()]/.test(line[i - 1]!))) return i;
  }
  return -1;
}

/** The line without its trailing shell comment (a `#` starting a word, outside quotes). */
export function stripShellComment(line: string): string {
  const at = shellCommentStart(line);
  return at < 0 ? line : line.slice(0, at).trimEnd();
}

function parseShell(src: string, state: ParseState): void {
  if (state.depth > MAX_DEPTH) return;
  const { tokens, substitutions } = lexShell(src);
  for (const sub of substitutions) parseShell(sub, { ...state, depth: state.depth + 1 });
  let words: Word[] = [];
  let parens = 0;
  for (const t of tokens) {
    if (t.kind === 'word') {
      words.push(t);
      continue;
    }
    if (t.text === '(') parens++;
    // A ")" that closes nothing ends a case pattern ("start)", "/tmp/*)"): not a command.
    if (t.text === ')' && parens-- <= 0) {
      parens = 0;
      words = [];
      continue;
    }
    if (words.length > 0) simpleCommand(words, state);
    words = [];
  }
  if (words.length > 0) simpleCommand(words, state);
}

function lexShell(input: string): Lexed {
  const src = input.length > MAX_LEX_CHARS ? input.slice(0, MAX_LEX_CHARS) : input;
  const tokens: Token[] = [];
  const substitutions: string[] = [];
  const heredocs: string[] = [];
  let word: string | undefined;
  let quoted = false;
  /** The next word is a redirection target (dropped), or a here-document delimiter. */
  let redirect: 'file' | 'heredoc' | undefined;

  const endWord = () => {
    if (word === undefined) return;
    if (redirect === 'heredoc') heredocs.push(word.replace(OPAQUE, ''));
    else if (!redirect) tokens.push({ kind: 'word', text: word, quoted });
    redirect = undefined;
    word = undefined;
    quoted = false;
  };
  const op = (text: string) => {
    endWord();
    redirect = undefined;
    tokens.push({ kind: 'op', text });
  };
  const append = (s: string) => {
    word = (word ?? '') + s;
  };

  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === ' ' || c === '\t' || c === '\r') {
      endWord();
      i++;
    } else if (c === '\n') {
      op(';');
      i++;
    } else if (c === '#' && word === undefined) {
      // A comment runs to the end of the line.
      const nl = src.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === '\\') {
      if (next === '\n') i += 2;
      else {
        if (next !== undefined) append(next);
        quoted = true;
        i += 2;
      }
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1);
      append(src.slice(i + 1, end < 0 ? src.length : end));
      quoted = true;
      i = end < 0 ? src.length : end + 1;
    } else if (c === '"') {
      quoted = true;
      append('');
      i++;
      while (i < src.length && src[i] !== '"') {
        const d = src[i]!;
        if (d === '\\' && i + 1 < src.length) {
          const e = src[i + 1]!;
          append('$`"\\\n'.includes(e) ? e : d + e);
          i += 2;
        } else if (d === '$' && src[i + 1] === '(') {
          i = readSubstitution(src, i + 1, substitutions);
          append(OPAQUE);
        } else if (d === '`') {
          i = readBackticks(src, i, substitutions);
          append(OPAQUE);
        } else {
          append(d);
          i++;
        }
      }
      i++;
    } else if (c === '$' && next === '(') {
      i = readSubstitution(src, i + 1, substitutions);
      append(OPAQUE);
    } else if (c === '`') {
      i = readBackticks(src, i, substitutions);
      append(OPAQUE);
    } else if ((c === '<' || c === '>') && next === '(') {
      // Process substitution: its body runs; the word itself is a /dev/fd path.
      i = readSubstitution(src, i + 1, substitutions);
      append(OPAQUE);
    } else if (c === '<' || c === '>' || (c === '&' && next === '>')) {
      // "2>&1", "upd>/dev/null": digits right before the operator name a descriptor.
      if (word !== undefined && !quoted && /^\d+$/.test(word)) word = undefined;
      endWord();
      const m = /^(?:&>>|&>|<<<|<<-|<<|<>|<&|>>|>&|>\||<|>)/.exec(src.slice(i, i + 3))!;
      i += m[0].length;
      if (m[0] === '<<' || m[0] === '<<-') redirect = 'heredoc';
      else if (m[0].endsWith('&')) {
        // ">&2", "<&-": the target is a descriptor, not a word.
        const fd = /^\s*(\d+-?|-)/.exec(src.slice(i, i + 24));
        if (fd) i += fd[0].length;
        else redirect = 'file';
      } else redirect = 'file';
    } else if (c === '&' || c === '|' || c === ';') {
      const two = src.slice(i, i + 2);
      const text = ['&&', '||', '|&', ';;', ';&'].includes(two) ? two : c;
      op(text);
      i += text.length;
    } else if (c === '(' || c === ')') {
      op(c);
      i++;
    } else {
      append(c);
      i++;
    }
  }
  endWord();
  return { tokens, substitutions, heredocs };
}

/** Reads "(...)" starting at the "(" and returns the index after the matching ")". */
function readSubstitution(src: string, open: number, out: string[]): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < src.length; i++) {
    const c = src[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) {
      const body = src.slice(open + 1, i);
      // $((arithmetic)) runs nothing.
      if (!(body.startsWith('(') && body.endsWith(')'))) out.push(body);
      return i + 1;
    }
  }
  out.push(src.slice(open + 1));
  return src.length;
}

function readBackticks(src: string, open: number, out: string[]): number {
  let i = open + 1;
  let body = '';
  while (i < src.length && src[i] !== '`') {
    if (src[i] === '\\' && i + 1 < src.length) {
      body += src[i + 1];
      i += 2;
    } else body += src[i++];
  }
  out.push(body);
  return i + 1;
}

/** systemd's word splitting: whitespace, '...' and "..." quotes, backslash escapes. */
function splitExecWords(src: string): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < src.length) {
    while (i < src.length && /\s/.test(src[i]!)) i++;
    if (i >= src.length) break;
    let text = '';
    let quoted = false;
    while (i < src.length && !/\s/.test(src[i]!)) {
      const c = src[i]!;
      if (c === '"' || c === "'") {
        const end = src.indexOf(c, i + 1);
        text += src.slice(i + 1, end < 0 ? src.length : end);
        quoted = true;
        i = end < 0 ? src.length : end + 1;
      } else if (c === '\\' && i + 1 < src.length) {
        text += src[i + 1];
        i += 2;
      } else {
        text += c;
        i++;
      }
    }
    words.push({ kind: 'word', text, quoted });
  }
  return words;
}

const KEYWORDS = new Set(['!', '{', '}', 'if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'esac', 'in', 'time', 'coproc']);
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
    for (const w of words) {
      const eq = w.text.indexOf('=');
      const value = expand(w.text.slice(eq + 1), state.vars);
      if (value !== undefined) state.vars.set(w.text.slice(0, eq), value);
      else state.vars.delete(w.text.slice(0, eq));
    }
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
    addPath(args[0]?.text, state);
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

/** Records the program if it resolves to an absolute path; returns that path. */
function addPath(raw: string | undefined, state: ParseState): string | undefined {
  if (raw === undefined) return undefined;
  const value = expand(raw, state.vars);
  if (value === undefined || value === '' || value.startsWith('~')) return undefined;
  // A bare name is looked up in PATH: not a path the scan can name.
  if (!value.includes('/')) return undefined;
  const path = resolve(value, state.cwd);
  if (path === undefined || path === '/dev/null') return undefined;
  state.out.add(path);
  return path;
}

function resolve(value: string, cwd: string | undefined): string | undefined {
  if (value.startsWith('/')) return normalizePath(value);
  if (cwd === undefined) return undefined;
  return normalizePath(joinPath(cwd, value));
}

/** Substitutes `$NAME` and `${NAME}` from the script's assignments; undefined when something stays unknown. */
function expand(text: string, vars: ShellVars): string | undefined {
  if (text.includes(OPAQUE)) return undefined;
  if (!text.includes('$')) return text;
  let unknown = false;
  const out = text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, a?: string, b?: string) => {
    const v = vars.get((a ?? b)!);
    if (v === undefined) unknown = true;
    return v ?? '';
  });
  return unknown || out.includes('$') ? undefined : out;
}

function isAssignment(t: Word): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*\+?=/.test(t.text);
}
