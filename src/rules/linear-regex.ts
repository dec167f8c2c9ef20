/**
 * The linear-time regexp engine for the rule regexes that need it. JavaScript's usual
 * engine backtracks: a rule such as `\bcurl\b.*(?:chmod …|; …)` costs seconds on a few
 * kilobytes an attacker wrote to defeat it. A pack asks for the linear engine with the
 * flag `l` on a rule; the regex then runs on re2js, a pure JavaScript port of RE2
 * (no native build, nothing downloaded), which guarantees time linear in the input.
 * RE2 has no lookahead and no back-references (the loader says so when a regex uses
 * them); lookbehind is allowed (re2js runs it in linear time too), so "a line without
 * X" is written as a lookbehind at the end of the line, `.*$(?<!X.*)`.
 *
 * Why re2js and not V8's own linear engine (--enable-experimental-regexp-engine): that
 * one needs a process-wide V8 flag set at import time, refuses the `i` flag, counted
 * repeats and every lookaround, and scanned ordinary crontab lines about six times
 * slower than re2js in our measurement (re2js runs a DFA and skips to a literal prefix).
 * The rules that recheck proves linear keep V8's usual engine, the fastest on ordinary
 * text. test/rules/regex-complexity.test.ts requires every rule regex to be one or the
 * other.
 */
import { RE2JS } from 're2js';

/**
 * A RegExp whose matching runs on RE2. It is a RegExp (source, flags, String methods
 * that call `exec`), so checks use it like any other; the flags it reports are the
 * JavaScript ones, without `l`.
 */
export class LinearRegExp extends RegExp {
  readonly #re2: RE2JS;

  constructor(source: string, flags: string) {
    super(source, flags.replace('l', ''));
    let re2Flags = RE2JS.LOOKBEHINDS;
    if (flags.includes('i')) re2Flags |= RE2JS.CASE_INSENSITIVE;
    if (flags.includes('s')) re2Flags |= RE2JS.DOTALL;
    if (flags.includes('m')) re2Flags |= RE2JS.MULTILINE;
    try {
      this.#re2 = RE2JS.compile(source, re2Flags);
    } catch (err) {
      throw new SyntaxError(`the linear-time engine (RE2) cannot run this regex: ${(err as Error).message}`);
    }
  }

  override exec(text: string): RegExpExecArray | null {
    // The DFA answers "no" fastest; groups are only worked out for a line that matches.
    if (!this.#re2.test(text)) return null;
    return this.#re2.exec(text) as RegExpExecArray | null;
  }

  override test(text: string): boolean {
    return this.#re2.test(text);
  }
}

/** The regex, on the linear engine when its flags hold `l` (a SyntaxError says when it cannot be). */
export function compileRuleRegex(source: string, flags: string): RegExp {
  if (/[gy]/.test(flags)) throw new SyntaxError('rule regexes take no g or y flag');
  return flags.includes('l') ? new LinearRegExp(source, flags) : new RegExp(source, flags);
}

/** Whether the regex runs on the linear-time engine. */
export function isLinear(regex: RegExp): boolean {
  return regex instanceof LinearRegExp;
}

/** The flags the regex was compiled with, `l` included when it runs on the linear engine. */
export function ruleFlags(regex: RegExp): string {
  return isLinear(regex) ? `${regex.flags}l` : regex.flags;
}
