/**
 * The registry hive reader (src/facts/windows/registry) against hivex: hives built with
 * `hivexregedit --merge` from .reg text and real hives Windows wrote (the public samples
 * beside the repository) are read key by key and value by value and compared with
 * `hivexregedit --export`, and with the key and value counts the samples' manifest
 * gives; big-data values at the 16344-byte boundary, UTF-16 and Latin-1 names, dirty
 * hives, bounded reads, and damaged hives (real and crafted) that must end in typed
 * errors naming the structure and offset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { MountfsError } from '../../mountfs/errors.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { HAVE_SAMPLES, SAMPLES, countHive, hivexListing, listingLines, mergeReg, openHostHive, readerListing, sampleFile } from './registry-samples.js';
import { decodeValue } from '../../src/facts/windows/registry/value-data.js';

interface ManifestEntry {
  dest: string;
  check: string;
}

const utf16 = (s: string) => Buffer.from(s, 'utf16le').toString('hex').replace(/(..)(?!$)/g, '$1,');

const BUILT_REG = [
  'Windows Registry Editor Version 5.00',
  '',
  '[\\Software]',
  '',
  '[\\Software\\Minescan Test]',
  '@="the default"',
  '"sz"="hello world"',
  `"expand"=hex(2):${utf16('%SystemRoot%\\system32\\svchost.exe -k netsvcs\0')}`,
  `"multi"=hex(7):${utf16('first\0second\0\0')}`,
  '"dword"=dword:0000002a',
  '"qword"=hex(b):08,07,06,05,04,03,02,01',
  '"binary"=hex:de,ad,be,ef,00,01',
  '"empty"=hex:',
  '',
  '[\\Software\\Minescan Test\\Ключ Ünïcödé]',
  `"名前"=hex(1):${utf16('値\0')}`,
  '',
  '[\\Software\\Many]',
  '',
  ...Array.from({ length: 600 }, (_, i) => [`[\\Software\\Many\\Key${i}]`, `"n"=dword:${i.toString(16).padStart(8, '0')}`, '']).flat(),
].join('\r\n');

describe.skipIf(!HAVE_SAMPLES)('registry hive reader', () => {
  let scratch: string;
  let manifest: ManifestEntry[];
  let built: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-registry-');
    manifest = JSON.parse(await readFile(path.join(SAMPLES, 'manifest.json'), 'utf8')) as ManifestEntry[];
    built = path.join(scratch, 'built.hive');
    await copyFile(path.join(SAMPLES, 'hives/hivex/minimal'), built);
    await chmod(built, 0o644);
    await mergeReg(built, BUILT_REG);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reads a hive hivexregedit --merge wrote exactly as hivexregedit --export lists it, every value type decoded', async () => {
    const { hive, close } = await openHostHive(built);
    try {
      expect(listingLines(await readerListing(hive))).toEqual(listingLines(await hivexListing(built)));
      const key = (await hive.openKey('SOFTWARE\\minescan test'))!;
      expect(key.path).toBe('Software\\Minescan Test');
      const decoded = async (name: string) => {
        const v = (await hive.value(key, name))!;
        return [v.typeName, decodeValue(v.type, await hive.data(v)).value];
      };
      expect(await decoded('')).toEqual(['REG_SZ', 'the default']);
      expect(await decoded('SZ')).toEqual(['REG_SZ', 'hello world']);
      expect(await decoded('expand')).toEqual(['REG_EXPAND_SZ', '%SystemRoot%\\system32\\svchost.exe -k netsvcs']);
      expect(await decoded('multi')).toEqual(['REG_MULTI_SZ', ['first', 'second']]);
      expect(await decoded('dword')).toEqual(['REG_DWORD', 42]);
      expect(await decoded('qword')).toEqual(['REG_QWORD', 0x0102030405060708n]);
      expect(await decoded('binary')).toEqual(['REG_BINARY', Buffer.from('deadbeef0001', 'hex')]);
      expect(await decoded('empty')).toEqual(['REG_BINARY', Buffer.alloc(0)]);
      const unicode = (await hive.openKey('Software\\Minescan Test\\ключ üNÏCÖDÉ'))!;
      expect(unicode.name).toBe('Ключ Ünïcödé');
      expect(decodeValue(1, await hive.data((await hive.value(unicode, '名前'))!)).value).toBe('値');
      const many = (await hive.openKey('Software\\Many'))!;
      expect((await hive.subkeys(many)).length).toBe(600);
      expect(await hive.openKey('Software\\Many\\KEY599')).toBeDefined();
      expect(await hive.openKey('Software\\Many\\Key600')).toBeUndefined();
      expect(hive.dirty).toBe(false);
    } finally {
      await close();
    }
  });

  // Hives whose whole listing is compared with hivex's (the large ones are compared by counts below).
  const LISTED = [
    'nt-hive/testhive',
    'yarp/BigDataHive',
    'yarp/UnicodeHive',
    'yarp/ManySubkeysHive',
    'yarp/OffHive',
    'hivex/special',
    'hivex/minimal',
    'plaso/100_sub_keys.hiv',
    'ericzimmerman-registry/SAM',
    'ericzimmerman-registry/NTUSER1.DAT',
    'ericzimmerman-registry/SECURITYNoRoot',
    'regipy/SAM',
    'regipy/BCD',
  ];
  it.each(LISTED)('reads %s as hivexregedit --export lists it', async (rel) => {
    const file = await sampleFile(rel, scratch);
    const { hive, close } = await openHostHive(file);
    try {
      expect(listingLines(await readerListing(hive))).toEqual(listingLines(await hivexListing(file)));
    } finally {
      await close();
    }
  });

  it('counts the keys, values and big values of every readable sample hive as the manifest (hivex) does', async () => {
    const checked: string[] = [];
    for (const entry of manifest) {
      const m = /hivex walk: (\d+) keys, (\d+) values, (\d+) values >16344 B/.exec(entry.check);
      if (!m || !entry.dest.startsWith('hives/') || /hdr-checksum=BAD/.test(entry.check)) continue;
      const rel = entry.dest.slice('hives/'.length).replace(/\.xz$/, '');
      const { hive, close } = await openHostHive(await sampleFile(rel, scratch));
      try {
        expect({ rel, ...(await countHive(hive)) }).toEqual({ rel, keys: Number(m[1]), values: Number(m[2]), big: Number(m[3]) });
        expect(hive.dirty).toBe(/\(DIRTY\)/.test(entry.check));
        checked.push(rel);
      } finally {
        await close();
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(30);
  });

  it('reads the big-data values of nt-hive/testhive on both sides of the 16344-byte db boundary', async () => {
    const { hive, close } = await openHostHive(await sampleFile('nt-hive/testhive', scratch));
    try {
      const key = (await hive.openKey('big-data-test'))!;
      for (const [name, size] of [['A', 16343], ['B', 16344], ['C', 16345]] as const) {
        const data = await hive.data((await hive.value(key, name))!);
        expect(data.length).toBe(size);
        expect(data.equals(Buffer.alloc(size, name))).toBe(true);
      }
      const multi = (await hive.value((await hive.openKey('data-test'))!, 'reg-multi-sz-big'))!;
      expect(multi.size).toBe(16426);
      const strings = decodeValue(multi.type, await hive.data(multi));
      expect(strings.kind).toBe('strings');
    } finally {
      await close();
    }
  });

  it('replays the new-format logs of a dirty hive to what Windows 10 itself recovered', async () => {
    const dir = path.join(SAMPLES, 'hives/yarp/NewDirtyHive1');
    const dirty = await openHostHive(path.join(dir, 'NewDirtyHive'));
    const replayed = await openHostHive(path.join(dir, 'NewDirtyHive'), [path.join(dir, 'NewDirtyHive.LOG1'), path.join(dir, 'NewDirtyHive.LOG2')]);
    const recovered = await openHostHive(path.join(dir, 'RecoveredHive_Windows10'));
    try {
      expect(dirty.hive.dirty).toBe(true);
      expect(replayed.hive.dirty).toBe(false);
      expect(replayed.hive.replay?.entries).toBeGreaterThan(0);
      const expected = listingLines(await readerListing(recovered.hive));
      expect(listingLines(await readerListing(dirty.hive))).not.toEqual(expected);
      expect(listingLines(await readerListing(replayed.hive))).toEqual(expected);
      expect(expected).toEqual(listingLines(await hivexListing(path.join(dir, 'RecoveredHive_Windows10'))));
    } finally {
      for (const h of [dirty, replayed, recovered]) await h.close();
    }
  });

  it.each([
    ['regipy/SYSTEM_B', ['regipy/SYSTEM_B.LOG1', 'regipy/SYSTEM_B.LOG2']],
    ['regipy/transactions_NTUSER.DAT', ['regipy/transactions_ntuser.dat.log1', 'regipy/transactions_ntuser.dat.log2']],
    ['regipy/UsrClass.dat', ['regipy/UsrClass.dat.LOG1', 'regipy/UsrClass.dat.LOG2']],
  ])('replays the logs of the dirty %s and reads the result whole', async (rel, logs) => {
    const { hive, close } = await openHostHive(await sampleFile(rel, scratch), await Promise.all(logs.map((l) => sampleFile(l, scratch))));
    try {
      expect(hive.dirty).toBe(false);
      expect(hive.replay!.entries).toBeGreaterThan(0);
      expect((await countHive(hive)).keys).toBeGreaterThan(1000);
    } finally {
      await close();
    }
  });

  it('replays an old-format (Windows 7) log to what Windows 7 itself recovered', async () => {
    const dir = path.join(SAMPLES, 'hives/yarp/OldDirtyHive');
    const replayed = await openHostHive(path.join(dir, 'OldDirtyHive'), [path.join(dir, 'OldDirtyHive.LOG1'), path.join(dir, 'OldDirtyHive.LOG2')]);
    const recovered = await openHostHive(path.join(dir, 'RecoveredHive_Windows7'));
    try {
      expect(replayed.hive.dirty).toBe(false);
      expect(listingLines(await readerListing(replayed.hive))).toEqual(listingLines(await readerListing(recovered.hive)));
    } finally {
      await replayed.close();
      await recovered.close();
    }
  });

  it('takes a damaged base block from the old-format log, as Windows does, and replays the log', async () => {
    const dir = path.join(SAMPLES, 'hives/yarp');
    // BadBaseBlockHive is OldDirtyHive with a damaged base block: Windows 7's recovery of that is the expected result.
    const replayed = await openHostHive(path.join(dir, 'BadBaseBlockHive/BadBaseBlockHive'), [path.join(dir, 'BadBaseBlockHive/BadBaseBlockHive.LOG1')]);
    const recovered = await openHostHive(path.join(dir, 'OldDirtyHive/RecoveredHive_Windows7'));
    try {
      expect(replayed.hive.logNotes.join()).toMatch(/base block is damaged; the copy in BadBaseBlockHive.LOG1 was used/);
      expect(replayed.hive.dirty).toBe(false);
      expect(listingLines(await readerListing(replayed.hive))).toEqual(listingLines(await readerListing(recovered.hive)));
    } finally {
      await replayed.close();
      await recovered.close();
    }
  });

  it('keeps a hive dirty, saying why, when its only log fails its hash check', async () => {
    const dir = path.join(SAMPLES, 'hives/yarp');
    const log = await readFile(path.join(dir, 'NewDirtyHive1/NewDirtyHive.LOG2'));
    // A byte of the first entry's pages changed: Hash-1 no longer matches.
    log[512 + 4096] = log[512 + 4096]! ^ 0xff;
    const damaged = path.join(scratch, 'NewDirtyHive.LOG2');
    await writeFile(damaged, log);
    const bad = await openHostHive(path.join(dir, 'NewDirtyHive1/NewDirtyHive'), [damaged]);
    try {
      expect(bad.hive.dirty).toBe(true);
      expect(bad.hive.logNotes.join()).toMatch(/fails its hash check/);
    } finally {
      await bad.close();
    }
  });

  it('looks a key up in an 11 MiB SYSTEM hive reading a few pages, not the hive', async () => {
    const { hive, close } = await openHostHive(await sampleFile('regipy/SYSTEM', scratch));
    try {
      const select = (await hive.openKey('Select'))!;
      const current = decodeValue(4, await hive.data((await hive.value(select, 'Current'))!)).value;
      expect(current).toBe(1);
      const tcpip = (await hive.openKey('ControlSet001\\Services\\Tcpip\\Parameters'))!;
      expect((await hive.values(tcpip)).length).toBeGreaterThan(3);
      expect(hive.bytesRead).toBeLessThan(1 << 20);
    } finally {
      await close();
    }
  });

  // Each damaged sample must end in a typed error: a bad checksum, a hive truncated or
  // followed by garbage, a damaged hive bin, a corrupted subkey list.
  const DAMAGED = [
    'yarp/GarbageHive',
    'yarp/TruncatedHive',
    'yarp/BadBaseBlockHive/BadBaseBlockHive',
    'ericzimmerman-registry/SAN_OTHER',
    'ericzimmerman-registry/SAMBadHBinHeader',
    'regipy/corrupted_system_hive',
    'plaso/corrupt_sub_key_list.hiv',
  ];
  it.each(DAMAGED)('ends %s in a typed error naming the structure and offset', async (rel) => {
    const file = await sampleFile(rel, scratch);
    const err = await (async () => {
      const { hive, close } = await openHostHive(file);
      try {
        await countHive(hive);
      } finally {
        await close();
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MountfsError);
    const e = err as MountfsError;
    expect(e.kind).toBe('corrupt');
    expect(e.structure).toMatch(/^registry /);
    expect(e.offset).toBeTypeOf('number');
  });

  describe('crafted damage', () => {
    async function patched(patch: (buf: Buffer, at: { root: number; nk: (cell: number) => number }) => void): Promise<string> {
      const buf = await readFile(built);
      const root = buf.readUInt32LE(36);
      patch(buf, { root, nk: (cell) => 4096 + cell + 4 });
      const out = path.join(scratch, `crafted-${Math.random().toString(36).slice(2)}`);
      await writeFile(out, buf);
      return out;
    }
    async function failure(file: string): Promise<MountfsError> {
      const { hive, close } = await openHostHive(file).catch((e: unknown) => {
        throw e;
      });
      try {
        await countHive(hive);
      } catch (e) {
        expect(e).toBeInstanceOf(MountfsError);
        return e as MountfsError;
      } finally {
        await close();
      }
      throw new Error('no error');
    }

    it('stops a subkey list that names an ancestor as a key loop', async () => {
      const file = await patched((buf, { root, nk }) => {
        const software = buf.readUInt32LE(4096 + buf.readUInt32LE(nk(root) + 28) + 4 + 4);
        const list = buf.readUInt32LE(nk(software) + 28);
        buf.writeUInt32LE(root, 4096 + list + 4 + 4);
      });
      expect((await failure(file)).message).toMatch(/key loop/);
    });

    it('refuses an ri list that names itself', async () => {
      const file = await patched((buf, { root, nk }) => {
        const list = buf.readUInt32LE(nk(root) + 28);
        buf.write('ri', 4096 + list + 4, 'latin1');
        buf.writeUInt32LE(list, 4096 + list + 4 + 4);
      });
      expect((await failure(file)).message).toMatch(/ri list/);
    });

    it('refuses a value count larger than its list and a list in a free cell', async () => {
      const { hive, close } = await openHostHive(built);
      const key = (await hive.openKey('Software\\Minescan Test'))!;
      await close();
      const tooMany = await patched((buf, { nk }) => buf.writeUInt32LE(5000, nk(key.node.cell) + 36));
      expect((await failure(tooMany)).message).toMatch(/do not fit/);
      const free = await patched((buf) => buf.writeInt32LE(64, 4096 + key.node.valueList));
      expect((await failure(free)).message).toMatch(/is free/);
      const outside = await patched((buf, { nk }) => buf.writeUInt32LE(0x7ffffff8, nk(key.node.cell) + 40));
      expect((await failure(outside)).structure).toBe('registry value list');
    });
  });
});
