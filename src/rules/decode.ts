/**
 * Base64 payloads in command lines. Droppers hide their real command as
 * `echo <b64> | base64 -d | bash` (or `base64 --decode`, `$(echo ... | base64 -d)`,
 * `base64 -d <<< <b64>`, python's `b64decode('...')`) so that no URL or pool address is
 * visible in the crontab. This finds such payloads, decodes them one level, and lets
 * the caller run the same scope's rules on the decoded text; the evidence of a hit says
 * it was decoded. Binary payloads (an ELF written out with base64) are left out: there
 * is no line to match, and the hash check sees the file once written.
 */
import type { RuleSet } from './ruleset.js';
import type { ContentScope, Rule } from './types.js';

export interface Base64Payload {
  /** The base64 text as written in the line. */
  encoded: string;
  /** What it decodes to (UTF-8 text). */
  decoded: string;
}

export interface DecodedHit {
  rule: Rule;
  /** "base64-decoded: <decoded line>". */
  evidence: string;
}

/** At most this much base64 is decoded per payload, and this many payloads per line. */
const MAX_ENCODED = 256 * 1024;
const MAX_PAYLOADS = 16;
/** Share of control bytes above which the decoded bytes are taken for binary. */
const MAX_CONTROL_SHARE = 0.05;

const B64 = '(?<b64>[A-Za-z0-9+/]{16,}={0,2})';
const DECODE_FLAG = '(?:-[A-Za-z]*[dD][A-Za-z]*|--decode)';
const PATTERNS: RegExp[] = [
  // echo [-n] '<b64>' | base64 -d      printf '%s' <b64> | base64 --decode      ... | openssl base64 -d
  new RegExp(
    `\\b(?:echo|printf)\\s+(?:-[neE]+\\s+)*(?:(["'])%s\\1\\s+)?(?<q>["']?)${B64}\\k<q>\\s*\\|\\s*(?:base64\\s+${DECODE_FLAG}|openssl\\s+(?:enc\\s+-)?base64\\s+-d)`,
    'g',
  ),
  // base64 -d <<< '<b64>'
  new RegExp(`\\bbase64\\s+${DECODE_FLAG}\\s*<<<\\s*(?<q>["']?)${B64}\\k<q>`, 'g'),
  // python -c "exec(base64.b64decode('<b64>'))"
  new RegExp(`\\bb64decode\\(\\s*b?(?<q>["'])${B64}\\k<q>`, 'g'),
];

/** Every base64 payload of the line that decodes to text, in order of appearance. */
export function findBase64Payloads(line: string): Base64Payload[] {
  const found: { at: number; payload: Base64Payload }[] = [];
  const text = line.length > MAX_ENCODED * 2 ? line.slice(0, MAX_ENCODED * 2) : line;
  for (const pattern of PATTERNS) {
    for (const m of text.matchAll(pattern)) {
      if (found.length >= MAX_PAYLOADS) break;
      const encoded = m.groups!.b64!;
      if (encoded.length > MAX_ENCODED) continue;
      const decoded = decodeText(encoded);
      if (decoded !== undefined) found.push({ at: m.index, payload: { encoded, decoded } });
    }
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.payload);
}

/** The scope's content rules that match a line of the decoded payload. */
export function matchDecoded(rules: RuleSet, scope: ContentScope, path: string, payload: Base64Payload): DecodedHit[] {
  return rules.matchLines(scope, path, payload.decoded).map((hit) => ({
    rule: hit.rule,
    evidence: `base64-decoded: ${hit.text}`,
  }));
}

function decodeText(encoded: string): string | undefined {
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length === 0) return undefined;
  let control = 0;
  for (const b of bytes) if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) control++;
  if (control / bytes.length > MAX_CONTROL_SHARE) return undefined;
  return bytes.toString('utf8');
}
