/**
 * Reads the hash lists a user gives with --hashes into one in-memory lookup. Lists
 * are read as streams, line by line, so a list of millions of digests never sits in
 * memory as one string. Two line formats, told apart per line:
 *
 *   <hex digest> [name]          md5sum/sha1sum/sha256sum output or a bare list; the
 *                                algorithm follows from the length (32, 40, 64 digits)
 *   <hex digest>:<size>:<name>   ClamAV .hdb (MD5) / .hsb (SHA-1, SHA-256); size may be
 *                                "*" (any size), trailing ":<flevel>" fields are allowed
 *
 * "#" starts a comment line; blank lines are skipped. Anything else is an error naming
 * the file and line: a typo in a list must not silently shrink it.
 */
import { createReadStream } from 'node:fs';
import type { HashEntry, HashLookup } from './hash-list.js';
import { EMPTY_HASH_LIST } from './empty-hash-list.js';

type Algorithm = HashEntry['algorithm'];

const ALGORITHM_BY_LENGTH: Record<number, Algorithm> = { 32: 'md5', 40: 'sha1', 64: 'sha256' };
/** No list line is anywhere near this long; a longer one means the file is not a list. */
const MAX_LINE_BYTES = 64 * 1024;
const MAX_QUOTED_LINE = 80;

export class HashListError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    message: string,
  ) {
    super(`hash list ${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'HashListError';
  }
}

/** Digests of every list, first list first; an empty file list gives the empty lookup. */
export async function loadHashLists(files: string[]): Promise<HashLookup> {
  if (files.length === 0) return EMPTY_HASH_LIST;
  const list = new InMemoryHashList();
  for (const file of files) await readHashList(file, list);
  return list;
}

/** Keyed by digest (lower-case hex); a digest several lists name keeps every entry, for the size check. */
class InMemoryHashList implements HashLookup {
  private readonly entries = new Map<string, HashEntry | HashEntry[]>();
  private readonly used = new Set<Algorithm>(['md5', 'sha256']);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get algorithms(): ReadonlySet<Algorithm> {
    return this.used;
  }

  add(entry: HashEntry): void {
    this.count++;
    this.used.add(entry.algorithm);
    const prior = this.entries.get(entry.digest);
    if (prior === undefined) this.entries.set(entry.digest, entry);
    else if (Array.isArray(prior)) prior.push(entry);
    else this.entries.set(entry.digest, [prior, entry]);
  }

  lookup(digests: { md5?: string; sha1?: string; sha256?: string }, size?: number): HashEntry | undefined {
    for (const algorithm of ['sha256', 'sha1', 'md5'] as const) {
      const digest = digests[algorithm]?.toLowerCase();
      if (!digest) continue;
      const found = this.entries.get(digest);
      if (found === undefined) continue;
      for (const entry of Array.isArray(found) ? found : [found]) {
        if (entry.algorithm !== algorithm) continue;
        // ClamAV semantics: a stated size must match too; "*" (undefined) matches any size.
        if (entry.size !== undefined && size !== undefined && entry.size !== size) continue;
        return entry;
      }
    }
    return undefined;
  }
}

async function readHashList(file: string, list: InMemoryHashList): Promise<void> {
  let lineNo = 0;
  try {
    for await (const raw of lines(createReadStream(file), file)) {
      lineNo++;
      const entry = parseHashLine(raw.toString('utf8'), file, lineNo);
      if (entry) list.add(entry);
    }
  } catch (err) {
    if (err instanceof HashListError) throw err;
    throw new HashListError(file, undefined, `cannot be read: ${(err as Error).message}`);
  }
}

/** Splits a byte stream into lines without ever holding more than one (bounded) line. */
async function* lines(stream: AsyncIterable<Buffer>, file: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  for await (const chunk of stream) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      lineNo++;
      if (pendingBytes + piece.length > MAX_LINE_BYTES) throw tooLong(file, lineNo);
      yield pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      pendingBytes += rest.length;
      if (pendingBytes > MAX_LINE_BYTES) throw tooLong(file, lineNo + 1);
      pending.push(Buffer.from(rest));
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

function tooLong(file: string, line: number): HashListError {
  return new HashListError(file, line, `line longer than ${MAX_LINE_BYTES} bytes: this is not a hash list`);
}

/** One entry, or undefined for a blank or comment line. Exported for the tests. */
export function parseHashLine(raw: string, file: string, lineNo: number): HashEntry | undefined {
  const line = raw.replace(/\r$/, '').trim();
  if (line === '' || line.startsWith('#')) return undefined;
  const bad = (why: string): never => {
    const shown = line.length > MAX_QUOTED_LINE ? `${line.slice(0, MAX_QUOTED_LINE)}…` : line;
    throw new HashListError(file, lineNo, `${why}: ${JSON.stringify(shown)}`);
  };
  const algorithmOf = (hex: string): Algorithm =>
    ALGORITHM_BY_LENGTH[hex.length] ??
    bad(`a digest of ${hex.length} hex digits is neither MD5 (32), SHA-1 (40) nor SHA-256 (64)`);

  const clam = /^([0-9A-Fa-f]+):(\d+|\*):([^:]+)((?::\d*)*)$/.exec(line);
  if (clam) {
    const [, hex, size, name] = clam as unknown as [string, string, string, string];
    const entry: HashEntry = { algorithm: algorithmOf(hex), digest: hex.toLowerCase(), name: name.trim(), source: file };
    if (size !== '*') entry.size = Number(size);
    if (!entry.name) bad('a ClamAV entry needs a name');
    return entry;
  }
  // "*" before a name is the binary-mode marker of md5sum/sha256sum output.
  const plain = /^([0-9A-Fa-f]+)(?:\s+\*?(.*))?$/.exec(line);
  if (plain) {
    const [, hex, name] = plain as unknown as [string, string, string | undefined];
    const entry: HashEntry = { algorithm: algorithmOf(hex), digest: hex.toLowerCase(), source: file };
    if (name?.trim()) entry.name = name.trim();
    return entry;
  }
  return bad('expected "<md5|sha1|sha256> [name]" or ClamAV "<hash>:<size>:<name>"');
}
