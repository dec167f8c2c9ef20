/**
 * A regular file in a command directory that no package database owns, judged by its
 * name first (hidden names, the helpers image builders leave, package-manager
 * leftovers: name rules in integrity.yaml), then by where it is (/usr/local is the
 * admin's) and what it is (an ELF program or a script is worth a look; anything else
 * less). Files the hijacked-commands check reports are left to it, and so are files a
 * path rule names outright (a family's known binary: the indicator-paths check reports
 * it with what it is).
 */
import type { CheckContext } from '../../engine/check.js';
import type { Finding } from '../../engine/finding.js';
import { basename, dirname } from '../../../mountfs/path.js';
import { isNotFound } from '../../../mountfs/errors.js';
import { fileKind, type FileKind } from './files.js';
import { placeOf } from './scope.js';
import { compileGlob, type CompiledGlob } from '../../../mountfs/glob.js';
import type { RuleSet } from '../../rules/ruleset.js';

/** Name rules, the first that matches wins. */
const BY_NAME = ['integrity.unowned-hidden-system-binary', 'integrity.unowned-known-helper', 'integrity.package-manager-leftover'];
const LOCAL_RULE = 'integrity.unowned-local-binary';
const PROGRAM_RULE = 'integrity.unowned-system-binary';
const OTHER_RULE = 'integrity.unowned-system-file';
/** hijacked-commands' rules: a moved-aside copy, and a name that must be a compiled program. */
const MOVED_RULE = 'hijacked-command.moved-original';
const NOT_ELF_RULE = 'hijacked-command.script-not-elf';

export async function judgeUnowned(ctx: CheckContext, path: string): Promise<Finding | undefined> {
  let kind: FileKind;
  try {
    kind = await fileKind(ctx.vfs, path);
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return undefined;
  }
  ctx.examined(path);
  const name = basename(path);
  const nameRules = ctx.rules.matchName('command', name);
  const ids = new Set(nameRules.map((r) => r.id));
  if (ids.has(MOVED_RULE) || (ids.has(NOT_ELF_RULE) && !kind.elf)) return undefined;
  if (pathRuleGlobs(ctx.rules).some((g) => g.matches(path))) return undefined;
  const byName = BY_NAME.find((id) => ids.has(id));
  const rule =
    byName ?? (placeOf(path) === 'local-command' ? LOCAL_RULE : kind.elf || kind.script ? PROGRAM_RULE : OTHER_RULE);
  return ctx.rules.finding(rule, {
    path,
    evidence: `${path}: ${kind.words}; no installed package owns it`,
    vars: { kind: kind.words, dir: dirname(path), name },
  });
}

const pathGlobs = new WeakMap<RuleSet, CompiledGlob[]>();

/** Globs of the path rules that fire on any file they match (no `contains` to test). */
function pathRuleGlobs(rules: RuleSet): CompiledGlob[] {
  let globs = pathGlobs.get(rules);
  if (!globs) {
    globs = rules
      .pathRules()
      .flatMap((r) => (r.match.kind === 'path' && !r.match.contains && r.match.type !== 'directory' ? r.match.globs : []))
      .map(compileGlob);
    pathGlobs.set(rules, globs);
  }
  return globs;
}
