/**
 * Runs every path rule (src/rules/builtin/indicator-paths.yaml, the family packs, --rules):
 * one walk over the union of their globs, then for each entry the rules whose globs
 * match it, their type restriction and, when given, their `contains` regex on the
 * first MiB. Path rules are meant to be anchored (/tmp/kdevtmpfsi, /root/.configrc*):
 * the walk only enters directories some glob can reach, so a rule with a leading `**`
 * would walk the whole disk.
 */
import type { Check, CheckContext } from '../model/check.js';
import type { Rule } from '../rules/types.js';
import type { Stat, WalkEntry } from '../../mountfs/vfs.js';
import { compileGlob, type CompiledGlob } from '../../mountfs/glob.js';
import { basename } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';

const CONTENT_BYTES = 1 << 20;
/** Bytes of context shown either side of a `contains` match. */
const CONTEXT_CHARS = 60;
const MAX_WALK_ENTRIES = 2_000_000;

interface CompiledPathRule {
  rule: Rule;
  globs: CompiledGlob[];
  type: 'file' | 'directory' | 'any';
  contains?: RegExp;
}

export const indicatorPathsCheck: Check = {
  id: 'indicator-paths',
  description: 'Files and directories that malware families and miners are known to leave (path rules)',
  /**
   * Only `contains` rules read bytes; every other path rule needs only the directory
   * tree, so sources that can be read only once keep just the files those rules read.
   */
  paths: (rules) => containsGlobs(rules.pathRules()),
  async run(ctx) {
    const rules = compileRules(ctx.rules.pathRules());
    if (rules.length === 0) return;
    const globs = [...new Set(rules.flatMap((r) => r.globs.map((g) => g.source)))];
    const walk = ctx.vfs.walk(globs, { maxEntries: MAX_WALK_ENTRIES, onError: (p, e) => ctx.error(p, e) });
    for await (const entry of walk) {
      for (const rule of rules) {
        if (rule.globs.some((g) => g.matches(entry.path))) await evaluate(ctx, rule, entry);
      }
    }
  },
};

function containsGlobs(rules: Rule[]): string[] {
  const globs = new Set<string>();
  for (const rule of rules) {
    if (rule.match.kind === 'path' && rule.match.contains) for (const g of rule.match.globs) globs.add(g);
  }
  return [...globs];
}

function compileRules(rules: Rule[]): CompiledPathRule[] {
  const out: CompiledPathRule[] = [];
  for (const rule of rules) {
    if (rule.match.kind !== 'path') continue;
    out.push({ rule, globs: rule.match.globs.map(compileGlob), type: rule.match.type ?? 'any', contains: rule.match.contains });
  }
  return out;
}

async function evaluate(ctx: CheckContext, rule: CompiledPathRule, entry: WalkEntry): Promise<void> {
  const { path } = entry;
  let stat: Stat | undefined = entry.stat;
  // A symlink planted at an indicator path counts as what it points to.
  if (entry.stat.type === 'symlink') {
    try {
      stat = await ctx.vfs.stat(path);
    } catch (err) {
      if (!isNotFound(err)) ctx.error(path, err);
      stat = undefined;
    }
    // A dangling link still marks the spot, but only for rules that ask for nothing more.
    if (!stat && (rule.type !== 'any' || rule.contains)) return;
  }
  if (rule.type !== 'any' && stat?.type !== rule.type) return;

  ctx.examined(path);
  let evidence = describe(entry.stat, stat);
  if (rule.contains) {
    if (stat?.type !== 'file') return;
    let text: string;
    try {
      text = (await ctx.vfs.readFile(path, { maxBytes: CONTENT_BYTES })).toString('latin1');
    } catch (err) {
      ctx.error(path, err);
      return;
    }
    // A rule author's "g" or "y" flag would make exec() stateful across files; the loader allows neither.
    const m = rule.contains.exec(text);
    if (!m) return;
    evidence = excerpt(text, m.index, m[0].length);
  }
  ctx.report(ctx.rules.finding(rule.rule, { path, evidence, vars: { name: basename(path) } }));
}

/** What is there: "file, 1234 bytes, mode 0755, modified 2024-11-02T03:12:01.000Z" (a symlink says where it points). */
function describe(lstat: Stat, stat: Stat | undefined): string {
  if (!stat) return 'dangling symlink';
  const what = lstat.type === 'symlink' ? `symlink to a ${stat.type}` : stat.type;
  const size = stat.type === 'file' ? `, ${stat.size} bytes` : '';
  const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
  const mtime = Number.isFinite(stat.mtime) ? `, modified ${new Date(stat.mtime * 1000).toISOString()}` : '';
  return `${what}${size}, mode ${mode}${mtime}`;
}

/** The match with a little context, control bytes shown as dots (binary files match too). */
function excerpt(text: string, index: number, length: number): string {
  const start = Math.max(0, index - CONTEXT_CHARS);
  const end = Math.min(text.length, index + length + CONTEXT_CHARS);
  return text.slice(start, end).replace(/[\x00-\x08\x0b-\x1f\x7f-\xff]+/g, '.').replace(/\s+/g, ' ').trim();
}
