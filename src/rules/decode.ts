/**
 * Encoded payloads in command lines. Droppers hide their real command as
 * `echo <b64> | base64 -d | bash` (or `base64 --decode`, `$(echo ... | base64 -d)`,
 * `base64 -d <<< <b64>`, python's `b64decode('...')`, perl's `decode_base64("...")`),
 * as hex (`echo <hex> | xxd -r -p`, `printf '\x63\x75...'`, `$'\x63...'`) or reversed
 * (`rev <<< '...'`, `echo '...' | rev`) so that no URL or pool address is visible in the
 * crontab. This finds such payloads, decodes them one level, and lets the caller run
 * the same scope's rules on the decoded text; the evidence of a hit says how it was
 * decoded ("base64-decoded:", "hex-decoded:", "reversed:"). Binary payloads (an ELF
 * written out with base64) are left out: there is no line to match, and the hash check
 * sees the file once written.
 */
import type { RuleSet } from './ruleset.js';
import type { ContentScope, Rule } from './types.js';

export type PayloadEncoding = 'base64' | 'hex' | 'reversed';

export interface Base64Payload {
  /** How it was encoded; base64 when absent. */
  encoding?: PayloadEncoding;
  /** The encoded text as written in the line. */
  encoded: string;
  /** What it decodes to (UTF-8 text). */
  decoded: string;
}

export interface DecodedHit {
  rule: Rule;
  /** "base64-decoded: <decoded line>" (or "hex-decoded:", "reversed:"). */
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
  // perl -MMIME::Base64 -e 'eval(decode_base64("<b64>"))'      php -r 'eval(base64_decode("<b64>"));'
  new RegExp(`\\b(?:decode_base64|base64_decode)\\(\\s*(?<q>["'])${B64}\\k<q>`, 'g'),
];

/**
 * powershell -EncodedCommand <b64> (and its abbreviations -e, -ec, -enc): base64 of
 * UTF-16LE text. Looked for only on lines that name PowerShell.
 */
const POWERSHELL = /\b(?:powershell|pwsh)\b/i;
const POWERSHELL_ENCODED = new RegExp(`(?<![\\w-])[-/](?:e|ec|en|enc|encodedcommand)\\s+(?<q>["']?)${B64}\\k<q>`, 'gi');

/** Quoted or bare text a decoder is fed: its body is group s1, s2 or s3. */
const ARG = `(?:'(?<s1>[^']{1,${MAX_ENCODED}})'|"(?<s2>[^"]{1,${MAX_ENCODED}})"|(?<s3>[^\\s|;&()'"]{1,${MAX_ENCODED}}))`;
const HEX_PATTERNS: RegExp[] = [
  // echo 6375726c... | xxd -r -p      xxd -r -p <<< 6375...
  new RegExp(`\\b(?:echo|printf)\\s+(?:-[neE]+\\s+)*(?<q>["']?)(?<hex>(?:[0-9a-fA-F]{2}){8,})\\k<q>\\s*\\|\\s*xxd\\s+(?:-\\S+\\s+)*-[a-z]*r`, 'g'),
  new RegExp(`\\bxxd\\s+(?:-\\S+\\s+)*-[a-z]*r[a-z]*(?:\\s+-[a-z]+)*\\s*<<<\\s*(?<q>["']?)(?<hex>(?:[0-9a-fA-F]{2}){8,})\\k<q>`, 'g'),
];
/** printf '\x63\x75...', echo -e "\x63...", $'\x63...': at least eight escapes in a row. */
const HEX_ESCAPES = /(?:\\x[0-9a-fA-F]{2}){8,}/g;
const REVERSED_PATTERNS: RegExp[] = [
  // rev <<< '...'
  new RegExp(`(?<![\\w-])rev\\s*<<<\\s*${ARG}`, 'g'),
  // echo '...' | rev
  new RegExp(`\\b(?:echo|printf)\\s+(?:-[neE]+\\s+)*${ARG}\\s*\\|\\s*rev(?![\\w-])`, 'g'),
];

/** Every base64 payload of the line that decodes to text, in order of appearance. */
export function findBase64Payloads(line: string): Base64Payload[] {
  return findEncodedPayloads(line).filter((p) => (p.encoding ?? 'base64') === 'base64');
}

/** Every base64, hex or reversed payload of the line that decodes to text, in order of appearance. */
export function findEncodedPayloads(line: string): Base64Payload[] {
  const found: { at: number; payload: Base64Payload }[] = [];
  const text = line.length > MAX_ENCODED * 2 ? line.slice(0, MAX_ENCODED * 2) : line;
  const add = (at: number, encoding: PayloadEncoding, encoded: string, bytes: Buffer) => {
    if (found.length >= MAX_PAYLOADS || encoded.length > MAX_ENCODED) return;
    const decoded = textOf(bytes);
    if (decoded !== undefined) found.push({ at, payload: { encoding, encoded, decoded } });
  };
  for (const pattern of PATTERNS) {
    for (const m of text.matchAll(pattern)) add(m.index, 'base64', m.groups!.b64!, Buffer.from(m.groups!.b64!, 'base64'));
  }
  if (POWERSHELL.test(text)) {
    for (const m of text.matchAll(POWERSHELL_ENCODED)) add(m.index, 'base64', m.groups!.b64!, Buffer.from(Buffer.from(m.groups!.b64!, 'base64').toString('utf16le'), 'utf8'));
  }
  for (const pattern of HEX_PATTERNS) {
    for (const m of text.matchAll(pattern)) add(m.index, 'hex', m.groups!.hex!, Buffer.from(m.groups!.hex!, 'hex'));
  }
  for (const m of text.matchAll(HEX_ESCAPES)) add(m.index, 'hex', m[0], Buffer.from(m[0].replace(/\\x/g, ''), 'hex'));
  for (const pattern of REVERSED_PATTERNS) {
    for (const m of text.matchAll(pattern)) {
      const s = m.groups!.s1 ?? m.groups!.s2 ?? m.groups!.s3!;
      // A reversed command has a space in it; a bare word reversed is a name, not a payload.
      if (s.includes(' ')) add(m.index, 'reversed', s, Buffer.from([...s].reverse().join(''), 'utf8'));
    }
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.payload);
}

/** The scope's content rules that match a line of the decoded payload. */
export function matchDecoded(rules: RuleSet, scope: ContentScope, path: string, payload: Base64Payload): DecodedHit[] {
  const prefix = EVIDENCE_PREFIX[payload.encoding ?? 'base64'];
  return rules.matchLines(scope, path, payload.decoded).map((hit) => ({
    rule: hit.rule,
    evidence: `${prefix} ${hit.text}`,
  }));
}

const EVIDENCE_PREFIX: Record<PayloadEncoding, string> = { base64: 'base64-decoded:', hex: 'hex-decoded:', reversed: 'reversed:' };

function textOf(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return undefined;
  let control = 0;
  for (const b of bytes) if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) control++;
  if (control / bytes.length > MAX_CONTROL_SHARE) return undefined;
  return bytes.toString('utf8');
}
