/**
 * Strings read out of real gcc-built ELF files: from the string sections when the
 * section table is sane, from the whole file when it is missing or broken, the same
 * whatever the read window (strings across a window edge), and within the byte budget
 * on a 200 MiB sparse file (bytes counted at the VFS, apart from the reader's own count).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copyFile, open } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs, type Vfs } from '../../mountfs/vfs.js';
import { DEFAULT_STRINGS_LIMITS, StringCollector, readElfStrings, type StringsLimits } from '../../src/miners/elf-strings.js';
import { elfIdent, stringSections } from '../../src/miners/elf-sections.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { XMRIG_STRINGS, breakSectionTable, compileElf, dropSectionTable, handMadeElf } from './elf-fixtures.js';

/** A Vfs that counts the bytes every readFile returns. */
function counting(vfs: Vfs): { vfs: Vfs; bytes: () => number } {
  let total = 0;
  const wrapped = new Proxy(vfs, {
    get(target, prop, receiver) {
      if (prop === 'readFile') {
        return async (...args: Parameters<Vfs['readFile']>) => {
          const b = await target.readFile(...args);
          total += b.length;
          return b;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { vfs: wrapped, bytes: () => total };
}

/** strings(1) in one go: the reference the windowed reader must agree with. */
function referenceStrings(buf: Buffer, min: number, max: number): string[] {
  return (buf.toString('latin1').match(/[\t\x20-\x7e]+/g) ?? []).filter((s) => s.length >= min).map((s) => s.slice(0, max));
}

let dir: string;
let vfs: Vfs;

beforeAll(async () => {
  dir = await makeScratchDir('minescan-elfstrings-');
  await compileElf(dir, 'miner', XMRIG_STRINGS);
  await copyFile(path.join(dir, 'miner'), path.join(dir, 'nosections'));
  await dropSectionTable(path.join(dir, 'nosections'));
  await copyFile(path.join(dir, 'miner'), path.join(dir, 'broken'));
  await breakSectionTable(path.join(dir, 'broken'));
  // 200 MiB, nearly all of it a hole: a budget that failed would read it all.
  for (const name of ['sparse-sections', 'sparse-whole']) {
    await copyFile(path.join(dir, 'miner'), path.join(dir, name));
    if (name === 'sparse-whole') await dropSectionTable(path.join(dir, name));
    const fh = await open(path.join(dir, name), 'r+');
    await fh.truncate(200 << 20);
    await fh.close();
  }
  vfs = new RawVfs(await DirectoryFileSystem.open(dir));
});

afterAll(async () => {
  await vfs?.close();
  await removeScratchDir(dir);
});

async function stringsOf(name: string, limits?: Partial<StringsLimits>, budget = { left: 1 << 30 }) {
  const c = counting(vfs);
  const st = await vfs.stat(`/${name}`);
  const head = await vfs.readFile(`/${name}`, { maxBytes: 64 });
  const got = await readElfStrings(c.vfs, `/${name}`, st.size, head, budget, { ...DEFAULT_STRINGS_LIMITS, ...limits });
  return { ...got, counted: c.bytes() };
}

describe('readElfStrings', () => {
  it('reads the string sections of a sane ELF and finds every embedded string', async () => {
    const got = await stringsOf('miner');
    expect(got.source).toBe('sections');
    expect(got.stoppedBy).toBeUndefined();
    for (const s of XMRIG_STRINGS) expect(got.strings).toContain(s);
    // Only the sections: less than the whole file.
    expect(got.counted).toBeLessThan((await vfs.stat('/miner')).size);
    expect(got.bytesRead).toBe(got.counted);
  });

  it('falls back to the whole file when the section table is missing or points nowhere', async () => {
    for (const name of ['nosections', 'broken']) {
      const got = await stringsOf(name);
      expect(got.source, name).toBe('whole-file');
      expect(got.strings).toContain('donate.v2.xmrig.com');
      expect(got.counted).toBe((await vfs.stat(`/${name}`)).size);
    }
  });

  it('gives the same strings whatever the window size', async () => {
    const whole = await stringsOf('nosections');
    for (const window of [7, 61, 4093]) {
      const got = await stringsOf('nosections', { window });
      expect(got.strings, `window ${window}`).toEqual(whole.strings);
    }
  });

  it('stops a 200 MiB sparse ELF at the per-file budget, and reads only its sections when it can', async () => {
    const whole = await stringsOf('sparse-whole');
    expect(whole.source).toBe('whole-file');
    expect(whole.stoppedBy).toBe('file-budget');
    expect(whole.counted).toBeLessThanOrEqual(DEFAULT_STRINGS_LIMITS.maxFileBytes);
    expect(whole.counted).toBeGreaterThanOrEqual(DEFAULT_STRINGS_LIMITS.maxFileBytes - 64);
    expect(whole.strings).toContain('donate.v2.xmrig.com');

    const sections = await stringsOf('sparse-sections');
    expect(sections.source).toBe('sections');
    expect(sections.counted).toBeLessThan(1 << 20);
    expect(sections.strings).toContain('donate.v2.xmrig.com');
  });

  it('stops at the scan-wide budget and takes from it what it read', async () => {
    const budget = { left: 100_000 };
    const got = await stringsOf('sparse-whole', {}, budget);
    expect(got.stoppedBy).toBe('scan-budget');
    expect(got.counted).toBe(100_000);
    expect(budget.left).toBe(0);
  });

  it('stops at the string count', async () => {
    const got = await stringsOf('nosections', { maxStrings: 3 });
    expect(got.strings).toHaveLength(3);
    expect(got.stoppedBy).toBe('string-budget');
  });
});

describe('stringSections on hostile headers', () => {
  it('never throws and never reads outside the file', async () => {
    const real = await vfs.readFile('/miner', { maxBytes: 1 << 20 });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.integer({ min: 16, max: 63 }), async (junk, keep) => {
        // The real magic and class, the rest of the header random.
        const head = Buffer.concat([real.subarray(0, keep), Buffer.from(junk).subarray(keep)]);
        const reads: Array<[number, number]> = [];
        const readAt = async (o: number, l: number) => {
          reads.push([o, l]);
          return real.subarray(o, o + l);
        };
        const ranges = await stringSections(head, real.length, readAt);
        for (const [o, l] of reads) expect(o + l).toBeLessThanOrEqual(real.length);
        for (const r of ranges ?? []) expect(r.offset + r.length).toBeLessThanOrEqual(real.length);
      }),
      { numRuns: 300 },
    );
    expect(elfIdent(Buffer.from('\x7fELF'))).toBeUndefined();
    expect(elfIdent(Buffer.from('#!/bin/sh\nexec xmrig\n'))).toBeUndefined();
  });
});

describe('stringSections on both classes and byte orders', () => {
  it.each([
    [32, true],
    [32, false],
    [64, true],
    [64, false],
  ] as const)('ELF%i %s-endian: .rodata and .data.rel.ro, not .text or .bss', async (cls, little) => {
    const elf = handMadeElf(cls, little, [
      { name: '.text', data: Buffer.from('\x55\x48\x89\xe5code-not-strings', 'latin1') },
      { name: '.rodata', data: Buffer.from('\0donate.v2.xmrig.com\0rx/0\0') },
      { name: '.bss', data: Buffer.alloc(4096), type: 8 },
      { name: '.data.rel.ro', data: Buffer.from('\0stratum+tcp://\0') },
    ]);
    const ranges = await stringSections(elf.subarray(0, 64), elf.length, async (o, l) => elf.subarray(o, o + l));
    const text = (ranges ?? []).map((r) => elf.toString('latin1', r.offset, r.offset + r.length)).join('|');
    expect(text).toBe('\0donate.v2.xmrig.com\0rx/0\0\0stratum+tcp://\0');
    // .rodata and .data.rel.ro touch: one merged range.
    expect(ranges).toHaveLength(1);
  });

  it('gives up on a string section that runs past the end of the file', async () => {
    const elf = handMadeElf(64, true, [{ name: '.rodata', data: Buffer.from('\0xmrig\0') }]);
    const read = async (o: number, l: number) => elf.subarray(o, o + l);
    expect(await stringSections(elf.subarray(0, 64), elf.length, read)).toEqual([{ offset: 64, length: 7 }]);
    // .rodata's sh_size (entry 1 of the table at e_shoff) made larger than the file.
    elf.writeBigUInt64LE(BigInt(elf.length), Number(elf.readBigUInt64LE(0x28)) + 64 + 32);
    expect(await stringSections(elf.subarray(0, 64), elf.length, read)).toBeUndefined();
  });
});

describe('StringCollector', () => {
  const limits = { maxStrings: 1e6, maxChars: 1 << 30, minLength: 4, maxStringLength: 50 };

  it('agrees with a one-shot scan for any bytes and any window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(0, 10, 255, 0x7f), fc.integer({ min: 0x20, max: 0x7e })), { maxLength: 400 }),
        fc.integer({ min: 1, max: 60 }),
        (bytes, window) => {
          const buf = Buffer.from(bytes);
          const c = new StringCollector(limits);
          for (let i = 0; i < buf.length; i += window) c.push(buf.subarray(i, i + window));
          c.end();
          // A run past maxStringLength is emitted once, cut, whatever the window.
          expect(c.out).toEqual(referenceStrings(buf, 4, 50));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps one cut string of a huge printable run', () => {
    const c = new StringCollector(limits);
    const run = Buffer.alloc(10_000, 'A');
    for (let i = 0; i < run.length; i += 333) c.push(run.subarray(i, i + 333));
    c.push(Buffer.from('\0tail-string\0'));
    c.end();
    expect(c.out).toEqual(['A'.repeat(50), 'tail-string']);
  });
});
