/**
 * /etc/passwd, /etc/shadow and /etc/group as the checks need them. Lines that do not
 * parse are kept out of the tables but counted, since a mangled line in passwd is
 * itself worth a look.
 */
import { textLines, type WholeTextOptions } from './vfs-lines.js';

/** How the account files are read whole: comment lines start with "#" at the first column (an indented one is malformed). */
export const ACCOUNT_FILE_READ: WholeTextOptions = { commentChars: '#', indentedComments: false };

export interface PasswdEntry {
  name: string;
  /** "x" when the hash lives in shadow. */
  password: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
  /** 1-based line number in /etc/passwd. */
  line: number;
}

export interface ShadowEntry {
  name: string;
  /** The hash field: "*", "!", "!!", "" or a crypt hash ("$6$..."). */
  hash: string;
  /** Days since the epoch of the last change; undefined when empty. */
  lastChange?: number;
  line: number;
}

export interface Parsed<T> {
  entries: T[];
  malformedLines: number[];
}

export function parsePasswd(text: string): Parsed<PasswdEntry> {
  const entries: PasswdEntry[] = [];
  const malformedLines: number[] = [];
  textLines(text).forEach(({ text: line, line: n }) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const f = line.split(':');
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (f.length < 7 || !f[0] || !/^\d+$/.test(f[2] ?? '') || !/^\d+$/.test(f[3] ?? '')) {
      malformedLines.push(n);
      return;
    }
    entries.push({ name: f[0], password: f[1] ?? '', uid, gid, gecos: f[4] ?? '', home: f[5] ?? '', shell: f.slice(6).join(':'), line: n });
  });
  return { entries, malformedLines };
}

export function parseShadow(text: string): Parsed<ShadowEntry> {
  const entries: ShadowEntry[] = [];
  const malformedLines: number[] = [];
  textLines(text).forEach(({ text: line, line: n }) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const f = line.split(':');
    if (f.length < 2 || !f[0]) {
      malformedLines.push(n);
      return;
    }
    const lastChange = f[2] && /^\d+$/.test(f[2]) ? Number(f[2]) : undefined;
    entries.push({ name: f[0], hash: f[1] ?? '', lastChange, line: n });
  });
  return { entries, malformedLines };
}

/** A usable password: a crypt hash or a plain string, not locked ("!", "*") and not empty. */
export function hasUsablePassword(hash: string): boolean {
  if (hash === '' || hash.startsWith('!') || hash.startsWith('*')) return false;
  return hash !== 'x';
}

/** Shells that give no interactive login. */
const NO_LOGIN_SHELLS = /(^|\/)(nologin|false|sync|halt|shutdown|true)$/;

export function isLoginShell(shell: string): boolean {
  return shell !== '' && !NO_LOGIN_SHELLS.test(shell.trim());
}
