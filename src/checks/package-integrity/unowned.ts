/**
 * A regular file in a command directory that no package database owns, judged by its
 * name first (hidden names, the helpers image builders leave, package-manager
 * leftovers: name rules in package-integrity.yaml), then by where it is (/usr/local is the
 * admin's) and what it is (an ELF program or a script is worth a look; anything else
 * less). A file another check says more about (a moved-aside ps.original, a family's
 * known binary) keeps that finding only: the unowned rules yield to them in
 * integrity.yaml, and the engine applies it (src/engine/precedence.ts).
 */
import type { CheckContext } from '../../model/check.js';
import type { Finding } from '../../model/finding.js';
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
/** The rule ids named here, for the ruleIds of the check that judges unowned files. */
export const UNOWNED_RULE_IDS = [...BY_NAME, LOCAL_RULE, PROGRAM_RULE, OTHER_RULE];

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
  const ids = new Set(ctx.rules.matchName('command', name).map((r) => r.id));
  const byName = BY_NAME.find((id) => ids.has(id));
  const rule =
    byName ?? (placeOf(path) === 'local-command' ? LOCAL_RULE : kind.elf || kind.script ? PROGRAM_RULE : OTHER_RULE);
  return ctx.rules.finding(rule, {
    path,
    evidence: `${path}: ${kind.words}; no installed package owns it`,
    vars: { kind: kind.words, dir: dirname(path), name },
  });
}
