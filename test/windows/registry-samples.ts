/**
 * The public Windows sample data beside the repository (../shared/windows-samples, see
 * its README.md and SOURCES.md) for the registry tests, and the two ways they compare
 * minescan's hive reader with hivex: a hive read through a range reader over a host
 * file, and `hivexregedit --export` parsed into keys and values. Under CI=true a
 * missing samples folder fails; elsewhere the tests that need it skip, saying why.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { REPO } from '../helpers/images.js';
import { Hive } from '../../src/facts/windows/registry/hive.js';

const run = promisify(execFile);

export const SAMPLES = path.resolve(REPO, '../shared/windows-samples');
export const HAVE_SAMPLES = existsSync(path.join(SAMPLES, 'hives'));
if (!HAVE_SAMPLES) {
  if (process.env.CI === 'true') throw new Error(`the Windows samples are missing: ${SAMPLES} (CI needs them)`);
  console.warn(`SKIPPED: the registry sample tests need ${SAMPLES} (the public Windows samples beside the repository)`);
}

/** A sample hive as a host file, decompressed into `scratch` when stored as .xz. */
export async function sampleFile(rel: string, scratch: string): Promise<string> {
  const stored = path.join(SAMPLES, 'hives', rel);
  if (existsSync(stored)) return stored;
  const out = path.join(scratch, rel.replace(/[\\/]/g, '__'));
  if (!existsSync(out)) {
    await mkdir(scratch, { recursive: true });
    const { stdout } = await run('xz', ['-dc', `${stored}.xz`], { encoding: 'buffer', maxBuffer: 64 << 20 });
    const f = await open(out, 'w');
    await f.writeFile(stdout);
    await f.close();
  }
  return out;
}

/** Opens a host file as a hive, reading it only through ranges; close() releases the file. */
export async function openHostHive(file: string, logs: string[] = []): Promise<{ hive: Hive; reads: () => number; close: () => Promise<void> }> {
  const handles = await Promise.all([file, ...logs].map((f) => open(f, 'r')));
  let reads = 0;
  const sources = await Promise.all(
    handles.map(async (fh, i) => ({
      size: (await fh.stat()).size,
      label: path.basename([file, ...logs][i]!),
      read: async (offset: number, length: number) => {
        reads++;
        const buf = Buffer.alloc(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return buf.subarray(0, bytesRead);
      },
    })),
  );
  const close = async () => {
    for (const fh of handles) await fh.close();
  };
  try {
    const [primary, ...logFiles] = sources;
    const hive = await Hive.open(primary!.read, primary!.size, primary!.label, logFiles);
    return { hive, reads: () => reads, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Keys (as "\A\B", root "\") to their values (name to "type:hex"). */
export type HiveListing = Map<string, Map<string, string>>;

/** A listing as sorted lines "key | value = type:digest", so a difference reads as a short diff. */
export function listingLines(listing: HiveListing): string[] {
  const out: string[] = [];
  for (const [key, values] of listing) {
    out.push(key);
    for (const [name, v] of values) {
      const [type, hex] = v.split(':') as [string, string];
      const shown = hex.length <= 32 ? hex : `${hex.length / 2} bytes sha1 ${createHash('sha1').update(hex).digest('hex').slice(0, 12)}`;
      out.push(`${key} | ${JSON.stringify(name)} = ${type}:${shown}`);
    }
  }
  return out.sort();
}

/** What `hivexregedit --export` says the hive holds. */
export async function hivexListing(file: string): Promise<HiveListing> {
  const { stdout } = await run('hivexregedit', ['--export', file, '\\'], { maxBuffer: 512 << 20, encoding: 'buffer' });
  // hivexregedit prints UTF-16 names as UTF-8 but compressed (Latin-1) names as their raw
  // bytes: a line that is not valid UTF-8 is read as Latin-1.
  const lines: string[] = [];
  for (let at = 0; at < stdout.length; ) {
    const nl = stdout.indexOf(10, at);
    const end = nl === -1 ? stdout.length : nl;
    const raw = stdout.subarray(at, end);
    const text = raw.toString('utf8');
    lines.push(Buffer.from(text, 'utf8').equals(raw) ? text : raw.toString('latin1'));
    at = end + 1;
  }
  return parseRegExport(lines.join('\n'));
}

export function parseRegExport(text: string): HiveListing {
  const out: HiveListing = new Map();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('[') && line.endsWith(']')) {
      current = new Map();
      out.set(line.slice(1, -1), current);
      continue;
    }
    if (!current || line === '') continue;
    const m = /^(@|"((?:[^"\\]|\\.)*)")=(.*)$/.exec(line);
    if (!m) throw new Error(`unparsed export line: ${line.slice(0, 100)}`);
    const name = m[1] === '@' ? '' : m[2]!.replace(/\\(.)/g, '$1');
    current.set(name, exportedValue(m[3]!));
  }
  return out;
}

function exportedValue(v: string): string {
  let m = /^dword:([0-9a-f]{8})$/.exec(v);
  if (m) return `4:${Buffer.from(m[1]!, 'hex').reverse().toString('hex')}`;
  m = /^hex(?:\(([0-9a-f]+)\))?:(.*)$/.exec(v);
  if (m) return `${m[1] === undefined ? 3 : parseInt(m[1], 16)}:${m[2]!.replace(/,/g, '')}`;
  m = /^"((?:[^"\\]|\\.)*)"$/.exec(v);
  if (m) return `1:${Buffer.from(`${m[1]!.replace(/\\(.)/g, '$1')}\0`, 'utf16le').toString('hex')}`;
  throw new Error(`unparsed exported value: ${v.slice(0, 100)}`);
}

/** The same listing, from minescan's reader. */
export async function readerListing(hive: Hive): Promise<HiveListing> {
  const out: HiveListing = new Map();
  for await (const key of hive.walk()) {
    const values = new Map<string, string>();
    for (const v of await hive.values(key)) values.set(v.name, `${v.type}:${(await hive.data(v)).toString('hex')}`);
    out.set(`\\${key.path}`, values);
  }
  return out;
}

/** Keys and values of a hive, counted by walking it with minescan's reader. */
export async function countHive(hive: Hive): Promise<{ keys: number; values: number; big: number }> {
  let keys = 0;
  let values = 0;
  let big = 0;
  for await (const key of hive.walk()) {
    keys++;
    for (const v of await hive.values(key)) {
      values++;
      if ((await hive.data(v)).length > 16344) big++;
    }
  }
  return { keys, values, big };
}

export async function hivexCommand(args: string[], input?: string): Promise<string> {
  const child = execFile('hivexsh', args, { maxBuffer: 64 << 20 });
  const done = new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`hivexsh ${args.join(' ')} exited ${code}: ${err}`))));
  });
  if (input !== undefined) child.stdin!.end(input);
  return done;
}

export async function mergeReg(hiveFile: string, reg: string, prefix?: string): Promise<void> {
  const args = ['--merge', ...(prefix ? ['--prefix', prefix] : []), hiveFile];
  const child = execFile('hivexregedit', args);
  const done = new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`hivexregedit --merge exited ${code}: ${err}`))));
  });
  child.stdin!.end(reg);
  return done;
}
