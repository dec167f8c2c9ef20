/**
 * The correlation pass, run once after every check: links each persistence line
 * (startedBy "path:line", recorded by the checks with ctx.started) to the findings on
 * the file it starts, both ways (Finding.related), and gives the line a finding of its
 * own when what it starts is flagged (src/rules/builtin/correlation.yaml). A crontab
 * line running /usr/local/bin/backup every five minutes looks harmless; when the backup
 * is an XMRig build another check flagged, the line is how the miner survives a reboot
 * and the first thing to remove.
 *
 * Severity follows what is started: a high or critical finding on the started file
 * makes the line critical, a medium one high. Each line gets at most one such finding,
 * for the worst file it starts. Chains count: a cron line starting a script whose line
 * starts a miner is raised too, up to MAX_ROUNDS links deep. A line in a package's own
 * program file with no finding of its own (rc-local.service starting /etc/rc.local) is
 * linked but not raised: the started file is the entry to remove (stock-files.ts). A
 * line that only sources a file (`. /etc/x`) is linked but not raised either: the
 * sourced file's own lines are judged where they are, and a finding on it that says
 * nothing of what it runs (a chattr lock) says nothing of the line that reads it.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import type { RuleSet } from '../rules/ruleset.js';
import { shellQuote } from '../rules/ruleset.js';
import type { StartedFile } from '../model/check.js';
import type { Facts } from '../facts/facts.js';
import { packagedProgramFiles } from './stock-files.js';
import { PackageCommands } from '../facts/package-manager.js';
import { clipEvidence, severityRank, type Finding, type Severity } from '../model/finding.js';
import { decodeWindowsText } from '../checks/parsers/windows-text.js';

export const MALICIOUS_RULE = 'correlation.persistence-starts-malicious';
export const SUSPICIOUS_RULE = 'correlation.persistence-starts-suspicious';

/** How many persistence lines are linked at most: a hostile crontab of a million lines must not stall the pass. */
const MAX_LINKS = 20_000;
/** Links a chain may follow (cron line → script line → binary is two). */
const MAX_ROUNDS = 8;
/** Entries kept in one related list. */
const MAX_RELATED = 32;
/** A persistence file is read up to here to show the line that starts a file. */
const MAX_LINE_FILE_BYTES = 1 << 20;
const KEPT_LINE_FILES = 4;
const MAX_SHOWN_MESSAGE = 200;
const MAX_SHOWN_LINE = 160;

interface Line {
  /** "path:line" as the check recorded it. */
  where: string;
  linePath: string;
  line: number;
  /** The files it starts, as written and resolved: findings may sit under either. */
  targets: Set<string>;
  /** The files it only sources (`. FILE`): linked, never a reason to raise the line. */
  sourced: Set<string>;
}

interface Raised {
  finding: Finding;
  /**
   * The severity that raised it, carried along a chain: a cron line starting a script
   * whose line starts a medium-flagged file is raised to high, not to critical because
   * the script's line is now high.
   */
  level: Severity;
}

/**
 * Links findings and returns the new correlation findings (the caller adds them).
 * Without `facts` no line is taken for a package's own.
 */
export async function correlate(vfs: Vfs, rules: RuleSet, findings: Finding[], started: readonly StartedFile[], facts?: Facts): Promise<Finding[]> {
  const lines = await linesOf(vfs, started);
  if (lines.length === 0) return [];
  const byPath = indexBy(findings, (f) => f.path);
  const byLine = indexBy(findings, lineKey);
  const reader = new LineReader(vfs);
  // Asked once, and only when a line in a file without findings is about to be raised: it reads the package databases.
  const quiet = new Set(lines.map((l) => l.linePath).filter((p) => !byPath.has(p)));
  let stock: Promise<Set<string>> | undefined;
  const isStock = async (path: string) => {
    if (!facts || !quiet.has(path)) return false;
    stock ??= packagedProgramFiles(facts, quiet);
    return (await stock).has(path);
  };
  // The root's package tools, for the remediation's owner lookup: asked when a line is first raised.
  let commands: PackageCommands | undefined;
  const raised = new Map<string, Raised>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const raisedOn = new Map<string, Raised[]>();
    for (const r of raised.values()) {
      const list = raisedOn.get(r.finding.path);
      if (list) list.push(r);
      else raisedOn.set(r.finding.path, [r]);
    }
    let changed = false;
    for (const line of lines) {
      const candidates: Raised[] = [];
      for (const t of line.targets) {
        for (const f of byPath.get(t) ?? []) candidates.push({ finding: f, level: f.severity });
        candidates.push(...(raisedOn.get(t) ?? []));
      }
      const cause = worst(candidates);
      if (!cause) continue;
      const rank = severityRank(cause.level);
      const rule = rank >= severityRank('high') ? MALICIOUS_RULE : rank >= severityRank('medium') ? SUSPICIOUS_RULE : undefined;
      if (!rule) continue;
      const prior = raised.get(line.where);
      if (prior && severityRank(prior.level) >= rank) continue;
      if (await isStock(line.linePath)) continue;
      const own = byLine.get(`${line.linePath}\0${line.line}`) ?? [];
      // A line already reported at this severity or more says it all; it is linked, not repeated.
      // Lines that start it still see its own finding on its path, so chains carry on.
      const raisedTo = severityRank(rules.get(rule).severity);
      if (own.some((f) => !isCorrelation(f) && severityRank(f.severity) >= raisedTo)) continue;
      const text = await reader.line(line.linePath, line.line);
      commands ??= facts ? await facts.packageCommands() : new PackageCommands(undefined);
      raised.set(line.where, { finding: correlationFinding(rules, commands, own, line, rule, cause.finding, text), level: cause.level });
      changed = true;
    }
    if (!changed) break;
  }
  const added = [...raised.values()].map((r) => r.finding);
  linkRelated([...findings, ...added], lines);
  return added;
}

/** Only "path:line" points are linked; "run-parts DIR" and "init" start a file that is its own persistence. */
async function linesOf(vfs: Vfs, started: readonly StartedFile[]): Promise<Line[]> {
  const real = new Map<string, string | undefined>();
  const lines = new Map<string, Line>();
  let count = 0;
  for (const s of started) {
    if (count++ >= MAX_LINKS) break;
    const m = /^(\/.*):(\d+)$/.exec(s.startedBy);
    if (!m || !s.path.startsWith('/')) continue;
    if (!real.has(s.path)) real.set(s.path, await vfs.realpath(s.path).catch(() => undefined));
    const targets = [s.path, real.get(s.path) ?? s.path];
    const linePath = m[1]!;
    // A script that starts itself ("$0") is no link between two things.
    if (targets.includes(linePath)) continue;
    const line = lines.get(s.startedBy) ?? { where: s.startedBy, linePath, line: Number(m[2]), targets: new Set<string>(), sourced: new Set<string>() };
    for (const t of targets) (s.sourced ? line.sourced : line.targets).add(t);
    lines.set(s.startedBy, line);
  }
  return [...lines.values()];
}

/** The most severe; among equals the first, and a check's own finding before a correlation. */
function worst(candidates: Raised[]): Raised | undefined {
  let best: Raised | undefined;
  for (const c of candidates) {
    if (!best) {
      best = c;
      continue;
    }
    const d = severityRank(c.level) - severityRank(best.level);
    if (d > 0 || (d === 0 && isCorrelation(best.finding) && !isCorrelation(c.finding))) best = c;
  }
  return best;
}

function isCorrelation(f: Finding): boolean {
  return f.rule === MALICIOUS_RULE || f.rule === SUSPICIOUS_RULE;
}

/** `onLine`: the findings the checks reported on this very line. */
function correlationFinding(rules: RuleSet, commands: PackageCommands, onLine: Finding[], line: Line, rule: string, cause: Finding, text: string | undefined): Finding {
  const own = worst(onLine.filter((f) => !isCorrelation(f)).map((f) => ({ finding: f, level: f.severity })))?.finding;
  const finding = rules.finding(rule, {
    path: line.linePath,
    line: line.line,
    evidence: text ?? own?.evidence ?? line.where,
    ...(own ? { category: own.category } : {}),
    vars: {
      started: cause.path,
      startedRule: cause.rule,
      startedSeverity: cause.severity,
      startedMessage: shorten(cause.message, MAX_SHOWN_MESSAGE),
      startedOwnerQuery: commands.ownerQuery(cause.path),
      fix: own?.remediation.trim() ?? removeLineCommand(line, text),
    },
  });
  if (cause.family) finding.family = cause.family;
  return finding;
}

/**
 * How to remove a line that had no finding of its own, by the kind of file it is in:
 * a unit is disabled and removed, a user's crontab goes through crontab(1), any other
 * file loses the line.
 */
function removeLineCommand(link: Line, text: string | undefined): string {
  const file = shellQuote(link.linePath);
  const shown = text === undefined ? '' : `: ${shorten(text.replace(/[\u0000-\u001f\u007f]/g, '?'), MAX_SHOWN_LINE)}`;
  const unit = /\/systemd\/(?:.*\/)?([^/]+\.(?:service|timer|socket|path))$/.exec(link.linePath);
  if (unit) {
    return `systemctl disable --now ${shellQuote(unit[1]!)}   # line ${link.line}${shown}\nrm -f ${file} && systemctl daemon-reload`;
  }
  const spool = /^\/var\/spool\/cron\/(?:crontabs\/|tabs\/)?([^/]+)$/.exec(link.linePath);
  if (spool) {
    const user = shellQuote(spool[1]!);
    return `crontab -u ${user} -l | sed '${link.line}d' | crontab -u ${user} -   # deletes line ${link.line}${shown}`;
  }
  return `sed -i '${link.line}d' ${file}   # deletes line ${link.line}${shown}`;
}

/** related.startedBy on the findings of a started file, related.starts on the findings of the line. */
function linkRelated(findings: Finding[], lines: Line[]): void {
  const byPath = indexBy(findings, (f) => f.path);
  const byLine = indexBy(findings, lineKey);
  for (const link of lines) {
    const onTargets = [...link.targets, ...link.sourced].flatMap((t) => byPath.get(t) ?? []);
    if (onTargets.length === 0) continue;
    for (const f of onTargets) add(f, 'startedBy', link.where);
    const startedPaths = [...new Set(onTargets.map((f) => f.path))];
    for (const f of byLine.get(`${link.linePath}\0${link.line}`) ?? []) for (const p of startedPaths) add(f, 'starts', p);
  }
}

function add(f: Finding, key: 'startedBy' | 'starts', value: string): void {
  f.related ??= {};
  const list = (f.related[key] ??= []);
  if (list.length < MAX_RELATED && !list.includes(value)) list.push(value);
}

function indexBy(findings: Finding[], key: (f: Finding) => string): Map<string, Finding[]> {
  const index = new Map<string, Finding[]>();
  for (const f of findings) {
    const k = key(f);
    const list = index.get(k);
    if (list) list.push(f);
    else index.set(k, [f]);
  }
  return index;
}

function lineKey(f: Finding): string {
  return `${f.path}\0${f.line ?? ''}`;
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * The text of one line of a persistence file, read bounded and decoded as the file
 * declares (UTF-8, or UTF-16 with its byte-order mark as Windows writes tasks). Lines
 * arrive file by file, so a few files are kept: thousands of 1 MiB crontabs must not all
 * stay in memory.
 */
class LineReader {
  private files = new Map<string, string[] | undefined>();
  constructor(private readonly vfs: Vfs) {}

  async line(path: string, line: number): Promise<string | undefined> {
    if (!this.files.has(path)) {
      if (this.files.size >= KEPT_LINE_FILES) this.files.delete(this.files.keys().next().value!);
      try {
        const bytes = await this.vfs.readFile(path, { maxBytes: MAX_LINE_FILE_BYTES });
        // Decoded as the file declares it: a Windows task is UTF-16LE, and its bytes read as UTF-8 would show every other character as NUL.
        this.files.set(path, decodeWindowsText(bytes).split('\n'));
      } catch {
        // The check that read this file reported why it could not; the finding falls back to "path:line".
        this.files.set(path, undefined);
      }
    }
    const text = this.files.get(path)?.[line - 1]?.replace(/\r$/, '').trim();
    // A binary file (a legacy .job task) has no line to show: the finding on it says what it runs.
    return text && !/\u0000/.test(text) ? clipEvidence(text) : undefined;
  }
}
