/**
 * Mutation fuzzing of the readers of attacker-controlled bytes, shared by the short run
 * in CI (test/mountfs/fuzz.test.ts) and the long run (`npm run fuzz`, bench/fuzz.mjs).
 * Each input is a real image (built by the real tools, see fuzz-targets.ts) with a few
 * of its metadata bytes changed, derived from a seed so a failure can be replayed;
 * it is opened through the whole recognition chain and walked the way a scan does.
 * An input ends well when it resolves or throws a typed MountfsError; anything else
 * is a crash, and not ending within the time bound is a hang.
 */
import { MountfsError } from '../../mountfs/errors.js';
import type { ByteSource } from '../../mountfs/sources/byte-source.js';
import type { Vfs } from '../../mountfs/vfs.js';
import { prng } from './random-tree.js';

export interface FuzzBase {
  bytes: Buffer;
  /** Byte ranges [from, to) holding the metadata worth changing. */
  regions: Array<[number, number]>;
}

export interface FuzzTarget {
  name: string;
  /** Builds the unmutated image with the real tools, in `dir`. */
  build(dir: string): Promise<FuzzBase>;
  /** Opens and walks one input; resolves, or throws (typed or not). */
  open(input: MutatedImage, dir: string): Promise<void>;
}

export interface Patch {
  offset: number;
  data: Buffer;
}

/** The base image with patches laid over it, and possibly cut short: no copy of the image is made. */
export class MutatedImage implements ByteSource {
  readonly description = 'fuzzed image';
  constructor(
    private readonly base: Buffer,
    readonly patches: Patch[],
    readonly size: number,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (!(end > offset) || offset < 0) return Buffer.alloc(0);
    const out = Buffer.from(this.base.subarray(offset, end));
    for (const p of this.patches) {
      const from = Math.max(offset, p.offset);
      const to = Math.min(end, p.offset + p.data.length);
      if (from < to) p.data.copy(out, from - offset, from - p.offset, to - p.offset);
    }
    return out;
  }

  /** The whole input as one buffer, for readers that need a file. */
  toBuffer(): Buffer {
    const out = Buffer.from(this.base.subarray(0, this.size));
    for (const p of this.patches) if (p.offset < this.size) p.data.copy(out, p.offset, 0, Math.min(p.data.length, this.size - p.offset));
    return out;
  }

  async close(): Promise<void> {}
}

/** Values that sit on the edges parsers get wrong: zero, all ones, sign bits, small counts. */
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/** The i-th input of a target under `seed`: 1 to 16 changes inside the regions, sometimes a cut. */
export function mutate(base: FuzzBase, seed: number, index: number): MutatedImage {
  const rnd = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const pick = (n: number) => Math.floor(rnd() * n);
  const weights = base.regions.map(([a, b]) => b - a);
  const total = weights.reduce((a, b) => a + b, 0);
  const where = (): number => {
    let r = pick(total);
    for (let i = 0; i < base.regions.length; i++) {
      if (r < weights[i]!) return base.regions[i]![0] + r;
      r -= weights[i]!;
    }
    return 0;
  };
  const patches: Patch[] = [];
  const n = 1 + pick(16);
  for (let i = 0; i < n; i++) {
    const at = where();
    switch (pick(5)) {
      case 0:
        patches.push({ offset: at, data: Buffer.from([pick(256)]) });
        break;
      case 1: {
        const b = base.bytes[at] ?? 0;
        patches.push({ offset: at, data: Buffer.from([b ^ (1 << pick(8))]) });
        break;
      }
      case 2: {
        const v = INTERESTING[pick(INTERESTING.length)]!;
        const width = [2, 4, 8][pick(3)]!;
        const data = Buffer.alloc(width, v === 0xffffffff && width === 8 ? 0xff : 0);
        if (width === 2) data.writeUInt16LE(v & 0xffff);
        else data.writeUInt32LE(v >>> 0);
        patches.push({ offset: at, data: rnd() < 0.3 ? Buffer.from(data).reverse() : data });
        break;
      }
      case 3: {
        // Structures copied over one another: loops, aliases, repeated names.
        const from = where();
        const len = 1 + pick(64);
        patches.push({ offset: at, data: Buffer.from(base.bytes.subarray(from, from + len)) });
        break;
      }
      default: {
        const len = 1 + pick(8);
        const data = Buffer.alloc(len);
        for (let k = 0; k < len; k++) data[k] = pick(256);
        patches.push({ offset: at, data });
      }
    }
  }
  const size = rnd() < 0.05 ? pick(base.bytes.length) : base.bytes.length;
  return new MutatedImage(base.bytes, patches, size);
}

export type Outcome = { kind: 'ok' } | { kind: 'typed'; error: MountfsError } | { kind: 'crash'; error: unknown } | { kind: 'hang' };

/** Runs one input within `timeoutMs` (asynchronous stalls; the long run's watchdog catches synchronous ones). */
export async function runOne(target: FuzzTarget, input: MutatedImage, dir: string, timeoutMs: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Outcome>((resolve) => (timer = setTimeout(() => resolve({ kind: 'hang' }), timeoutMs)));
  const run = target.open(input, dir).then(
    (): Outcome => ({ kind: 'ok' }),
    (error: unknown): Outcome => (error instanceof MountfsError ? { kind: 'typed', error } : { kind: 'crash', error }),
  );
  try {
    return await Promise.race([run, hang]);
  } finally {
    clearTimeout(timer);
  }
}

export interface FuzzSummary {
  target: string;
  runs: number;
  ok: number;
  typed: number;
  crashes: Array<{ index: number; error: string }>;
  hangs: number[];
}

export async function fuzz(
  target: FuzzTarget,
  base: FuzzBase,
  dir: string,
  options: {
    runs: number;
    seed: number;
    timeoutMs: number;
    start?: number;
    onInput?: (index: number) => void;
    onOutcome?: (index: number, kind: Outcome['kind'], error?: string) => void;
  },
): Promise<FuzzSummary> {
  const summary: FuzzSummary = { target: target.name, runs: 0, ok: 0, typed: 0, crashes: [], hangs: [] };
  for (let i = options.start ?? 0; i < options.runs; i++) {
    options.onInput?.(i);
    const outcome = await runOne(target, mutate(base, options.seed, i), dir, options.timeoutMs);
    summary.runs++;
    const error = outcome.kind === 'crash' ? describeError(outcome.error) : undefined;
    if (outcome.kind === 'ok') summary.ok++;
    else if (outcome.kind === 'typed') summary.typed++;
    else if (outcome.kind === 'hang') summary.hangs.push(i);
    else summary.crashes.push({ index: i, error: error! });
    options.onOutcome?.(i, outcome.kind, error);
  }
  return summary;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${err.stack?.split('\n').slice(1, 4).join('\n') ?? ''}`;
  return String(err);
}

/** Walks a filesystem the way a scan does: every entry, the first bytes of some files, every symlink. */
export async function exercise(vfs: Vfs): Promise<void> {
  const typedOnly = (err: unknown) => {
    if (!(err instanceof MountfsError)) throw err;
  };
  let files = 0;
  for await (const e of vfs.walk(['/**'], { maxEntries: 20_000, onError: (_p, err) => typedOnly(err) })) {
    if (e.stat.type === 'file' && files++ < 50) await vfs.readFile(e.path, { maxBytes: 1 << 14 }).catch(typedOnly);
    if (e.stat.type === 'symlink') await vfs.readlink(e.path).catch(typedOnly);
  }
}
