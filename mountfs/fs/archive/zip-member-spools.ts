/**
 * The disk images inside a zip, each spooled to a temporary file (a deflated member
 * cannot be read at random), held only while something may still read them: a
 * member is spooled once however many disks name it, and its spool is removed as
 * soon as its last user lets it go. A zip of a thousand members that hold nothing to
 * scan then needs the disk space of one of them at a time, not of all of them.
 * A member whose data is damaged keeps the error its spooling met: every later user
 * gets that same typed error, and the member is not decompressed again for each disk
 * that names it. A spool that failed on the host's side (its budget spent while other
 * spools were live, the spool directory) may be tried again once they are gone.
 */
import { MountfsError } from '../../errors.js';
import { FileByteSource } from '../../sources/file-source.js';
import { spoolToTempFile, type SpoolBudget, type SpooledFile } from '../../sources/temp-spool.js';
import type { ZipFileSystem } from './zip-fs.js';

/** Spools of zip members begun, made, removed, and the most that existed at once (tests hold them down). */
export const zipMemberSpoolStats = { started: 0, spooled: 0, released: 0, live: 0, peakLive: 0 };

interface Held {
  source: Promise<FileByteSource>;
  spool?: SpooledFile;
  users: number;
}

export class ZipMemberSpools {
  private readonly held = new Map<string, Held>();
  /** Member name → why its spooling failed. */
  private readonly failed = new Map<string, unknown>();

  constructor(
    private readonly zip: ZipFileSystem,
    /** Names the member's container in errors ("zip:disk.qcow2"). */
    private readonly where: (name: string) => string,
    private readonly budget: SpoolBudget,
  ) {}

  /** The member as a byte source, spooled on its first use; every acquire needs a release. */
  acquire(name: string): Promise<FileByteSource> {
    if (this.failed.has(name)) return Promise.reject(this.failed.get(name));
    const known = this.held.get(name);
    if (known) {
      known.users++;
      return known.source;
    }
    const held: Held = { users: 1, source: Promise.resolve(undefined as never) };
    held.source = (async () => {
      zipMemberSpoolStats.started++;
      const spool = await spoolToTempFile(await this.zip.memberStream(name), this.where(name), this.budget);
      held.spool = spool;
      zipMemberSpoolStats.spooled++;
      zipMemberSpoolStats.peakLive = Math.max(zipMemberSpoolStats.peakLive, ++zipMemberSpoolStats.live);
      try {
        return await FileByteSource.open(spool.path);
      } catch (err) {
        await this.removeSpool(held);
        throw err;
      }
    })();
    this.held.set(name, held);
    // A spool that failed is gone already; its error is what every later user gets.
    held.source.catch((err: unknown) => {
      if (damagedMember(err)) this.failed.set(name, err);
      if (this.held.get(name) === held) this.held.delete(name);
    });
    return held.source;
  }

  /** Lets one use of the member go; the last one closes and removes its spool. */
  async release(name: string): Promise<void> {
    const held = this.held.get(name);
    if (!held || --held.users > 0) return;
    await this.drop(name, held);
  }

  async releaseAll(): Promise<void> {
    for (const [name, held] of [...this.held]) await this.drop(name, held);
  }

  private async drop(name: string, held: Held): Promise<void> {
    if (this.held.get(name) === held) this.held.delete(name);
    const source = await held.source.catch(() => undefined);
    await source?.close();
    await this.removeSpool(held);
  }

  private async removeSpool(held: Held): Promise<void> {
    const spool = held.spool;
    if (!spool) return;
    held.spool = undefined;
    await spool.remove();
    zipMemberSpoolStats.released++;
    zipMemberSpoolStats.live--;
  }
}

/** An error of the member's own bytes (its zip entry or local header), not of the spool it was written to. */
function damagedMember(err: unknown): boolean {
  return err instanceof MountfsError && err.structure.startsWith('zip');
}
