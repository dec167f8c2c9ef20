/**
 * Finds and opens the RPM package database of a root, offline, for the package
 * integrity checks: every installed package's files with the digests and flags rpm
 * recorded. rpm keeps it in %_dbpath: /var/lib/rpm, or /usr/lib/sysimage/rpm on newer
 * Fedora and openSUSE (where /var/lib/rpm is often a symlink to it), in one of three
 * backends: sqlite (rpmdb.sqlite), Berkeley DB hash (Packages) or ndb (Packages.db).
 * When several are present, a leftover from a backend conversion, the one written last
 * is the one rpm uses.
 */
import { MountfsError, isNotFound, unsupported } from '../../../mountfs/errors.js';
import type { Vfs } from '../../../mountfs/vfs.js';
import type { PackageDatabase, PackagedFile } from '../package-db.js';
import { BdbHashReader, type PageSource } from './bdb-hash.js';
import { parseRpmHeader, type RpmPackageFiles } from './header.js';
import { sqlitePackageBlobs, type PackageBlob } from './sqlite-packages.js';

const DB_DIRS = ['/var/lib/rpm', '/usr/lib/sysimage/rpm'];
type Backend = 'sqlite' | 'ndb' | 'bdb';
/** In order of preference when two files were written in the same second. */
const BACKEND_FILES: Array<{ file: string; backend: Backend }> = [
  { file: 'rpmdb.sqlite', backend: 'sqlite' },
  { file: 'Packages.db', backend: 'ndb' },
  { file: 'Packages', backend: 'bdb' },
];

type OnError = (path: string, err: unknown) => void;

interface Candidate {
  path: string;
  backend: Backend;
  mtime: number;
}

export async function openRpmDatabase(vfs: Vfs, onError: OnError): Promise<PackageDatabase | null> {
  const found = await candidates(vfs, onError);
  if (found.length === 0) return null;
  const chosen = found.reduce((best, c) => (c.mtime > best.mtime ? c : best));
  if (chosen.backend === 'ndb') {
    // ndb (openSUSE/SLE 15.4+) is not read yet: say so rather than report an empty package set.
    onError(chosen.path, unsupported(chosen.path, 'rpm ndb package database (Packages.db) is not read by minescan yet'));
    return null;
  }
  return new RpmDatabase(vfs, chosen, onError);
}

async function candidates(vfs: Vfs, onError: OnError): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const seenDirs = new Set<string>();
  for (const dir of DB_DIRS) {
    let real: string;
    try {
      real = await vfs.realpath(dir);
    } catch (err) {
      if (!isNotFound(err)) onError(dir, err);
      continue;
    }
    if (seenDirs.has(real)) continue;
    seenDirs.add(real);
    for (const { file, backend } of BACKEND_FILES) {
      const path = `${dir}/${file}`;
      try {
        const st = await vfs.stat(path);
        if (st.type === 'file' && st.size > 0) out.push({ path, backend, mtime: st.mtime });
      } catch (err) {
        if (!isNotFound(err)) onError(path, err);
      }
    }
  }
  return out;
}

class RpmDatabase implements PackageDatabase {
  readonly kind = 'rpm' as const;
  readonly location: string;

  constructor(private readonly vfs: Vfs, private readonly db: Candidate, private readonly onError: OnError) {
    this.location = db.path;
  }

  async *files(): AsyncIterable<PackagedFile> {
    try {
      for await (const { hnum, blob } of this.blobs()) {
        let parsed: RpmPackageFiles;
        try {
          parsed = parseRpmHeader(blob, `${this.location} header ${hnum}`);
        } catch (err) {
          this.onError(this.location, err);
          continue;
        }
        if (parsed.digestProblem) this.onError(this.location, parsed.digestProblem);
        yield* parsed.files;
      }
    } catch (err) {
      this.onError(this.location, err);
    }
  }

  private blobs(): AsyncGenerator<PackageBlob> {
    return this.db.backend === 'sqlite' ? sqlitePackageBlobs(this.vfs, this.location, this.onError) : this.bdbBlobs();
  }

  private async *bdbBlobs(): AsyncGenerator<PackageBlob> {
    const { size } = await this.vfs.stat(this.location);
    const source: PageSource = {
      size,
      read: (offset, length) => this.vfs.readFile(this.location, { offset, maxBytes: length }),
    };
    const reader = await BdbHashReader.open(source, this.location);
    for await (const record of reader.records((err: MountfsError) => this.onError(this.location, err))) {
      // Key 0 holds rpm's next-header-number counter, not a package.
      if (record.key.length !== 4 || record.key.readUInt32LE(0) === 0) continue;
      const hnum = reader.littleEndian ? record.key.readUInt32LE(0) : record.key.readUInt32BE(0);
      yield { hnum, blob: record.value };
    }
  }
}
