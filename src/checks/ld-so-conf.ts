/**
 * The ld-so-conf check: where the dynamic linker is told to find libraries, and
 * libraries forced into programs through the environment.
 *
 * ldconfig(8) and glibc's elf/ldconfig.c: /etc/ld.so.conf lists library directories
 * separated by spaces, tabs, newlines, colons or commas (a "=TYPE" suffix is the old
 * libc5 syntax); `#` starts a comment; `include PATTERN...` reads the files a glob(3)
 * pattern names, relative patterns taken from the including file's directory; `hwcap`
 * lines are ignored. Includes are followed up to a bounded depth, each file once; the
 * drop-ins of /etc/ld.so.conf.d are read even when nothing includes them (one `include`
 * line away from mattering).
 *
 * Each directory and include becomes one normalised entry ("dir /x", "include /y/*.conf")
 * that the `ld-so-conf` content rules of ld-so-conf.yaml judge; the first matching rule is
 * reported. A drop-in no package owns that adds directories is reported at low level
 * when none of its entries fired a rule.
 *
 * Environment: /etc/environment and /etc/security/pam_env.conf (pam_env(8), read at every
 * login; their LD_PRELOAD is the shell-startup check's) and systemd's system.conf /
 * user.conf with their drop-ins (DefaultEnvironment=, systemd-system.conf(5)) are matched
 * line by line with the same scope; libraries they preload are recorded as started so the
 * hash check looks them up.
 */
import type { Check, CheckContext } from '../model/check.js';
import { textLines } from '../facts/vfs-lines.js';
import { dirname, joinPath, normalizePath } from '../../mountfs/path.js';
import type { Rule } from '../rules/types.js';
import { shellQuote } from '../rules/ruleset.js';
import { showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { globFiles, packageOwner, readConfigText, readIncludedConfig } from './shared/config-files.js';

const LD_SO_CONF = '/etc/ld.so.conf';
const DROP_INS = '/etc/ld.so.conf.d/*.conf';
const ENVIRONMENT_FILES = ['/etc/environment', '/etc/security/pam_env.conf'];
const SYSTEMD_FILES = ['/etc/systemd/system.conf', '/etc/systemd/system.conf.d/*.conf', '/etc/systemd/user.conf', '/etc/systemd/user.conf.d/*.conf'];
const CATEGORY = 'persistence/linker';
/** ldconfig follows includes without a limit; loops and deep chains are junk here. */
const MAX_INCLUDE_DEPTH = 8;
/** Entries one file may add before the rest is ignored; ld.so.conf files list a handful. */
const MAX_ENTRIES_PER_FILE = 1024;

export const ldSoConfCheck: Check = {
  id: 'ld-so-conf',
  ruleIds: ['linker.unpackaged-drop-in'],
  persistence: true,
  // Its files are the dynamic linker's place (ld-preload) and the shell's environment files (shell-startup).
  watched: [],
  description: 'Library directories of /etc/ld.so.conf and ld.so.conf.d; LD_AUDIT and LD_LIBRARY_PATH in /etc/environment, LD_PRELOAD in systemd DefaultEnvironment=',
  paths: [LD_SO_CONF, DROP_INS, ...ENVIRONMENT_FILES, ...SYSTEMD_FILES],
  async run(ctx) {
    const seen = new Set<string>();
    await scanConfFile(ctx, LD_SO_CONF, 0, seen);
    for (const dropIn of await globFiles(ctx, DROP_INS)) await scanConfFile(ctx, dropIn, 1, seen);
    for (const glob of [...ENVIRONMENT_FILES, ...SYSTEMD_FILES]) {
      for (const path of await globFiles(ctx, glob)) await scanEnvironmentFile(ctx, path);
    }
  },
};

/** One directory or include of an ld.so.conf file. */
export interface LdConfEntry {
  kind: 'dir' | 'include';
  /** Normalised absolute directory, or absolute include pattern. */
  value: string;
  line: number;
  lineText: string;
}

/** The entries of an ld.so.conf file, as ldconfig reads it. */
export function parseLdSoConf(text: string, path: string): LdConfEntry[] {
  const out: LdConfEntry[] = [];
  textLines(text).forEach(({ text: lineText, line: n }) => {
    const line = lineText.replace(/#.*/, '').trim();
    if (line === '' || /^hwcap\s/.test(line)) return;
    const include = /^include\s+(.*)$/.exec(line);
    if (include) {
      for (const pattern of include[1]!.split(/\s+/).filter(Boolean)) {
        out.push({ kind: 'include', value: pattern.startsWith('/') ? pattern : joinPath(dirname(path), pattern), line: n, lineText });
      }
      return;
    }
    for (const token of line.split(/[\s:,]+/)) {
      const dir = token.replace(/=.*$/, '');
      // ldconfig takes relative directories from its working directory: meaningless at boot.
      if (dir.startsWith('/')) out.push({ kind: 'dir', value: normalizePath(dir), line: n, lineText });
    }
  });
  return out;
}

async function scanConfFile(ctx: CheckContext, path: string, depth: number, seen: Set<string>): Promise<void> {
  const file = await readIncludedConfig(ctx, path, depth, MAX_INCLUDE_DEPTH, seen);
  if (!file) return;
  const entries = parseLdSoConf(file.text, path).slice(0, MAX_ENTRIES_PER_FILE);
  const hits = firstHits(ctx, path, entries);
  for (const [index, rule] of hits) {
    const entry = entries[index]!;
    const where = `${path}:${entry.line}`;
    const fix = await removeLine(ctx, path, entry.line, entry.lineText, 'ldconfig   # rebuilds the cache without it');
    ctx.report(ctx.rules.finding(rule, { path, line: entry.line, evidence: entry.lineText.trim(), category: CATEGORY, vars: { entry: entry.value, where, fix } }));
  }
  const dirs = entries.filter((e) => e.kind === 'dir').map((e) => e.value);
  if (hits.size === 0 && dirs.length > 0 && path.startsWith('/etc/ld.so.conf.d/') && (await packageOwner(ctx, path)).kind === 'unowned') {
    ctx.report(ctx.rules.finding('linker.unpackaged-drop-in', { path, evidence: dirs.join(' '), category: CATEGORY, vars: { dirs: dirs.join(', ') } }));
  }
  for (const include of entries.filter((e) => e.kind === 'include')) {
    for (const included of await globFiles(ctx, include.value)) await scanConfFile(ctx, included, depth + 1, seen);
  }
}

/** Entry index -> the first rule (in pack order) that matches the normalised entry. */
function firstHits(ctx: CheckContext, path: string, entries: LdConfEntry[]): Map<number, Rule> {
  const text = entries.map((e) => `${e.kind} ${e.value}`).join('\n');
  const hits = new Map<number, Rule>();
  for (const hit of ctx.rules.matchLines('ld-so-conf', path, text)) {
    if (!hits.has(hit.line - 1)) hits.set(hit.line - 1, hit.rule);
  }
  return hits;
}

async function scanEnvironmentFile(ctx: CheckContext, path: string): Promise<void> {
  const file = await readConfigText(ctx, path);
  if (!file) return;
  // Comment lines set nothing (pam_env and systemd alike); blank them so line numbers stay.
  const active = textLines(file.text)
    .map((l) => (/^\s*[#;]/.test(l.text) ? '' : l.text))
    .join('\n');
  const restart = path.startsWith('/etc/systemd/') ? 'systemctl daemon-reexec   # systemd rereads its configuration' : undefined;
  for (const hit of ctx.rules.matchLines('ld-so-conf', path, active)) {
    const variable = /\b(LD_PRELOAD|LD_AUDIT|LD_LIBRARY_PATH)\b/.exec(hit.text)?.[1] ?? 'a linker variable';
    for (const library of preloadedLibraries(hit.text)) ctx.started({ path: library, startedBy: `${path}:${hit.line}` });
    const fix = await removeLine(ctx, path, hit.line, hit.text, restart);
    ctx.report(
      ctx.rules.finding(hit.rule, {
        path,
        line: hit.line,
        evidence: hit.text.trim(),
        category: CATEGORY,
        vars: { where: `${path}:${hit.line}`, variable, fix },
      }),
    );
  }
}

/** Absolute library paths an LD_PRELOAD / LD_AUDIT assignment on the line names. */
export function preloadedLibraries(line: string): string[] {
  const out: string[] = [];
  // systemd quotes whole assignments ("LD_PRELOAD=/a.so /b.so"), pam_env and shells quote values.
  const assignment = /(["']?)\b(?:LD_PRELOAD|LD_AUDIT)(?:\s*=\s*|\s+(?:DEFAULT|OVERRIDE)=)/g;
  for (const m of line.matchAll(assignment)) {
    const rest = line.slice(m.index + m[0].length);
    const quote = m[1] || (rest[0] === '"' || rest[0] === "'" ? rest[0] : '');
    const body = quote && !m[1] ? rest.slice(1) : rest;
    const value = quote ? body.slice(0, body.indexOf(quote) < 0 ? undefined : body.indexOf(quote)) : /^\S*/.exec(body)![0];
    for (const token of value.split(/[\s:]+/)) if (token.startsWith('/')) out.push(normalizePath(token));
  }
  return [...new Set(out)];
}

async function removeLine(ctx: CheckContext, path: string, line: number, text: string, after: string | undefined): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  commands.push(`sed -i '${line}d' ${shellQuote(path)}   # deletes line ${line}: ${showLine(text.trim())}`);
  if (after) commands.push(after);
  return commands.join('\n');
}
