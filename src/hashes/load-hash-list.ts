/**
 * Reads the hash lists a scan uses into one in-memory lookup: minescan's bundled list
 * of published miner hashes (unless turned off) and the lists a user gives with
 * --hashes. Lists are read as streams, line by line, so a MalwareBazaar dump of a
 * million rows never sits in memory as one string; the formats are described in
 * hash-list-formats.ts and recognised per file. A line that fits no format is an error
 * naming the file and line: a typo in a list must not silently shrink it.
 */
import { createReadStream } from 'node:fs';
import type { HashEntry, HashLookup } from './hash-list.js';
import { EMPTY_HASH_LIST } from './empty-hash-list.js';
import { HashListError } from './hash-list-error.js';
import { HashListParser, algorithmOfLength, type Algorithm, type ListedSample } from './hash-list-formats.js';
import { BUNDLED_HASH_LIST_LABEL, bundledHashListPath } from './bundled-hash-list.js';

export { HashListError } from './hash-list-error.js';

/** No list line is anywhere near this long; a longer one means the file is not a list. */
const MAX_LINE_BYTES = 64 * 1024;
/** Distinct (name, source, size, reference) records shared between rows; past this each row keeps its own. */
const MAX_SHARED_LISTINGS = 100_000;

export interface LoadHashListsOptions {
  /** Include the bundled list of published miner hashes (default true; --no-bundled-hashes turns it off). */
  bundled?: boolean;
}

/** Digests of every list, bundled list first; no lists at all gives the empty lookup. */
export async function loadHashLists(files: string[], options: LoadHashListsOptions = {}): Promise<HashLookup> {
  const bundled = options.bundled ?? true;
  if (files.length === 0 && !bundled) return EMPTY_HASH_LIST;
  const list = new InMemoryHashList();
  if (bundled) await readHashList(bundledHashListPath(), list, { label: BUNDLED_HASH_LIST_LABEL, fromUser: false });
  for (const file of files) await readHashList(file, list, { label: file, fromUser: true });
  return list;
}

/** What a list says about a digest, without the digest: one record serves every digest of a row. */
interface Listing {
  name?: string;
  size?: number;
  source: string;
  reference?: string;
}

/**
 * Keyed by digest (lower-case hex, whose length gives the algorithm); a digest several
 * lists name keeps every listing, for the size check.
 */
class InMemoryHashList implements HashLookup {
  private readonly entries = new Map<string, Listing | Listing[]>();
  private readonly used = new Set<Algorithm>(['md5', 'sha256']);
  private readonly shared = new Map<string, Listing>();
  private count = 0;
  private fromUser = 0;

  get size(): number {
    return this.count;
  }

  get userDigests(): number {
    return this.fromUser;
  }

  get algorithms(): ReadonlySet<Algorithm> {
    return this.used;
  }

  add(sample: ListedSample, source: string, fromUser: boolean): void {
    const listing = this.listing(sample, source);
    for (const digest of sample.digests) {
      this.count++;
      if (fromUser) this.fromUser++;
      this.used.add(algorithmOfLength(digest.length)!);
      const prior = this.entries.get(digest);
      if (prior === undefined) this.entries.set(digest, listing);
      else if (Array.isArray(prior)) prior.push(listing);
      else this.entries.set(digest, [prior, listing]);
    }
  }

  lookup(digests: { md5?: string; sha1?: string; sha256?: string }, size?: number): HashEntry | undefined {
    for (const algorithm of ['sha256', 'sha1', 'md5'] as const) {
      const digest = digests[algorithm]?.toLowerCase();
      if (!digest || algorithmOfLength(digest.length) !== algorithm) continue;
      const found = this.entries.get(digest);
      if (found === undefined) continue;
      for (const listing of Array.isArray(found) ? found : [found]) {
        // ClamAV semantics: a stated size must match too; "*" (undefined) matches any size.
        if (listing.size !== undefined && size !== undefined && listing.size !== size) continue;
        return { algorithm, digest, ...listing };
      }
    }
    return undefined;
  }

  /** Rows of a dump mostly repeat a few names ("Mirai", "XMRig"): they share one record. */
  private listing(sample: ListedSample, source: string): Listing {
    const listing: Listing = { source };
    if (sample.name !== undefined) listing.name = sample.name;
    if (sample.size !== undefined) listing.size = sample.size;
    if (sample.reference !== undefined) listing.reference = sample.reference;
    const key = [sample.name ?? '', sample.size ?? '', source, sample.reference ?? ''].join('\0');
    const known = this.shared.get(key);
    if (known) return known;
    if (this.shared.size < MAX_SHARED_LISTINGS) this.shared.set(key, listing);
    return listing;
  }
}

async function readHashList(file: string, list: InMemoryHashList, how: { label: string; fromUser: boolean }): Promise<void> {
  const parser = new HashListParser(file);
  let lineNo = 0;
  try {
    for await (const raw of lines(createReadStream(file), file)) {
      lineNo++;
      const sample = parser.parse(raw.toString('utf8'), lineNo);
      if (sample) list.add(sample, how.label, how.fromUser);
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
