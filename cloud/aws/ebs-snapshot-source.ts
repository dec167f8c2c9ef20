/**
 * An EBS snapshot read in place through the EBS direct APIs (ListSnapshotBlocks,
 * GetSnapshotBlock): no volume, no instance, nothing created. Only the blocks the scan
 * asks for are fetched, each checked against its SHA-256 before use, with bounded
 * concurrency; blocks the snapshot does not hold read as zeros. This is the
 * pre-restore check's byte source.
 *
 * Caching is not done here: `openEbsSnapshot` puts the source behind the block cache
 * every reader shares (mountfs/sources/cached-source.ts), with the snapshot's block as
 * the chunk, a byte budget, and readahead over the blocks the snapshot holds.
 *
 * A block that cannot be had (throttled past the retry budget, refused, or failing
 * its checksum every time) is a MountfsError of kind `io` or `corrupt`, so the scan
 * records what it could not read: never a block of zeros in its place.
 *
 * Block tokens expire (ListSnapshotBlocks gives an ExpiryTime; a GetSnapshotBlock
 * with an expired token fails with ValidationException INVALID_BLOCK_TOKEN), and a
 * long scan outlives them. A block whose token is close to its ExpiryTime (within a
 * minute, or half the token's lifetime when that is shorter) has its range listed again
 * before it is fetched; a token refused all the same (clocks differ, a backoff outlived
 * it) has the range around it listed again too. Either listing is done once for every
 * reader that needs it, and the read goes on with the fresh token. A listing that
 * loops or does not end (ebs-block-listing.ts) fails the open, or the read of the
 * blocks it was to renew, with a typed error: never a hang, never a block read as zeros.
 */
import { createHash } from 'node:crypto';
import { EBSClient, GetSnapshotBlockCommand } from '@aws-sdk/client-ebs';
import pLimit from 'p-limit';
import { corrupt, ioError, MountfsError } from '../../mountfs/errors.js';
import type { ByteSource, ReadCounter } from '../../mountfs/sources/byte-source.js';
import { CachedByteSource } from '../../mountfs/sources/cached-source.js';
import { errorCode, withRetries } from '../retry.js';
import { listSnapshotBlocks } from './ebs-block-listing.js';

const CONCURRENCY = 8;
/** At most this many blocks fetched ahead of a reader walking forward through the snapshot (4 MiB). */
const READAHEAD_BLOCKS = 8;
/**
 * A block whose data does not match its checksum is fetched again, this many times in
 * all: a damaged transfer passes, a snapshot that really holds a bad block does not.
 */
const CHECKSUM_ATTEMPTS = 3;
/** Blocks listed again around a block whose token expired (one ListSnapshotBlocks page, 512 MiB). */
const RELIST_SPAN = 1024;
/** Fresh tokens one read of a block may ask for: a service that refuses each new one is not expiring them. */
const TOKEN_REFRESHES = 3;

export const DEFAULT_CACHE_BYTES = 256 * 2 ** 20;

export interface EbsSnapshotOptions {
  client: EBSClient;
  snapshotId: string;
  counter?: ReadCounter;
  /** The scan's signal: a throttled block's backoff ends at once when it aborts. */
  signal?: AbortSignal;
}

export class EbsSnapshotSource implements ByteSource {
  readonly description: string;
  private readonly limit = pLimit(CONCURRENCY);
  /**
   * Blocks that could not be had, with why: asked again, they fail at once, so a block
   * refused for the whole retry budget costs that budget once, not once per reader.
   */
  private readonly failed = new Map<number, MountfsError>();
  /** Listings of a range under way after a token expired, by the range's first block. */
  private readonly relisting = new Map<number, Promise<void>>();
  /** Blocks fetched from the service, for the tests. */
  blocksFetched = 0;

  private constructor(
    private readonly client: EBSClient,
    readonly snapshotId: string,
    readonly size: number,
    readonly blockSize: number,
    private readonly tokens: Map<number, string>,
    /** When each block's token is due for renewal (ms since the epoch), from its listing's ExpiryTime. */
    private readonly renewAt: Map<number, number>,
    private readonly counter?: ReadCounter,
    private readonly signal?: AbortSignal,
  ) {
    this.description = `EBS snapshot ${snapshotId}`;
  }

  static async open(options: EbsSnapshotOptions): Promise<EbsSnapshotSource> {
    const tokens = new Map<number, string>();
    const renewAt = new Map<number, number>();
    const geometry = await listSnapshotBlocks(options.client, options.snapshotId, {}, options.signal, (index, token, due) => {
      tokens.set(index, token);
      if (due !== undefined) renewAt.set(index, due);
    });
    return new EbsSnapshotSource(options.client, options.snapshotId, geometry.size, geometry.blockSize, tokens, renewAt, options.counter, options.signal);
  }

  /** Whether the snapshot holds data for a block (ListSnapshotBlocks listed it). */
  holds(index: number): boolean {
    return this.tokens.has(index);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((end - 1) / this.blockSize);
    const blocks = await Promise.all(Array.from({ length: last - first + 1 }, (_, i) => this.block(first + i)));
    const out = Buffer.alloc(end - offset);
    blocks.forEach((data, i) => {
      const blockStart = (first + i) * this.blockSize;
      const from = Math.max(offset, blockStart);
      const to = Math.min(end, blockStart + this.blockSize);
      data.copy(out, from - offset, from - blockStart, to - blockStart);
    });
    return out;
  }

  private block(index: number): Promise<Buffer> {
    const token = this.tokens.get(index);
    if (!token) return Promise.resolve(Buffer.alloc(this.blockSize));
    const failed = this.failed.get(index);
    if (failed) return Promise.reject(failed);
    return this.limit(() => this.fetchVerified(index, token)).catch((err: MountfsError) => {
      this.failed.set(index, err);
      throw err;
    });
  }

  private async fetchVerified(index: number, listed: string): Promise<Buffer> {
    const what = `GetSnapshotBlock ${this.snapshotId} block ${index}`;
    let token = listed;
    let refreshes = 0;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      // Renewed ahead of its expiry once per read (a listing that hands out tokens due at once is not looped on).
      if (!renewed && Date.now() >= (this.renewAt.get(index) ?? Infinity)) {
        renewed = true;
        token = await this.renewed(index, token, 'its token was due for renewal');
      }
      try {
        return await withRetries(() => this.fetch(index, token), what, { signal: this.signal });
      } catch (err) {
        const checksum = err instanceof MountfsError && err.kind === 'corrupt';
        if (checksum && attempt < CHECKSUM_ATTEMPTS) continue;
        if (expiredToken(err) && refreshes++ < TOKEN_REFRESHES) {
          token = await this.renewed(index, token, 'its token expired');
          continue;
        }
        if (err instanceof MountfsError) throw err;
        const code = errorCode(err);
        throw ioError('EBS snapshot block', `${code ? `${code}: ` : ''}${(err as Error).message ?? String(err)}`, index * this.blockSize);
      }
    }
  }

  /** A fresh token for the block, or an io error saying why it was wanted and why there is none. */
  private renewed(index: number, stale: string, why: string): Promise<string> {
    return this.freshToken(index, stale).catch((e: unknown) => {
      throw ioError('EBS snapshot block', `block ${index}: ${why} and listing it again failed: ${(e as Error).message}`, index * this.blockSize);
    });
  }

  /** A token for the block newer than `stale`: the range around it is listed again unless a reader already did. */
  private async freshToken(index: number, stale: string): Promise<string> {
    if (this.tokens.get(index) === stale) {
      const start = index - (index % RELIST_SPAN);
      let listing = this.relisting.get(start);
      if (!listing) {
        listing = this.relist(start).finally(() => this.relisting.delete(start));
        this.relisting.set(start, listing);
      }
      await listing;
    }
    const token = this.tokens.get(index);
    if (!token) throw new Error(`the snapshot no longer lists block ${index}`);
    return token;
  }

  private async relist(start: number): Promise<void> {
    await listSnapshotBlocks(this.client, this.snapshotId, { from: start, span: RELIST_SPAN, geometry: { size: this.size, blockSize: this.blockSize } }, this.signal, (index, token, due) => {
      if (!this.tokens.has(index)) return;
      this.tokens.set(index, token);
      if (due === undefined) this.renewAt.delete(index);
      else this.renewAt.set(index, due);
    });
  }

  private async fetch(index: number, token: string): Promise<Buffer> {
    const res = await this.client.send(new GetSnapshotBlockCommand({ SnapshotId: this.snapshotId, BlockIndex: index, BlockToken: token }));
    if (!res.BlockData) throw ioError('EBS snapshot block', `block ${index} came without data`, index * this.blockSize);
    const data = Buffer.from(await res.BlockData.transformToByteArray());
    this.blocksFetched++;
    if (this.counter) this.counter.bytesRead += data.length;
    if (data.length !== this.blockSize) throw corrupt('EBS snapshot block', `block ${index} has ${data.length} bytes, not ${this.blockSize}`, index * this.blockSize);
    const digest = createHash('sha256').update(data).digest('base64');
    if (res.ChecksumAlgorithm !== 'SHA256' || res.Checksum !== digest) {
      // A block whose checksum does not match is never used as data.
      throw corrupt('EBS snapshot block', `block ${index} fails its SHA-256 checksum (${res.Checksum} expected, ${digest} received)`, index * this.blockSize);
    }
    return data;
  }

  async close(): Promise<void> {}
}

/** The service's answer to a block token past its ExpiryTime. */
function expiredToken(err: unknown): boolean {
  const e = err as { Reason?: string; message?: string };
  return errorCode(err) === 'ValidationException' && (e.Reason === 'INVALID_BLOCK_TOKEN' || /token/i.test(e.message ?? ''));
}

/**
 * Opens a snapshot behind the shared block cache: at most `cacheBytes` of blocks are
 * kept (least recently used go first), and reads larger than half of that go past it
 * so one large file does not flush what everything else reads.
 */
export async function openEbsSnapshot(options: EbsSnapshotOptions & { cacheBytes?: number }): Promise<CachedByteSource> {
  const source = await EbsSnapshotSource.open(options);
  const budget = Math.max(source.blockSize, options.cacheBytes ?? DEFAULT_CACHE_BYTES);
  return new CachedByteSource(source, {
    chunkSize: source.blockSize,
    maxBytes: budget,
    bypassBytes: Math.max(2 * source.blockSize, Math.floor(budget / 2)),
    holds: (i) => source.holds(i),
    readahead: READAHEAD_BLOCKS,
  });
}
