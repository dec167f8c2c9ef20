/**
 * The started-scripts check: what is inside the scripts persistence points start. A
 * crontab line that runs /usr/local/bin/update.sh looks harmless; the `curl | sh` is in
 * the script, or in a script that script starts. Every file the persistence checks
 * recorded with ctx.started() is read, when it is a text script, and its lines go
 * through the shared command-line scan (shared/command-scan.ts) in the `script` scope, so the
 * same behaviour rules fire there, reported at the script's own path and line with who
 * starts it. What a script starts is recorded in turn (startedBy "script:line") and
 * followed, level by level, to a bounded depth and count; each file is scanned once.
 *
 * Left out: files a package owns (package integrity is another check's question), and
 * the files other checks already read whole (cron.daily and friends, init.d, rc.local,
 * rc?.d, shell start-up files, and whatever a check recorded as started without a line,
 * such as systemd generators), which would otherwise be reported twice.
 *
 * A text script is what the kernel or a shell would run as one: a "#!" line (execve(2)),
 * or text with no NUL byte in its first 4 KiB (a shell runs a file without "#!" itself).
 * Scripts for other interpreters (python, perl...) are matched by the content rules but
 * not read as shell, so no "started program" is made up from their syntax.
 */
import type { Check, CheckContext, StartedFile } from '../model/check.js';
import { looksLikeText } from './shared/file-head.js';
import { readScriptOnce } from './shared/read-script.js';
import { basename } from '../../mountfs/path.js';
import { compileGlob, type CompiledGlob } from '../../mountfs/glob.js';
import { WHOLE_FILE_PLACES } from './shared/whole-file-places.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteStartedCommands, showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { stripShellComment } from './parsers/shell-lexer.js';
import { shellVarsFor } from './parsers/shell-commands.js';
import { startersHome } from './shared/runner-home.js';
import { activeLines, type WholeText } from '../facts/vfs-lines.js';
import { realPathOf } from './shared/real-path.js';

/** Levels of "started by" followed: a script a persistence line starts is level 1. */
const MAX_DEPTH = 4;
/** Scripts scanned per filesystem, and distinct started paths looked up: hostile chains stay bounded, and say so. */
const MAX_SCRIPTS = 256;
const MAX_ENTRIES = 4096;
/** The first bytes every source keeps, also single-pass archives: enough to tell an ELF from a script. */
const HEAD_BYTES = 64;
const CATEGORY = 'persistence/script';
/** Starters named in a message; the rest are counted. */
const SHOWN_STARTERS = 3;

/** "path:line": a line of a file starts it. */
const LINE_STARTER = /^\/.*:\d+$/;
const SHELLS = /^(?:ba|da|z|k|mk|a|y|pdk)?sh$|^busybox$/;
const NOT_SHELL_EXTENSIONS = /\.(?:py|pl|pm|rb|php|js|mjs|lua|tcl)$/;

export const startedScriptsCheck: Check = {
  id: 'started-scripts',
  phase: 'follow',
  ruleIds: [...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  // It reads what the other checks' places start: those places are theirs.
  watched: [],
  description: 'Scripts that persistence points start, and the scripts those start, scanned with the command-line rules',
  // Which files are started is known only after the persistence checks ran, so nothing
  // can be declared: like the hash check, this relies on what sources read only once
  // keep anyway (every executable "#!" script up to 256 KiB, and the first 64 bytes of
  // every other file, enough to skip binaries). A non-executable script run as `sh FILE`
  // from such a source cannot be read; that is reported as an error, not passed over.
  paths: [],
  async run(ctx) {
    const walk: Walk = {
      scripts: new Map(),
      resolved: new Map(),
      // Read whole, with their own context, by the cron, services and shell-startup checks (cron.daily scripts, init.d, rc.local, profile.d...).
      elsewhere: WHOLE_FILE_PLACES.map(compileGlob),
      scanned: 0,
    };
    let level = ctx.startedFiles();
    for (let depth = 1; level.length > 0; depth++) {
      const before = ctx.startedFiles().length;
      const batch = await group(ctx, walk, level);
      if (depth > MAX_DEPTH) {
        let unfollowed = 0;
        for (const info of batch) if (await scriptHead(ctx, walk, info)) unfollowed++;
        if (unfollowed > 0) ctx.error(undefined, new Error(`started-scripts: scripts were followed ${MAX_DEPTH} levels deep; ${unfollowed} scripts started below that were not scanned`));
        return;
      }
      for (const info of batch) {
        walk.scripts.set(info.path, info);
        if (!(await scriptHead(ctx, walk, info))) continue;
        if (walk.scanned >= MAX_SCRIPTS) {
          ctx.error(undefined, new Error(`started-scripts: stopped after ${MAX_SCRIPTS} scripts`));
          return;
        }
        walk.scanned++;
        await scanStartedScript(ctx, walk, info);
      }
      level = ctx.startedFiles().slice(before);
    }
  },
};

/** What the walk down the started files has seen so far. */
interface Walk {
  /** Every started file met, by real path. */
  scripts: Map<string, ScriptInfo>;
  /** Started paths looked up, and the real file each names (undefined: none). */
  resolved: Map<string, string | undefined>;
  /** Files other checks read whole. */
  elsewhere: CompiledGlob[];
  scanned: number;
  /** MAX_ENTRIES was reached (and said so). */
  entriesCut?: boolean;
}

/** The files a level of started entries names, new ones only, each with all its starters. */
async function group(ctx: CheckContext, walk: Walk, level: StartedFile[]): Promise<ScriptInfo[]> {
  const batch = new Map<string, ScriptInfo>();
  for (const started of level) {
    if (!walk.resolved.has(started.path)) {
      if (walk.resolved.size >= MAX_ENTRIES) {
        if (!walk.entriesCut) ctx.error(undefined, new Error(`started-scripts: ${MAX_ENTRIES} started paths were looked up; the rest were not followed`));
        walk.entriesCut = true;
        break;
      }
      walk.resolved.set(started.path, await resolveFile(ctx, started.path));
    }
    const real = walk.resolved.get(started.path);
    if (real === undefined) continue;
    const known = walk.scripts.get(real) ?? batch.get(real);
    if (known) {
      if (!known.startedBy.includes(started.startedBy)) known.startedBy.push(started.startedBy);
      known.writtenAs.add(started.path);
      continue;
    }
    batch.set(real, { path: real, writtenAs: new Set([started.path, real]), startedBy: [started.startedBy] });
  }
  return [...batch.values()];
}

interface ScriptInfo {
  /** Real path (symlinks resolved inside the root). */
  path: string;
  /** Every spelling it was started as, for the package question. */
  writtenAs: Set<string>;
  /** "path:line" (or a check's description) of each place that starts it. */
  startedBy: string[];
}

/** A persistence line naming a file that is gone is common (cleaned up, or never dropped). */
async function resolveFile(ctx: CheckContext, path: string): Promise<string | undefined> {
  return path.startsWith('/') ? realPathOf(ctx, path, 'file') : undefined;
}

/**
 * Whether the file is a script to scan here: not read whole by another check, not
 * packaged, and text from its first bytes on (the part every source keeps).
 */
async function scriptHead(ctx: CheckContext, walk: Walk, info: ScriptInfo): Promise<boolean> {
  if (walk.elsewhere.some((g) => g.matches(info.path))) return false;
  // A file a check recorded as started whole ("run-parts /etc/cron.daily", "systemd generator"),
  // not by a line, is a file that check reads itself.
  if (info.startedBy.some((by) => !LINE_STARTER.test(by))) return false;
  if (await packaged(ctx, info)) return false;
  try {
    return looksLikeText(await ctx.vfs.readFile(info.path, { maxBytes: HEAD_BYTES }));
  } catch (err) {
    ctx.error(info.path, err);
    return false;
  }
}

async function scanStartedScript(ctx: CheckContext, walk: Walk, info: ScriptInfo): Promise<void> {
  const script = await readScript(ctx, info.path);
  if (script === undefined) return;
  ctx.examined(info.path);
  if (script.unread) ctx.error(info.path, script.unread);
  const { text, shell } = script;
  const file: CommandFile = {
    scope: 'script',
    path: info.path,
    category: CATEGORY,
    vars: { context: ` (script ${describeStarters(info, walk.scripts)})` },
    fix: (line, started) => fixFor(ctx, info, line, started),
  };
  await scanCommandLines(ctx, file, shell ? scriptLines(text) : plainLines(text), shellVarsFor(await startersHome(ctx, info.path, info.startedBy)));
}

async function packaged(ctx: CheckContext, info: ScriptInfo): Promise<boolean> {
  for (const p of info.writtenAs) if ((await ctx.facts.packages.owner(p)).kind === 'owned') return true;
  return false;
}

/**
 * The script's text and whether it is shell, or undefined when it is binary after all
 * (or unreadable: reported). The interpreter reads the whole file, so does minescan
 * (comments kept short): a command after megabytes of padding is still seen.
 */
async function readScript(ctx: CheckContext, path: string): Promise<(Pick<WholeText, 'text' | 'unread'> & { shell: boolean }) | undefined> {
  try {
    // One read: its first 4 KiB tell text from binary, then it goes on to the end.
    const script = await readScriptOnce(ctx.vfs, path, (await ctx.vfs.stat(path)).size, 0, looksLikeText);
    if (script.kind === 'binary') return undefined;
    // The "#!" line is a comment the whole read shortens: the head tells the language.
    const shell = isShellScript(path, script.head.toString('utf8'));
    return { text: script.text, unread: script.unread, shell };
  } catch (err) {
    ctx.error(path, err);
    return undefined;
  }
}

/** Read as shell: a shell "#!" line, or no "#!" line and no other language's file name. */
function isShellScript(path: string, text: string): boolean {
  const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(text);
  if (!shebang) return !NOT_SHELL_EXTENSIONS.test(path);
  let program = basename(shebang[1]!);
  if (program === 'env' && shebang[2] && !shebang[2].startsWith('-')) program = basename(shebang[2]);
  return SHELLS.test(program);
}

/** Lines of a script in another language: matched by the content rules, run nothing. */
function plainLines(text: string): CommandLine[] {
  return activeLines(text).map(({ text: raw, line }) => ({ line, text: stripShellComment(raw), evidence: raw.trim() }));
}

/**
 * "started by /usr/local/bin/update.sh:2, which /etc/crontab:3 starts": the starters,
 * then for the first one that is a script itself, who starts that, up the chain.
 */
function describeStarters(info: ScriptInfo, scripts: Map<string, ScriptInfo>): string {
  let text = `started by ${listStarters(info.startedBy)}`;
  const seen = new Set([info.path]);
  let current = info;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const parentPath = /^(\/.*):\d+$/.exec(current.startedBy[0] ?? '')?.[1];
    const parent = parentPath === undefined ? undefined : scripts.get(parentPath);
    if (!parent || seen.has(parent.path)) break;
    seen.add(parent.path);
    text += `, which ${listStarters(parent.startedBy)} starts`;
    current = parent;
  }
  return text;
}

function listStarters(startedBy: string[]): string {
  const shown = startedBy.slice(0, SHOWN_STARTERS).join(', ');
  const more = startedBy.length - SHOWN_STARTERS;
  return more > 0 ? `${shown} and ${more} more` : shown;
}

/**
 * Remediation for a line of a started script: the script may be an administrator's with
 * one line added, so the line is deleted first; removing the whole script, and the
 * lines that start it, is offered for when all of it is the intruder's.
 */
async function fixFor(ctx: CheckContext, info: ScriptInfo, line: CommandLine, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, info.path);
  if (unlock) commands.push(unlock);
  commands.push(`sed -i '${line.line}d' ${shellQuote(info.path)}   # deletes line ${line.line}: ${showLine(line.evidence)}`);
  commands.push(`# or, when the whole script is the intruder's: rm -f ${shellQuote(info.path)}, and remove what starts it (${listStarters(info.startedBy)})`);
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}
