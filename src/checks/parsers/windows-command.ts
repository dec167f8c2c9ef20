/**
 * What a Windows command line starts, as a path inside the scanned root: the program
 * (quoted, or unquoted with spaces as CreateProcess reads "C:\Program Files\x\y.exe a"),
 * environment variables Windows sets for every account expanded, cmd.exe chains (`&`,
 * `&&`, `||`, `|`) and `cmd /c "..."` bodies followed one level, and the file an
 * interpreter is given (powershell -File, wscript/cscript, mshta, rundll32, regsvr32).
 * "C:\x\y.exe" becomes "/x/y.exe": the scanned volume is the system drive. Variables
 * that depend on the account (%APPDATA%, %TEMP%) become a path under
 * /Users/%USERNAME%, which no file has but which rules on user-writable places read.
 * Bounded: a line is cut at MAX_LINE, chains at MAX_SEGMENTS.
 */

const MAX_LINE = 32 * 1024;
const MAX_SEGMENTS = 64;

const USER = '/Users/%USERNAME%';
/** Variables every Windows session has, in the root's terms (lower-case keys). */
const ENVIRONMENT: Record<string, string> = {
  windir: '/Windows',
  systemroot: '/Windows',
  systemdrive: '',
  programdata: '/ProgramData',
  allusersprofile: '/ProgramData',
  programfiles: '/Program Files',
  'programfiles(x86)': '/Program Files (x86)',
  programw6432: '/Program Files',
  commonprogramfiles: '/Program Files/Common Files',
  public: '/Users/Public',
  userprofile: USER,
  homepath: USER,
  appdata: `${USER}/AppData/Roaming`,
  localappdata: `${USER}/AppData/Local`,
  temp: `${USER}/AppData/Local/Temp`,
  tmp: `${USER}/AppData/Local/Temp`,
};

/** %VAR% expanded where Windows would expand it for any account; others are left as written. */
export function expandWindowsVariables(text: string): string {
  return text.replace(/%([A-Za-z0-9_()]{1,40})%/g, (all, name: string) => {
    const value = ENVIRONMENT[name.toLowerCase()];
    return value === undefined ? all : value === '' ? 'C:' : `C:${value.replace(/\//g, '\\')}`;
  });
}

/** "C:\x\y.exe", "\x\y", "C:/x" → "/x/y.exe"; undefined for a bare name or a UNC or URL path. */
export function windowsPathInRoot(raw: string): string | undefined {
  const p = raw.trim().replace(/^"|"$/g, '');
  const m = /^(?:[A-Za-z]:)?([\\/](?![\\/]).*)$/.exec(p);
  if (!m) return undefined;
  const parts = m[1]!.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  const out: string[] = [];
  for (const s of parts) {
    if (s === '..') out.pop();
    else out.push(s);
  }
  return out.length === 0 ? undefined : `/${out.join('/')}`;
}

/** Every program and script a command line starts, as paths inside the root. */
export function startedByWindowsCommand(line: string): string[] {
  const found = new Set<string>();
  const budget = { segments: MAX_SEGMENTS };
  visit(expandWindowsVariables(line.slice(0, MAX_LINE)), found, budget, 0);
  return [...found];
}

const EXTENSIONS = /\.(?:exe|com|bat|cmd|ps1|vbs|vbe|js|jse|wsf|hta|dll|scr|cpl|msi|pif)$/i;
const UNQUOTED_PROGRAM = /^(?:[A-Za-z]:)?[\\/].*?\.(?:exe|com|bat|cmd|scr|pif)(?=\s|$)/i;

function visit(line: string, found: Set<string>, budget: { segments: number }, depth: number): void {
  for (const segment of splitChain(line)) {
    if (budget.segments-- <= 0) return;
    const { program, rest } = firstWord(segment);
    if (program === '') continue;
    const path = windowsPathInRoot(program);
    if (path !== undefined) found.add(path);
    const base = (program.split(/[\\/]/).pop() ?? '').toLowerCase().replace(/\.exe$/, '');
    if (depth < 2 && base === 'cmd') {
      const body = /(?:^|\s)\/[ckCK]\s*(.*)$/s.exec(rest);
      if (body) visit(unquoteWhole(body[1]!), found, budget, depth + 1);
    } else if (base === 'powershell' || base === 'pwsh') {
      const file = /(?:^|\s)-f(?:ile)?\s+("[^"]+"|\S+)/i.exec(rest);
      if (file) addScript(file[1]!, found);
    } else if (['wscript', 'cscript', 'mshta', 'regsvr32', 'rundll32', 'start'].includes(base)) {
      const arg = (rest.match(/"[^"]*"|[^\s"]+/g) ?? []).find((a) => !/^[-/]/.test(a));
      if (arg) addScript(arg.split(',')[0]!, found);
    }
  }
}

function addScript(arg: string, found: Set<string>): void {
  const p = windowsPathInRoot(arg);
  if (p !== undefined && EXTENSIONS.test(p)) found.add(p);
}

/** The program of a command (quoted, or an unquoted path with spaces up to its extension) and what follows. */
function firstWord(segment: string): { program: string; rest: string } {
  const s = segment.trim().replace(/^@/, '');
  if (s.startsWith('"')) {
    const end = s.indexOf('"', 1);
    return end < 0 ? { program: s.slice(1), rest: '' } : { program: s.slice(1, end), rest: s.slice(end + 1) };
  }
  const spaced = UNQUOTED_PROGRAM.exec(s);
  if (spaced) return { program: spaced[0], rest: s.slice(spaced[0].length) };
  const m = /^(\S*)(.*)$/s.exec(s)!;
  return { program: m[1]!, rest: m[2]! };
}

/** cmd.exe's command separators outside double quotes. */
function splitChain(line: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '^') i++;
    else if (!quoted && (c === '&' || c === '|')) {
      out.push(line.slice(start, i));
      if (line[i + 1] === c) i++;
      start = i + 1;
    }
  }
  out.push(line.slice(start));
  return out;
}

/** cmd /c "a & b": the body without the quotes that wrap all of it. */
function unquoteWhole(body: string): string {
  const t = body.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}
