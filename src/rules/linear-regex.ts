/**
 * The linear-time regexp engine for the rule regexes that need it. JavaScript's usual
 * engine backtracks: a rule such as `\bcurl\b.*(?:chmod …|; …)` costs seconds on a few
 * kilobytes an attacker wrote to defeat it. A pack asks for V8's linear engine with the
 * flag `l` on a rule (V8 offers it behind --enable-experimental-regexp-engine); that
 * engine refuses lookaround, back-references, the `i` flag and large counted repeats,
 * and is slower on ordinary text, so the other rules keep the usual engine and are read
 * in bounded windows (ruleset.ts). test/rules/regex-complexity.test.ts checks which
 * regexes backtrack super-linearly.
 */
import v8 from 'node:v8';

// Makes the `l` flag available to regexes compiled from here on; nothing else changes.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

/** The regex, on the linear engine when its flags hold `l` (a SyntaxError says when it cannot be). */
export function compileRuleRegex(source: string, flags: string): RegExp {
  return new RegExp(source, flags);
}

/** Whether the regex runs on the linear-time engine. */
export function isLinear(regex: RegExp): boolean {
  return regex.flags.includes('l');
}
