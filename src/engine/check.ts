/**
 * What a check is and what it is handed. Each check declares the paths it reads up
 * front (globs), so one walker can feed every check, also from sources that can only
 * be read once, front to back. Checks run in the order of src/checks/index.ts: the
 * persistence checks record the files they see started, the hash check runs after them.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import type { RuleSet } from '../rules/ruleset.js';
import type { Finding } from './finding.js';
import type { Facts } from './facts.js';
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

/** A file some persistence point starts: the hash check looks each one up. */
export interface StartedFile {
  /** Absolute path inside the scanned root, as written (not yet resolved). */
  path: string;
  /** Where it is started from, e.g. "/etc/crontab:12". */
  startedBy: string;
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
  /** Records that a persistence point starts this file. */
  started(file: StartedFile): void;
  /** Every file recorded with started(), in order. */
  startedFiles(): StartedFile[];
  /** Adds to stats.bytesHashed. */
  hashed(bytes: number): void;
}
