/**
 * OpenSSH authorized_keys files (sshd(8), AUTHORIZED_KEYS FILE FORMAT), parsed the way
 * sshd reads them: a line is first tried as "keytype base64 [comment]"; when that fails
 * the leading options field is skipped (commas separate options, double quotes protect
 * spaces and commas, `\"` is a literal quote) and the key is tried again. The key blob
 * is decoded and checked against its declared type, since sshd refuses a key whose blob
 * says another type. Fingerprints are what `ssh-keygen -lf` prints: "SHA256:" and the
 * unpadded base64 of the SHA-256 of the decoded blob.
 */
import { createHash } from 'node:crypto';
import { textLines } from './vfs-lines.js';

export interface AuthorizedKey {
  /** 1-based line number in the file. */
  line: number;
  /** The line as written (without a trailing CR). */
  text: string;
  /** The options field as written, '' when there is none. */
  optionsText: string;
  /** The options one by one, e.g. ['command="echo hi"', 'no-pty']. */
  options: string[];
  /** The key type as written, e.g. "ssh-ed25519". */
  type: string;
  /** Base64 of the key blob as written. */
  base64: string;
  /** The rest of the line after the key, trimmed ('' when absent). */
  comment: string;
  /** The rest of the line as written after the whitespace that follows the key. */
  rawComment: string;
  /** "SHA256:..." exactly as ssh-keygen -lf prints it. */
  fingerprint: string;
  /** Key size as ssh-keygen -lf prints it. */
  bits: number;
  /** ssh-keygen's label: RSA, ED25519, ECDSA, ED25519-SK, ... */
  label: string;
}

export interface MalformedKeyLine {
  line: number;
  text: string;
  reason: string;
}

export interface ParsedAuthorizedKeys {
  keys: AuthorizedKey[];
  malformed: MalformedKeyLine[];
}

interface KeyType {
  label: string;
  /** Fixed size, when the type has one. */
  bits?: number;
}

/** Plain key types sshd accepts in authorized_keys (sshkey.c), with ssh-keygen's labels. */
const PLAIN_TYPES: Record<string, KeyType> = {
  'ssh-rsa': { label: 'RSA' },
  'ssh-dss': { label: 'DSA' },
  'ssh-ed25519': { label: 'ED25519', bits: 256 },
  'ecdsa-sha2-nistp256': { label: 'ECDSA', bits: 256 },
  'ecdsa-sha2-nistp384': { label: 'ECDSA', bits: 384 },
  'ecdsa-sha2-nistp521': { label: 'ECDSA', bits: 521 },
  'sk-ecdsa-sha2-nistp256@openssh.com': { label: 'ECDSA-SK', bits: 256 },
  'sk-ssh-ed25519@openssh.com': { label: 'ED25519-SK', bits: 256 },
};
const CERT_SUFFIX = '-cert-v01@openssh.com';
/** Signature-algorithm names sshkey_type_from_name() also accepts for an RSA key. */
const RSA_ALIASES = new Set(['rsa-sha2-256', 'rsa-sha2-512']);

/**
 * Option names sshd knows (auth-options.c); any other makes sshd reject the line.
 * Matched case-insensitively, as sshd does.
 */
const KNOWN_OPTIONS = new Set([
  'agent-forwarding',
  'cert-authority',
  'command',
  'environment',
  'expiry-time',
  'from',
  'no-agent-forwarding',
  'no-port-forwarding',
  'no-pty',
  'no-touch-required',
  'no-user-rc',
  'no-x11-forwarding',
  'permitlisten',
  'permitopen',
  'port-forwarding',
  'principals',
  'pty',
  'restrict',
  'touch-required',
  'tunnel',
  'user-rc',
  'verify-required',
  'x11-forwarding',
]);

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function parseAuthorizedKeys(text: string): ParsedAuthorizedKeys {
  const keys: AuthorizedKey[] = [];
  const malformed: MalformedKeyLine[] = [];
  textLines(text).forEach(({ text: line, line: n }) => {
    const body = line.replace(/^[ \t]+/, '');
    if (body === '' || body.startsWith('#')) return;
    const parsed = parseKeyLine(body);
    if ('reason' in parsed) malformed.push({ line: n, text: line, reason: parsed.reason });
    else keys.push({ ...parsed, line: n, text: line });
  });
  return { keys, malformed };
}

type LineResult = Omit<AuthorizedKey, 'line' | 'text'> | { reason: string };

function parseKeyLine(body: string): LineResult {
  const bare = parseKey(body);
  if (!('reason' in bare)) return { ...bare, optionsText: '', options: [] };
  // Not a key at the start: sshd takes the first field as options and tries again.
  const end = endOfOptions(body);
  if (end === undefined) return { reason: 'unterminated quote in the options' };
  const optionsText = body.slice(0, end);
  const withOptions = parseKey(body.slice(end).replace(/^[ \t]+/, ''));
  if ('reason' in withOptions) {
    if (withOptions.reason !== NOT_A_KEY) return withOptions;
    // A known type whose key is broken says more than "no key" (sshd skips both alike).
    return bare.reason !== NOT_A_KEY ? bare : { reason: 'no key type sshd knows' };
  }
  const options = splitOptions(optionsText);
  const unknown = options.find((o) => !KNOWN_OPTIONS.has(optionName(o).toLowerCase()));
  if (unknown !== undefined) return { reason: `unknown option "${optionName(unknown)}" (sshd rejects the line)` };
  return { ...withOptions, optionsText, options };
}

const NOT_A_KEY = 'not a key';

/** "type base64 [comment]" at the start of the text, as sshkey_read() takes it. */
function parseKey(text: string): Omit<AuthorizedKey, 'line' | 'text' | 'optionsText' | 'options'> | { reason: string } {
  const m = /^([^ \t]+)[ \t]+([^ \t]+)(?:[ \t]+([^]*))?$/.exec(text);
  if (!m) return { reason: NOT_A_KEY };
  const type = m[1]!;
  if (plainTypeName(type) === undefined) return { reason: NOT_A_KEY };
  const base64 = m[2]!;
  if (!BASE64.test(base64)) return { reason: `the ${type} key is not valid base64` };
  const blob = Buffer.from(base64, 'base64');
  const blobType = keyBlobInfo(blob, type);
  if ('reason' in blobType) return blobType;
  return {
    type,
    base64,
    comment: (m[3] ?? '').trim(),
    rawComment: m[3] ?? '',
    fingerprint: sshFingerprint(blob),
    bits: blobType.bits,
    label: blobType.label,
  };
}

/** The plain type a name stands for (a certificate's key type too), undefined when sshd does not know it. */
function plainTypeName(type: string): string | undefined {
  if (RSA_ALIASES.has(type)) return 'ssh-rsa';
  if (PLAIN_TYPES[type]) return type;
  if (!type.endsWith(CERT_SUFFIX)) return undefined;
  // Certificate names drop the "@openssh.com" of sk types: sk-ssh-ed25519-cert-v01@openssh.com.
  const base = type.slice(0, -CERT_SUFFIX.length);
  if (PLAIN_TYPES[base]) return base;
  return PLAIN_TYPES[`${base}@openssh.com`] ? `${base}@openssh.com` : undefined;
}

/** "SHA256:" + unpadded base64 of the SHA-256 of the blob, as ssh-keygen -lf prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Reads SSH wire-format strings (RFC 4251: uint32 length, then the bytes). */
class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer | undefined {
    if (this.pos + 4 > this.buf.length) return undefined;
    const len = this.buf.readUInt32BE(this.pos);
    if (this.pos + 4 + len > this.buf.length) return undefined;
    const out = this.buf.subarray(this.pos + 4, this.pos + 4 + len);
    this.pos += 4 + len;
    return out;
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

/**
 * Checks the blob's own type against the declared one and reads the key size:
 * RSA and DSA from their modulus (p for DSA), the rest fixed by the type.
 */
function keyBlobInfo(blob: Buffer, declared: string): { bits: number; label: string } | { reason: string } {
  const r = new WireReader(blob);
  const inner = r.string()?.toString('latin1');
  if (inner === undefined) return { reason: `the ${declared} key blob is truncated` };
  const expected = RSA_ALIASES.has(declared) ? 'ssh-rsa' : declared;
  if (inner !== expected) return { reason: `the key blob is a ${inner.replace(/[^\x20-\x7e]/g, '?').slice(0, 60)} key, not ${declared}` };
  const cert = inner.endsWith(CERT_SUFFIX);
  if (cert && r.string() === undefined) return { reason: `the ${declared} certificate is truncated` };
  const plain = plainTypeName(declared)!;
  const kind = PLAIN_TYPES[plain]!;
  const label = cert ? `${kind.label}-CERT` : kind.label;
  const fields: Buffer[] = [];
  const count = plain === 'ssh-rsa' ? 2 : plain === 'ssh-dss' ? 4 : plain.startsWith('sk-ecdsa') ? 3 : plain.startsWith('ecdsa') ? 2 : plain.startsWith('sk-') ? 2 : 1;
  for (let i = 0; i < count; i++) {
    const f = r.string();
    if (f === undefined) return { reason: `the ${declared} key blob is truncated` };
    fields.push(f);
  }
  // Certificates carry serial, principals, validity and a signature after the key.
  if (!cert && !r.done) return { reason: `the ${declared} key blob has trailing data` };
  if (plain.includes('ecdsa') && fields[0]!.toString('latin1') !== /nistp\d+/.exec(plain)![0]) {
    return { reason: `the ${declared} key names another curve` };
  }
  if (plain === 'ssh-ed25519' || plain.startsWith('sk-ssh-ed25519')) {
    if (fields[0]!.length !== 32) return { reason: `the ${declared} key is not 32 bytes` };
  }
  if (kind.bits !== undefined) return { bits: kind.bits, label };
  // RSA: e then n; DSA: p first. Size is the bit length of that mpint.
  return { bits: mpintBits(plain === 'ssh-rsa' ? fields[1]! : fields[0]!), label };
}

function mpintBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

/** Where the options field ends: the first space or tab outside double quotes. */
function endOfOptions(text: string): number | undefined {
  let quoted = false;
  let i = 0;
  for (; i < text.length && (quoted || (text[i] !== ' ' && text[i] !== '\t')); i++) {
    if (text[i] === '\\' && text[i + 1] === '"') i++;
    else if (text[i] === '"') quoted = !quoted;
  }
  return quoted ? undefined : i;
}

/** Splits at commas outside double quotes. */
export function splitOptions(text: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === '"') i++;
    else if (text[i] === '"') quoted = !quoted;
    else if (text[i] === ',' && !quoted) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.filter((o) => o !== '');
}

function optionName(option: string): string {
  const eq = option.indexOf('=');
  return eq < 0 ? option : option.slice(0, eq);
}

/**
 * The line ssh-keygen -lf prints for the key: "256 SHA256:... comment (ED25519)". Like
 * ssh-keygen it shows the comment as written, ignores one starting with "#", and falls
 * back to the options field, then to "no comment".
 */
export function keygenLine(key: AuthorizedKey): string {
  const trailing = key.rawComment !== '' && !key.rawComment.startsWith('#') ? key.rawComment : '';
  return `${key.bits} ${key.fingerprint} ${trailing || key.optionsText || 'no comment'} (${key.label})`;
}
