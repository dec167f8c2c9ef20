/**
 * Property tests of the NTFS structure parsers on arbitrary bytes: each returns a
 * result or throws a typed MountfsError, never another exception, and what it returns
 * stays inside the bounds it was given (data runs inside the volume and the extent's
 * VCN range, LZNT1 output no longer than the compression unit). Then LZNT1 on the
 * Windows-compressed data of ../shared/windows-samples (skipped with a message when the
 * folder is missing, a failure under CI=true).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BinaryView } from '../../mountfs/binary.js';
import { MountfsError } from '../../mountfs/errors.js';
import { parseBootSector } from '../../mountfs/fs/ntfs/boot-sector.js';
import { parseMftRecord } from '../../mountfs/fs/ntfs/mft-record.js';
import { decodeDataRuns } from '../../mountfs/fs/ntfs/data-runs.js';
import { parseAttributeList } from '../../mountfs/fs/ntfs/attribute-list.js';
import { parseIndexBlock, parseIndexRoot } from '../../mountfs/fs/ntfs/index-node.js';
import { parseReparsePoint } from '../../mountfs/fs/ntfs/reparse.js';
import { decompressLznt1 } from '../../mountfs/fs/ntfs/lznt1.js';
import { REPO } from '../helpers/images.js';

/** Runs `f`; anything thrown must be a MountfsError. */
function typedOrResult<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    expect(err).toBeInstanceOf(MountfsError);
    return undefined;
  }
}

/** A buffer with a given signature and random bytes after it, sometimes with consistent fixups. */
const signed = (magic: string, size: number) =>
  fc.tuple(fc.uint8Array({ minLength: size, maxLength: size }), fc.boolean()).map(([bytes, fixed]) => {
    const b = Buffer.from(bytes);
    b.write(magic, 0, 'latin1');
    if (fixed) {
      b.writeUInt16LE(0x30, 4);
      b.writeUInt16LE(size / 512 + 1, 6);
      for (let i = 1; i <= size / 512; i++) b.writeUInt16LE(b.readUInt16LE(0x30), i * 512 - 2);
    }
    return b;
  });

describe('NTFS parsers on arbitrary bytes', () => {
  it('boot sectors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 512, maxLength: 512 }), (bytes) => {
        const b = Buffer.from(bytes);
        b.write('NTFS    ', 3, 'latin1');
        const g = typedOrResult(() => parseBootSector(b));
        if (g) {
          expect(g.mftLcn).toBeLessThan(g.totalClusters);
          expect([g.mftRecordSize, g.indexRecordSize].every((n) => n >= 256 && n <= 2 << 20)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('MFT records and INDX records', () => {
    fc.assert(
      fc.property(signed('FILE', 1024), signed('INDX', 4096), (file, indx) => {
        typedOrResult(() => parseMftRecord(file, 7, 7 * 1024));
        typedOrResult(() => parseIndexBlock(indx, 0, 0, 5));
      }),
      { numRuns: 2000 },
    );
  });

  it('data runs stay inside the volume and the VCN range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(1000), fc.integer({ min: -1, max: 5000 }), (bytes, low, span) => {
        const high = low + span;
        const runs = typedOrResult(() => decodeDataRuns(new BinaryView(Buffer.from(bytes), 'runs'), low, high, 4096));
        if (!runs) return;
        let vcn = low;
        for (const r of runs) {
          expect(r.vcn).toBe(vcn);
          if (r.lcn !== null) expect(r.lcn + r.length).toBeLessThanOrEqual(4096);
          vcn += r.length;
        }
        expect(vcn).toBe(high + 1);
      }),
      { numRuns: 5000 },
    );
  });

  it('attribute lists, index roots, reparse points', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const v = new BinaryView(Buffer.from(bytes), 'value');
        typedOrResult(() => parseAttributeList(v));
        typedOrResult(() => parseIndexRoot(v));
        typedOrResult(() => parseReparsePoint(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('LZNT1 output is bounded by the unit, whatever the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), (bytes) => {
        const out = typedOrResult(() => decompressLznt1(Buffer.from(bytes), 65536, 0));
        if (out) expect(out.length).toBe(65536);
      }),
      { numRuns: 2000 },
    );
  });
});

const LZNT1_SAMPLE = path.resolve(REPO, '../shared/windows-samples/ntfs/lznt1/lznt1.bin');
const haveSample = existsSync(LZNT1_SAMPLE);
if (!haveSample && process.env.CI === 'true') {
  it('has the shared LZNT1 sample', () => {
    throw new Error(`${LZNT1_SAMPLE} is missing: CI must provide ../shared/windows-samples beside the repository`);
  });
} else if (!haveSample) {
  console.warn(`LZNT1 sample test skipped: ${LZNT1_SAMPLE} is missing (../shared/windows-samples beside the repository)`);
}

describe.skipIf(!haveSample)('LZNT1 written by Windows', () => {
  it('decompresses the Greendale sample up to the chunk its 16 KiB cut through, and names that chunk', async () => {
    const data = await readFile(LZNT1_SAMPLE);
    // The sample is the first 16 KiB of a longer compressed stream: find the last whole chunk.
    let whole = 0;
    let chunks = 0;
    while (whole + 2 <= data.length) {
      const size = (data.readUInt16LE(whole) & 0x0fff) + 3;
      if (whole + size > data.length) break;
      whole += size;
      chunks++;
    }
    expect(chunks).toBeGreaterThan(1);
    const out = decompressLznt1(data.subarray(0, whole), 1 << 20, 0);
    // Every whole chunk but the last stands for 4 KiB; together far more than they take.
    let end = out.length;
    while (end > 0 && out[end - 1] === 0) end--;
    expect(end).toBeGreaterThan((chunks - 1) * 4096);
    expect(end).toBeGreaterThan(whole);
    // The cut chunk is a typed error at its header.
    expect(() => decompressLznt1(data, 1 << 20, 0)).toThrow(expect.objectContaining({ kind: 'corrupt', offset: whole }));
  });
});
