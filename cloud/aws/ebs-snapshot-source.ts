/**
 * An EBS snapshot read in place through the EBS direct APIs (ListSnapshotBlocks,
 * GetSnapshotBlock): no volume, no instance, nothing created. Only the blocks the scan
 * asks for are fetched, each checked against its SHA-256 before use, through a bounded
 * LRU cache with bounded concurrency; blocks the snapshot does not hold read as zeros.
 * This is the pre-restore check's byte source.
 */
import { createHash } from 'node:crypto';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import pLimit from 'p-limit';
import { corrupt, ioError } from '../../mountfs/errors.js';
import type { ByteSource, ReadCounter } from '../../mountfs/sources/byte-source.js';
import { withRetries } from '../retry.js';

const CACHE_BLOCKS = 64;
const CONCURRENCY = 8;

export interface EbsSnapshotOptions {
  client: EBSClient;
  snapshotId: string;
  counter?: ReadCounter;
}

export class EbsSnapshotSource implements ByteSource {
  readonly description: string;
  private readonly cache = new Map<number, Promise<Buffer>>();
  private readonly limit = pLimit(CONCURRENCY);
  /** Blocks fetched from the service, for the report and the tests. */
  blocksFetched = 0;

  private constructor(
    private readonly client: EBSClient,
    readonly snapshotId: string,
    readonly size: number,
    readonly blockSize: number,
    private readonly tokens: Map<number, string>,
    private readonly counter?: ReadCounter,
  ) {
    this.description = `EBS snapshot ${snapshotId}`;
  }

  static async open(options: EbsSnapshotOptions): Promise<EbsSnapshotSource> {
    const tokens = new Map<number, string>();
    let nextToken: string | undefined;
    let volumeGiB = 0;
    let blockSize = 0;
    do {
      const page = await withRetries(() => options.client.send(new ListSnapshotBlocksCommand({ SnapshotId: options.snapshotId, NextToken: nextToken, MaxResults: 10000 })), `ListSnapshotBlocks ${options.snapshotId}`);
      volumeGiB = page.VolumeSize ?? volumeGiB;
      blockSize = page.BlockSize ?? blockSize;
      for (const b of page.Blocks ?? []) if (b.BlockIndex !== undefined && b.BlockToken) tokens.set(b.BlockIndex, b.BlockToken);
      nextToken = page.NextToken;
    } while (nextToken);
    if (!blockSize || blockSize % 512 !== 0 || blockSize > 64 << 20) throw corrupt('EBS snapshot', `block size ${blockSize} is impossible`);
    if (!volumeGiB) throw corrupt('EBS snapshot', 'the service gave no volume size');
    return new EbsSnapshotSource(options.client, options.snapshotId, volumeGiB * 2 ** 30, blockSize, tokens, options.counter);
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
    let p = this.cache.get(index);
    if (p) {
      this.cache.delete(index);
      this.cache.set(index, p);
      return p;
    }
    p = this.limit(() => withRetries(() => this.fetch(index, token), `GetSnapshotBlock ${this.snapshotId} block ${index}`));
    this.cache.set(index, p);
    p.catch(() => this.cache.delete(index));
    if (this.cache.size > CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value!);
    return p;
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

  async close(): Promise<void> {
    this.cache.clear();
  }
}
