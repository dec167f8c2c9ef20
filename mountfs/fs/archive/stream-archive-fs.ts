/**
 * A compressed tar (tar.gz, tar.zst, tar.xz) can only be read once, front to back.
 * So it is read in a single pass that keeps, in memory, exactly what the checks said
 * they will read (their path globs), plus small scripts a persistence point might
 * start, up to a budget; every other file keeps only its metadata and, for programs
 * and the files of the system program and library directories, the digests computed
 * while its bytes streamed past. Checks then run on this tree as
 * on any other filesystem; reading a file that was not kept is a typed `limit` error.
 * A stream that is cut short or damaged keeps the files read before the damage, and
 * the filesystem's errors say where it broke off (the scan is then incomplete).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { limitExceeded, corrupt, MountfsError } from '../../errors.js';
import { compileGlob } from '../../glob.js';
import type { FileDigests, FileType, NodeId } from '../types.js';
import { ArchiveTree } from './archive-tree.js';
import { ArchiveFileSystem } from './archive-fs.js';

/**
 * Digests are also taken of every file in the system program and library directories,
 * executable or not (shared libraries and PAM modules are 0644), so the package
 * integrity check can compare them with the package database without their bytes.
 */
const SYSTEM_PROGRAM_DIR = /^\/(?:usr\/)?(?:lib|lib32|lib64|libx32|libexec|bin|sbin)\//;

export interface RetentionPlan {
  /** Globs of the files to keep (the union of every check's declared paths). */
  retain: string[];
  /** At most this much of one file is kept (its start). */
  maxFileBytes: number;
  /** At most this much is kept in all. */
  maxTotalBytes: number;
  /** Executable scripts ("#!") up to this size are kept wherever they are. */
  scriptBytes: number;
  /** The first bytes of every other file are kept, so its type (ELF, script, archive) can still be told. */
  headBytes: number;
}

export const DEFAULT_RETENTION: Omit<RetentionPlan, 'retain'> = {
  maxFileBytes: 8 << 20,
  maxTotalBytes: 512 << 20,
  scriptBytes: 256 << 10,
  headBytes: 64,
};

interface StreamContent {
  data?: Buffer;
  /** The file is longer than what was kept. */
  truncated: boolean;
  digests?: FileDigests;
}

const TYPES: Record<string, FileType | 'hardlink' | undefined> = {
  file: 'file',
  'contiguous-file': 'file',
  link: 'hardlink',
  symlink: 'symlink',
  directory: 'directory',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

export class StreamArchiveFileSystem extends ArchiveFileSystem<StreamContent> {
  private constructor(readonly kind: string) {
    super('skip');
  }

  static async fromTar(chunks: AsyncIterable<Buffer>, kind: string, plan: RetentionPlan): Promise<StreamArchiveFileSystem> {
    const fs = new StreamArchiveFileSystem(kind);
    const globs = plan.retain.map(compileGlob);
    let kept = 0;
    let budgetNoted = false;
    const extract = tar.extract();
    const input = Readable.from(chunks);
    input.on('error', (err) => extract.destroy(err));
    // tar-stream does not end or destroy the entry being read when the archive is
    // destroyed (damage in the compressed stream further on): the entry is destroyed
    // here, or reading it would wait on a promise that never settles.
    let current: { destroy(err?: Error): void } | undefined;
    let failure: Error | undefined;
    extract.on('error', (err: Error) => void (failure ??= err));
    extract.on('close', () => current?.destroy(failure ?? new Error('the archive stream closed inside an entry')));
    input.pipe(extract);
    try {
      for await (const entry of extract) {
        current = entry;
        const h = entry.header;
        const type = TYPES[h.type ?? 'file'];
        const path = '/' + ArchiveTree.components(h.name).join('/');
        let content: StreamContent | undefined;
        if (type === 'file') {
          const size = h.size ?? 0;
          const wanted = globs.some((g) => g.matches(path));
          const executable = ((h.mode ?? 0) & 0o111) !== 0;
          const keepLimit = wanted ? plan.maxFileBytes : executable && size <= plan.scriptBytes ? plan.scriptBytes : plan.headBytes;
          content = { truncated: false };
          const md5 = wanted || executable || SYSTEM_PROGRAM_DIR.test(path) ? createHash('md5') : undefined;
          const sha256 = md5 ? createHash('sha256') : undefined;
          const parts: Buffer[] = [];
          let have = 0;
          let seen = 0;
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            md5?.update(chunk);
            sha256?.update(chunk);
            // A script is known by its first bytes: of anything else only the head is kept.
            if (seen === 0 && !wanted && keepLimit > plan.headBytes && !(chunk[0] === 0x23 && chunk[1] === 0x21)) {
              const head = chunk.subarray(0, plan.headBytes);
              parts.push(head);
              kept += head.length;
              have = keepLimit;
            }
            seen += chunk.length;
            if (have < keepLimit) {
              if (kept + chunk.length > plan.maxTotalBytes) {
                if (!budgetNoted) fs.unread.push(limitExceeded('single-pass archive', `the ${plan.maxTotalBytes}-byte retention budget ran out at ${path}; later files were not kept`));
                budgetNoted = true;
                have = keepLimit;
                continue;
              }
              const part = chunk.subarray(0, keepLimit - have);
              parts.push(part);
              have += part.length;
              kept += part.length;
            }
          }
          if (seen !== size) throw corrupt('tar entry', `${path}: archive ends after ${seen} of ${size} bytes`);
          if (parts.length > 0 || size === 0) {
            content.data = Buffer.concat(parts);
            content.truncated = content.data.length < size;
          }
          if (md5 && sha256) content.digests = { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
        } else {
          // The bytes of anything but a file are let flow past, not waited for: tar-stream
          // never delivers the data a directory header claims (a crafted or damaged archive's
          // directory with a size), so that entry never ends, and an entry destroyed by damage
          // further on never ends either; waiting for either would wait forever.
          entry.resume();
        }
        if (!type) continue;
        fs.addEntry({
          name: h.name,
          type,
          mode: h.mode ?? 0,
          uid: h.uid ?? 0,
          gid: h.gid ?? 0,
          size: h.size ?? 0,
          mtime: (h.mtime?.getTime() ?? 0) / 1000,
          linkname: h.linkname ?? undefined,
          content,
        });
      }
    } catch (err) {
      // tar-stream and the decompressors throw plain errors: the report needs a typed one.
      // A truncated or damaged stream keeps the files read before the damage.
      fs.brokeOff(err instanceof MountfsError ? err : corrupt(`${kind} stream`, (err as Error).message));
    } finally {
      input.unpipe(extract);
      input.destroy();
      extract.destroy();
    }
    return fs;
  }

  async read(node: NodeId, offset: number, length: number): Promise<Buffer> {
    const n = this.tree.node(node);
    const data = n.content?.data;
    const end = Math.min(n.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    if (!data || end > data.length) {
      throw limitExceeded('single-pass archive', `bytes ${offset}-${end} of a file were not kept while the archive streamed past (only files the checks declare are kept)`);
    }
    return data.subarray(offset, end);
  }

  async digests(node: NodeId): Promise<FileDigests | undefined> {
    return this.tree.node(node).content?.digests;
  }
}
