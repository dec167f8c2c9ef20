/**
 * The header blobs of rpm's sqlite backend (rpmdb.sqlite: RHEL/Rocky/Alma 9, Fedora >= 33,
 * Amazon Linux 2023), from its `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)` table
 * (rpm lib/backend/sqlite.c). SQLite is read with sql.js, SQLite compiled to WebAssembly,
 * so minescan needs no native build and never opens the file through the host's SQLite.
 *
 * Memory: sql.js opens a database only from bytes held in memory, so the whole file (plus
 * its write-ahead log, folded in by sqlite-wal.ts) is read, and SQLite keeps its own copy
 * inside the WebAssembly heap: about twice the file size while the blobs are read. The
 * file and log together are refused above MAX_SQLITE_BYTES with a typed `limit` error;
 * real package databases are tens of MiB.
 */
import initSqlJs, { type Database, type SqlJsStatic } from 'sql.js';
import { MountfsError, corrupt, limitExceeded } from '../../../mountfs/errors.js';
import type { Vfs } from '../../../mountfs/vfs.js';
import { replayWal } from './sqlite-wal.js';
import { MAX_BDB_VALUE_BYTES } from './bdb-hash.js';

export const MAX_SQLITE_BYTES = 512 * 1024 * 1024;
const READ_CHUNK = 8 * 1024 * 1024;

let sqlJs: Promise<SqlJsStatic> | undefined;

export interface PackageBlob {
  /** rpm's header number, to name the record in messages. */
  hnum: number;
  blob: Buffer;
}

/** Reads the database (and its log) into memory, bounded, and yields each package's header blob. */
export async function* sqlitePackageBlobs(vfs: Vfs, path: string, onError: (path: string, err: unknown) => void): AsyncGenerator<PackageBlob> {
  let bytes = await readBounded(vfs, path, MAX_SQLITE_BYTES);
  const walPath = `${path}-wal`;
  const walSize = await vfs.stat(walPath).then((s) => (s.type === 'file' ? s.size : 0), () => 0);
  if (walSize > 0) {
    try {
      const wal = await readBounded(vfs, walPath, MAX_SQLITE_BYTES - bytes.length);
      bytes = replayWal(bytes, wal, walPath).database;
    } catch (err) {
      // The main file alone is still a consistent (older) package set.
      onError(walPath, err);
    }
  }

  sqlJs ??= initSqlJs();
  const SQL = await sqlJs;
  let db: Database;
  try {
    db = new SQL.Database(bytes);
  } catch (err) {
    throw corrupt(path, `SQLite cannot open it: ${String(err)}`);
  }
  // SQLite holds its own copy now; let ours go before the blobs are read.
  bytes = Buffer.alloc(0);
  try {
    const statement = prepare(db, path);
    try {
      for (;;) {
        let row: unknown[];
        try {
          if (!statement.step()) break;
          row = statement.get();
        } catch (err) {
          throw corrupt(path, `SQLite read failed: ${String(err)}`);
        }
        const [hnum, blob] = row;
        if (typeof hnum !== 'number' || !(blob instanceof Uint8Array)) {
          onError(path, corrupt(path, `Packages row ${String(hnum)} holds no header blob`));
          continue;
        }
        if (blob.length > MAX_BDB_VALUE_BYTES) {
          onError(path, limitExceeded(path, `header ${hnum} of ${blob.length} bytes`));
          continue;
        }
        yield { hnum, blob: Buffer.from(blob.buffer, blob.byteOffset, blob.length) };
      }
    } finally {
      statement.free();
    }
  } finally {
    db.close();
  }
}

function prepare(db: Database, path: string): ReturnType<Database['prepare']> {
  try {
    return db.prepare('SELECT hnum, blob FROM Packages ORDER BY hnum');
  } catch (err) {
    throw corrupt(path, `no readable Packages table: ${String(err)}`);
  }
}

/** The whole file, read in chunks, refused before reading when it is larger than `limit`. */
async function readBounded(vfs: Vfs, path: string, limit: number): Promise<Buffer> {
  const { size } = await vfs.stat(path);
  if (size > limit) {
    throw limitExceeded(path, `${size} bytes; sql.js must hold the whole database in memory and minescan allows ${limit}`);
  }
  const out = Buffer.alloc(size);
  let filled = 0;
  while (filled < size) {
    const chunk = await vfs.readFile(path, { offset: filled, maxBytes: Math.min(READ_CHUNK, size - filled) });
    if (chunk.length === 0) throw new MountfsError('io', path, `read stopped at ${filled} of ${size} bytes`, filled);
    chunk.copy(out, filled);
    filled += chunk.length;
  }
  return out;
}
