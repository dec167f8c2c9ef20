/**
 * /etc/ld.so.preload: every library it names is loaded into every dynamically linked
 * program, which is how userland rootkits (Kinsing's libsystem.so among them) hide a
 * miner from ps, top and ls. The file is absent on almost every server.
 *
 * Parsed as glibc's rtld does (src/facts/ld-so.ts): entries are separated by spaces, tabs, newlines or
 * colons, and `#` starts a comment that runs to the end of the line. An entry with a
 * `/` is a path (with $LIB / $PLATFORM expanded); one without is searched for in the
 * library directories (/etc/ld.so.conf and the defaults).
 *
 * Every entry gives one finding: a family rule on its base name (preload-library
 * scope) when one matches, else missing library (high), library no package owns (high)
 * or, for a packaged library or when there is no package database, the plain entry
 * (medium). Each library found is recorded as started, so the hash check hashes it.
 */
import type { Check, CheckContext } from '../model/check.js';
import type { InodeFlags } from '../../mountfs/vfs.js';
import { basename } from '../../mountfs/path.js';
import { shellQuote } from '../rules/ruleset.js';
import { flagWords, flagsOf, unlockPrefix } from './shared/unlock.js';
import { showLine } from './shared/command-remediation.js';
import { packageOwner } from './shared/config-files.js';
import { LIBRARY_PATH_CONFIG, PRELOAD, parsePreload, resolvePreloadEntry, type PreloadEntry } from '../facts/ld-so.js';

/** Real preload files name a few libraries; junk must not cost thousands of lookups. */
const MAX_ENTRIES = 256;
const CATEGORY = 'persistence/preload';

export const ldPreloadCheck: Check = {
  id: 'ld-preload',
  ruleIds: ['preload.missing-library', 'preload.unowned-library', 'preload.entry'],
  persistence: true,
  watched: [{ what: 'dynamic linker configuration', globs: [PRELOAD, ...LIBRARY_PATH_CONFIG, '/etc/ld.so.conf.d'] }],
  description: 'Libraries forced into every program by /etc/ld.so.preload',
  // The libraries themselves are only looked up (stat); the hash check reads them.
  paths: [PRELOAD, ...LIBRARY_PATH_CONFIG],
  async run(ctx) {
    const text = await ctx.facts.preloadFile();
    if (text === undefined) return;
    ctx.examined(PRELOAD);
    for (const hit of ctx.rules.matchLines('preload', PRELOAD, text)) {
      ctx.report(ctx.rules.finding(hit.rule, { path: PRELOAD, line: hit.line, evidence: hit.text, vars: { name: hit.match } }));
    }
    const entries = parsePreload(text);
    if (entries.length === 0) return;
    const fileFlags = await flagsOf(ctx.vfs, PRELOAD);
    const dirs = await ctx.facts.librarySearchDirs();
    for (const entry of entries.slice(0, MAX_ENTRIES)) await judgeEntry(ctx, entry, fileFlags, dirs);
    if (entries.length > MAX_ENTRIES) {
      ctx.error(PRELOAD, new Error(`${entries.length} entries: only the first ${MAX_ENTRIES} were examined (the file is not a list of libraries any more)`));
    }
  },
};

async function judgeEntry(ctx: CheckContext, entry: PreloadEntry, fileFlags: InodeFlags | undefined, dirs: string[]): Promise<void> {
  const where = `${PRELOAD}:${entry.line}`;
  const library = await resolvePreloadEntry(ctx.vfs, entry.name, dirs);
  if (library) ctx.started({ path: library, startedBy: where });
  const owner = library ? await packageOwner(ctx, library) : undefined;
  const unowned = owner?.kind === 'unowned';
  const libFlags = library && unowned ? await flagsOf(ctx.vfs, library) : undefined;
  const vars = {
    name: entry.name,
    library: library ?? entry.name,
    ownerNote: owner?.kind === 'owned' ? ` (from package ${owner.package})` : owner?.kind === 'unknown' ? ' (no package database tells who installed it)' : '',
    searched: entry.name.includes('/') ? '' : ` (searched ${dirs.join(', ')})`,
    flag: flagWords(fileFlags) ? ` ${PRELOAD} is ${flagWords(fileFlags)}.` : '',
    fix: fixCommands(entry, fileFlags, library !== undefined && unowned ? library : undefined, libFlags),
  };
  const input = { path: PRELOAD, line: entry.line, evidence: entry.name, vars, category: CATEGORY };
  const family = ctx.rules.matchName('preload-library', basename(entry.name));
  if (family.length > 0) {
    for (const rule of family) ctx.report(ctx.rules.finding(rule, input));
    return;
  }
  const rule = !library ? 'preload.missing-library' : unowned ? 'preload.unowned-library' : 'preload.entry';
  ctx.report(ctx.rules.finding(rule, input));
}

/**
 * Removing the entry: unlock the file when locked, delete the line (or only the entry,
 * when other entries share it), then delete the library when no package owns it. The
 * file is edited before the library goes, so no program starts while it names a
 * missing file.
 */
function fixCommands(entry: PreloadEntry, fileFlags: InodeFlags | undefined, removable: string | undefined, libFlags: InodeFlags | undefined): string {
  const lines: string[] = [];
  const unlock = unlockPrefix(PRELOAD, fileFlags).trimEnd();
  if (unlock) lines.push(unlock);
  if (entry.onLine === 1) {
    lines.push(`sed -i '${entry.line}d' ${PRELOAD}   # deletes line ${entry.line}: ${showLine(entry.lineText)}`);
  } else {
    const delim = ['#', '|', ',', '@', '%', '!'].find((d) => !entry.name.includes(d)) ?? '#';
    const pattern = entry.name.replace(/[\\.*[\]^$]/g, '\\$&');
    lines.push(`sed -i ${shellQuote(`${entry.line}s${delim}${pattern}${delim}${delim}`)} ${PRELOAD}   # removes only this entry from line ${entry.line}`);
  }
  if (removable) {
    const unlockLib = unlockPrefix(removable, libFlags).trimEnd();
    if (unlockLib) lines.push(unlockLib);
    lines.push(`rm -f ${shellQuote(removable)}   # no package owns it`);
  }
  return lines.join('\n');
}
