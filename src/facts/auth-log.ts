/**
 * Account changes recorded in the logs: shadow-utils' syslog lines (useradd "new user",
 * usermod "change user ... UID", userdel "delete user") in /var/log/auth.log (Debian)
 * and /var/log/secure (RHEL), and the audit records ADD_USER / DEL_USER in
 * /var/log/audit/audit.log. Only the newest file and its first rotation are read;
 * older rotations are compressed on most systems.
 *
 * Logs are read boundedly: a server that faces the internet writes millions of failed
 * SSH logins into auth.log, and reading hundreds of MiB for a handful of useradd lines
 * would cost more than the rest of the scan. The first HEAD_BYTES (the start of the
 * rotation period) and the last TAIL_BYTES (where a recent intrusion is) are read;
 * line numbers are known only in the head part.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { isNotFound } from '../../mountfs/errors.js';

export const ACCOUNT_LOGS = ['/var/log/auth.log', '/var/log/auth.log.1', '/var/log/secure', '/var/log/secure.1', '/var/log/audit/audit.log', '/var/log/audit/audit.log.1'];
/** RHEL rotates with a date suffix: secure-20241103 (compressed ones are skipped). */
export const DATED_SECURE_GLOB = '/var/log/secure-[0-9]*';
export const ACCOUNT_LOG_GLOBS = [...ACCOUNT_LOGS, DATED_SECURE_GLOB];

const HEAD_BYTES = 4 << 20;
const TAIL_BYTES = 12 << 20;
const COMPRESSED = /\.(?:gz|xz|bz2|zst|lz4|Z)$/;

export interface LogChunk {
  text: string;
  /** Line number of the chunk's first line; undefined when lines before it were not counted. */
  firstLine?: number;
}

export interface LogRead {
  chunks: LogChunk[];
  size: number;
  /** Bytes in the middle that were not read. */
  skipped: number;
}

/** The whole log when small, else its head and its tail, each cut at whole lines. */
export async function readLogBounded(vfs: Vfs, path: string): Promise<LogRead> {
  const size = (await vfs.stat(path)).size;
  if (size <= HEAD_BYTES + TAIL_BYTES) {
    return { chunks: [{ text: (await vfs.readFile(path, { maxBytes: size })).toString('utf8'), firstLine: 1 }], size, skipped: 0 };
  }
  const head = (await vfs.readFile(path, { maxBytes: HEAD_BYTES })).toString('utf8');
  const tail = (await vfs.readFile(path, { offset: size - TAIL_BYTES, maxBytes: TAIL_BYTES })).toString('utf8');
  return {
    chunks: [
      { text: head.slice(0, head.lastIndexOf('\n') + 1), firstLine: 1 },
      { text: tail.slice(tail.indexOf('\n') + 1) },
    ],
    size,
    skipped: size - HEAD_BYTES - TAIL_BYTES,
  };
}

/** The account logs present in the image, newest first per kind. */
export async function accountLogs(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<string[]> {
  const out: string[] = [];
  for (const path of ACCOUNT_LOGS) {
    try {
      if ((await vfs.stat(path)).type === 'file') out.push(path);
    } catch (err) {
      if (!isNotFound(err)) onError(path, err);
    }
  }
  const dated: string[] = [];
  for await (const e of vfs.walk([DATED_SECURE_GLOB], { onError })) {
    if (e.stat.type === 'file' && !COMPRESSED.test(e.path)) dated.push(e.path);
  }
  return [...out, ...dated.sort().reverse()];
}

export type AccountEventKind = 'created' | 'deleted' | 'uid-changed';

export interface AccountEvent {
  kind: AccountEventKind;
  name: string;
  /** The new account's uid, or the uid it was changed to. */
  uid?: number;
  /** For uid-changed: the uid before. */
  fromUid?: number;
  home?: string;
  shell?: string;
  /** When, as the log wrote it (syslog time, or the audit epoch as ISO 8601); '' when unknown. */
  time: string;
  /** What wrote the record: useradd, usermod, userdel or audit. */
  source: string;
  /** 1-based line in the log, when known. */
  line?: number;
  text: string;
}

const SYSLOG_TIME = /^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s/;
const USERADD = /\buseradd(?:\[\d+\])?: new user: name=([^,\s]+), UID=(\d+)(?:, GID=\d+)?(?:, home=([^,]*))?(?:, shell=([^,]*))?/;
const USERMOD_UID = /\busermod(?:\[\d+\])?: change user '([^']+)' UID from '(\d+)' to '(\d+)'/;
const USERDEL = /\buserdel(?:\[\d+\])?: delete user '([^']+)'/;
const AUDIT_TIME = /\bmsg=audit\((\d+)(?:\.\d+)?:\d+\)/;
/** libaudit writes acct="name", or the name hex-encoded when it has odd characters. */
const AUDIT_ACCT = /\bacct=(?:"([^"]*)"|([0-9A-Fa-f]+)\b)/;
const AUDIT_ID = /\bid=(\d+)\b/;
const AUDIT_ADD_OP = /\bop=(?:add-user|adding user)(?= (?:acct|id|exe)=)/;
const AUDIT_DEL_OP = /\bop=(?:delete-user|deleting user(?: entries)?)(?= (?:acct|id|exe)=)/;
/** Longer lines are no account records; skipping them keeps hostile logs cheap. */
const MAX_LINE = 8192;

/** Account creations, uid changes and deletions in one chunk of a log. */
export function parseAccountEvents(chunk: LogChunk): AccountEvent[] {
  const out: AccountEvent[] = [];
  chunk.text.split('\n').forEach((raw, i) => {
    if (raw.length > MAX_LINE) return;
    const text = raw.replace(/\r$/, '');
    const line = chunk.firstLine !== undefined ? chunk.firstLine + i : undefined;
    const event = syslogEvent(text) ?? auditEvent(text);
    if (event) out.push({ ...event, line, text });
  });
  return out;
}

type Parsed = Omit<AccountEvent, 'line' | 'text'>;

function syslogEvent(text: string): Parsed | undefined {
  if (!/\buser(?:add|mod|del)\b/.test(text)) return undefined;
  const time = SYSLOG_TIME.exec(text)?.[1] ?? '';
  const add = USERADD.exec(text);
  if (add) return { kind: 'created', name: add[1]!, uid: Number(add[2]), home: add[3], shell: add[4], time, source: 'useradd' };
  const mod = USERMOD_UID.exec(text);
  if (mod) return { kind: 'uid-changed', name: mod[1]!, fromUid: Number(mod[2]), uid: Number(mod[3]), time, source: 'usermod' };
  const del = USERDEL.exec(text);
  if (del) return { kind: 'deleted', name: del[1]!, time, source: 'userdel' };
  return undefined;
}

function auditEvent(text: string): Parsed | undefined {
  const add = text.includes('type=ADD_USER');
  if (!add && !text.includes('type=DEL_USER')) return undefined;
  if (/\bres=(?:failed|0)\b/.test(text)) return undefined;
  if (!(add ? AUDIT_ADD_OP : AUDIT_DEL_OP).test(text)) return undefined;
  const acct = AUDIT_ACCT.exec(text);
  const id = AUDIT_ID.exec(text);
  const name = acct ? (acct[1] ?? hexName(acct[2]!)) : undefined;
  if (name === undefined || name === '') return undefined;
  const epoch = AUDIT_TIME.exec(text);
  const time = epoch ? new Date(Number(epoch[1]) * 1000).toISOString() : '';
  return { kind: add ? 'created' : 'deleted', name, uid: id ? Number(id[1]) : undefined, time, source: 'audit' };
}

function hexName(hex: string): string {
  return hex.length % 2 === 0 ? Buffer.from(hex, 'hex').toString('utf8') : hex;
}
