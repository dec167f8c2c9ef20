/**
 * What a check is and what it is handed. Each check declares the paths it reads up
 * front (globs), so one walker can feed every check, also from sources that can only
 * be read once, front to back.
 *
 * Each check also declares its phase, and the engine runs the phases in order, so the
 * order checks are listed in never matters: 'find' checks read the root and record the
 * files persistence points start; 'follow' checks read those started files and may
 * record more (a script that starts another); 'combine' checks read everything
 * recorded and record nothing. Which of two findings on one path stands is the
 * engine's to decide, from the rule packs (src/engine/precedence.ts), never a check's.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import type { RuleSet } from '../rules/ruleset.js';
import type { Finding } from './finding.js';
import type { Facts } from '../facts/facts.js';
import type { HashLookup } from '../hashes/hash-list.js';

export interface Check {
  /** Stable id, e.g. "cron". */
  readonly id: string;
  readonly description: string;
  /**
   * It reads a place persistence lives in (cron, units, keys...): the timeline lists the
   * files it examined that changed near the intrusion. Integrity and content sweeps are
   * not, or every package upgrade in the window would be listed.
   */
  readonly persistence?: boolean;
  /** When it runs; 'find' when absent. */
  readonly phase?: CheckPhase;
  /**
   * Globs (absolute, picomatch segments, `**` spans directories) of everything this
   * check reads; a function when they follow from the loaded rules.
   */
  readonly paths: string[] | ((rules: RuleSet) => string[]);
  /**
   * Ids of the rules its code names (fires by its own logic, looks up, compares with);
   * rules it finds by matching are not listed. Checked against the packs before a scan
   * (src/rules/check-rules.ts); the rule set the check is given refuses other ids.
   */
  readonly ruleIds?: readonly string[];
  run(ctx: CheckContext): Promise<void>;
}

/** The engine's phases, in the order they run. */
export const CHECK_PHASES = ['find', 'follow', 'combine'] as const;
export type CheckPhase = (typeof CHECK_PHASES)[number];

export function phaseOf(check: Check): CheckPhase {
  return check.phase ?? 'find';
}

/** A file some persistence point starts: the hash check looks each one up. */
export interface StartedFile {
  /** Absolute path inside the scanned root, as written (not yet resolved). */
  path: string;
  /** Where it is started from, e.g. "/etc/crontab:12". */
  startedBy: string;
  /** Only read into the starting shell (`. FILE`, `source FILE`): followed, linked, but no reason to raise the line. */
  sourced?: boolean;
}

/** The globs a check declares, given the rules in force. */
export function declaredPaths(check: Check, rules: RuleSet): string[] {
  return typeof check.paths === 'function' ? check.paths(rules) : check.paths;
}

export interface CheckContext {
  readonly vfs: Vfs;
  readonly rules: RuleSet;
  readonly hashes: HashLookup;
  /** Parsed system facts shared by checks (passwd, shadow, package ownership), read once. */
  readonly facts: Facts;
  report(finding: Finding): void;
  /** A file or structure that could not be read; the scan goes on. */
  error(path: string | undefined, err: unknown): void;
  /** Counts a file as examined, for stats.filesExamined. */
  examined(path: string): void;
  /** Records that a persistence point starts this file; 'find' and 'follow' checks only. */
  started(file: StartedFile): void;
  /** Every file recorded with started(), in order; 'follow' and 'combine' checks only. */
  startedFiles(): StartedFile[];
  /** Adds to stats.bytesHashed. */
  hashed(bytes: number): void;
}
