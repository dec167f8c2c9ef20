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
 *
 * Why the model names Vfs, RuleSet, HashLookup and Facts with `import type`: a check's
 * context is made of the services the engine hands it, and each is defined where it is
 * implemented (a narrow copy here would be a second definition of every method checks
 * call, kept in step by hand). A type import is erased at build, so src/model loads no
 * code from another layer and no import cycle can arise at run time; it names the
 * services only, never the engine, the checks or the reports (test/layers.test.ts).
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
  /** The kinds of root it reads (src/facts/windows/platform.ts judges each root); ['linux'] when absent. */
  readonly platforms?: readonly Platform[];
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
  /**
   * The places whose files and directories keep this check's persistence in place, so a
   * chattr +i or +a lock on them is reported (the immutable-files check walks the places
   * of every check). A persistence check declares them, empty only when its places are
   * declared by another check or follow from the root's facts (the login homes).
   */
  readonly watched?: readonly WatchedPlace[];
  run(ctx: CheckContext): Promise<void>;
}

/** A place a check reads, as the lock on it is reported. */
export interface WatchedPlace {
  /** What the place is, for the finding's message: "cron configuration", "systemd unit". */
  readonly what: string;
  /** Its files and the directories holding them (a locked directory stops new entries). */
  readonly globs: readonly string[];
}

/**
 * The places of these checks, in the order a path is attributed to them: by check id,
 * so the order the checks are listed in does not count.
 */
export function watchedPlaces(checks: readonly Check[]): WatchedPlace[] {
  const byId = new Map<string, Check>();
  for (const c of checks) byId.set(c.id, c);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).flatMap((c) => c.watched ?? []);
}

/** The engine's phases, in the order they run. */
export const CHECK_PHASES = ['find', 'follow', 'combine'] as const;
export type CheckPhase = (typeof CHECK_PHASES)[number];

export function phaseOf(check: Check): CheckPhase {
  return check.phase ?? 'find';
}

/** The operating systems a scanned root can be judged as. */
export const PLATFORMS = ['linux', 'windows'] as const;
export type Platform = (typeof PLATFORMS)[number];

export function platformsOf(check: Check): readonly Platform[] {
  return check.platforms ?? ['linux'];
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
  /** The places every check minescan has declares as watched (Check.watched), in attribution order. */
  watchedPlaces(): readonly WatchedPlace[];
}
