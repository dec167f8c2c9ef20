/**
 * Damage found while a target's tables are read (a GPT, an MBR's chain of extended
 * boot records, LVM metadata) reaches the report as typed as the error that found it:
 * each `errors` entry keeps its kind, the structure and its byte offset, in the JSON
 * report and in the text one. Disks are made by sgdisk, sfdisk and lvm2, then damaged
 * where the tools refuse to, and scanned as the CLI scans them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { scanTarget, unreadableReport } from '../../src/engine/scan.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { renderJson } from '../../src/report/json.js';
import { renderText } from '../../src/report/text.js';
import type { ReportError, ScanReport } from '../../src/model/report.js';
import { mbrEntries } from '../../mountfs/volumes/mbr.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { LoopDevices } from '../helpers/lvm-image.js';
import { makePartitionedImage, patchFile, readBytes } from '../helpers/partitioned-image.js';
import { gptDiskWith, hostnameExt4, lvmMetadataOverCap, overlappingPartitions } from '../helpers/hostile-volumes.js';

let scratch: string;
const loops = new LoopDevices();
beforeAll(async () => {
  scratch = await makeScratchDir('minescan-open-warnings-');
});
afterAll(async () => {
  await loops.detachAll();
  if (scratch) await removeScratchDir(scratch);
});

/** The report the CLI writes for `disk`, read back from its JSON, and its text form. */
async function scan(disk: string): Promise<{ report: ScanReport; text: string }> {
  const rules = await builtinRules();
  const made = await scanTarget(disk, { checks: ALL_CHECKS, rules, hashes: EMPTY_HASH_LIST }).catch((err: unknown) => unreadableReport(disk, err));
  const report = JSON.parse(renderJson([made])) as ScanReport;
  return { report, text: renderText([made], { color: false }) };
}

function only(errors: ReportError[], structure: string): ReportError {
  const found = errors.filter((e) => e.structure === structure);
  expect(found, JSON.stringify(errors)).toHaveLength(1);
  return found[0]!;
}

describe('damage met while opening a target is a typed error of the report', () => {
  it('a GPT partition cut by a truncated image: corrupt, its entry, the offset of its last-LBA field', async () => {
    const disk = await gptDiskWith(scratch, await hostnameExt4(scratch, 'cut'), 'cut');
    await truncate(disk, 6 << 20);
    const { report, text } = await scan(disk);
    expect(report.status).toBe('incomplete');
    // sgdisk puts the entry array at LBA 2: entry 1 is at byte 1024, its last LBA at +40.
    const error = only(report.errors, 'GPT partition entry 1');
    expect(error).toMatchObject({ kind: 'corrupt', offset: 1064 });
    expect(error.message).toMatch(/runs past the end of the truncated image; only its first \d+ sectors are read/);
    expect(report.notes.join('\n')).toMatch(/image looks truncated/);
    expect(text).toMatch(/^ {2}corrupt {6}GPT partition entry 1 at offset 1064: GPT partition 1 /m);
  });

  it('both GPT headers damaged: the unreadable target keeps the primary header\'s kind, structure and offset', async () => {
    const disk = await gptDiskWith(scratch, await hostnameExt4(scratch, 'nogpt'), 'nogpt');
    const backup = (await stat(disk)).size - 512;
    // A byte of each header's disk GUID: both fail their CRC32 (field at byte 16 of the header).
    for (const at of [512 + 56, backup + 56]) await patchFile(disk, at, Buffer.from([(await readBytes(disk, at, 1))[0]! ^ 0xff]));
    const { report } = await scan(disk);
    expect(report.source).toBeNull();
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({ kind: 'corrupt', structure: 'GPT header', offset: 528 });
    expect(report.errors[0]!.message).toMatch(/primary GPT at LBA 1 \(512-byte sectors\) is damaged: GPT header at offset 528: header CRC32 does not match/);
  });

  it('an EBR chain that loops (sfdisk, then the link edited): corrupt, the extended boot record, the link entry that loops', async () => {
    const img = await makePartitionedImage(path.join(scratch, 'loop.img'), {
      scheme: 'mbr',
      partitions: [
        { sizeMiB: 4, type: '83', fsImage: await hostnameExt4(scratch, 'looped') },
        { sizeMiB: 2, type: '83', logical: true },
        { sizeMiB: 2, type: '83', logical: true },
      ],
    });
    const ext = mbrEntries(await readBytes(img.path, 0, 512)).find((e) => e.type === 0x05)!;
    // The first EBR's link entry points back at the first EBR itself.
    const linkAt = ext.firstLba * 512 + 446 + 16;
    const link = Buffer.alloc(16);
    link[4] = 0x05;
    link.writeUInt32LE(0, 8);
    link.writeUInt32LE(1, 12);
    await patchFile(img.path, linkAt, link);
    const { report, text } = await scan(img.path);
    expect(report.status).toBe('incomplete');
    const error = only(report.errors, 'extended boot record');
    expect(error).toMatchObject({ kind: 'corrupt', offset: linkAt });
    expect(error.message).toMatch(/loops back to sector \d+; it is cut there/);
    expect(text).toContain(`corrupt      extended boot record at offset ${linkAt}: `);
  });

  it('GPT partitions over the same sectors past the cap: limit, the first partition left unscanned and where it starts', async () => {
    const disk = await overlappingPartitions(scratch, await hostnameExt4(scratch, 'overlapped', 8));
    const { report } = await scan(disk);
    const error = only(report.errors, 'GPT partition 17');
    expect(error).toMatchObject({ kind: 'limit', offset: report.source!.volumes[16]!.start });
    expect(error.message).toMatch(/40 GPT volumes share sectors with others; only the first 16 of them are scanned/);
  });

  it('LVM metadata over its cap: limit, the metadata area header, the offset of its size field', async () => {
    const fs = await readFile(await hostnameExt4(scratch, 'bigmeta'));
    const disk = await lvmMetadataOverCap(scratch, loops, fs);
    const { report, text } = await scan(disk);
    const error = only(report.errors, 'LVM metadata area header');
    expect(error).toMatchObject({ kind: 'limit', offset: 4144 });
    expect(error.message).toMatch(/^LVM: .* metadata area at 4096: LVM metadata area header at offset 4144: 17825792 bytes of metadata text/);
    expect(only(report.errors, 'LVM metadata area')).toMatchObject({ kind: 'corrupt' });
    expect(text).toMatch(/^ {2}limit {8}LVM: .*LVM metadata area header at offset 4144: /m);
    expect(report.errors.every((e) => e.kind !== 'other')).toBe(true);
  });
});
