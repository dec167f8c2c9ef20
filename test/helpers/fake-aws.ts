/**
 * A protocol-level fake of the AWS APIs minescan calls, on 127.0.0.1, for the real SDK
 * clients: the EBS direct APIs (REST/JSON: ListSnapshotBlocks paginated, only blocks
 * holding data; GetSnapshotBlock with the block's SHA-256 in x-amz-Checksum) and the
 * EC2 Query API (XML: DescribeInstances, CreateSnapshot, DescribeSnapshots,
 * DeleteSnapshot). Snapshots serve the bytes of local disk images. It can throttle
 * (at a rate, or every request of chosen actions), fail with 500s, corrupt a block's
 * checksum, refuse a block for good, cut a connection halfway through a block and
 * expire block tokens, to test the client side. Throttling at a rate answers a seeded
 * pseudo-random share of all requests the way the services do: EBS (REST-JSON) with HTTP 400 RequestThrottledException {Message, Reason},
 * ThrottlingException or ConcurrentLimitExceededException, or 500
 * InternalServerException; EC2 (Query, XML) with 503 RequestLimitExceeded or
 * Unavailable, or 500 InternalError.
 * Tags are taken only from CreateSnapshot's TagSpecifications; the filtered listing
 * (tag:KEY and volume-id) comes in pages of `pageSize`. A CreateSnapshot can lose its
 * answer after making the snapshot (`loseCreateAnswers`), as a 500 or a dropped
 * connection. Any answer can be held (`holds`) to stop a run
 * at a phase. EC2's eventual consistency can be had (`lag`): a snapshot CreateSnapshot
 * just made is unknown for a while (InvalidSnapshot.NotFound to DescribeSnapshots by id
 * and to DeleteSnapshot) and missing from filtered listings, as EC2 answers right
 * after a create; only snapshots are lagged, as they are all minescan creates in EC2.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { open, type FileHandle } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { prng } from './random-tree.js';
import { Holds } from './held-requests.js';

export const EBS_BLOCK = 512 * 1024;

export interface FakeSnapshot {
  id: string;
  volumeId: string;
  image: string;
  /** DescribeSnapshots calls before it reports completed. */
  pendingPolls: number;
  tags: Record<string, string>;
  deleted: boolean;
  startTime: Date;
  /** Requests naming it by id still answered InvalidSnapshot.NotFound (eventual consistency). */
  unknownFor?: number;
  /** Filtered DescribeSnapshots listings that still leave it out (eventual consistency). */
  unlistedFor?: number;
}

/** How long a new snapshot stays out of sight, counted in requests (so whatever the machine's speed). */
export interface FakeLag {
  /** DescribeSnapshots by id and DeleteSnapshot calls naming it that answer InvalidSnapshot.NotFound. */
  byId?: number;
  /** Filtered DescribeSnapshots listings (tag:…, volume-id) it would match that leave it out. */
  listings?: number;
}

export interface FakeAwsOptions {
  /** Existing snapshots: id → disk image. */
  snapshots?: Record<string, string>;
  /** Volumes: id → disk image. */
  volumes?: Record<string, string>;
  /** Instances: id → their volumes (named /dev/xvda, /dev/xvdb, … in order, the first the root), or their devices. */
  instances?: Record<string, string[] | FakeInstance>;
  /** Instance tags: id → key → value. */
  instanceTags?: Record<string, Record<string, string>>;
  pageSize?: number;
  throttleFirst?: number;
  failNext?: number;
  corruptBlocks?: number[];
  /** Answer this share of all requests (0..1) with a throttling or transient error, chosen by a seeded generator. */
  throttleRate?: number;
  seed?: number;
  /** GetSnapshotBlock of these blocks always fails with this error (EBS error name). */
  refuseBlocks?: Record<number, keyof typeof BLOCK_REFUSALS>;
  /** GetSnapshotBlock of these blocks has its connection cut halfway through the data, once each. */
  cutBlocks?: number[];
  /** DescribeSnapshots polls before a new snapshot completes. */
  pendingPolls?: number;
  /**
   * A block token expires once this many blocks have been served after the listing
   * that gave it (the service gives each token an ExpiryTime; counting blocks makes the
   * expiry land mid-scan whatever the machine's speed). GetSnapshotBlock with an expired
   * token fails with ValidationException, Reason INVALID_BLOCK_TOKEN.
   */
  tokenLifetime?: number;
  /**
   * Block tokens expire this many milliseconds after the listing that gave them, as the
   * ExpiryTime of that listing says: GetSnapshotBlock with a token past it fails with
   * ValidationException, Reason INVALID_BLOCK_TOKEN (counted in expiredTokens). Default 1 hour.
   */
  tokenExpiryMs?: number;
  /** Every request of these actions is throttled (EC2 503 RequestLimitExceeded, EBS ThrottlingException), for as long as they are listed. */
  throttleActions?: string[];
  /**
   * ListSnapshotBlocks never ends (of every listing, or only of those from a
   * StartingBlockIndex, the listings again): `same-token` gives the same NextToken
   * after the first page, `same-blocks` the first page's blocks again under a new
   * NextToken each time, `empty-pages` pages without blocks, each with a new NextToken.
   */
  listingLoop?: { kind: 'same-token' | 'same-blocks' | 'empty-pages'; relistsOnly?: boolean };
  /** Eventual consistency of the snapshots CreateSnapshot makes. */
  lag?: FakeLag;
}

export interface FakeInstance {
  rootDevice: string;
  /** Device name → volume id, in the order DescribeInstances lists them. */
  devices: Array<[string, string]>;
}

export interface FakeAws {
  endpoint: string;
  /** The options, which a test may change while the fake runs. */
  options: FakeAwsOptions;
  snapshots: Map<string, FakeSnapshot>;
  /** Blocks served (with data), per snapshot. */
  blockRequests: Map<string, Map<number, number>>;
  /** Every GetSnapshotBlock request, served or not, per snapshot. */
  blockAttempts: Map<string, Map<number, number>>;
  /** Requests answered with a throttling or transient error, by error code. */
  throttled: Map<string, number>;
  /** The throttling and transient answers `throttleRate` sent, as "STATUS Code [Reason]" (refusalKey). */
  refusedWith: Set<string>;
  requests: number;
  /** Requests received, answered or refused, by action. */
  requestsByAction: Map<string, number>;
  listedBlocks: Map<string, number>;
  /** ListSnapshotBlocks calls answered, per snapshot. */
  listings: Map<string, number>;
  /** GetSnapshotBlock calls refused for an expired token. */
  expiredTokens: number;
  actions: string[];
  holds: Holds;
  /**
   * The next this many CreateSnapshot calls create their snapshot and then lose the
   * answer: a 500 InternalError, or with `cutCreateAnswers` the connection dropped.
   * EC2's CreateSnapshot has no idempotency token, so a retry makes another snapshot.
   */
  loseCreateAnswers: number;
  /** Lost create answers are dropped connections instead of 500s. */
  cutCreateAnswers: boolean;
  close(): Promise<void>;
}

export async function startFakeAws(options: FakeAwsOptions): Promise<FakeAws> {
  const snapshots = new Map<string, FakeSnapshot>();
  for (const [id, image] of Object.entries(options.snapshots ?? {})) snapshots.set(id, { id, volumeId: 'vol-unknown', image, pendingPolls: 0, tags: {}, deleted: false, startTime: new Date() });
  const handles = new Map<string, { fh: FileHandle; size: number; blocks: number[] }>();
  const state: FakeAws = { endpoint: '', options, snapshots, blockRequests: new Map(), blockAttempts: new Map(), throttled: new Map(), refusedWith: new Set(), requests: 0, requestsByAction: new Map(), listedBlocks: new Map(), listings: new Map(), expiredTokens: 0, actions: [], holds: new Holds(), loseCreateAnswers: 0, cutCreateAnswers: false, close: async () => undefined };
  const random = prng(options.seed ?? 1);
  const refusals = { ec2: 0, ebs: 0 };
  const cut = new Set<number>();
  let throttle = options.throttleFirst ?? 0;
  let fail = options.failNext ?? 0;
  let counter = 0;
  /** Blocks served so far: the clock block tokens expire by. */
  let served = 0;

  const imageOf = async (image: string) => {
    let h = handles.get(image);
    if (!h) {
      const fh = await open(image, 'r');
      const size = (await fh.stat()).size;
      const blocks: number[] = [];
      const zero = Buffer.alloc(EBS_BLOCK);
      for (let i = 0; i * EBS_BLOCK < size; i++) {
        const buf = Buffer.alloc(EBS_BLOCK);
        await fh.read(buf, 0, EBS_BLOCK, i * EBS_BLOCK);
        if (!buf.equals(zero)) blocks.push(i);
      }
      h = { fh, size, blocks };
      handles.set(image, h);
    }
    return h;
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const isQuery = req.method === 'POST';
    const params = isQuery ? new URLSearchParams(await body(req)) : undefined;
    const action = params?.get('Action') ?? (/\/blocks$/.test(url.pathname) ? 'ListSnapshotBlocks' : 'GetSnapshotBlock');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      void state.holds.pass(action).then(() => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      });
    };
    // REST-JSON errors as the EBS direct APIs send them: the type in x-amzn-ErrorType (with the
    // service's namespace after a colon), Message and Reason in the body.
    const ebsError = (code: string, status: number, message: string, reason?: string) => {
      if (status >= 500 || /Throttl|Concurrent/.test(code)) count(code);
      json(status, { Message: message, ...(reason ? { Reason: reason } : {}) }, { 'x-amzn-errortype': `${code}:http://internal.amazon.com/coral/com.amazon.zeppelindataservice/`, 'x-amzn-requestid': randomUUID() });
    };
    const xml = (status: number, body: string) => {
      void state.holds.pass(action).then(() => {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
      });
    };
    state.requests++;
    state.requestsByAction.set(action, (state.requestsByAction.get(action) ?? 0) + 1);
    const getBlock = /^\/snapshots\/([^/]+)\/blocks\/(\d+)$/.exec(url.pathname);
    if (getBlock) {
      const attempts = state.blockAttempts.get(getBlock[1]!) ?? new Map<number, number>();
      state.blockAttempts.set(getBlock[1]!, attempts);
      attempts.set(Number(getBlock[2]), (attempts.get(Number(getBlock[2])) ?? 0) + 1);
      const refusal = options.refuseBlocks?.[Number(getBlock[2])];
      if (refusal) return ebsError(refusal, BLOCK_REFUSALS[refusal][0], 'refused', BLOCK_REFUSALS[refusal][1]);
    }
    if (options.throttleRate && random() < options.throttleRate) {
      // Each protocol's errors in turn, so every one of them is met.
      if (isQuery) {
        const [status, code, message] = EC2_REFUSALS[refusals.ec2++ % EC2_REFUSALS.length]!;
        count(code);
        state.refusedWith.add(refusalKey(status, code));
        return xml(status, `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`);
      }
      const [status, code, message, reason] = EBS_REFUSALS[refusals.ebs++ % EBS_REFUSALS.length]!;
      state.refusedWith.add(refusalKey(status, code, reason));
      return ebsError(code, status, message, reason);
    }
    if (options.throttleActions?.includes(action)) {
      count(isQuery ? 'RequestLimitExceeded' : 'ThrottlingException');
      if (isQuery) return xml(503, `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>`);
      return ebsError('ThrottlingException', 400, 'Rate exceeded');
    }
    if (throttle > 0 || fail > 0) {
      const throttled = throttle > 0;
      if (throttled) throttle--;
      else fail--;
      if (isQuery) {
        const code = throttled ? 'RequestLimitExceeded' : 'InternalError';
        return xml(throttled ? 503 : 500, `<Response><Errors><Error><Code>${code}</Code><Message>try again</Message></Error></Errors><RequestID>r</RequestID></Response>`);
      }
      return json(throttled ? 400 : 500, { message: 'try again' }, { 'x-amzn-errortype': throttled ? 'ThrottlingException' : 'InternalServerException' });
    }
    if (params) return ec2(params.get('Action') ?? '', params, xml, () => res.destroy());

    const list = /^\/snapshots\/([^/]+)\/blocks$/.exec(url.pathname);
    const get = /^\/snapshots\/([^/]+)\/blocks\/(\d+)$/.exec(url.pathname);
    const snap = snapshots.get((list ?? get)?.[1] ?? '');
    if (!snap || snap.deleted || snap.pendingPolls > 0) return json(404, { message: 'no such snapshot', Reason: 'SNAPSHOT_NOT_FOUND' }, { 'x-amzn-errortype': 'ResourceNotFoundException' });
    const img = await imageOf(snap.image);
    if (list) {
      state.listedBlocks.set(snap.id, img.blocks.length);
      state.listings.set(snap.id, (state.listings.get(snap.id) ?? 0) + 1);
      const pageSize = Math.min(Number(url.searchParams.get('maxResults') ?? 10000), options.pageSize ?? 10000);
      const from = Number(url.searchParams.get('startingBlockIndex') ?? 0);
      const blocks = img.blocks.filter((b) => b >= from);
      const loop = options.listingLoop && (!options.listingLoop.relistsOnly || url.searchParams.has('startingBlockIndex')) ? options.listingLoop.kind : undefined;
      const pageToken = url.searchParams.get('pageToken');
      const start = loop ? 0 : Number(pageToken ?? 0);
      const next = loop ? (loop === 'same-token' ? 'loop' : `loop-${state.requests}`) : start + pageSize < blocks.length ? String(start + pageSize) : undefined;
      const shown = (loop === 'same-token' && pageToken) || loop === 'empty-pages' ? [] : blocks.slice(start, start + pageSize);
      const expiry = Date.now() + (options.tokenExpiryMs ?? 3_600_000);
      return json(200, {
        Blocks: shown.map((b) => ({ BlockIndex: b, BlockToken: `token-${b}-${served}-${expiry}` })),
        BlockSize: EBS_BLOCK,
        VolumeSize: Math.max(1, Math.ceil(img.size / 2 ** 30)),
        ExpiryTime: expiry / 1000,
        ...(next ? { NextToken: next } : {}),
      });
    }
    const index = Number(get![2]);
    const token = /^token-(\d+)-(\d+)-(\d+)$/.exec(url.searchParams.get('blockToken') ?? '');
    if (Number(token?.[1] ?? -1) !== index) return json(400, { message: 'bad token' }, { 'x-amzn-errortype': 'ValidationException' });
    if ((options.tokenLifetime !== undefined && served - Number(token![2]) >= options.tokenLifetime) || Date.now() > Number(token![3])) {
      state.expiredTokens++;
      return ebsError('ValidationException', 400, 'The block token has expired.', 'INVALID_BLOCK_TOKEN');
    }
    const data = Buffer.alloc(EBS_BLOCK);
    await img.fh.read(data, 0, EBS_BLOCK, index * EBS_BLOCK);
    if (options.cutBlocks?.includes(index) && !cut.has(index)) {
      cut.add(index);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(EBS_BLOCK), 'x-amz-Data-Length': String(EBS_BLOCK) });
      res.write(data.subarray(0, EBS_BLOCK / 2), () => res.destroy());
      return;
    }
    const counts = state.blockRequests.get(snap.id) ?? new Map<number, number>();
    state.blockRequests.set(snap.id, counts);
    counts.set(index, (counts.get(index) ?? 0) + 1);
    served++;
    const checksum = createHash('sha256').update(options.corruptBlocks?.includes(index) ? Buffer.from('not the data') : data).digest('base64');
    await state.holds.pass(action);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-amz-Data-Length': String(EBS_BLOCK), 'x-amz-Checksum': checksum, 'x-amz-Checksum-Algorithm': 'SHA256' });
    res.end(data);
  });

  function ec2(action: string, p: URLSearchParams, xml: (status: number, body: string) => void, drop: () => void): void {
    state.actions.push(action);
    const ns = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"';
    const error = (code: string, msg: string) => xml(400, `<Response><Errors><Error><Code>${code}</Code><Message>${msg}</Message></Error></Errors><RequestID>r</RequestID></Response>`);
    switch (action) {
      case 'DescribeInstances': {
        if (!p.has('InstanceId.1')) return listInstances(p, xml, ns);
        const id = p.get('InstanceId.1') ?? '';
        const vols = options.instances?.[id];
        if (!vols) return error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
        const instance: FakeInstance = Array.isArray(vols) ? { rootDevice: '/dev/xvda', devices: vols.map((v, i) => [`/dev/xvd${String.fromCharCode(97 + i)}`, v]) } : vols;
        const bdm = instance.devices.map(([device, v]) => `<item><deviceName>${device}</deviceName><ebs><volumeId>${v}</volumeId><status>attached</status></ebs></item>`).join('');
        return xml(200, `<DescribeInstancesResponse ${ns}><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>${id}</instanceId><rootDeviceName>${instance.rootDevice}</rootDeviceName><blockDeviceMapping>${bdm}</blockDeviceMapping></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`);
      }
      case 'CreateSnapshot': {
        const volumeId = p.get('VolumeId') ?? '';
        const image = options.volumes?.[volumeId];
        if (!image) return error('InvalidVolume.NotFound', `The volume '${volumeId}' does not exist.`);
        const id = `snap-${(++counter).toString(16).padStart(17, '0')}`;
        const tags: Record<string, string> = {};
        for (let i = 1; p.has(`TagSpecification.1.Tag.${i}.Key`); i++) tags[p.get(`TagSpecification.1.Tag.${i}.Key`)!] = p.get(`TagSpecification.1.Tag.${i}.Value`) ?? '';
        snapshots.set(id, { id, volumeId, image, pendingPolls: options.pendingPolls ?? 2, tags, deleted: false, startTime: new Date(), unknownFor: options.lag?.byId ?? 0, unlistedFor: options.lag?.listings ?? 0 });
        if (state.loseCreateAnswers > 0) {
          state.loseCreateAnswers--;
          if (state.cutCreateAnswers) return void state.holds.pass(action).then(drop);
          return xml(500, `<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred.</Message></Error></Errors><RequestID>r</RequestID></Response>`);
        }
        return xml(200, `<CreateSnapshotResponse ${ns}><requestId>r</requestId><snapshotId>${id}</snapshotId><volumeId>${volumeId}</volumeId><status>pending</status><progress></progress></CreateSnapshotResponse>`);
      }
      case 'DescribeSnapshots': {
        const items: string[] = [];
        if (p.has('Filter.1.Name')) {
          // Filters as EC2 reads them: every one must match; tag:KEY and volume-id are faked.
          const filters: Array<[string, string]> = [];
          for (let i = 1; p.has(`Filter.${i}.Name`); i++) filters.push([p.get(`Filter.${i}.Name`)!, p.get(`Filter.${i}.Value.1`) ?? '']);
          const matches = (s: FakeSnapshot, [name, value]: [string, string]) => (name === 'volume-id' ? s.volumeId === value : name.startsWith('tag:') && s.tags[name.slice(4)] === value);
          const matching = [...snapshots.values()].filter((s) => !s.deleted && filters.every((f) => matches(s, f)) && (!s.unlistedFor || (s.unlistedFor--, false)));
          const size = Math.min(Number(p.get('MaxResults') ?? 1000), options.pageSize ?? 1000);
          const start = Number(p.get('NextToken') ?? 0);
          for (const s of matching.slice(start, start + size)) {
            const tagXml = Object.entries(s.tags).map(([k, v]) => `<item><key>${k}</key><value>${v}</value></item>`).join('');
            items.push(`<item><snapshotId>${s.id}</snapshotId><volumeId>${s.volumeId}</volumeId><status>completed</status><startTime>${s.startTime.toISOString()}</startTime><tagSet>${tagXml}</tagSet></item>`);
          }
          const next = start + size < matching.length ? `<nextToken>${start + size}</nextToken>` : '';
          return xml(200, `<DescribeSnapshotsResponse ${ns}><requestId>r</requestId><snapshotSet>${items.join('')}</snapshotSet>${next}</DescribeSnapshotsResponse>`);
        }
        for (let i = 1; p.has(`SnapshotId.${i}`); i++) {
          const s = snapshots.get(p.get(`SnapshotId.${i}`)!);
          if (!s || s.deleted || unknown(s)) return error('InvalidSnapshot.NotFound', `The snapshot '${p.get(`SnapshotId.${i}`)}' does not exist.`);
          const status = s.pendingPolls > 0 ? 'pending' : 'completed';
          if (s.pendingPolls > 0) s.pendingPolls--;
          items.push(`<item><snapshotId>${s.id}</snapshotId><volumeId>${s.volumeId}</volumeId><status>${status}</status><progress>${status === 'completed' ? '100%' : '50%'}</progress></item>`);
        }
        return xml(200, `<DescribeSnapshotsResponse ${ns}><requestId>r</requestId><snapshotSet>${items.join('')}</snapshotSet></DescribeSnapshotsResponse>`);
      }
      case 'DeleteSnapshot': {
        const s = snapshots.get(p.get('SnapshotId') ?? '');
        if (!s || s.deleted || unknown(s)) return error('InvalidSnapshot.NotFound', `The snapshot '${p.get('SnapshotId')}' does not exist.`);
        s.deleted = true;
        return xml(200, `<DeleteSnapshotResponse ${ns}><requestId>r</requestId><return>true</return></DeleteSnapshotResponse>`);
      }
      default:
        return error('InvalidAction', `${action} is not faked`);
    }
  }

  /** DescribeInstances over the whole fleet: tag filters, pages of MaxResults. */
  function listInstances(p: URLSearchParams, xml: (status: number, body: string) => void, ns: string): void {
    const filters: Array<[string, string]> = [];
    for (let i = 1; p.has(`Filter.${i}.Name`); i++) {
      const name = p.get(`Filter.${i}.Name`)!;
      if (name.startsWith('tag:')) filters.push([name.slice(4), p.get(`Filter.${i}.Value.1`) ?? '']);
    }
    const ids = Object.keys(options.instances ?? {})
      .filter((id) => filters.every(([k, v]) => options.instanceTags?.[id]?.[k] === v))
      .sort();
    const size = Number(p.get('MaxResults') ?? 1000);
    const pageSize = Math.min(size, options.pageSize ?? size);
    const start = Number(p.get('NextToken') ?? 0);
    const page = ids.slice(start, start + pageSize);
    const next = start + pageSize < ids.length ? `<nextToken>${start + pageSize}</nextToken>` : '';
    const items = page.map((id) => `<item><reservationId>r-${id}</reservationId><instancesSet><item><instanceId>${id}</instanceId></item></instancesSet></item>`).join('');
    xml(200, `<DescribeInstancesResponse ${ns}><requestId>r</requestId><reservationSet>${items}</reservationSet>${next}</DescribeInstancesResponse>`);
  }

  /** Whether a request naming the snapshot is still too early to see it (and counts one more such request). */
  function unknown(s: FakeSnapshot): boolean {
    if (!s.unknownFor) return false;
    s.unknownFor--;
    return true;
  }

  function count(code: string): void {
    state.throttled.set(code, (state.throttled.get(code) ?? 0) + 1);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const h of handles.values()) await h.fh.close();
  };
  return state;
}

/** Errors a test may have a block always answered with: status and Reason. */
const BLOCK_REFUSALS = {
  RequestThrottledException: [400, 'RESOURCE_LEVEL_THROTTLE'],
  AccessDeniedException: [403, 'UNAUTHORIZED_ACCOUNT'],
  ValidationException: [400, 'INVALID_PARAMETER_VALUE'],
  ServiceQuotaExceededException: [402, 'DEPENDENCY_SERVICE_QUOTA_EXCEEDED'],
} as const;

/** How a refusal is named in `refusedWith`: the HTTP status, the error code and the EBS Reason if any. */
export const refusalKey = (status: number, code: string, reason?: string) => [status, code, reason].filter((x) => x !== undefined).join(' ');

/** Throttling and transient answers of the EBS direct APIs: status, error type, message, Reason. */
export const EBS_REFUSALS: Array<[number, string, string, string?]> = [
  [400, 'RequestThrottledException', 'The number of API requests has exceeded the maximum allowed API request throttling limit for the snapshot.', 'RESOURCE_LEVEL_THROTTLE'],
  [400, 'ThrottlingException', 'Rate exceeded'],
  [400, 'RequestThrottledException', 'The number of API requests has exceeded the maximum allowed API request throttling limit.', 'ACCOUNT_THROTTLED'],
  [500, 'InternalServerException', 'An internal error has occurred.'],
  [400, 'RequestThrottledException', 'The number of API requests has exceeded the maximum allowed API request throttling limit.', 'DEPENDENCY_REQUEST_THROTTLED'],
  [400, 'ConcurrentLimitExceededException', 'You have reached the limit for concurrent API requests.'],
];

/** Throttling and transient answers of the EC2 Query API. */
export const EC2_REFUSALS: Array<[number, string, string]> = [
  [503, 'RequestLimitExceeded', 'Request limit exceeded.'],
  [503, 'Unavailable', 'The server is overloaded and cannot handle the request.'],
  [500, 'InternalError', 'An internal error has occurred.'],
];

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
