/**
 * Parses one RPM header blob, as the package databases store it (no lead, no magic):
 * the files a package installed, with the digest and flags RPM recorded for each.
 * Follows rpm's header format (rpm.org "RPM file format", lib/header.c, rpmtag.h):
 * il and dl as big-endian u32, il index entries of (tag, type, offset, count), then a
 * dl-byte data store. Blobs come from an attacker-controlled image: every count and
 * offset is checked against the data store before it is read.
 */
import { BinaryView } from '../../../mountfs/binary.js';
import { MountfsError, corrupt, limitExceeded, unsupported } from '../../../mountfs/errors.js';
import type { PackageDigestAlgorithm, PackagedFile } from '../package-db.js';

const TAG = {
  name: 1000,
  oldFilenames: 1027,
  fileModes: 1030,
  fileDigests: 1035,
  fileFlags: 1037,
  dirIndexes: 1116,
  baseNames: 1117,
  dirNames: 1118,
  fileDigestAlgo: 5011,
} as const;

const TYPE = { int16: 3, int32: 4, string: 6, stringArray: 8, i18nString: 9 } as const;

/** rpm itself refuses more index entries or a bigger data store (hdrchkTags, hdrchkData). */
const MAX_INDEX_ENTRIES = 0xffff;
const MAX_DATA_BYTES = 0x0fffffff;
/** Far above any real package (the largest hold tens of thousands of files); keeps a hostile count from filling memory. */
const MAX_VALUES = 1_000_000;

const RPMFILE_CONFIG = 1;
const RPMFILE_GHOST = 64;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** FILEDIGESTALGO values (PGPHASHALGO_*); absent means MD5, as in every rpm before 4.6. */
const DIGEST_ALGORITHMS: Record<number, { name: PackageDigestAlgorithm; hexLength: number }> = {
  1: { name: 'md5', hexLength: 32 },
  2: { name: 'sha1', hexLength: 40 },
  8: { name: 'sha256', hexLength: 64 },
  9: { name: 'sha384', hexLength: 96 },
  10: { name: 'sha512', hexLength: 128 },
  11: { name: 'sha224', hexLength: 56 },
};

export interface RpmPackageFiles {
  name: string;
  files: PackagedFile[];
  /** Set when the files are listed but their digests could not be used (unknown algorithm). */
  digestProblem?: MountfsError;
}

interface IndexEntry {
  tag: number;
  type: number;
  offset: number;
  count: number;
  /** Byte offset of the index entry in the blob, for error messages. */
  at: number;
}

export function parseRpmHeader(blob: Buffer, structure = 'rpm header', baseOffset = 0): RpmPackageFiles {
  const header = new HeaderBlob(new BinaryView(blob, structure, baseOffset));
  const name = header.string(TAG.name) ?? '';
  const paths = header.paths();
  const count = paths.length;
  const digests = header.stringArray(TAG.fileDigests, count);
  const flags = header.u32Array(TAG.fileFlags, count);
  const modes = header.u16Array(TAG.fileModes, count);

  const algoValue = header.u32Array(TAG.fileDigestAlgo, 1)?.[0] ?? 1;
  const algorithm = DIGEST_ALGORITHMS[algoValue];
  const digestProblem = digests && !algorithm
    ? unsupported(structure, `package ${name}: file digest algorithm ${algoValue} is not one minescan checks`, baseOffset)
    : undefined;

  const files: PackagedFile[] = [];
  for (let i = 0; i < count; i++) {
    const fileFlags = flags?.[i] ?? 0;
    const mode = modes?.[i];
    const file: PackagedFile = { path: paths[i], package: name, config: (fileFlags & RPMFILE_CONFIG) !== 0 };
    const digest = digests?.[i];
    const regular = mode === undefined || (mode & S_IFMT) === S_IFREG;
    if (algorithm && digest && regular && (fileFlags & RPMFILE_GHOST) === 0) {
      if (digest.length !== algorithm.hexLength || !/^[0-9a-fA-F]+$/.test(digest)) {
        throw corrupt(structure, `package ${name}: digest of ${paths[i]} is not ${algorithm.name} hex`, baseOffset);
      }
      file.digest = digest.toLowerCase();
      file.algorithm = algorithm.name;
    }
    files.push(file);
  }
  return { name, files, digestProblem };
}

/** The index and data store of one header, with typed, bounds-checked tag readers. */
class HeaderBlob {
  private readonly entries = new Map<number, IndexEntry>();
  private readonly store: BinaryView;
  private readonly storeStart: number;

  constructor(private readonly view: BinaryView) {
    const il = view.u32be(0);
    const dl = view.u32be(4);
    if (il < 1 || il > MAX_INDEX_ENTRIES) throw corrupt(view.structure, `${il} index entries`, view.baseOffset);
    if (dl > MAX_DATA_BYTES) throw limitExceeded(view.structure, `data store of ${dl} bytes`, view.baseOffset + 4);
    this.storeStart = 8 + il * 16;
    if (this.storeStart + dl > view.length) {
      throw corrupt(view.structure, `${il} index entries and ${dl} data bytes do not fit in the ${view.length}-byte blob`, view.baseOffset);
    }
    this.store = view.slice(this.storeStart, dl, `${view.structure} data store`);
    for (let i = 0; i < il; i++) {
      const at = 8 + i * 16;
      const entry = { tag: view.u32be(at), type: view.u32be(at + 4), offset: view.u32be(at + 8), count: view.u32be(at + 12), at };
      // Tags added after install follow the immutable region; rpm lets them replace region copies.
      this.entries.set(entry.tag, entry);
    }
  }

  string(tag: number): string | undefined {
    const e = this.entry(tag, [TYPE.string, TYPE.i18nString]);
    return e ? this.strings(e, 1)[0] : undefined;
  }

  stringArray(tag: number, expected?: number): string[] | undefined {
    const e = this.entry(tag, [TYPE.stringArray], expected);
    return e ? this.strings(e, e.count) : undefined;
  }

  u32Array(tag: number, expected?: number): number[] | undefined {
    const e = this.entry(tag, [TYPE.int32], expected);
    if (!e) return undefined;
    this.fits(e, 4);
    return Array.from({ length: e.count }, (_, i) => this.store.u32be(e.offset + i * 4));
  }

  u16Array(tag: number, expected?: number): number[] | undefined {
    const e = this.entry(tag, [TYPE.int16], expected);
    if (!e) return undefined;
    this.fits(e, 2);
    return Array.from({ length: e.count }, (_, i) => this.store.u16be(e.offset + i * 2));
  }

  /** Full paths: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i], or OLDFILENAMES from rpm < 4.0 headers. */
  paths(): string[] {
    const baseNames = this.stringArray(TAG.baseNames);
    if (!baseNames) return this.stringArray(TAG.oldFilenames) ?? [];
    const dirIndexes = this.u32Array(TAG.dirIndexes, baseNames.length);
    const dirNames = this.stringArray(TAG.dirNames);
    if (!dirIndexes || !dirNames) throw this.error(`BASENAMES without DIRINDEXES or DIRNAMES`);
    return baseNames.map((base, i) => {
      const dir = dirNames[dirIndexes[i]];
      if (dir === undefined) throw this.error(`DIRINDEXES[${i}] = ${dirIndexes[i]} beyond the ${dirNames.length} DIRNAMES`);
      return dir + base;
    });
  }

  private entry(tag: number, types: number[], expected?: number): IndexEntry | undefined {
    const e = this.entries.get(tag);
    if (!e) return undefined;
    if (!types.includes(e.type)) throw this.error(`tag ${tag} has type ${e.type}`, e);
    if (e.offset >= this.store.length) throw this.error(`tag ${tag} data at ${e.offset} beyond the ${this.store.length}-byte store`, e);
    if (expected !== undefined && e.count !== expected) throw this.error(`tag ${tag} has ${e.count} values for ${expected} files`, e);
    if (e.count > MAX_VALUES) throw limitExceeded(this.view.structure, `tag ${tag} has ${e.count} values`, this.view.baseOffset + e.at);
    return e;
  }

  private fits(e: IndexEntry, size: number): void {
    if (e.count > (this.store.length - e.offset) / size) {
      throw this.error(`tag ${e.tag}: ${e.count} values of ${size} bytes at ${e.offset} overrun the ${this.store.length}-byte store`, e);
    }
  }

  private strings(e: IndexEntry, count: number): string[] {
    // Each string takes at least its NUL, which bounds a hostile count before any loop.
    if (count > this.store.length - e.offset) throw this.error(`tag ${e.tag}: ${count} strings cannot fit`, e);
    const buf = this.store.buf;
    const out: string[] = [];
    let pos = e.offset;
    for (let i = 0; i < count; i++) {
      const nul = buf.indexOf(0, pos);
      if (nul === -1) throw this.error(`tag ${e.tag}: string ${i} runs past the end of the store`, e);
      out.push(buf.toString('utf8', pos, nul));
      pos = nul + 1;
    }
    return out;
  }

  private error(message: string, e?: IndexEntry): MountfsError {
    return corrupt(this.view.structure, message, this.view.baseOffset + (e ? e.at : 0));
  }
}
