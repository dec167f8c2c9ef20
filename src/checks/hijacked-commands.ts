/**
 * Hijacked system commands: a miner kit moves ps (top, netstat...) aside as
 * ps.original and puts a script in its place that runs the moved program and drops the
 * miner's lines from its output. Which names count, as moved copies and as commands
 * that must be compiled programs, is data (src/rules/builtin/hijacked-commands.yaml); this check
 * reads the command directories once and judges each command:
 *
 * - a moved-aside copy beside a command is reported (high);
 * - a command that is not ELF and either has a moved copy beside it or runs a moved
 *   copy or a hidden path is a wrapper (critical), whatever the package database says:
 *   the package owns the path, not the bytes an attacker wrote there;
 * - any other non-ELF command of the must-be-ELF list is reported only when no
 *   installed package owns it, since distributions ship a few commands as scripts.
 */
import type { Check, CheckContext } from '../model/check.js';
import { activeLines } from '../facts/vfs-lines.js';
import { isElf, readHead, type FileHead } from './shared/file-head.js';
import type { Rule } from '../rules/types.js';
import type { WalkEntry } from '../../mountfs/vfs.js';
import { basename, dirname, joinPath } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import type { RuleSet } from '../rules/ruleset.js';
import { packageOwner } from './shared/config-files.js';

const COMMAND_DIRS = ['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];
const COMMAND_GLOBS = COMMAND_DIRS.map((d) => `${d}/*`);
const MOVED_RULE = 'hijacked-command.moved-original';
const WRAPPER_RULE = 'hijacked-command.wrapper';
const NOT_ELF_RULE = 'hijacked-command.script-not-elf';
/** Wrappers are a few lines; the ELF magic needs 4 bytes. */
const HEAD_BYTES = 64 * 1024;
const MAX_WRAPPER_LINES = 5;
/** Shell words: what a wrapper line names, split at quotes, pipes, redirections and separators. */
const WORD = /[^\s'"`;|&()<>]+/g;

interface Command {
  path: string;
  name: string;
  /** Moved-aside copies beside it, e.g. /usr/bin/ps.original. */
  moved: string[];
}

export const hijackedCommandsCheck: Check = {
  id: 'hijacked-commands',
  ruleIds: [MOVED_RULE, WRAPPER_RULE, NOT_ELF_RULE],
  description: 'System commands replaced by wrapper scripts, and their moved-aside originals (ps.original)',
  /** Not a persistence place, but a locked wrapper there survives cleaning as a locked cron line does. */
  watched: [{ what: 'system command', globs: ['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'].flatMap((d) => [d, `${d}/*`]) }],
  /**
   * The listed commands and anything named like a moved copy of one (ps.*), in every
   * command directory: sources read only once keep just those, not all of /usr/bin.
   */
  paths: (rules) => commandPaths(rules),
  async run(ctx) {
    const moved = ctx.rules.get(MOVED_RULE);
    const byDir = new Map<string, WalkEntry[]>();
    for await (const entry of ctx.vfs.walk(COMMAND_GLOBS, { onError: (p, e) => ctx.error(p, e) })) {
      const dir = dirname(entry.path);
      const list = byDir.get(dir);
      if (list) list.push(entry);
      else byDir.set(dir, [entry]);
    }
    for (const [dir, entries] of byDir) {
      const commands = new Map<string, Command>();
      const commandFor = (name: string): Command => {
        let c = commands.get(name);
        if (!c) commands.set(name, (c = { name, path: joinPath(dir, name), moved: [] }));
        return c;
      };
      for (const entry of entries) {
        const name = basename(entry.path);
        for (const rule of ctx.rules.matchName('command', name)) {
          if (rule.id === MOVED_RULE) commandFor(movedFrom(rule, name)).moved.push(entry.path);
          else if (rule.id === NOT_ELF_RULE) commandFor(name);
        }
      }
      // Sorted: directory order differs between filesystems, the report must not.
      for (const command of commands.values()) await judge(ctx, { ...command, moved: command.moved.sort() }, moved);
    }
  },
};

function commandPaths(rules: RuleSet): string[] {
  const rule = rules.all().find((r) => r.id === NOT_ELF_RULE);
  const names = rule?.match.kind === 'name' ? rule.match.values : undefined;
  if (!names || names.length === 0) return COMMAND_GLOBS;
  const set = `{${names.join(',')}}`;
  return COMMAND_DIRS.flatMap((d) => [`${d}/${set}`, `${d}/${set}.*`]);
}

/** The command a moved copy was moved from: the rule's first group, else the name without its last suffix. */
function movedFrom(rule: Rule, name: string): string {
  const group = rule.match.kind === 'name' ? rule.match.regex?.exec(name)?.[1] : undefined;
  return group ?? name.replace(/\.[^.]*$/, '');
}

async function judge(ctx: CheckContext, command: Command, movedRule: Rule): Promise<void> {
  const head = await readHead(ctx, command.path, HEAD_BYTES);
  // Only asked once something is reported: most commands are fine.
  const reinstall = () => reinstallCommand(ctx, command.path);
  for (const moved of command.moved) {
    ctx.report(
      ctx.rules.finding(movedRule, {
        path: moved,
        evidence: `${moved}: ${describe(await readHead(ctx, moved, HEAD_BYTES))}; ${command.path}: ${describe(head)}`,
        vars: { name: command.name, command: command.path, reinstall: await reinstall() },
      }),
    );
  }
  if (!head || isElf(head.bytes)) return;

  const text = head.bytes.toString('latin1');
  const refs = wrapperReferences(text, movedRule);
  if (command.moved.length > 0 || refs.paths.length > 0) {
    const runs = unique([...command.moved, ...refs.paths]);
    const evidenceLines = refs.lines.length > 0 ? refs.lines : codeLines(text).slice(0, MAX_WRAPPER_LINES);
    ctx.report(
      ctx.rules.finding(WRAPPER_RULE, {
        path: command.path,
        evidence: evidenceLines.join(' ; '),
        vars: {
          name: command.name,
          original: runs[0],
          runs: runs.join(', '),
          filter: refs.filters.length > 0 ? ` and drops lines from its output with: ${refs.filters.join(' | ')}` : '',
          reinstall: await reinstall(),
        },
      }),
    );
    return;
  }

  if (ctx.rules.matchName('command', command.name).every((r) => r.id !== NOT_ELF_RULE)) return;
  const owner = await packageOwner(ctx, command.path);
  if (owner.kind === 'owned') return;
  ctx.report(
    ctx.rules.finding(NOT_ELF_RULE, {
      path: command.path,
      evidence: codeLines(text).slice(0, MAX_WRAPPER_LINES).join(' ; ') || describe(head),
      vars: {
        name: command.name,
        kind: describe(head),
        ownership: owner.kind === 'unknown' ? 'there is no package database to say whether a package installed it' : 'no installed package owns it',
        reinstall: await reinstall(),
      },
    }),
  );
}

function describe(head: FileHead | undefined): string {
  if (!head) return 'missing';
  if (isElf(head.bytes)) return `an ELF program of ${head.size} bytes`;
  if (head.size === 0) return 'an empty file';
  const text = head.bytes.toString('latin1');
  if (text.startsWith('#!')) return `a script (${text.split('\n', 1)[0]!.slice(0, 60).trim()})`;
  return `neither ELF nor a #! script (${head.size} bytes)`;
}

/** The lines that do something: no blank lines, comments or shebang. */
function codeLines(text: string): string[] {
  return activeLines(text).map((l) => l.text.trim());
}

interface WrapperReferences {
  /** Moved copies and hidden paths the script runs. */
  paths: string[];
  /** The lines naming them. */
  lines: string[];
  /** grep -v stages that hide lines from the wrapped program's output. */
  filters: string[];
}

function wrapperReferences(text: string, movedRule: Rule): WrapperReferences {
  const out: WrapperReferences = { paths: [], lines: [], filters: [] };
  for (const line of codeLines(text)) {
    const named = (line.match(WORD) ?? []).filter((w) => isMovedCopy(w, movedRule) || isHiddenPath(w));
    if (named.length === 0) continue;
    out.paths.push(...named);
    out.lines.push(line);
    for (const stage of pipelineStages(line)) {
      if (/^[ef]?grep\b/.test(stage) && /(^|\s)-[A-Za-z]*v/.test(stage)) out.filters.push(stage);
    }
  }
  out.paths = unique(out.paths);
  return out;
}

/** The commands of a pipeline; a "|" inside quotes (grep -v 'a|b') does not split. */
function pipelineStages(line: string): string[] {
  const stages: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '\\') i++;
    else if (c === '|' && line[i + 1] !== '|' && line[i - 1] !== '|') {
      stages.push(line.slice(start, i).trim());
      start = i + 1;
    }
  }
  stages.push(line.slice(start).trim());
  return stages;
}

function isMovedCopy(word: string, movedRule: Rule): boolean {
  return movedRule.match.kind === 'name' && (movedRule.match.regex?.test(word.slice(word.lastIndexOf('/') + 1)) ?? false);
}

/** An absolute path with a dot-named component (/usr/bin/.ps, /tmp/.x/ps); "." and ".." do not count. */
function isHiddenPath(word: string): boolean {
  return word.startsWith('/') && word.split('/').some((c) => c.startsWith('.') && c !== '.' && c !== '..');
}

/** The command that puts the packaged program back: the owner when the database knows it, else a lookup. */
async function reinstallCommand(ctx: CheckContext, path: string): Promise<string> {
  const owner = await packageOwner(ctx, path);
  const commands = await ctx.facts.packageCommands();
  return owner.kind === 'owned' ? commands.reinstall([owner.package], owner.manager) : commands.reinstallOwnerOf(path);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
