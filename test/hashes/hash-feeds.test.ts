import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { HashListError, loadHashLists } from '../../src/hashes/load-hash-list.js';
import { useTempFiles } from '../helpers/temp-files.js';

const digest = (algorithm: 'md5' | 'sha1' | 'sha256', s: string) => createHash(algorithm).update(s).digest('hex');
const load = (files: string[]) => loadHashLists(files, { bundled: false });

/** The banner and header of a MalwareBazaar CSV dump, as abuse.ch writes them. */
const BAZAAR_HEAD = `################################################################
# MalwareBazaar full malware samples dump (CSV)                #
# Last updated: 2026-11-28 08:05:14 UTC                        #
#                                                              #
# Terms Of Use: https://bazaar.abuse.ch/faq/#tos               #
# For questions please contact bazaar [at] abuse.ch            #
################################################################
#
# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess","mime_type","signature","clamav","vtpercent","imphash","ssdeep","tlsh"
`;

function bazaarRow(sample: string, fileName: string, signature: string): string {
  return [
    '2026-11-27 23:59:01',
    digest('sha256', sample),
    digest('md5', sample),
    digest('sha1', sample),
    'abuse_ch',
    fileName,
    'elf',
    'application/x-executable',
    signature,
    'n/a',
    'n/a',
    'n/a',
    '3072:abc:def',
    'T1A2B3',
  ]
    .map((f) => `"${f.replace(/"/g, '""')}"`)
    .join(', ');
}

async function rejection(promise: Promise<unknown>): Promise<HashListError> {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HashListError);
  return err as HashListError;
}

describe('hash feeds', () => {
  const { write } = useTempFiles('minescan-feeds-');

  describe('MalwareBazaar CSV dumps', () => {
    it('adds the SHA-256, MD5 and SHA-1 of each row, named by the signature', async () => {
      const file = await write(
        'full.csv',
        BAZAAR_HEAD +
          `${bazaarRow('xmrig sample', 'xmrig', 'XMRig')}\n` +
          `${bazaarRow('mirai sample', 'b.arm7', 'Mirai')}\r\n` +
          `${bazaarRow('nameless', 'a, "quoted" name.sh', 'n/a')}\n` +
          '#\n# END OF FILE\n',
      );
      const list = await load([file]);
      expect(list.size).toBe(9);
      expect(list.userDigests).toBe(9);
      expect([...list.algorithms].sort()).toEqual(['md5', 'sha1', 'sha256']);
      expect(list.lookup({ sha256: digest('sha256', 'xmrig sample') })).toEqual({
        algorithm: 'sha256',
        digest: digest('sha256', 'xmrig sample'),
        name: 'XMRig',
        source: file,
      });
      expect(list.lookup({ md5: digest('md5', 'mirai sample').toUpperCase() })).toMatchObject({ algorithm: 'md5', name: 'Mirai' });
      expect(list.lookup({ sha1: digest('sha1', 'mirai sample') })).toMatchObject({ algorithm: 'sha1', name: 'Mirai' });
      expect(list.lookup({ sha256: digest('sha256', 'nameless') })?.name).toBe('an unattributed MalwareBazaar sample (a, "quoted" name.sh)');
      expect(list.lookup({ sha256: digest('sha256', 'not listed'), md5: digest('md5', 'not listed') })).toBeUndefined();
    });

    it('follows the columns the header names, in any order, without a SHA-1 column', async () => {
      const file = await write(
        'recent.csv',
        `# "sha256_hash","signature","md5_hash"\n"${digest('sha256', 'a')}", "CoinMiner", "${digest('md5', 'a')}"\n`,
      );
      const list = await load([file]);
      expect(list.size).toBe(2);
      expect(list.algorithms.has('sha1')).toBe(false);
      expect(list.lookup({ md5: digest('md5', 'a') })?.name).toBe('CoinMiner');
    });

    it('reads a dump bigger than one stream chunk, rows split across chunks', async () => {
      const rows: string[] = [];
      for (let i = 0; i < 20_000; i++) rows.push(bazaarRow(`sample ${i}`, `f${i}`, i % 2 ? 'XMRig' : 'Mirai'));
      const file = await write('big.csv', BAZAAR_HEAD + rows.join('\n') + '\n');
      const list = await load([file]);
      expect(list.size).toBe(60_000);
      expect(list.lookup({ sha1: digest('sha1', 'sample 19999') })?.name).toBe('XMRig');
      expect(list.lookup({ md5: digest('md5', 'sample 12344') })?.name).toBe('Mirai');
    });

    it.each([
      ['a row with a field missing', (s: string) => s.replace(/, "T1A2B3"$/, ''), /13 fields where the header names 14/],
      ['a SHA-256 of the wrong length', (s: string) => s.replace(/^("[^"]*", ")[0-9a-f]/, '$1'), /sha256_hash is not 64 hex digits/],
      ['an MD5 that is not hex', (s: string) => s.replace(/^("[^"]*", "[^"]*", ")[0-9a-f]/, '$1z'), /md5_hash is not 32 hex digits/],
      ['an unclosed quote', (s: string) => s.replace(/"$/, ''), /not a MalwareBazaar CSV row \(a quoted field is not closed\)/],
    ])('rejects %s, naming the file and line', async (_what, spoil, message) => {
      const good = bazaarRow('one', 'one', 'XMRig');
      const file = await write('bad.csv', `${BAZAAR_HEAD}${good}\n${spoil(good)}\n`);
      const err = await rejection(load([file]));
      expect(err.file).toBe(file);
      expect(err.line).toBe(BAZAAR_HEAD.split('\n').length + 1);
      expect(err.message).toMatch(message);
    });

    it('rejects rows without the header line, rather than guessing the columns', async () => {
      const file = await write('headless.csv', `${bazaarRow('one', 'one', 'XMRig')}\n`);
      const err = await rejection(load([file]));
      expect(err.line).toBe(1);
      expect(err.message).toMatch(/no MalwareBazaar header line/);
    });
  });

  describe('hash;comment IOC files', () => {
    it('reads one digest per line with its comment as the name', async () => {
      const file = await write(
        'hash-iocs.txt',
        '\uFEFF# Hash IOCs\n\n' +
          `${digest('md5', 'x').toUpperCase()};Coinminer dropped by a cron job - https://example.org/report\n` +
          `${digest('sha256', 'y')};\n` +
          `${digest('sha1', 'z')};Winnti XMRig;second field\n`,
      );
      const list = await load([file]);
      expect(list.size).toBe(3);
      expect(list.lookup({ md5: digest('md5', 'x') })).toEqual({
        algorithm: 'md5',
        digest: digest('md5', 'x'),
        name: 'Coinminer dropped by a cron job - https://example.org/report',
        source: file,
      });
      expect(list.lookup({ sha256: digest('sha256', 'y') })?.name).toBeUndefined();
      expect(list.lookup({ sha1: digest('sha1', 'z') })?.name).toBe('Winnti XMRig;second field');
    });

    it.each([
      ['a line in another format', `${digest('md5', 'x')};ok\n${digest('md5', 'y')}  sums style\n`, 2, /expected "<md5\|sha1\|sha256>;<comment>"/],
      ['a digest of the wrong length', `${digest('md5', 'x')};ok\n# c\nabc123;short\n`, 3, /6 hex digits/],
      ['a digest with a typo', `${digest('md5', 'x')};ok\n${digest('md5', 'y').slice(0, 31)}g;typo\n`, 2, /hex digits/],
    ])('rejects %s, naming the file and line', async (_what, text, line, message) => {
      const file = await write('bad-iocs.txt', text);
      const err = await rejection(load([file]));
      expect([err.file, err.line]).toEqual([file, line]);
      expect(err.message).toMatch(message);
    });
  });

  describe('digest,name,source lists', () => {
    it('reads each digest with its name and the report it cites', async () => {
      const file = await write(
        'cited.csv',
        `# cited\ndigest,name,source\n${digest('sha256', 'a')},"Miner, x86_64 build",https://example.org/report#iocs\n${digest('sha1', 'b')},Other,http://example.org/b\n`,
      );
      const list = await load([file]);
      expect(list.size).toBe(2);
      expect(list.lookup({ sha256: digest('sha256', 'a') })).toEqual({
        algorithm: 'sha256',
        digest: digest('sha256', 'a'),
        name: 'Miner, x86_64 build',
        source: file,
        reference: 'https://example.org/report#iocs',
      });
    });

    it.each([
      ['a source that is no web address', `${digest('md5', 'a')},Miner,a blog post`, /http\(s\) address/],
      ['a missing name', `${digest('md5', 'a')},,https://example.org`, /needs a name/],
      ['a fourth field', `${digest('md5', 'a')},Miner,https://example.org,extra`, /4 fields/],
    ])('rejects %s, naming the file and line', async (_what, row, message) => {
      const file = await write('bad-cited.csv', `digest,name,source\n${row}\n`);
      const err = await rejection(load([file]));
      expect([err.file, err.line]).toEqual([file, 2]);
      expect(err.message).toMatch(message);
    });
  });

  it('recognises the format per file, so lists of every kind load together', async () => {
    const sums = await write('sums.txt', `${digest('md5', 'p')}  plain\n`);
    const clam = await write('x.hdb', `${digest('md5', 'q')}:1:Clam.Name\n`);
    const ioc = await write('x-iocs.txt', `${digest('md5', 'r')};ioc\n`);
    const bazaar = await write('x.csv', BAZAAR_HEAD + bazaarRow('s', 's', 'XMRig') + '\n');
    const list = await load([sums, clam, ioc, bazaar]);
    expect(list.size).toBe(6);
    expect(['p', 'q', 'r', 's'].map((s) => list.lookup({ md5: digest('md5', s) }, 1)?.name)).toEqual(['plain', 'Clam.Name', 'ioc', 'XMRig']);
  });

  it('rejects a huge quoted line and binary junk quickly, naming the file', async () => {
    const huge = await write('huge.csv', `${BAZAAR_HEAD}"${'a'.repeat(200_000)}"\n`);
    expect((await rejection(load([huge]))).message).toMatch(/line longer than/);
    const junk = await write('junk.csv', Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251)));
    expect((await rejection(load([junk]))).file).toBe(junk);
  });
});
