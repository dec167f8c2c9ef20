/**
 * systemd unit directories read offline, shared by the system services check
 * (services.ts) and the user services check (user-services.ts).
 *
 * Follows systemd.unit(5): unit files sit directly in a unit directory; `x.service.d/*.conf`
 * are drop-ins; a symlink in some `*.wants/`, `*.requires/` or `*.upholds/` directory
 * enables the unit it names and the unit it points to (a template through its
 * instances); a unit-directory link to /dev/null masks a unit, any other unit-directory
 * link is an alias or a linked unit file. A unit is started by its trigger when an
 * enabled .timer (with an On*= setting, systemd.timer(5)), .socket or .path names it in
 * Unit= or, without Unit=, shares its name. Unit files are INI: `\` continues a line,
 * `#` and `;` start comments, Exec*= values carry `-@:+!` prefixes and run no shell
 * unless they start one; Environment= assignments fill `$X` / `${X}` in Exec lines.
 *
 * Directories are listed with readdir (one level of subdirectories), not globbed,
 * because user unit directories come from home paths in /etc/passwd, which may hold
 * any character.
 */
import type { CheckContext } from '../../model/check.js';
import { readText } from './read-text.js';
import { basename, dirname, joinPath } from '../../../mountfs/path.js';
import { isNotFound } from '../../../mountfs/errors.js';
import type { Stat } from '../../../mountfs/vfs.js';
import { scanCommandLines, type CommandFile, type CommandLine } from './command-scan.js';
import type { ShellVars } from '../parsers/shell-commands.js';
import { textLines } from '../../facts/vfs-lines.js';
import { realPathOf } from './real-path.js';

const UNIT_SUFFIX = /\.(?:service|socket|timer|path|mount|automount|swap|target|slice)$/;
const LINK_DIR = /\.(?:wants|requires|upholds)$/;
const EXEC_KEYS = new Set(['ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost', 'ExecCondition']);
const TRIGGER_SUFFIX = /\.(?:timer|socket|path)$/;
/** systemd.timer(5): a timer without one of these never elapses. */
const TIMER_SETTINGS = /^(?:OnCalendar|OnBootSec|OnStartupSec|OnActiveSec|OnUnitActiveSec|OnUnitInactiveSec)$/;
/** A unit directory of a few thousand entries is plenty; a hostile one is cut here. */
const MAX_DIR_ENTRIES = 20_000;

export interface UnitFile {
  /** Real path of the file (reported path). */
  path: string;
  /** Unit name: the real file's name, or for a drop-in the unit it extends. */
  name: string;
  /** Set for drop-ins (x.service.d/y.conf). */
  dropIn: boolean;
  /** Links in the unit directories that lead to this file (aliases, linked units). */
  links: string[];
  /** The unit directory (as listed) the file lives in, or where the first link to it was found. */
  dir: string;
}

export interface UnitIndex {
  files: Map<string, UnitFile>;
  /** Unit name -> the *.wants/*.requires links that pull it in. */
  enablers: Map<string, string[]>;
  /** Unit name -> unit-directory links to /dev/null. */
  masks: Map<string, string[]>;
  /** Unit name -> other names it has through links. */
  aliases: Map<string, string[]>;
  /** Unit name -> the trigger units (.timer, .socket, .path) that activate it. */
  triggers: Map<string, string[]>;
}

interface Candidate {
  path: string;
  dir: string;
  dropInOf?: string;
  viaLink: boolean;
}

/** Indexes the unit files, drop-ins and state links of these unit directories. */
export async function indexUnits(ctx: CheckContext, dirs: readonly string[]): Promise<UnitIndex> {
  const index: UnitIndex = { files: new Map(), enablers: new Map(), masks: new Map(), aliases: new Map(), triggers: new Map() };
  const candidates: Candidate[] = [];
  const realDirs: { dir: string; real: string }[] = [];
  for (const dir of dirs) {
    const real = await realPathOf(ctx, dir, 'directory');
    // /lib/systemd/system is /usr/lib/systemd/system on merged-/usr systems: list it once.
    if (real === undefined || realDirs.some((d) => d.real === real)) continue;
    realDirs.push({ dir, real });
    for (const entry of await listDir(ctx, dir)) {
      const { path, type } = entry;
      const name = basename(path);
      if (type === 'file' && UNIT_SUFFIX.test(name)) candidates.push({ path, dir, viaLink: false });
      else if (type === 'symlink' && UNIT_SUFFIX.test(name)) {
        const target = await readLink(ctx, path);
        if (target === undefined) continue;
        if (target === '/dev/null') push(index.masks, name, path);
        else candidates.push({ path, dir, viaLink: true });
      } else if (type === 'directory' && (LINK_DIR.test(name) || name.endsWith('.d'))) {
        for (const sub of await listDir(ctx, path)) await indexSubEntry(ctx, index, candidates, dir, name, sub);
      }
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
      const home = realDirs.find((d) => real.startsWith(`${d.real}/`));
      file = { path: real, name, dropIn: c.dropInOf !== undefined, links: [], dir: home?.dir ?? c.dir };
      index.files.set(real, file);
    }
    if (c.viaLink && !LINK_DIR.test(dirname(c.path))) {
      file.links.push(c.path);
      if (basename(c.path) !== name) push(index.aliases, name, basename(c.path));
    }
  }
  for (const file of index.files.values()) {
    if (!file.dropIn && TRIGGER_SUFFIX.test(file.name)) await indexTrigger(ctx, index, file);
  }
  return index;
}

async function indexSubEntry(
  ctx: CheckContext,
  index: UnitIndex,
  candidates: Candidate[],
  dir: string,
  parentName: string,
  entry: { path: string; type: Stat['type'] },
): Promise<void> {
  const { path, type } = entry;
  const name = basename(path);
  if (LINK_DIR.test(parentName) && type === 'symlink') {
    const target = await readLink(ctx, path);
    if (target === undefined || target === '/dev/null') return;
    for (const enabled of new Set([name, basename(target), templateOf(name), templateOf(basename(target))])) {
      if (enabled) push(index.enablers, enabled, path);
    }
    // The file a wants-link points to may live outside the unit directories.
    candidates.push({ path, dir, viaLink: true });
  } else if (parentName.endsWith('.d') && name.endsWith('.conf') && type !== 'directory') {
    candidates.push({ path, dir, dropInOf: parentName.slice(0, -2), viaLink: type === 'symlink' });
  }
}

/** Which unit a timer, socket or path unit activates (Unit=, else its own name as a .service). */
async function indexTrigger(ctx: CheckContext, index: UnitIndex, file: UnitFile): Promise<void> {
  const text = await readUnitText(ctx, file.path, false);
  if (text === undefined) return;
  let unit: string | undefined;
  let elapses = false;
  for (const l of unitLines(text).lines) {
    const kv = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(l.text);
    if (!kv) continue;
    if (kv[1] === 'Unit' && kv[2]!.trim() !== '') unit = kv[2]!.trim();
    if (TIMER_SETTINGS.test(kv[1]!) && kv[2]!.trim() !== '') elapses = true;
  }
  if (file.name.endsWith('.timer') && !elapses) return;
  push(index.triggers, unit ?? file.name.replace(TRIGGER_SUFFIX, '.service'), file.name);
}

/** Entries of a directory with their own (not followed) type; missing directories are empty. */
export async function listDir(ctx: CheckContext, dir: string): Promise<{ path: string; type: Stat['type'] }[]> {
  try {
    const entries = await ctx.vfs.readdir(dir);
    if (entries.length > MAX_DIR_ENTRIES) ctx.error(dir, new Error(`${entries.length} entries; only the first ${MAX_DIR_ENTRIES} were read`));
    return entries.slice(0, MAX_DIR_ENTRIES).map((e) => ({ path: joinPath(dir, e.name), type: e.type }));
  } catch (err) {
    if (!isNotFound(err)) ctx.error(dir, err);
    return [];
  }
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

export interface UnitState {
  text: string;
  /** Links `systemctl disable` would remove. */
  links: string[];
  /** Whether anything starts the unit by itself (enabled, or through an enabled trigger). */
  active: boolean;
}

/**
 * Masked, enabled (through which links), started by an enabled trigger, or not enabled.
 * `accept` keeps only the state links that apply to this unit (a user's links apply to
 * that user's units and to the global ones, not to another user's unit of the same name).
 */
export function unitState(index: UnitIndex, unit: UnitFile, accept: (link: string) => boolean = () => true): UnitState {
  const names = [unit.name, ...(index.aliases.get(unit.name) ?? [])];
  const masks = names.flatMap((n) => index.masks.get(n) ?? []).filter(accept);
  if (masks.length > 0) return { text: 'masked', links: masks, active: false };
  const enablers = (name: string) => (index.enablers.get(name) ?? []).filter(accept);
  const links = [...new Set(names.flatMap(enablers))];
  if (links.length > 0) return { text: `enabled via ${links.join(', ')}`, links, active: true };
  for (const name of names) {
    for (const trigger of index.triggers.get(name) ?? []) {
      if (trigger !== unit.name && enablers(trigger).length > 0) return { text: `started by the enabled ${trigger}`, links: [], active: true };
    }
  }
  return { text: 'not enabled', links: [], active: false };
}

/** Logical lines of a unit file and the variables its Environment= lines set. */
export function unitLines(text: string): { lines: CommandLine[]; env: ShellVars } {
  const physical = textLines(text).map((l) => l.text);
  const lines: CommandLine[] = [];
  const env: ShellVars = new Map();
  for (let i = 0; i < physical.length; i++) {
    const first = i;
    const parts: string[] = [];
    let current = physical[i]!;
    const isComment = (l: string) => /^\s*[#;]/.test(l);
    if (isComment(current) || current.trim() === '') continue;
    while (current.endsWith('\\') && i + 1 < physical.length && parts.length < 1000) {
      parts.push(current.slice(0, -1));
      current = physical[++i]!;
      // Comment lines inside a continued value are dropped, the value goes on.
      while (isComment(current) && i + 1 < physical.length) current = physical[++i]!;
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

/**
 * The unit's file, read whole as systemd reads it (comment lines kept short);
 * undefined (and an error recorded) when it cannot be read. A unit over the content
 * cap is reported as not read to the end.
 */
export async function readUnitText(ctx: CheckContext, path: string, examined = true): Promise<string | undefined> {
  return readText(ctx, path, { commentChars: '#;', examined, listed: true });
}

export interface UnitReport {
  /** Finding category, e.g. "persistence/systemd". */
  category: string;
  /** What starts the unit, for messages: " (unit x.service, enabled via ...)". */
  context: string;
  /** Remediation commands for the unit, given the programs it starts. */
  fix(started: string[]): Promise<string>;
}

export interface ScannedUnit {
  /** Programs its Exec lines start. */
  started: string[];
  /** The first Exec*= line, for evidence. */
  firstExec?: string;
}

/**
 * Scans a unit file's lines with the shared command-line rules (scope systemd-unit) and
 * its names (file name and aliases) with the systemd-unit name rules.
 */
export async function scanUnitFile(ctx: CheckContext, index: UnitIndex, unit: UnitFile, report: UnitReport): Promise<ScannedUnit | undefined> {
  const text = await readUnitText(ctx, unit.path);
  if (text === undefined) return undefined;
  const { lines, env } = unitLines(text);
  const file: CommandFile = {
    scope: 'systemd-unit',
    path: unit.path,
    category: report.category,
    vars: { context: report.context },
    fix: (_line, started) => report.fix(started),
  };
  const startedByLine = await scanCommandLines(ctx, file, lines, env);
  const started = [...new Set([...startedByLine.values()].flat())];
  const firstExec = lines.find((l) => l.run)?.evidence;
  if (unit.dropIn) return { started, firstExec };

  const names = [unit.name, ...(index.aliases.get(unit.name) ?? [])];
  for (const name of names) {
    for (const rule of ctx.rules.matchName('systemd-unit', name)) {
      ctx.report(
        ctx.rules.finding(rule, {
          path: unit.path,
          evidence: firstExec ? `${name}: ${firstExec}` : name,
          category: report.category,
          vars: { name, context: report.context, fix: await report.fix(started) },
        }),
      );
    }
  }
  return { started, firstExec };
}
