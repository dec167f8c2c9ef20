/**
 * A protocol-level fake of the Alibaba Cloud ECS RPC API (JSON answers) and of the
 * instance metadata service, on 127.0.0.1, for the real @alicloud/ecs20140526 client.
 * "Attaching" a disk makes its device appear in a folder as virtio-<serial>, a link to
 * the local disk image the disk was made from, as udev would show it on the scanner.
 * Throttling at a rate answers a seeded pseudo-random share of the RPC requests as ECS
 * does: HTTP 400 with Code Throttling, Throttling.User or Throttling.Api, 503
 * ServiceUnavailable or 500 InternalError, in the RPC JSON error body.
 * Disks move through Creating, Available, Attaching, In_use and Detaching (one
 * DescribeDisks look per step), and DetachDisk and DeleteDisk in the wrong state fail
 * with IncorrectDiskStatus, as the service does. Tags are taken only from the create
 * calls. Listings of disks and snapshots come in pages (PageNumber, PageSize, capped
 * by `pageSize`). The metadata service can require a session token (hardened mode).
 * Any answer can be held (`holds`) to stop a run at a chosen phase.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { symlink, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { prng } from './random-tree.js';
import { Holds } from './held-requests.js';

export interface FakeDisk {
  id: string;
  image: string;
  status: 'Creating' | 'Available' | 'Attaching' | 'In_use' | 'Detaching';
  instance?: string;
  type: 'system' | 'data';
  device?: string;
  tags: Record<string, string>;
  deleted: boolean;
  fromSnapshot?: string;
  created: Date;
}

export interface FakeSnapshotA {
  id: string;
  disk: string;
  image: string;
  polls: number;
  tags: Record<string, string>;
  deleted: boolean;
  created: Date;
}

export interface FakeAliyun {
  endpoint: string;
  metadataUrl: string;
  disks: Map<string, FakeDisk>;
  snapshots: Map<string, FakeSnapshotA>;
  actions: string[];
  /** Requests answered with a throttling or transient error, by error code. */
  throttled: Map<string, number>;
  /** The throttling and transient answers `throttleRate` sent, as "STATUS Code". */
  refusedWith: Set<string>;
  holds: Holds;
  /**
   * The next this many CreateSnapshot and CreateDisk calls create their resource but answer
   * 503 ServiceUnavailable, as when the answer is lost: a retry without the same ClientToken
   * would create a second one.
   */
  loseCreateAnswers: number;
  /** Every request of these actions is answered 400 Throttling.User, for as long as they are listed. */
  throttleActions: string[];
  close(): Promise<void>;
}

export interface FakeAliyunOptions {
  scanner: string;
  zone: string;
  deviceDir: string;
  /** Source disks: id → image, with the instance they belong to. */
  sourceDisks: Record<string, { image: string; instance: string; type: 'system' | 'data'; device?: string }>;
  throttleFirst?: number;
  /** Answer this share of RPC requests (0..1) with a throttling or transient error, chosen by a seeded generator. */
  throttleRate?: number;
  seed?: number;
  /** Instance tags: id → key → value (instances are those the source disks name). */
  instanceTags?: Record<string, Record<string, string>>;
  /** DescribeSnapshots looks before a new snapshot is accomplished (default 2). */
  snapshotPolls?: number;
  /** The most items a page of DescribeDisks or DescribeSnapshots holds (default 100). */
  pageSize?: number;
  /** The metadata service answers 403 without a session token (hardened mode). */
  metadataTokenRequired?: boolean;
  /** false: an attached disk's device never shows up on the scanner. */
  devicesAppear?: boolean;
}

const TOKEN = 'metadata-session-token';

export async function startFakeAliyun(options: FakeAliyunOptions): Promise<FakeAliyun> {
  const disks = new Map<string, FakeDisk>();
  for (const [id, d] of Object.entries(options.sourceDisks)) disks.set(id, { id, image: d.image, status: 'In_use', instance: d.instance, type: d.type, device: d.device, tags: {}, deleted: false, created: new Date() });
  const snapshots = new Map<string, FakeSnapshotA>();
  const state: FakeAliyun = { endpoint: '', metadataUrl: '', disks, snapshots, actions: [], throttled: new Map(), refusedWith: new Set(), holds: new Holds(), loseCreateAnswers: 0, throttleActions: [], close: async () => undefined };
  const random = prng(options.seed ?? 1);
  let refusals = 0;
  let n = 0;
  let throttle = options.throttleFirst ?? 0;
  const createdByToken = new Map<string, string>();
  const id = (prefix: string) => `${prefix}-bp1${(++n).toString(36).padStart(17, '0')}`;

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/latest/api/token') {
      if (req.method !== 'PUT' || !req.headers['x-aliyun-ecs-metadata-token-ttl-seconds']) res.writeHead(400);
      res.end(TOKEN);
      return;
    }
    if (url.pathname.startsWith('/latest/meta-data/')) {
      const key = url.pathname.slice('/latest/meta-data/'.length);
      if (options.metadataTokenRequired && req.headers['x-aliyun-ecs-metadata-token'] !== TOKEN) res.writeHead(403);
      res.end(res.statusCode === 403 ? '' : key === 'instance-id' ? options.scanner : key === 'zone-id' ? options.zone : '');
      return;
    }
    const p = new URLSearchParams(url.search);
    for (const [k, v] of new URLSearchParams(await body(req))) p.set(k, v);
    // RPC requests carry the action in the query (signature v2) or in x-acs-action (v3).
    const action = p.get('Action') ?? String(req.headers['x-acs-action'] ?? '');
    state.actions.push(action);
    const json = (status: number, b: unknown) => {
      const text = JSON.stringify({ RequestId: 'r', ...(b as object) });
      void state.holds.pass(action).then(() => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(text);
      });
    };
    const page = <T>(items: T[]) => {
      const size = Math.min(Number(p.get('PageSize') ?? 10), options.pageSize ?? 100);
      const start = (Number(p.get('PageNumber') ?? 1) - 1) * size;
      return { TotalCount: items.length, PageNumber: Number(p.get('PageNumber') ?? 1), PageSize: size, items: items.slice(start, start + size) };
    };
    const error = (status: number, code: string, message: string) => json(status, { Code: code, Message: message });
    if (throttle > 0 || state.throttleActions.includes(action)) {
      if (throttle > 0) throttle--;
      return error(400, 'Throttling.User', 'Request was denied due to user flow control.');
    }
    if (options.throttleRate && random() < options.throttleRate) {
      // Each error in turn, so every one of them is met.
      const [status, code, message] = ECS_REFUSALS[refusals++ % ECS_REFUSALS.length]!;
      state.throttled.set(code, (state.throttled.get(code) ?? 0) + 1);
      state.refusedWith.add(`${status} ${code}`);
      return json(status, { HostId: 'ecs.aliyuncs.com', Code: code, Message: message, Recommend: `https://api.aliyun.com/troubleshoot?q=${code}` });
    }
    const tags = () => {
      const t: Record<string, string> = {};
      for (let i = 1; p.has(`Tag.${i}.Key`); i++) t[p.get(`Tag.${i}.Key`)!] = p.get(`Tag.${i}.Value`) ?? '';
      return t;
    };
    // ClientToken makes a create idempotent, as ECS documents: the same token answers with what it created.
    const token = p.get('ClientToken');
    const created = (resourceId: string, answer: Record<string, string>) => {
      if (token) createdByToken.set(`${action}\0${token}`, resourceId);
      if (state.loseCreateAnswers > 0) {
        state.loseCreateAnswers--;
        return error(503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.');
      }
      return json(200, answer);
    };
    const earlier = token ? createdByToken.get(`${action}\0${token}`) : undefined;
    switch (action) {
      case 'CreateSnapshot': {
        if (earlier) return json(200, { SnapshotId: earlier });
        const disk = disks.get(p.get('DiskId') ?? '');
        if (!disk || disk.deleted) return error(404, 'InvalidDiskId.NotFound', 'The specified disk does not exist.');
        const s: FakeSnapshotA = { id: id('s'), disk: disk.id, image: disk.image, polls: options.snapshotPolls ?? 2, tags: tags(), deleted: false, created: new Date() };
        snapshots.set(s.id, s);
        return created(s.id, { SnapshotId: s.id });
      }
      case 'DescribeSnapshots': {
        const wanted = tags();
        const ids = p.get('SnapshotIds') ? (JSON.parse(p.get('SnapshotIds')!) as string[]) : [...snapshots.keys()];
        const found = page(
          ids.map((i) => snapshots.get(i)).filter((s): s is FakeSnapshotA => !!s && !s.deleted && Object.entries(wanted).every(([k, v]) => s.tags[k] === v)),
        );
        const out = found.items.map((s) => {
          const status = s.polls > 0 ? 'progressing' : 'accomplished';
          if (s.polls > 0) s.polls--;
          return { SnapshotId: s.id, SourceDiskId: s.disk, Status: status, Progress: status === 'accomplished' ? '100%' : '40%', CreationTime: s.created.toISOString(), Tags: { Tag: Object.entries(s.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) } };
        });
        return json(200, { TotalCount: found.TotalCount, PageNumber: found.PageNumber, PageSize: found.PageSize, Snapshots: { Snapshot: out } });
      }
      case 'CreateDisk': {
        if (earlier) return json(200, { DiskId: earlier });
        const snap = snapshots.get(p.get('SnapshotId') ?? '');
        if (!snap || snap.deleted) return error(404, 'InvalidSnapshotId.NotFound', 'The specified snapshot does not exist.');
        if (p.get('ZoneId') !== options.zone) return error(400, 'InvalidZoneId.NotFound', 'zone');
        const d: FakeDisk = { id: id('d'), image: snap.image, status: 'Creating', type: 'data', tags: tags(), deleted: false, fromSnapshot: snap.id, created: new Date() };
        disks.set(d.id, d);
        return created(d.id, { DiskId: d.id });
      }
      case 'DescribeDisks': {
        const ids = p.get('DiskIds') ? (JSON.parse(p.get('DiskIds')!) as string[]) : undefined;
        const instance = p.get('InstanceId');
        const wanted = tags();
        const list = page(
          [...disks.values()].filter(
            (d) => !d.deleted && (!ids || ids.includes(d.id)) && (!instance || d.instance === instance) && Object.entries(wanted).every(([k, v]) => d.tags[k] === v),
          ),
        );
        const out = list.items.map((d) => {
          const view = { DiskId: d.id, Status: d.status, Type: d.type, InstanceId: d.instance ?? '', SourceSnapshotId: d.fromSnapshot ?? '', Device: d.device ?? (d.type === 'system' ? '/dev/xvda' : '/dev/xvdb'), CreationTime: d.created.toISOString() };
          // One look per step: a disk is seen in each state it passes through.
          if (d.status === 'Creating') d.status = 'Available';
          else if (d.status === 'Attaching') d.status = 'In_use';
          else if (d.status === 'Detaching') {
            d.status = 'Available';
            d.instance = undefined;
          }
          return view;
        });
        return json(200, { TotalCount: list.TotalCount, PageNumber: list.PageNumber, PageSize: list.PageSize, Disks: { Disk: out } });
      }
      case 'DescribeInstances': {
        if (p.get('InstanceIds')) {
          const wantedIds = JSON.parse(p.get('InstanceIds')!) as string[];
          const known = new Set([options.scanner, ...Object.values(options.sourceDisks).map((d) => d.instance)]);
          return json(200, { NextToken: '', Instances: { Instance: wantedIds.filter((i) => known.has(i)).map((i) => ({ InstanceId: i, ZoneId: options.zone })) } });
        }
        const wanted = tags();
        const all = [...new Set(Object.values(options.sourceDisks).map((d) => d.instance))]
          .filter((i) => Object.entries(wanted).every(([k, v]) => options.instanceTags?.[i]?.[k] === v))
          .sort();
        const size = Number(p.get('MaxResults') ?? 10);
        const start = Number(p.get('NextToken') || 0);
        const page = all.slice(start, start + Math.min(size, 1));
        const next = start + 1 < all.length ? String(start + 1) : '';
        return json(200, { NextToken: next, Instances: { Instance: page.map((i) => ({ InstanceId: i, ZoneId: options.zone })) } });
      }
      case 'AttachDisk': {
        const d = disks.get(p.get('DiskId') ?? '');
        if (!d || d.deleted || d.status !== 'Available') return error(403, 'IncorrectDiskStatus', 'The disk is not available.');
        if (p.get('InstanceId') !== options.scanner) return error(403, 'Forbidden', 'only the scanner may be attached to');
        d.status = 'Attaching';
        d.instance = options.scanner;
        if (options.devicesAppear !== false) await symlink(d.image, path.join(options.deviceDir, `virtio-${d.id.replace(/^d-/, '')}`));
        return json(200, {});
      }
      case 'DetachDisk': {
        const d = disks.get(p.get('DiskId') ?? '');
        if (!d || d.deleted) return error(404, 'InvalidDiskId.NotFound', 'no such disk');
        if (d.fromSnapshot === undefined) return error(403, 'Forbidden', 'a source disk is never detached');
        if (d.status !== 'In_use' || d.instance !== p.get('InstanceId')) return error(403, 'IncorrectDiskStatus', `The disk is ${d.status}.`);
        d.status = 'Detaching';
        await rm(path.join(options.deviceDir, `virtio-${d.id.replace(/^d-/, '')}`), { force: true });
        return json(200, {});
      }
      case 'DeleteDisk': {
        const d = disks.get(p.get('DiskId') ?? '');
        if (!d || d.deleted) return error(404, 'InvalidDiskId.NotFound', 'no such disk');
        if (d.status !== 'Available') return error(403, 'IncorrectDiskStatus', `The disk is ${d.status}.`);
        d.deleted = true;
        return json(200, {});
      }
      case 'DeleteSnapshot': {
        const s = snapshots.get(p.get('SnapshotId') ?? '');
        if (!s || s.deleted) return error(404, 'InvalidSnapshotId.NotFound', 'no such snapshot');
        s.deleted = true;
        return json(200, {});
      }
      default:
        return error(400, 'InvalidAction.NotFound', `${action} is not faked`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.endpoint = base;
  state.metadataUrl = base;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

/** Throttling and transient answers of the ECS RPC API: status, Code, Message. */
export const ECS_REFUSALS: Array<[number, string, string]> = [
  [400, 'Throttling.User', 'Request was denied due to user flow control.'],
  [503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.'],
  [400, 'Throttling.Api', 'Request was denied due to api flow control.'],
  [500, 'InternalError', 'The request processing has failed due to some unknown error, exception or failure.'],
  [400, 'Throttling', 'Request was denied due to request throttling.'],
];

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
