/**
 * Webshells: scripts under web roots that run what a request sends them. Miners reach
 * web servers through them (an upload form or a plugin flaw drops a one-liner, the
 * one-liner fetches the miner), so finding the shell finds the way back in.
 *
 * Which files: under the web roots of web-roots.ts (fixed ones and those the enabled
 * nginx/Apache sites name), server-side scripts by extension (PHP, JSP, ASP/ASP.NET,
 * CGI), image-named files whose first bytes are PHP, and the .htaccess/.user.ini files
 * that can make images run as PHP. Roots taken from configurations cannot be declared
 * up front, so sources read only once see the fixed roots alone.
 *
 * How: the rules of src/rules/builtin/webshells.yaml (content scope "web") on the first
 * 512 KiB and the last 64 KiB of each file, then on one level of base64 decoded from
 * base64_decode('...') literals (the way droppers hide the shell in the shell).
 * Everything is bounded: the walk, the number of files, the bytes read in all.
 */
import type { Check, CheckContext } from '../model/check.js';
import type { Rule } from '../rules/types.js';
import type { LineHit } from '../rules/ruleset.js';
import { basename } from '../../mountfs/path.js';
import { compileGlob, type CompiledGlob } from '../../mountfs/glob.js';
import { isNotFound, limitExceeded } from '../../mountfs/errors.js';
import { configuredWebRoots, SERVER_CONFIG_GLOBS, WEB_FILE_GLOBS, WEB_ROOT_GLOBS } from './shared/web-roots.js';
import { compileRuleRegex, ruleFlags } from '../rules/linear-regex.js';

const HEAD_BYTES = 512 * 1024;
const TAIL_BYTES = 64 * 1024;
/**
 * Enough for `<?php` at the start or right after a polyglot's image header, and no more
 * than sources read only once keep of every file.
 */
const SNIFF_BYTES = 64;
const MAX_WALK_ENTRIES = 1_000_000;
const MAX_FILES = 100_000;
const MAX_TOTAL_BYTES = 1024 * 1024 * 1024;
const MAX_PAYLOADS = 16;
const MAX_ENCODED = 256 * 1024;
/** Share of control bytes above which decoded base64 is taken for binary. */
const MAX_CONTROL_SHARE = 0.05;
const CONTEXT_CHARS = 60;

const SCRIPT_NAME = /\.(?:php[3-8]?|phtml|phar|inc|jspx?|aspx?|ashx|asmx|cgi|pl)$/i;
const IMAGE_NAME = /\.(?:jpe?g|png|gif|ico|bmp|webp)$/i;
const DIRECTIVE_NAME = /^(?:\.htaccess|\.user\.ini)$/;
/** PHP at the start of the file, or right after an image header (GIF89a<?php ... polyglots). */
const PHP_START = /^(?:\xEF\xBB\xBF)?\s*<\?(?:php\b|=)|^(?:GIF8[79]a|\x89PNG|\xFF\xD8\xFF)[\s\S]{0,48}?<\?php\b/i;
const BASE64_LITERAL = /\bbase64_decode\s*\(\s*(["'])([A-Za-z0-9+/]{16,}={0,2})\1/g;
/** Characters a glob would take for syntax: a configured root holding one is not walked. */
const GLOB_SYNTAX = /[*?[\]{}()!+@\\]/;

type Kind = 'script' | 'image' | 'directives';

export const webshellsCheck: Check = {
  id: 'webshells',
  ruleIds: ['webshell.php-in-image'],
  description: 'Webshells under web roots: request input run as code or commands in PHP, JSP, ASP.NET and CGI files, PHP hidden in images',
  paths: [...WEB_FILE_GLOBS, ...SERVER_CONFIG_GLOBS],
  async run(ctx) {
    const configured = (await configuredWebRoots(ctx)).filter((dir) => !GLOB_SYNTAX.test(dir));
    const globs = [...WEB_ROOT_GLOBS, ...configured.map((dir) => `${dir}/**`)];
    const budget = { files: MAX_FILES, bytes: MAX_TOTAL_BYTES };
    const scanned = new Set<string>();
    const walk = ctx.vfs.walk(globs, { maxEntries: MAX_WALK_ENTRIES, onError: (p, e) => ctx.error(p, e) });
    for await (const entry of walk) {
      const kind = kindOf(basename(entry.path));
      if (!kind || (entry.stat.type !== 'file' && entry.stat.type !== 'symlink')) continue;
      // A link in a web root is served like the file it points to; scan that file once.
      const target = entry.stat.type === 'symlink' ? await regularTarget(ctx, entry.path) : { path: entry.path, size: entry.stat.size };
      if (!target || scanned.has(target.path)) continue;
      scanned.add(target.path);
      if (budget.files-- <= 0 || budget.bytes <= 0) {
        ctx.error(target.path, limitExceeded('webshell scan', `stopped after ${MAX_FILES} files or ${MAX_TOTAL_BYTES} bytes`));
        return;
      }
      try {
        await scanFile(ctx, target.path, target.size, kind, budget);
      } catch (err) {
        ctx.error(target.path, err);
      }
    }
  },
};

function kindOf(name: string): Kind | undefined {
  if (SCRIPT_NAME.test(name)) return 'script';
  if (IMAGE_NAME.test(name)) return 'image';
  if (DIRECTIVE_NAME.test(name)) return 'directives';
  return undefined;
}

async function regularTarget(ctx: CheckContext, link: string): Promise<{ path: string; size: number } | undefined> {
  try {
    const real = await ctx.vfs.realpath(link);
    const st = await ctx.vfs.stat(real);
    return st.type === 'file' ? { path: real, size: st.size } : undefined;
  } catch (err) {
    if (!isNotFound(err)) ctx.error(link, err);
    return undefined;
  }
}

async function scanFile(ctx: CheckContext, path: string, size: number, kind: Kind, budget: { bytes: number }): Promise<void> {
  const name = basename(path);
  if (kind === 'image') {
    const first = (await ctx.vfs.readFile(path, { maxBytes: SNIFF_BYTES })).toString('latin1');
    budget.bytes -= first.length;
    ctx.examined(path);
    const php = PHP_START.exec(first);
    if (!php) return;
    ctx.report(ctx.rules.finding('webshell.php-in-image', { path, evidence: `it starts with ${JSON.stringify(printable(first.slice(0, 80)))}`, vars: { name } }));
  }
  const head = (await ctx.vfs.readFile(path, { maxBytes: HEAD_BYTES })).toString('latin1');
  const tail = size > HEAD_BYTES + TAIL_BYTES ? (await ctx.vfs.readFile(path, { offset: size - TAIL_BYTES, maxBytes: TAIL_BYTES })).toString('latin1') : '';
  budget.bytes -= head.length + tail.length;
  ctx.examined(path);

  const reported = new Set<string>();
  const report = (rule: Rule, where: string, evidence: string, line?: number) => {
    const key = `${rule.id}\0${where}`;
    if (reported.has(key)) return;
    reported.add(key);
    ctx.report(ctx.rules.finding(rule, { path, line, evidence, vars: { name, where } }));
  };
  const rules = webRulesFor(ctx, path);
  for (const hit of matchLines(rules, head)) {
    report(hit.rule, `${path}:${hit.line}`, excerpt(hit.text, hit.match), hit.line);
  }
  if (tail) {
    for (const hit of matchLines(rules, tail)) report(hit.rule, `${path} (in its last 64 KiB)`, excerpt(hit.text, hit.match));
  }
  for (const payload of base64Payloads(head)) {
    for (const hit of matchLines(rules, payload.decoded)) {
      report(hit.rule, `${path}:${payload.line} (base64-decoded)`, `base64-decoded: ${excerpt(hit.text, hit.match)}`, payload.line);
    }
  }
}

/**
 * RuleSet.matchLines, with one pass of each rule over the whole text first: web roots
 * hold thousands of framework files in which no rule matches anywhere, and one pass per
 * rule is far cheaper than one per rule and line. The pass runs the rule with the "m"
 * flag, so every line match is also a whole-text match and no hit is lost.
 */
function matchLines(rules: Rule[], text: string): LineHit[] {
  const unix = text.includes('\r') ? text.replace(/\r(?=\n)/g, '') : text;
  const candidates = rules.filter((rule) => wholeText(rule)?.test(unix));
  if (candidates.length === 0) return [];
  const hits: LineHit[] = [];
  unix.split('\n').forEach((line, i) => {
    for (const rule of candidates) {
      if (rule.match.kind !== 'content') continue;
      const m = rule.match.regex.exec(line);
      if (m) hits.push({ rule, line: i + 1, text: line, match: m[0] });
    }
  });
  return hits;
}

const compiledPaths = new WeakMap<Rule, CompiledGlob[]>();

/**
 * RuleSet.contentRules('web', path), with each rule's path globs compiled once per scan
 * rather than once per file: a web root holds thousands of files.
 */
function webRulesFor(ctx: CheckContext, path: string): Rule[] {
  return ctx.rules.contentRules('web').filter((rule) => {
    if (rule.match.kind !== 'content' || !rule.match.paths) return true;
    let globs = compiledPaths.get(rule);
    if (!globs) {
      globs = rule.match.paths.map(compileGlob);
      compiledPaths.set(rule, globs);
    }
    return globs.some((g) => g.matches(path));
  });
}

const wholeTextRegexes = new WeakMap<Rule, RegExp>();

function wholeText(rule: Rule): RegExp | undefined {
  if (rule.match.kind !== 'content') return undefined;
  let re = wholeTextRegexes.get(rule);
  if (!re) {
    const { regex } = rule.match;
    // Recompiled on the same engine: a rule on the linear-time engine stays there.
    re = regex.flags.includes('m') ? regex : compileRuleRegex(regex.source, `${ruleFlags(regex)}m`);
    wholeTextRegexes.set(rule, re);
  }
  return re;
}

/** base64_decode('...') literals that decode to text, with the line each starts on. */
function base64Payloads(text: string): { line: number; decoded: string }[] {
  const found: { line: number; decoded: string }[] = [];
  let lineStart = 0;
  let line = 1;
  for (const m of text.matchAll(BASE64_LITERAL)) {
    if (found.length >= MAX_PAYLOADS) break;
    const encoded = m[2]!;
    if (encoded.length > MAX_ENCODED) continue;
    for (let nl = text.indexOf('\n', lineStart); nl !== -1 && nl < m.index; nl = text.indexOf('\n', lineStart)) {
      line++;
      lineStart = nl + 1;
    }
    const bytes = Buffer.from(encoded, 'base64');
    let control = 0;
    for (const b of bytes) if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) control++;
    if (bytes.length > 0 && control / bytes.length <= MAX_CONTROL_SHARE) found.push({ line, decoded: bytes.toString('latin1') });
  }
  return found;
}

/** The match with a little context: minified shells put a whole program on one line. */
function excerpt(line: string, match: string): string {
  const at = Math.max(0, line.indexOf(match));
  const start = Math.max(0, at - CONTEXT_CHARS);
  const end = Math.min(line.length, at + match.length + CONTEXT_CHARS);
  return `${start > 0 ? '…' : ''}${printable(line.slice(start, end)).trim()}${end < line.length ? '…' : ''}`;
}

function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\xff]+/g, '.');
}
