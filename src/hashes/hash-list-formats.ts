/**
 * The line formats a hash list may be written in, recognised once per file from its
 * header or first data line and then required of every line, so a line in another
 * format is an error naming the file and line rather than a digest silently dropped.
 *
 *   sums           `<hex> [name]` (md5sum/sha1sum/sha256sum output, a bare list) and
 *                  ClamAV .hdb/.hsb `<hex>:<size>:<name>[:<flevel>...]`, told apart per
 *                  line; size "*" means any size
 *   ioc            `<hex>;<comment>`: one digest, a semicolon, free text (the hash IOC
 *                  files security vendors publish, e.g. signature-base's hash-iocs.txt)
 *   malwarebazaar  the abuse.ch MalwareBazaar CSV dumps (full and recent): `#` comment
 *                  lines, the quoted column names on a comment line (the one naming
 *                  "sha256_hash": `# "first_seen_utc","sha256_hash","md5_hash",...`),
 *                  then one quoted row per sample; a row gives its SHA-256, MD5 and SHA-1,
 *                  named by the signature ("XMRig", "Mirai") so a finding says which malware
 *   cited          minescan's own CSV with the header `digest,name,source`: a digest, the
 *                  family it belongs to, and the http(s) address of the report that
 *                  published it (the bundled list of miner hashes is written this way)
 *
 * "#" starts a comment line and blank lines are skipped in every format. The algorithm
 * of a digest follows from its length: 32 hex digits MD5, 40 SHA-1, 64 SHA-256.
 */
import { HashListError } from './hash-list-error.js';
import type { HashEntry } from './hash-list.js';
import { splitCsvLine } from './csv-fields.js';

export type Algorithm = HashEntry['algorithm'];
export type HashListFormat = 'sums' | 'ioc' | 'malwarebazaar' | 'cited';

/** What one line of a list says: the digests of one sample and what the list calls it. */
export interface ListedSample {
  /** Lower-case hex; one per algorithm the line gives. */
  digests: string[];
  name?: string;
  size?: number;
  reference?: string;
}

const ALGORITHM_BY_LENGTH: Record<number, Algorithm> = { 32: 'md5', 40: 'sha1', 64: 'sha256' };
const MAX_QUOTED_LINE = 80;
const CITED_HEADER = ['digest', 'name', 'source'];
/** MalwareBazaar's name for "no value". */
const NO_VALUE = 'n/a';
const BAZAAR_DIGEST_COLUMNS = ['sha256_hash', 'md5_hash', 'sha1_hash'] as const;

export function algorithmOfLength(length: number): Algorithm | undefined {
  return ALGORITHM_BY_LENGTH[length];
}

/** Reads the lines of one list, in order; call parse() once per line. */
export class HashListParser {
  private detected: HashListFormat | undefined;
  /** Column index by name, for the MalwareBazaar format. */
  private columns = new Map<string, number>();

  constructor(private readonly file: string) {}

  get format(): HashListFormat | undefined {
    return this.detected;
  }

  /** The sample a line lists, or undefined for a comment, blank or header line. */
  parse(raw: string, lineNo: number): ListedSample | undefined {
    const line = raw.replace(/^\uFEFF/, '').replace(/\r$/, '').trim();
    if (line === '') return undefined;
    const bad = (why: string): never => {
      const shown = line.length > MAX_QUOTED_LINE ? `${line.slice(0, MAX_QUOTED_LINE)}…` : line;
      throw new HashListError(this.file, lineNo, `${why}: ${JSON.stringify(shown)}`);
    };
    if (line.startsWith('#')) {
      // The dumps carry their column names on a comment line before the first row.
      const header = /^#\s*(".*)$/.exec(line);
      if (header && header[1]!.includes('"sha256_hash"') && this.detected === undefined) this.readBazaarHeader(header[1]!, bad);
      return undefined;
    }
    if (this.detected === undefined) {
      if (line.startsWith('"')) bad('a quoted CSV row, but no MalwareBazaar header line (# "first_seen_utc",...) before it');
      this.detected = detect(line);
      if (this.detected === 'cited') return undefined;
    }
    switch (this.detected) {
      case 'sums':
        return parseSumsLine(line, bad);
      case 'ioc':
        return parseIocLine(line, bad);
      case 'malwarebazaar':
        return this.parseBazaarRow(line, bad);
      case 'cited':
        return parseCitedRow(line, bad);
    }
  }

  private readBazaarHeader(header: string, bad: (why: string) => never): void {
    const split = splitCsvLine(header);
    if ('error' in split) return bad(`a MalwareBazaar header line that is not CSV (${split.error})`);
    split.fields.forEach((name, i) => this.columns.set(name.trim(), i));
    if (!this.columns.has('sha256_hash')) bad('a MalwareBazaar header without a "sha256_hash" column');
    this.detected = 'malwarebazaar';
  }

  private parseBazaarRow(line: string, bad: (why: string) => never): ListedSample {
    const split = splitCsvLine(line);
    if ('error' in split) return bad(`not a MalwareBazaar CSV row (${split.error})`);
    const { fields } = split;
    if (fields.length !== this.columns.size) bad(`${fields.length} fields where the header names ${this.columns.size}`);
    const field = (name: string): string | undefined => {
      const i = this.columns.get(name);
      const v = i === undefined ? undefined : fields[i]!.trim();
      return v === '' || v === NO_VALUE ? undefined : v;
    };
    const digests: string[] = [];
    for (const column of BAZAAR_DIGEST_COLUMNS) {
      const hex = field(column);
      if (hex === undefined) {
        if (column === 'sha256_hash') bad('a row without a SHA-256');
        continue;
      }
      const want = column === 'sha256_hash' ? 64 : column === 'sha1_hash' ? 40 : 32;
      if (hex.length !== want || !/^[0-9A-Fa-f]+$/.test(hex)) bad(`${column} is not ${want} hex digits`);
      digests.push(hex.toLowerCase());
    }
    const signature = field('signature');
    const fileName = field('file_name');
    const name = signature ?? (fileName ? `an unattributed MalwareBazaar sample (${fileName})` : 'an unattributed MalwareBazaar sample');
    return { digests, name };
  }
}

function detect(line: string): HashListFormat {
  if (line.toLowerCase().replace(/\s+/g, '') === CITED_HEADER.join(',')) return 'cited';
  if (/^[0-9A-Fa-f]+;/.test(line)) return 'ioc';
  return 'sums';
}

function checkedDigest(hex: string, bad: (why: string) => never): string {
  if (!/^[0-9A-Fa-f]+$/.test(hex)) bad('a digest must be hex digits');
  if (!algorithmOfLength(hex.length)) bad(`a digest of ${hex.length} hex digits is neither MD5 (32), SHA-1 (40) nor SHA-256 (64)`);
  return hex.toLowerCase();
}

function parseSumsLine(line: string, bad: (why: string) => never): ListedSample {
  const clam = /^([0-9A-Fa-f]+):(\d+|\*):([^:]+)((?::\d*)*)$/.exec(line);
  if (clam) {
    const [, hex, size, name] = clam as unknown as [string, string, string, string];
    const sample: ListedSample = { digests: [checkedDigest(hex, bad)], name: name.trim() };
    if (!sample.name) bad('a ClamAV entry needs a name');
    if (size !== '*') sample.size = Number(size);
    return sample;
  }
  // "*" before a name is the binary-mode marker of md5sum/sha256sum output.
  const plain = /^([0-9A-Fa-f]+)(?:\s+\*?(.*))?$/.exec(line);
  if (plain) {
    const [, hex, name] = plain as unknown as [string, string, string | undefined];
    const sample: ListedSample = { digests: [checkedDigest(hex, bad)] };
    if (name?.trim()) sample.name = name.trim();
    return sample;
  }
  return bad('expected "<md5|sha1|sha256> [name]" or ClamAV "<hash>:<size>:<name>" (the format of the first line)');
}

function parseIocLine(line: string, bad: (why: string) => never): ListedSample {
  const semicolon = line.indexOf(';');
  if (semicolon === -1) bad('expected "<md5|sha1|sha256>;<comment>" (the format of the first line)');
  const sample: ListedSample = { digests: [checkedDigest(line.slice(0, semicolon).trim(), bad)] };
  const comment = line.slice(semicolon + 1).trim();
  if (comment) sample.name = comment;
  return sample;
}

function parseCitedRow(line: string, bad: (why: string) => never): ListedSample {
  const split = splitCsvLine(line);
  if ('error' in split) return bad(`not a "digest,name,source" row (${split.error})`);
  if (split.fields.length !== 3) bad(`${split.fields.length} fields where "digest,name,source" needs 3`);
  const [hex, name, source] = split.fields as [string, string, string];
  if (!name) bad('an entry needs a name');
  if (!/^https?:\/\/\S+$/.test(source)) bad('the source must be the http(s) address of the report that published the digest');
  return { digests: [checkedDigest(hex, bad)], name, reference: source };
}
