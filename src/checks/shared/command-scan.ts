/**
 * The one scan the cron, services and started-scripts checks run over command lines:
 * content rules of the scope (on comment-free text), base64, hex and reversed payloads
 * decoded one level and rescanned, every started program recorded with ctx.started()
 * and matched against the `started-path` name rules (temporary and hidden directories,
 * miner names), and each hit reported with the check's remediation for that line (a
 * miner's pools and wallets in Finding.indicators). A file that kills miners by name on
 * several lines gets one more finding for the list.
 */
import type { CheckContext } from '../../model/check.js';
import { severityRank, type Finding } from '../../model/finding.js';
import type { ContentScope, Rule } from '../../rules/types.js';
import type { TemplateVars } from '../../rules/ruleset.js';
import { findEncodedPayloads, matchDecoded } from '../../rules/decode.js';
import { extractMinerIndicators } from '../../miners/pool-indicators.js';
import { textLines } from '../../facts/vfs-lines.js';
import { startedByWindowsCommand } from '../parsers/windows-command.js';
import { heredocDelimiters, shellLineStarts, startedByExecValue, startedByShellLine, stripShellComment, type ShellVars } from '../parsers/shell-commands.js';

/** One logical line of a crontab, unit or script, as the checks hand it over. */
export interface CommandLine {
  /** 1-based number of its first physical line. */
  line: number;
  /** What content rules read: the line without comments ('' when it is one). */
  text: string;
  /** The line as written, for evidence and remediation. */
  evidence: string;
  /** The command it runs, when it runs one: shell syntax, a systemd Exec*= value or a Windows command line. */
  run?: { syntax: 'shell' | 'exec' | 'windows'; command: string };
  /** Variables for this line's findings, over the file's (a crontab line's user and schedule). */
  vars?: TemplateVars;
}

/** A file of command lines and how to report on it. */
export interface CommandFile {
  scope: ContentScope;
  path: string;
  /** Category of every finding: the persistence point, e.g. "persistence/cron". */
  category: string;
  /** Variables for every finding of the file; must set `context` (e.g. " (cron job of root)"). */
  vars: TemplateVars;
  /** Remediation commands for a line, given what the line starts. */
  fix(line: CommandLine, started: string[]): Promise<string>;
  /** The severity a finding of `rule` gets here, when the file's place weighs on it (scripts at rest). */
  weigh?(finding: Finding, rule: Rule): Finding['severity'];
}

interface Hit {
  rule: Rule;
  evidence: string;
  /** Where the text that fired came from, for messages: "/etc/crontab:9". */
  where: string;
  name?: string;
}

/** Runs the content, decoding and started-path rules over the lines; returns what each line starts. */
export async function scanCommandLines(
  ctx: CheckContext,
  file: CommandFile,
  lines: CommandLine[],
  vars: ShellVars = new Map(),
): Promise<Map<number, string[]>> {
  const startedByLine = new Map<number, string[]>();
  const hitsByLine = new Map<number, Hit[]>();
  const addHit = (line: number, hit: Hit) => {
    const list = hitsByLine.get(line) ?? [];
    if (!list.some((h) => h.rule.id === hit.rule.id && h.evidence === hit.evidence)) list.push(hit);
    hitsByLine.set(line, list);
  };
  const byNumber = new Map(lines.map((l) => [l.line, l]));

  const texts: string[] = [];
  for (const l of lines) {
    while (texts.length < l.line - 1) texts.push('');
    texts[l.line - 1] = l.text;
  }
  for (const hit of ctx.rules.matchLines(file.scope, file.path, texts.join('\n'))) {
    const l = byNumber.get(hit.line);
    if (l) addHit(l.line, { rule: hit.rule, evidence: l.evidence, where: `${file.path}:${l.line}` });
  }

  for (const l of lines) {
    const started = new Set<string>();
    const sourced = new Set<string>();
    if (l.run) {
      if (l.run.syntax === 'exec') for (const p of startedByExecValue(l.run.command, vars)) started.add(p);
      else if (l.run.syntax === 'windows') for (const p of startedByWindowsCommand(l.run.command)) started.add(p);
      else {
        for (const p of shellLineStarts(l.run.command, vars)) {
          started.add(p.path);
          if (p.sourced) sourced.add(p.path);
        }
      }
    }
    for (const payload of findEncodedPayloads(l.text)) {
      const where = `${PAYLOAD_NAME[payload.encoding ?? 'base64']} decoded from ${file.path}:${l.line}`;
      for (const d of matchDecoded(ctx.rules, file.scope, file.path, payload)) addHit(l.line, { rule: d.rule, evidence: d.evidence, where });
      for (const p of startedByShellLine(payload.decoded)) {
        started.add(p);
        sourced.delete(p);
      }
    }
    for (const p of started) {
      ctx.started({ path: p, startedBy: `${file.path}:${l.line}`, ...(sourced.has(p) ? { sourced: true } : {}) });
      for (const rule of ctx.rules.matchName('started-path', p)) {
        addHit(l.line, { rule, evidence: l.evidence, where: `${file.path}:${l.line}`, name: p });
      }
    }
    if (started.size > 0) startedByLine.set(l.line, [...started]);
  }

  await reportKillList(ctx, file, lines, hitsByLine);
  for (const [lineNo, hits] of hitsByLine) {
    const l = byNumber.get(lineNo)!;
    const fix = await file.fix(l, startedByLine.get(lineNo) ?? []);
    for (const h of hits) {
      const finding = ctx.rules.finding(h.rule, {
        path: file.path,
        line: lineNo,
        evidence: h.evidence,
        category: file.category,
        vars: { ...file.vars, ...l.vars, where: h.where, fix, ...(h.name !== undefined ? { name: h.name } : {}) },
      });
      if (MINER_RULES.has(h.rule.id)) {
        const indicators = extractMinerIndicators(h.evidence);
        if (indicators.pools.length > 0 || indicators.wallets.length > 0) finding.indicators = indicators;
      }
      await capOnUnchangedPackageFile(ctx, finding, h.rule);
      if (file.weigh) finding.severity = file.weigh(finding, h.rule);
      ctx.report(finding);
    }
  }
  return startedByLine;
}

/**
 * A content rule that describes a behaviour (a socket read into a shell, a note on how
 * to tear AppArmor down) and not malware itself is at most low on a file its package
 * installed and nobody changed: the line is the distribution's. A changed or unowned
 * file, or a rule that names malware (`malware-specific`, a family's), keeps its severity.
 */
async function capOnUnchangedPackageFile(ctx: CheckContext, finding: Finding, rule: Rule): Promise<void> {
  if (rule.match.kind !== 'content' || rule.malwareSpecific || rule.family) return;
  if (severityRank(finding.severity) <= severityRank(CAPPED)) return;
  const state = await ctx.facts.packageFiles.state(finding.path);
  if (state.kind !== 'unchanged') return;
  finding.severity = CAPPED;
  const note = ctx.rules.finding(UNCHANGED_PACKAGE_FILE, {
    path: finding.path,
    evidence: finding.evidence,
    vars: { message: finding.message, package: state.package },
  });
  finding.message = note.message;
  finding.remediation = note.remediation;
}

const CAPPED = 'low' as const;
/** The message of a finding capped by capOnUnchangedPackageFile, around the rule's own. */
const UNCHANGED_PACKAGE_FILE = 'command.unchanged-package-file';

/** Findings that say a miner runs: their pools and wallets go into Finding.indicators, for block lists. */
const MINER_RULES = new Set(['command.miner', 'command.started-miner']);

const PAYLOAD_NAME = { base64: 'a base64 payload', hex: 'a hex payload', reversed: 'a reversed string' } as const;

/** The rule that kills one miner by name, and the one a file killing several of them one per line gets. */
const KILL_ONE_MINER = 'command.kill-miner';
const KILL_MINER_LIST = 'command.kill-miners-lines';
/** The rule ids named here, for the ruleIds of every check that scans command lines. */
export const COMMAND_SCAN_RULE_IDS = [...MINER_RULES, KILL_ONE_MINER, KILL_MINER_LIST, UNCHANGED_PACKAGE_FILE];
/** Administrators' cleanup scripts kill one or two; a miner's own script kills a list. */
const KILL_LIST_LINES = 3;

async function reportKillList(ctx: CheckContext, file: CommandFile, lines: CommandLine[], hitsByLine: Map<number, Hit[]>): Promise<void> {
  const killing = lines.filter((l) => hitsByLine.get(l.line)?.some((h) => h.rule.id === KILL_ONE_MINER));
  if (killing.length < KILL_LIST_LINES) return;
  const first = killing[0]!;
  ctx.report(
    ctx.rules.finding(KILL_MINER_LIST, {
      path: file.path,
      line: first.line,
      evidence: killing
        .slice(0, 5)
        .map((l) => `${l.line}: ${l.evidence}`)
        .join('; '),
      category: file.category,
      vars: { ...file.vars, ...first.vars, count: killing.length, fix: await file.fix(first, []) },
    }),
  );
}

/**
 * The logical lines of a shell script: backslash continuations joined (reported at their
 * first line), comment lines and the shebang left out, trailing comments cut, and
 * here-document bodies kept for the content rules but not run.
 */
export function scriptLines(text: string): CommandLine[] {
  const physical = textLines(text).map((l) => l.text);
  const out: CommandLine[] = [];
  const heredocs: string[] = [];
  for (let i = 0; i < physical.length; i++) {
    const first = i;
    const line = physical[i]!;
    if (heredocs.length > 0) {
      if (line.replace(/^\t+/, '') === heredocs[0]) heredocs.shift();
      else if (line.trim() !== '') out.push({ line: first + 1, text: line, evidence: line.trim() });
      continue;
    }
    const parts = [line];
    while (endsWithContinuation(parts[parts.length - 1]!) && i + 1 < physical.length && parts.length < MAX_CONTINUED_LINES) {
      parts[parts.length - 1] = parts[parts.length - 1]!.slice(0, -1);
      parts.push(physical[++i]!);
    }
    const logical = parts.join('');
    const trimmed = logical.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const command = stripShellComment(logical);
    heredocs.push(...heredocDelimiters(command));
    out.push({ line: first + 1, text: command, evidence: trimmed, run: { syntax: 'shell', command } });
  }
  return out;
}

/** A script of a million continued lines must not become one quadratic string. */
const MAX_CONTINUED_LINES = 1000;

function endsWithContinuation(line: string): boolean {
  let n = 0;
  for (let k = line.length - 1; k >= 0 && line[k] === '\\'; k--) n++;
  return n % 2 === 1;
}
