import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { HashListError, loadHashLists } from '../../src/hashes/load-hash-list.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { useTempFiles } from '../helpers/temp-files.js';

/** The user's lists alone, without the bundled list, so counts are the test's own. */
const load = (files: string[]) => loadHashLists(files, { bundled: false });

const MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
const SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
const SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const OTHER_MD5 = '0123456789abcdef0123456789abcdef';

describe('loadHashLists', () => {
  const files = useTempFiles('minescan-hashes-');
  const { write } = files;

  it('gives the empty lookup without files and without the bundled list', async () => {
    expect(await load([])).toBe(EMPTY_HASH_LIST);
  });

  it('reads plain digests of each length, with and without names, comments and blank lines', async () => {
    const file = await write(
      'plain.txt',
      `# miners\n\n${MD5.toUpperCase()}  XMRig.sample\r\n${SHA1}\n${SHA256} *kdevtmpfsi\n   \n# end\n`,
    );
    const list = await load([file]);
    expect(list.size).toBe(3);
    expect([...list.algorithms].sort()).toEqual(['md5', 'sha1', 'sha256']);
    expect(list.lookup({ md5: MD5 })).toEqual({ algorithm: 'md5', digest: MD5, name: 'XMRig.sample', source: file });
    expect(list.lookup({ sha1: SHA1.toUpperCase() })).toEqual({ algorithm: 'sha1', digest: SHA1, source: file });
    expect(list.lookup({ sha256: SHA256 })?.name).toBe('kdevtmpfsi');
    expect(list.lookup({ md5: OTHER_MD5, sha256: '0'.repeat(64) })).toBeUndefined();
  });

  it('reads ClamAV .hdb and .hsb lines and honours the stated size', async () => {
    const hdb = await write('miners.hdb', `${MD5}:1234:Unix.Coinminer.Kinsing-1\n${OTHER_MD5}:*:Unix.Coinminer.Any-2:73\n`);
    const hsb = await write('miners.hsb', `${SHA256}:99:Unix.Trojan.Skidmap-3\n`);
    const list = await load([hdb, hsb]);
    expect(list.size).toBe(3);
    expect(list.algorithms.has('sha1')).toBe(false);
    expect(list.lookup({ md5: MD5 }, 1234)).toMatchObject({ name: 'Unix.Coinminer.Kinsing-1', size: 1234, source: hdb });
    expect(list.lookup({ md5: MD5 }, 1235)).toBeUndefined();
    expect(list.lookup({ md5: OTHER_MD5 }, 5)).toMatchObject({ name: 'Unix.Coinminer.Any-2' });
    expect(list.lookup({ md5: OTHER_MD5 }, 5)?.size).toBeUndefined();
    expect(list.lookup({ sha256: SHA256 }, 99)).toMatchObject({ algorithm: 'sha256', source: hsb });
  });

  it('keeps every entry for a digest two lists name, so a size mismatch in one does not hide the other', async () => {
    const a = await write('a.hdb', `${MD5}:10:Sized\n`);
    const b = await write('b.txt', `${MD5} Unsized\n`);
    const list = await load([a, b]);
    expect(list.lookup({ md5: MD5 }, 10)?.name).toBe('Sized');
    expect(list.lookup({ md5: MD5 }, 11)?.name).toBe('Unsized');
  });

  it('reads a list bigger than one stream chunk, lines split across chunks', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) lines.push(`${i.toString(16).padStart(32, '0')} entry-${i}`);
    const file = await write('big.txt', lines.join('\n'));
    const list = await load([file]);
    expect(list.size).toBe(50_000);
    expect(list.lookup({ md5: (49_999).toString(16).padStart(32, '0') })?.name).toBe('entry-49999');
    expect(list.lookup({ md5: (12_345).toString(16).padStart(32, '0') })?.name).toBe('entry-12345');
  });

  it.each([
    ['a digest of the wrong length', `${MD5}\nabcdef  short\n`, 2, /6 hex digits/],
    ['a line that is no digest', `# ok\n${MD5}\nnot a hash\n`, 3, /expected/],
    ['a ClamAV line without a name', `${MD5}:12:\n`, 1, /expected/],
    ['a ClamAV line with a bad size', `${MD5}:12k:name\n`, 1, /expected/],
  ])('rejects %s, naming the file and line', async (_what, text, line, msg) => {
    const file = await write('bad.txt', text);
    const err = await load([file]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HashListError);
    expect((err as HashListError).file).toBe(file);
    expect((err as HashListError).line).toBe(line);
    expect((err as Error).message).toContain(`${file}:${line}`);
    expect((err as Error).message).toMatch(msg);
  });

  it('rejects a missing file and a binary file with a clear message', async () => {
    const missing = path.join(files.dir, 'nope.txt');
    await expect(load([missing])).rejects.toThrow(`hash list ${missing}: cannot be read`);
    const junk = await write('junk.bin', Buffer.alloc(200_000, 0x41));
    await expect(load([junk])).rejects.toThrow(/line longer than/);
  });
});
