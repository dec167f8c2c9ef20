import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import { bundledHashListPath, BUNDLED_HASH_LIST_LABEL } from '../../src/hashes/bundled-hash-list.js';
import { splitCsvLine } from '../../src/hashes/csv-fields.js';
import { hashLookupCheck } from '../../src/checks/hash-lookup.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { cli } from '../helpers/run-cli.js';

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
/** Digests of the empty file: a list holding one would flag every empty file on a disk. */
const EMPTY_FILE_DIGESTS = [
  'd41d8cd98f00b204e9800998ecf8427e',
  'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
];

/** The data rows of the bundled list, split by the same CSV reader the loader uses. */
async function bundledRows(): Promise<string[][]> {
  const lines = (await readFile(bundledHashListPath(), 'utf8')).split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  expect(lines[0]).toBe('digest,name,source');
  return lines.slice(1).map((l) => {
    const split = splitCsvLine(l);
    if ('error' in split) throw new Error(`${l}: ${split.error}`);
    return split.fields;
  });
}

describe('the bundled list of published miner hashes', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-bundled-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('loads by default: every line parses and every digest is looked up', async () => {
    const rows = await bundledRows();
    expect(rows.length).toBeGreaterThanOrEqual(30);
    const list = await loadHashLists([]);
    expect(list.size).toBe(rows.length);
    expect(list.userDigests).toBe(0);
    // MD5 and SHA-256 are computed for every hashed file anyway; a SHA-1 entry would add a third pass to every scan.
    expect([...list.algorithms].sort()).toEqual(['md5', 'sha256']);
    for (const [digest, name, source] of rows) {
      const algorithm = ({ 32: 'md5', 40: 'sha1', 64: 'sha256' } as const)[digest!.length as 32 | 40 | 64];
      expect(list.lookup({ [algorithm]: digest })).toEqual({ algorithm, digest, name, source: BUNDLED_HASH_LIST_LABEL, reference: source });
    }
  });

  it('cites, for every entry, the public IOC file it was copied from, pinned to a commit', async () => {
    const rows = await bundledRows();
    for (const [digest, name, source] of rows) {
      expect(digest).toMatch(/^(?:[0-9a-f]{32}|[0-9a-f]{64})$/);
      expect(name!.length).toBeGreaterThan(3);
      expect(source).toMatch(/^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/blob\/[0-9a-f]{40}\/\S+$/);
      expect(EMPTY_FILE_DIGESTS).not.toContain(digest);
    }
    expect(new Set(rows.map((r) => r[0])).size).toBe(rows.length);
    // Mixed families from several reports, not one report copied whole.
    expect(new Set(rows.map((r) => r[2])).size).toBeGreaterThanOrEqual(4);
  });

  it('reports a file whose digest a cited list holds as critical, naming the list and the report', async () => {
    const root = path.join(scratch, 'root');
    const dropped = Buffer.from('\x7fELF harmless stand-in for a dropped miner', 'latin1');
    await mkdir(path.join(root, 'tmp/.X11-unix/.k'), { recursive: true });
    await writeFile(path.join(root, 'tmp/.X11-unix/.k/kworkerds'), dropped);
    await chmod(path.join(root, 'tmp/.X11-unix/.k/kworkerds'), 0o755);
    const list = path.join(scratch, 'extra.csv');
    await writeFile(list, `digest,name,source\n${sha256(dropped)},Test miner family,https://example.org/reports/test-miner\n`);

    const result = await scanDirectory(root, [hashLookupCheck], await loadHashLists([list]));
    expect(result.errors).toEqual([]);
    expect(result.findings).toHaveLength(1);
    const f = result.findings[0]!;
    expect([f.rule, f.severity, f.path]).toEqual(['hash.known-malware', 'critical', '/tmp/.X11-unix/.k/kworkerds']);
    expect(f.message).toBe(
      `/tmp/.X11-unix/.k/kworkerds is Test miner family: its digest is on the hash list ${list}, which cites https://example.org/reports/test-miner`,
    );
    expect(f.remediation).toContain('rm -f /tmp/.X11-unix/.k/kworkerds');
  });

  it('alone hashes the temporary directories, not every system executable', async () => {
    const root = path.join(scratch, 'sweep');
    for (const rel of ['usr/bin/tool', 'tmp/.cache/run']) {
      await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await writeFile(path.join(root, rel), `#!/bin/sh\necho ${rel}\n`);
      await chmod(path.join(root, rel), 0o755);
    }
    const bundledOnly = await scanDirectory(root, [hashLookupCheck], await loadHashLists([]));
    expect(bundledOnly.filesExamined).toBe(1);
    expect(bundledOnly.findings).toEqual([]);
    const userList = path.join(scratch, 'user.txt');
    await writeFile(userList, `${'0'.repeat(64)} nothing\n`);
    const withUserList = await scanDirectory(root, [hashLookupCheck], await loadHashLists([userList]));
    expect(withUserList.filesExamined).toBe(2);
  });

  it('is used by `minescan scan` unless --no-bundled-hashes is given', async () => {
    const root = path.join(scratch, 'cli-root');
    const dropped = 'a harmless program in /var/tmp, 12345 bytes of it';
    await mkdir(path.join(root, 'var/tmp'), { recursive: true });
    await writeFile(path.join(root, 'var/tmp/.sysupdate'), dropped);
    await chmod(path.join(root, 'var/tmp/.sysupdate'), 0o755);
    const hashedBytes = async (...extra: string[]) => {
      const run = await cli(['scan', root, '--format', 'json', '--fail-on', 'none', ...extra]);
      expect(run.code).toBe(0);
      return (JSON.parse(run.stdout) as { stats: { bytesHashed: number } }).stats.bytesHashed;
    };
    expect(await hashedBytes()).toBe(dropped.length);
    expect(await hashedBytes('--no-bundled-hashes')).toBe(0);
    const broken = path.join(scratch, 'broken.csv');
    await writeFile(broken, 'digest,name,source\nnot-a-digest,x,https://example.org\n');
    // A broken extra list fails the scan with its file and line, the bundled list still in force.
    const failed = await cli(['scan', root, '--hashes', broken]);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain(`${broken}:2`);
  });
});
