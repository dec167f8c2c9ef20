/**
 * The services check: what starts by itself at boot.
 *
 * systemd (systemd.unit(5), systemd.service(5)): unit files in /etc/systemd/system,
 * /run/systemd/system, /usr/lib/systemd/system and /lib/systemd/system, their drop-ins
 * (x.service.d/*.conf), and their state, read from the symlinks `systemctl enable` and
 * `mask` leave: a link in some *.wants/ or *.requires/ directory enables the unit it
 * names and the unit it points to (a template through its instances), a unit-directory
 * link to /dev/null masks it, any other unit-directory link is an alias. A unit is also
 * reported as started when its same-named .timer, .socket or .path is enabled. Unit
 * files are INI: `\` continues a line, `#` and `;` start comments, Exec*= values carry
 * `-@:+!` prefixes and run no shell unless they start one. Environment= assignments
 * are applied to `$X` / `${X}` in Exec lines.
 *
 * SysV and friends: /etc/rc.local, /etc/inittab (id:runlevels:action:process),
 * /etc/init.d/*, /etc/rc.d/** (RHEL's init.d, rc.local and rc?.d), /etc/rc?.d/*; the
 * same file reached through several links is read once, under its real path.
 *
 * Findings say whether the unit is enabled. Severities come from the rules and do not
 * change with the state: a disabled unit that starts a miner from /tmp is one
 * `systemctl enable` (or one timer) away from running, and critical stays reserved for
 * family indicators.
 */
import type { Check, CheckContext } from '../engine/check.js';
import { basename, dirname } from '../../mountfs/path.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteLineCommand, deleteStartedCommands, unlockCommand } from './command-remediation.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine } from './command-scan.js';
import { type ShellVars } from './shell-commands.js';

const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
const UNIT_GLOBS = UNIT_DIRS.flatMap((d) => [`${d}/*`, `${d}/*/*`]);
const INIT_GLOBS = ['/etc/rc.local', '/etc/inittab', '/etc/init.d/*', '/etc/rc.d/*', '/etc/rc.d/*/*', '/etc/rc[0-6S].d/*'];

const UNIT_SUFFIX = /\.(?:service|socket|timer|path|mount|automount|swap|target|slice)$/;
const LINK_DIR = /\.(?:wants|requires|upholds)$/;
const EXEC_KEYS = new Set(['ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost', 'ExecCondition']);
const TRIGGER_SUFFIXES = ['.timer', '.socket', '.path'];
const MAX_FILE_BYTES = 1 << 20;
const SYSTEMD = 'persistence/systemd';
const INIT = 'persistence/init';

export const servicesCheck: Check = {
  id: 'services',
  description: 'Self-starting services: systemd units with their enabled state, rc.local, inittab and init scripts',
  paths: [...UNIT_GLOBS, ...INIT_GLOBS],
  async run(ctx) {
    const index = await indexUnits(ctx);
    for (const unit of index.files.values()) await scanUnit(ctx, index, unit);
    for (const script of await initScripts(ctx)) await scanInitScript(ctx, script);
  },
};

// ---------------------------------------------------------------------------------
// systemd units
// ---------------------------------------------------------------------------------

interface UnitFile {
  /** Real path of the file (reported path). */
  path: string;
  /** Unit name: the real file's name, or for a drop-in the unit it extends. */
  name: string;
  /** Set for drop-ins (x.service.d/y.conf). */
  dropIn: boolean;
  /** Links in the unit directories that lead to this file (aliases, linked units). */
  links: string[];
}

interface UnitIndex {
  files: Map<string, UnitFile>;
  /** Unit name -> the *.wants/*.requires links that pull it in. */
  enablers: Map<string, string[]>;
  /** Unit name -> unit-directory links to /dev/null. */
  masks: Map<string, string>;
  /** Unit name -> other names it has through links. */
  aliases: Map<string, string[]>;
}

async function indexUnits(ctx: CheckContext): Promise<UnitIndex> {
  const index: UnitIndex = { files: new Map(), enablers: new Map(), masks: new Map(), aliases: new Map() };
  const candidates: { path: string; dropInOf?: string; viaLink: boolean }[] = [];
  for await (const entry of ctx.vfs.walk(UNIT_GLOBS, { onError: (p, e) => ctx.error(p, e) })) {
    const { path, stat } = entry;
    const parent = dirname(path);
    const name = basename(path);
    if (UNIT_DIRS.includes(parent)) {
      if (stat.type === 'file' && UNIT_SUFFIX.test(name)) candidates.push({ path, viaLink: false });
      else if (stat.type === 'symlink' && UNIT_SUFFIX.test(name)) {
        const target = await readLink(ctx, path);
        if (target === undefined) continue;
        if (target === '/dev/null') index.masks.set(name, path);
        else candidates.push({ path, viaLink: true });
      }
    } else if (LINK_DIR.test(parent) && stat.type === 'symlink') {
      const target = await readLink(ctx, path);
      if (target === undefined || target === '/dev/null') continue;
      for (const enabled of new Set([name, basename(target), templateOf(name), templateOf(basename(target))])) {
        if (enabled) push(index.enablers, enabled, path);
      }
      // The file a wants-link points to may live outside the unit directories.
      candidates.push({ path, viaLink: true });
    } else if (parent.endsWith('.d') && name.endsWith('.conf') && stat.type !== 'directory') {
      candidates.push({ path, dropInOf: basename(parent).slice(0, -2), viaLink: stat.type === 'symlink' });
    }
  }
  for (const c of candidates) {
    let real: string;
    try {
      real = await ctx.vfs.realpath(c.path);
      if ((await ctx.vfs.stat(real)).type !== 'file') continue;
    } catch {
      // Dangling links are common (a removed package's enablement) and start nothing.
      continue;
    }
    const name = c.dropInOf ?? basename(real);
    let file = index.files.get(real);
    if (!file) {
      file = { path: real, name, dropIn: c.dropInOf !== undefined, links: [] };
      index.files.set(real, file);
    }
    if (c.viaLink && !LINK_DIR.test(dirname(c.path))) {
      file.links.push(c.path);
      if (basename(c.path) !== name) push(index.aliases, name, basename(c.path));
    }
  }
  return index;
}

async function readLink(ctx: CheckContext, path: string): Promise<string | undefined> {
  try {
    return await ctx.vfs.readlink(path);
  } catch (err) {
    ctx.error(path, err);
    return undefined;
  }
}

/** "getty@tty1.service" -> "getty@.service"; undefined for non-instances. */
function templateOf(name: string): string | undefined {
  const m = /^([^@]+@)[^@.]+(\.[a-z]+)$/.exec(name);
  return m ? `${m[1]}${m[2]}` : undefined;
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (!list) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

interface UnitState {
  text: string;
  /** Links `systemctl disable` would remove. */
  links: string[];
}

function unitState(index: UnitIndex, unit: UnitFile): UnitState {
  const names = [unit.name, ...(index.aliases.get(unit.name) ?? [])];
  if (names.some((n) => index.masks.has(n))) return { text: 'masked', links: names.map((n) => index.masks.get(n)).filter(isString) };
  const links = [...new Set(names.flatMap((n) => index.enablers.get(n) ?? []))];
  if (links.length > 0) return { text: `enabled via ${links.join(', ')}`, links };
  const stem = unit.name.replace(/\.[a-z]+$/, '');
  for (const suffix of TRIGGER_SUFFIXES) {
    const trigger = `${stem}${suffix}`;
    if (trigger !== unit.name && index.enablers.has(trigger)) return { text: `started by the enabled ${trigger}`, links: [] };
  }
  return { text: 'not enabled', links: [] };
}

function isString(v: string | undefined): v is string {
  return v !== undefined;
}

/** Logical lines of a unit file and the variables its Environment= lines set. */
export function unitLines(text: string): { lines: CommandLine[]; env: ShellVars } {
  const physical = text.split('\n');
  const lines: CommandLine[] = [];
  const env: ShellVars = new Map();
  for (let i = 0; i < physical.length; i++) {
    const first = i;
    const parts: string[] = [];
    let current = physical[i]!.replace(/\r$/, '');
    const isComment = (l: string) => /^\s*[#;]/.test(l);
    if (isComment(current) || current.trim() === '') continue;
    while (current.endsWith('\\') && i + 1 < physical.length && parts.length < 1000) {
      parts.push(current.slice(0, -1));
      current = physical[++i]!.replace(/\r$/, '');
      // Comment lines inside a continued value are dropped, the value goes on.
      while (isComment(current) && i + 1 < physical.length) current = physical[++i]!.replace(/\r$/, '');
    }
    parts.push(current);
    const logical = parts.join(' ').trim();
    const line: CommandLine = { line: first + 1, text: logical, evidence: logical };
    const kv = /^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$/.exec(logical);
    if (kv && EXEC_KEYS.has(kv[1]!) && kv[2]!.trim() !== '') line.run = { syntax: 'exec', command: kv[2]! };
    if (kv && kv[1] === 'Environment') {
      for (const assignment of splitEnvironment(kv[2]!)) {
        const eq = assignment.indexOf('=');
        if (eq > 0) env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
      }
    }
    lines.push(line);
  }
  return { lines, env };
}

/** Environment="A=1" B=2 'C=3 4': quoted or bare assignments. */
function splitEnvironment(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

async function scanUnit(ctx: CheckContext, index: UnitIndex, unit: UnitFile): Promise<void> {
  const text = await readText(ctx, unit.path);
  if (text === undefined) return;
  const state = unitState(index, unit);
  const { lines, env } = unitLines(text);
  const context = unit.dropIn
    ? ` (drop-in of unit ${unit.name}, which is ${state.text})`
    : ` (unit ${unit.name}, ${state.text})`;
  const file: CommandFile = {
    scope: 'systemd-unit',
    path: unit.path,
    category: SYSTEMD,
    vars: { context },
    fix: (_line, started) => unitFix(ctx, unit, state, started),
  };
  const startedByLine = await scanCommandLines(ctx, file, lines, env);
  if (unit.dropIn) return;

  const names = [unit.name, ...(index.aliases.get(unit.name) ?? [])];
  const started = [...new Set([...startedByLine.values()].flat())];
  const firstExec = lines.find((l) => l.run)?.evidence;
  for (const name of names) {
    for (const rule of ctx.rules.matchName('systemd-unit', name)) {
      ctx.report(
        ctx.rules.finding(rule, {
          path: unit.path,
          evidence: firstExec ? `${name}: ${firstExec}` : name,
          category: SYSTEMD,
          vars: { name, context, fix: await unitFix(ctx, unit, state, started) },
        }),
      );
    }
  }
}

async function unitFix(ctx: CheckContext, unit: UnitFile, state: UnitState, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, unit.path);
  if (unlock) commands.push(unlock);
  const owner = await ctx.facts.packages.owner(unit.path);
  if (owner) {
    commands.push(`apt-get install --reinstall ${shellQuote(owner)}   # ${unit.path} belongs to ${owner}: this restores the packaged file`);
    commands.push('systemctl daemon-reload');
  } else if (unit.dropIn) {
    commands.push(`rm -f ${shellQuote(unit.path)}`);
    commands.push(`systemctl daemon-reload && systemctl restart ${shellQuote(unit.name)}`);
  } else {
    commands.push(`systemctl disable --now ${shellQuote(unit.name)}`);
    const remove = [unit.path, ...unit.links, ...state.links].filter((p, i, all) => all.indexOf(p) === i);
    commands.push(`rm -f ${remove.map(shellQuote).join(' ')}`);
    commands.push('systemctl daemon-reload');
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}

// ---------------------------------------------------------------------------------
// rc.local, inittab, init scripts
// ---------------------------------------------------------------------------------

type InitKind = 'rc.local' | 'inittab' | 'init.d' | 'boot-script';

interface InitScript {
  path: string;
  kind: InitKind;
}

async function initScripts(ctx: CheckContext): Promise<InitScript[]> {
  const byReal = new Map<string, InitScript>();
  for await (const entry of ctx.vfs.walk(INIT_GLOBS, { onError: (p, e) => ctx.error(p, e) })) {
    if (entry.stat.type === 'directory') continue;
    let real: string;
    try {
      real = await ctx.vfs.realpath(entry.path);
      if ((await ctx.vfs.stat(real)).type !== 'file') continue;
    } catch {
      continue; // a dangling rc?.d link starts nothing
    }
    if (!byReal.has(real)) byReal.set(real, { path: real, kind: initKind(real) });
  }
  return [...byReal.values()];
}

function initKind(path: string): InitKind {
  const name = basename(path);
  if (name === 'rc.local') return 'rc.local';
  if (path === '/etc/inittab') return 'inittab';
  if (dirname(path) === '/etc/init.d' || dirname(path) === '/etc/rc.d/init.d') return 'init.d';
  return 'boot-script';
}

const INIT_CONTEXT: Record<InitKind, string> = {
  'rc.local': ' (rc.local, run as root at the end of boot)',
  inittab: ' (inittab entry)',
  'init.d': ' (init script, run as root at boot)',
  'boot-script': ' (boot script, run as root)',
};

async function scanInitScript(ctx: CheckContext, script: InitScript): Promise<void> {
  const bytes = await readBytes(ctx, script.path);
  if (bytes === undefined) return;
  if (script.kind !== 'inittab' && isElf(bytes)) {
    ctx.report(
      ctx.rules.finding('init.binary-script', {
        path: script.path,
        evidence: `ELF executable, ${bytes.length} bytes read`,
        category: INIT,
        vars: { context: INIT_CONTEXT[script.kind], fix: await initFix(ctx, script, undefined, []) },
      }),
    );
    ctx.started({ path: script.path, startedBy: 'init' });
    return;
  }
  const text = bytes.toString('utf8');
  const file: CommandFile = {
    scope: 'init-script',
    path: script.path,
    category: INIT,
    vars: { context: INIT_CONTEXT[script.kind] },
    fix: (line, started) => initFix(ctx, script, line, started),
  };
  await scanCommandLines(ctx, file, script.kind === 'inittab' ? inittabLines(text) : scriptLines(text));
}

/** inittab(5): "id:runlevels:action:process"; the process is run by /bin/sh. */
export function inittabLines(text: string): CommandLine[] {
  const out: CommandLine[] = [];
  text.split('\n').forEach((physical, i) => {
    const raw = physical.replace(/\r$/, '').trim();
    if (raw === '' || raw.startsWith('#')) return;
    const line: CommandLine = { line: i + 1, text: raw, evidence: raw };
    const m = /^([^:]*):([^:]*):([^:]*):(.*)$/.exec(raw);
    if (m && m[4]!.trim() !== '' && m[3] !== 'initdefault') {
      line.run = { syntax: 'shell', command: m[4]! };
      line.vars = { context: ` (inittab entry "${m[1]}", action ${m[3]}, runlevels ${m[2] || 'all'})` };
    }
    out.push(line);
  });
  return out;
}

async function initFix(ctx: CheckContext, script: InitScript, line: CommandLine | undefined, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, script.path);
  if (unlock) commands.push(unlock);
  const owner = await ctx.facts.packages.owner(script.path);
  if (owner) {
    commands.push(`apt-get install --reinstall ${shellQuote(owner)}   # ${script.path} belongs to ${owner}: this restores the packaged script`);
  } else if (script.kind === 'init.d' && owner === undefined) {
    const name = basename(script.path);
    commands.push(`update-rc.d -f ${shellQuote(name)} remove 2>/dev/null || chkconfig --del ${shellQuote(name)}`);
    commands.push(`rm -f ${shellQuote(script.path)}   # no package owns this init script`);
  } else if (line) {
    commands.push(deleteLineCommand(script.path, line));
    if (script.kind === 'inittab') commands.push('init q   # makes init read inittab again');
  } else {
    commands.push(`rm -f ${shellQuote(script.path)}`);
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}

// ---------------------------------------------------------------------------------

async function readBytes(ctx: CheckContext, path: string): Promise<Buffer | undefined> {
  try {
    const bytes = await ctx.vfs.readFile(path, { maxBytes: MAX_FILE_BYTES });
    ctx.examined(path);
    return bytes;
  } catch (err) {
    ctx.error(path, err);
    return undefined;
  }
}

async function readText(ctx: CheckContext, path: string): Promise<string | undefined> {
  return (await readBytes(ctx, path))?.toString('utf8');
}

function isElf(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32BE(0) === 0x7f454c46;
}
