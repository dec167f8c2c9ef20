/**
 * The parts of a cloud-config file (/etc/cloud/cloud.cfg, cloud.cfg.d/*.cfg) that run
 * commands or write files, with the lines they stand on, for the cloud-init check.
 *
 * Format: cloud-init's module documentation (cc_bootcmd, cc_runcmd, cc_write_files).
 * `bootcmd` and `runcmd` are lists whose items are strings (shell) or lists (argv);
 * cloud-init's `shellify` writes a string as it is and a list as its single-quoted
 * words joined by spaces, one item a line, and runs the result with /bin/sh. bootcmd
 * runs at every boot, runcmd once per instance (cc_scripts_user). `write_files` is a
 * list of maps: `path`, `content`, and `encoding` (b64/base64, gz/gzip, and
 * gz+b64/gzip+base64 and their spellings; text otherwise).
 *
 * The file is hostile input: it is parsed once with the yaml package, alias expansion
 * is never done as a whole (values are read from the syntax tree, so a "billion laughs"
 * file never expands, and at most MAX_ALIAS_COUNT aliases are followed, as the yaml
 * package's maxAliasCount would), and items, words and decoded content are bounded.
 */
import { Buffer } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node as YamlNode } from 'yaml';

export type CommandKey = 'bootcmd' | 'runcmd';

/** One item of a bootcmd or runcmd list. */
export interface CloudCommand {
  key: CommandKey;
  /** Lines of the item in the file (1-based, inclusive). */
  line: number;
  endLine: number;
  /** Whether deleting lines line..endLine removes this item and nothing else (a block list). */
  ownLines: boolean;
  /** The item's shell text as cloud-init writes it into its script. */
  command: string;
  /** What the content rules read: a string item, or the words of a list joined by spaces. */
  text: string;
  /** The item as written, for evidence. */
  evidence: string;
  /** For a string item written as a literal block (`|`): the file line of its first line. */
  bodyLine?: number;
}

/** One item of write_files. */
export interface CloudWriteFile {
  line: number;
  endLine: number;
  ownLines: boolean;
  /** The `path` it writes, when it is a string. */
  target?: string;
  /** The file line of `content:` (or of the item when there is none). */
  contentLine: number;
  /** For text content written as a literal block: the file line of its first line. */
  bodyLine?: number;
  /** The content's bytes after decoding, at most MAX_CONTENT_BYTES. */
  content?: Buffer;
  encoding: 'text' | 'base64' | 'gzip' | 'gzip+base64';
  /** Why the content could not be decoded. */
  problem?: string;
}

export interface CloudConfig {
  commands: CloudCommand[];
  writeFiles: CloudWriteFile[];
  /** YAML errors and limits hit, for the scan's errors. */
  problems: string[];
}

/** Aliases a document may expand: cloud-configs use a few anchors at most. */
export const MAX_ALIAS_COUNT = 100;
const MAX_ITEMS = 1000;
const MAX_WORDS = 256;
/** Decoded write_files content read per entry; a longer one is scanned on its head. */
export const MAX_CONTENT_BYTES = 1 << 20;

export async function parseCloudConfig(text: string): Promise<CloudConfig> {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: false });
  const tree: Tree = { doc, aliasesLeft: MAX_ALIAS_COUNT };
  const out: CloudConfig = { commands: [], writeFiles: [], problems: [] };
  for (const e of doc.errors.slice(0, 3)) out.problems.push(`YAML: ${e.message.split('\n')[0]}`);
  if (!isMap(doc.contents)) return out;
  const lineOf = (offset: number) => counter.linePos(offset).line;
  const span = (node: YamlNode) => {
    const [start, valueEnd] = node.range ?? [0, 0];
    return { line: lineOf(start), endLine: lineOf(Math.max(start, valueEnd - 1)) };
  };
  let items = 0;
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? pair.key.value : undefined;
    if (key !== 'bootcmd' && key !== 'runcmd' && key !== 'write_files') continue;
    const list = resolve(tree, pair.value as YamlNode | null);
    if (!isSeq(list)) continue;
    for (const written of list.items as (YamlNode | null)[]) {
      if (++items > MAX_ITEMS) {
        out.problems.push(`more than ${MAX_ITEMS} bootcmd, runcmd and write_files items; the rest were not read`);
        return out;
      }
      if (!written) continue;
      const item = resolve(tree, written);
      if (!item) continue;
      const where = { ...span(written), ownLines: !list.flow && !isAlias(written) };
      if (key === 'write_files') {
        if (isMap(item)) out.writeFiles.push(await writeFileItem(tree, item, where, lineOf));
        continue;
      }
      const command = commandItem(tree, item);
      if (!command) continue;
      const bodyLine = isScalar(item) && item.type === Scalar.BLOCK_LITERAL && item === written ? where.line + 1 : undefined;
      out.commands.push({ key, ...where, ...command, ...(bodyLine !== undefined ? { bodyLine } : {}) });
    }
  }
  return out;
}

/** A parsed document and the aliases it may still follow. */
interface Tree {
  doc: Document;
  aliasesLeft: number;
}

/**
 * An alias's target, one level. The tree is never expanded as a whole, and at most
 * MAX_ALIAS_COUNT aliases are followed per document (the yaml package's toJS guard,
 * maxAliasCount, done by hand since values are read from the tree).
 */
function resolve(tree: Tree, node: YamlNode | null): YamlNode | undefined {
  if (!node) return undefined;
  if (!isAlias(node)) return node;
  if (tree.aliasesLeft-- <= 0) return undefined;
  const target = node.resolve(tree.doc) as YamlNode | undefined;
  return target && !isAlias(target) ? target : undefined;
}

function scalarText(node: YamlNode | undefined): string | undefined {
  if (!isScalar(node)) return undefined;
  const v = node.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function commandItem(tree: Tree, item: YamlNode): Pick<CloudCommand, 'command' | 'text' | 'evidence'> | undefined {
  const s = scalarText(item);
  if (s !== undefined) return { command: s, text: s, evidence: s.trim() };
  if (!isSeq(item)) return undefined;
  const words: string[] = [];
  for (const w of (item.items as (YamlNode | null)[]).slice(0, MAX_WORDS)) {
    const word = scalarText(resolve(tree, w));
    if (word !== undefined) words.push(word);
  }
  if (words.length === 0) return undefined;
  return {
    command: words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' '),
    text: words.join(' '),
    evidence: JSON.stringify(words),
  };
}

const ENCODINGS: Record<string, CloudWriteFile['encoding']> = {
  b64: 'base64',
  base64: 'base64',
  gz: 'gzip',
  gzip: 'gzip',
  'gz+base64': 'gzip+base64',
  'gzip+base64': 'gzip+base64',
  'gz+b64': 'gzip+base64',
  'gzip+b64': 'gzip+base64',
};

async function writeFileItem(
  tree: Tree,
  item: YamlNode & { items: unknown[] },
  where: { line: number; endLine: number; ownLines: boolean },
  lineOf: (offset: number) => number,
): Promise<CloudWriteFile> {
  const field = (name: string) => {
    const pair = (item.items as { key: unknown; value: unknown }[]).find((p) => isScalar(p.key) && p.key.value === name);
    return pair ? { key: pair.key as YamlNode, value: resolve(tree, pair.value as YamlNode | null) } : undefined;
  };
  const target = scalarText(field('path')?.value);
  const encodingName = (scalarText(field('encoding')?.value) ?? '').trim().toLowerCase();
  const encoding = ENCODINGS[encodingName] ?? 'text';
  const content = field('content');
  const entry: CloudWriteFile = {
    ...where,
    ...(target !== undefined ? { target } : {}),
    contentLine: content?.key.range ? lineOf(content.key.range[0]) : where.line,
    encoding,
  };
  if (!content?.value || !isScalar(content.value)) return entry;
  const value = content.value.value;
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value.slice(0, encoding === 'text' ? MAX_CONTENT_BYTES : 2 * MAX_CONTENT_BYTES), encoding === 'text' ? 'utf8' : 'latin1');
  else if (value instanceof Uint8Array) bytes = Buffer.from(value.subarray(0, 2 * MAX_CONTENT_BYTES)); // !!binary
  else return entry;
  try {
    if (encoding === 'base64' || encoding === 'gzip+base64') bytes = Buffer.from(bytes.toString('latin1').replace(/\s+/g, ''), 'base64');
    if (encoding === 'gzip' || encoding === 'gzip+base64') bytes = await gunzipHead(bytes, MAX_CONTENT_BYTES);
  } catch (err) {
    entry.problem = `${encoding} content does not decode: ${err instanceof Error ? err.message : String(err)}`;
    return entry;
  }
  entry.content = bytes.subarray(0, MAX_CONTENT_BYTES);
  if (encoding === 'text' && content.value.type === Scalar.BLOCK_LITERAL && content.value.range) {
    // A literal block starts on the line after its `|` indicator and keeps every line.
    entry.bodyLine = lineOf(content.value.range[0]) + 1;
  }
  return entry;
}

/**
 * The first `limit` bytes a gzip stream inflates to: a bomb stops there, and a stream
 * cut short keeps what it gave. Throws when nothing inflates at all.
 */
export function gunzipHead(input: Buffer, limit: number): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const gz = createGunzip();
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      gz.destroy();
      resolvePromise(Buffer.concat(chunks).subarray(0, limit));
    };
    gz.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) finish();
    });
    gz.on('end', finish);
    gz.on('error', (err) => {
      if (size > 0) finish();
      else if (!done) {
        done = true;
        reject(err);
      }
    });
    gz.end(input);
  });
}
