/**
 * A protocol-level fake of the EBS direct APIs on 127.0.0.1, serving a local disk
 * image as a snapshot: ListSnapshotBlocks (JSON, paginated, only blocks holding data)
 * and GetSnapshotBlock (the block's bytes with its SHA-256 in x-amz-Checksum). It can
 * throttle, fail with 500s, and corrupt a block's checksum, to test the client side.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { open } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

export const EBS_BLOCK = 512 * 1024;

export interface FakeEbsOptions {
  snapshotId: string;
  image: string;
  pageSize?: number;
  /** The first N requests answer 400 ThrottlingException. */
  throttleFirst?: number;
  /** The next N requests after throttling answer 500. */
  failNext?: number;
  /** Blocks whose checksum header is wrong. */
  corruptBlocks?: number[];
}

export interface FakeEbs {
  endpoint: string;
  blockRequests: Map<number, number>;
  listedBlocks: number;
  requests: number;
  close(): Promise<void>;
}

export async function startFakeEbs(options: FakeEbsOptions): Promise<FakeEbs> {
  const fh = await open(options.image, 'r');
  const size = (await fh.stat()).size;
  const blocks: number[] = [];
  const zero = Buffer.alloc(EBS_BLOCK);
  for (let i = 0; i * EBS_BLOCK < size; i++) {
    const buf = Buffer.alloc(EBS_BLOCK);
    await fh.read(buf, 0, EBS_BLOCK, i * EBS_BLOCK);
    if (!buf.equals(zero)) blocks.push(i);
  }
  const state: FakeEbs = { endpoint: '', blockRequests: new Map(), listedBlocks: blocks.length, requests: 0, close: async () => undefined };
  let throttle = options.throttleFirst ?? 0;
  let fail = options.failNext ?? 0;
  const server: Server = createServer(async (req, res) => {
    state.requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (throttle > 0) {
      throttle--;
      return json(400, { message: 'Rate exceeded' }, { 'x-amzn-errortype': 'ThrottlingException' });
    }
    if (fail > 0) {
      fail--;
      return json(500, { message: 'internal' }, { 'x-amzn-errortype': 'InternalServerException' });
    }
    const list = /^\/snapshots\/([^/]+)\/blocks$/.exec(url.pathname);
    const get = /^\/snapshots\/([^/]+)\/blocks\/(\d+)$/.exec(url.pathname);
    const id = (list ?? get)?.[1];
    if (!id || id !== options.snapshotId) return json(404, { message: 'no such snapshot', Reason: 'SNAPSHOT_NOT_FOUND' }, { 'x-amzn-errortype': 'ResourceNotFoundException' });
    if (list) {
      const pageSize = Math.min(Number(url.searchParams.get('maxResults') ?? 10000), options.pageSize ?? 10000);
      const start = Number(url.searchParams.get('pageToken') ?? 0);
      const page = blocks.slice(start, start + pageSize);
      const next = start + pageSize < blocks.length ? String(start + pageSize) : undefined;
      return json(200, {
        Blocks: page.map((b) => ({ BlockIndex: b, BlockToken: `token-${b}` })),
        BlockSize: EBS_BLOCK,
        VolumeSize: Math.max(1, Math.ceil(size / 2 ** 30)),
        ExpiryTime: Date.now() / 1000 + 3600,
        ...(next ? { NextToken: next } : {}),
      });
    }
    const index = Number(get![2]);
    if (url.searchParams.get('blockToken') !== `token-${index}`) return json(400, { message: 'bad token' }, { 'x-amzn-errortype': 'ValidationException' });
    state.blockRequests.set(index, (state.blockRequests.get(index) ?? 0) + 1);
    const data = Buffer.alloc(EBS_BLOCK);
    await fh.read(data, 0, EBS_BLOCK, index * EBS_BLOCK);
    let checksum = createHash('sha256').update(data).digest('base64');
    if (options.corruptBlocks?.includes(index)) checksum = createHash('sha256').update('not the data').digest('base64');
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'x-amz-Data-Length': String(EBS_BLOCK),
      'x-amz-Checksum': checksum,
      'x-amz-Checksum-Algorithm': 'SHA256',
    });
    res.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fh.close();
  };
  return state;
}
