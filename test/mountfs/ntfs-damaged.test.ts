/**
 * Damaged NTFS volumes: a real volume (mkntfs, ntfs-3g) with five files broken the ways
 * a hostile or torn image breaks them — a FILE record whose fixups do not match, a data
 * run pointing past the volume, an attribute list naming another file's record, a
 * directory index whose B+tree reaches one node twice, an attribute declaring a huge
 * length. Each is a typed error naming the structure and its byte offset; a walk reports
 * it and lists everything else; a scan goes on and ends incomplete (exit 3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { link, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NtfsFileSystem } from '../../mountfs/fs/ntfs/ntfs-fs.js';
import { parseMftRecord } from '../../mountfs/fs/ntfs/mft-record.js';
import { decodeDataRuns } from '../../mountfs/fs/ntfs/data-runs.js';
import { ATTR } from '../../mountfs/fs/ntfs/attribute.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { MountfsError } from '../../mountfs/errors.js';
import { FileByteSource } from '../../mountfs/sources/file-source.js';
import { makeScratchDir, removeScratchDir, REPO } from '../helpers/images.js';
import { pattern } from './ntfs-volume.js';

const run = promisify(execFile);
let dir: string;
let image: string;
/** What each damaged file's error must say: path prefix → structure, message, offset. */
const expected = new Map<string, { structure: RegExp; message: RegExp; offset: number }>();

/** The byte offset of MFT record n (the $MFT of a fresh volume is one run). */
async function recordOffset(file: string, vfsPath: string): Promise<{ n: number; at: number; cluster: number }> {
  const source = await FileByteSource.open(file);
  try {
    const fs = await NtfsFileSystem.open(source);
    const n = (await new RawVfs(fs).lstat(vfsPath)).ino;
    const at = fs.geometry.mftLcn * fs.geometry.clusterSize + n * fs.geometry.mftRecordSize;
    return { n, at, cluster: fs.geometry.clusterSize };
  } finally {
    await source.close();
  }
}

async function patch(file: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

async function parsedRecord(file: string, n: number, at: number) {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(1024);
    await fh.read(buf, 0, 1024, at);
    expect(buf.toString('latin1', 0, 4)).toBe('FILE');
    return parseMftRecord(buf, n, at);
  } finally {
    await fh.close();
  }
}

/** Fixup-safe: the bytes changed inside a record must not be a stride's last two. */
const outsideStrideEnds = (recordAt: number, at: number, length: number) => {
  for (let i = at; i < at + length; i++) expect((i - recordAt) % 512, `byte ${i} is a fixup slot`).toBeLessThan(510);
};

beforeAll(async () => {
  dir = await makeScratchDir('minescan-ntfs-damaged-');
  image = path.join(dir, 'damaged.img');
  const mnt = path.join(dir, 'mnt');
  await mkdir(mnt);
  await run('truncate', ['-s', '64M', image]);
  await run('mkntfs', ['-F', '-Q', '-q', image]);
  await run('ntfs-3g', [image, mnt]);
  try {
    for (const d of ['etc/cron.d', 'usr/bin', 'w7', 'links']) await mkdir(path.join(mnt, d), { recursive: true });
    await writeFile(path.join(mnt, 'etc/cron.d/job'), '* * * * * root /usr/bin/tool\n');
    await writeFile(path.join(mnt, 'etc/cron.d/other'), '@reboot root /bin/true\n');
    await writeFile(path.join(mnt, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    await writeFile(path.join(mnt, 'etc/sized'), 'an attribute of this file claims 2 GiB\n');
    await writeFile(path.join(mnt, 'usr/bin/tool'), pattern(70_000, 1));
    await writeFile(path.join(mnt, 'ok.txt'), 'untouched\n');
    // 80 names: the $FILE_NAMEs overflow the record, so ntfs-3g writes an $ATTRIBUTE_LIST.
    await writeFile(path.join(mnt, 'links/base'), 'linked\n');
    for (let i = 0; i < 80; i++) await link(path.join(mnt, 'links/base'), path.join(mnt, `links/a-rather-long-hard-link-name-number-${i}`));
    for (let i = 0; i < 700; i++) await writeFile(path.join(mnt, 'w7', `entry-with-a-long-name-${String(i).padStart(4, '0')}.txt`), `${i}\n`);
  } finally {
    await run('umount', [mnt]);
  }

  // 1. A torn record: the end of its first sector no longer holds the update sequence number.
  const job = await recordOffset(image, '/etc/cron.d/job');
  await patch(image, job.at + 510, Buffer.from([0xad, 0xde]));
  expected.set('/etc/cron.d/job', { structure: new RegExp(`^NTFS MFT record ${job.n}$`), message: /fixup mismatch/, offset: job.at + 510 });

  // 2. A data run of the right length at a cluster far past the volume.
  const tool = await recordOffset(image, '/usr/bin/tool');
  const toolRec = await parsedRecord(image, tool.n, tool.at);
  const data = toolRec.attributes.find((a) => a.type === ATTR.DATA && !a.resident);
  if (!data || data.resident) throw new Error('/usr/bin/tool has no non-resident $DATA');
  const clusters = data.highestVcn + 1;
  const pairs = Buffer.from([0x41, clusters, 0x00, 0x00, 0xff, 0x7f, 0x00]);
  expect(data.mappingPairs.length).toBeGreaterThanOrEqual(pairs.length);
  outsideStrideEnds(tool.at, data.mappingPairs.baseOffset, pairs.length);
  await patch(image, data.mappingPairs.baseOffset, pairs);
  expected.set('/usr/bin/tool', { structure: new RegExp(`MFT record ${tool.n}$`), message: /points past the volume/, offset: data.mappingPairs.baseOffset });

  // 3. The attribute list names the root directory's record as holding this file's attributes.
  const base = await recordOffset(image, '/links/base');
  const baseRec = await parsedRecord(image, base.n, base.at);
  const list = baseRec.attributes.find((a) => a.type === ATTR.ATTRIBUTE_LIST);
  if (!list || list.resident) throw new Error('/links/base has no non-resident $ATTRIBUTE_LIST');
  const listAt = decodeDataRuns(list.mappingPairs, list.lowestVcn, list.highestVcn, 1 << 30)[0]!.lcn! * base.cluster;
  const listBytes = await readFile(image).then((b) => b.subarray(listAt, listAt + list.dataSize));
  let entryAt = 0;
  while (listBytes.readUInt32LE(entryAt + 16) === base.n) entryAt += listBytes.readUInt16LE(entryAt + 4);
  const ref = Buffer.alloc(6);
  ref.writeUIntLE(5, 0, 6);
  await patch(image, listAt + entryAt + 16, ref);
  expected.set('/links/', { structure: new RegExp(`^NTFS \\$ATTRIBUTE_LIST of MFT record ${base.n}$`), message: /names MFT record 5.*loop/, offset: list.offset });

  // 4. The index root's second child pointer names the first child again.
  const w7 = await recordOffset(image, '/w7');
  const w7Rec = await parsedRecord(image, w7.n, w7.at);
  const root = w7Rec.attributes.find((a) => a.type === ATTR.INDEX_ROOT);
  if (!root?.resident) throw new Error('/w7 has no $INDEX_ROOT');
  const v = root.value;
  const vcnFields: number[] = [];
  for (let pos = 16 + v.u32le(16); ; ) {
    const length = v.u16le(pos + 8);
    const flags = v.u16le(pos + 12);
    if (flags & 1) vcnFields.push(pos + length - 8);
    if (flags & 2) break;
    pos += length;
  }
  expect(vcnFields.length).toBeGreaterThanOrEqual(2);
  outsideStrideEnds(w7.at, v.baseOffset + vcnFields[1]!, 8);
  await patch(image, v.baseOffset + vcnFields[1]!, v.bytes(vcnFields[0]!, 8));
  expected.set('/w7', { structure: new RegExp(`^NTFS directory index of MFT record ${w7.n}$`), message: /reached twice \(an index loop\)/, offset: -1 });

  // 5. The first attribute claims 2 GiB.
  const sized = await recordOffset(image, '/etc/sized');
  const sizedRec = await parsedRecord(image, sized.n, sized.at);
  const first = sizedRec.attributes[0]!;
  const huge = Buffer.alloc(4);
  huge.writeUInt32LE(0x7ffffff8);
  outsideStrideEnds(sized.at, first.offset + 4, 4);
  await patch(image, first.offset + 4, huge);
  expected.set('/etc/sized', { structure: new RegExp(`^NTFS attribute of MFT record ${sized.n}$`), message: /declares 2147483640 bytes/, offset: first.offset + 4 });
});

afterAll(async () => {
  if (dir) await removeScratchDir(dir);
});

describe('damaged NTFS volumes', () => {
  it('gives each damage a typed error naming the structure and offset, and lists the rest', async () => {
    const source = await FileByteSource.open(image);
    try {
      const vfs = new RawVfs(await NtfsFileSystem.open(source));
      const errors = new Map<string, unknown>();
      const listed: string[] = [];
      for await (const e of vfs.walk(['/**'], { onError: (p, err) => errors.set(p, err) })) listed.push(e.path);
      for (const [prefix, want] of expected) {
        const hits = [...errors.entries()].filter(([p]) => p.startsWith(prefix));
        expect(hits.length, prefix).toBeGreaterThan(0);
        for (const [, err] of hits) {
          expect(err, prefix).toBeInstanceOf(MountfsError);
          const e = err as MountfsError;
          expect(e.kind, prefix).toBe('corrupt');
          expect(e.structure, prefix).toMatch(want.structure);
          expect(e.message, prefix).toMatch(want.message);
          if (want.offset >= 0) expect(e.offset, prefix).toBe(want.offset);
          else expect(e.offset, prefix).toBeGreaterThan(0);
        }
      }
      // The 81 names of the file with the looping list, and nothing else, beside the four.
      expect(errors.size).toBe(4 + 81);
      for (const p of ['/ok.txt', '/etc/passwd', '/etc/cron.d/other', '/links', '/usr/bin']) expect(listed).toContain(p);
      expect((await vfs.readFile('/ok.txt')).toString()).toBe('untouched\n');
    } finally {
      await source.close();
    }
  });

  it('a scan goes on past the damage and ends incomplete, with the structure and offset in the report', async () => {
    const result = await run('node', [path.join(REPO, 'bin/minescan.js'), 'scan', image, '--format', 'json', '--fail-on', 'none'], { maxBuffer: 64 << 20 }).catch((err: { code: number; stdout: string }) => err);
    expect('code' in result ? result.code : 0).toBe(3);
    const report = JSON.parse(result.stdout);
    expect(report.status).toBe('incomplete');
    expect(report.source.volumes.map((v: { filesystem: string; scanned: boolean }) => [v.filesystem, v.scanned])).toEqual([['ntfs', true]]);
    const torn = report.errors.find((e: { message: string }) => /fixup mismatch/.test(e.message));
    expect(torn).toMatchObject({ kind: 'corrupt', path: '/etc/cron.d/job', offset: expected.get('/etc/cron.d/job')!.offset });
    expect(torn.structure).toMatch(/^NTFS MFT record \d+$/);
  });
});
