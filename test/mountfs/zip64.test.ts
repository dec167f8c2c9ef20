/**
 * Zip archives in zip64 form, written by Info-ZIP: `zip -fz` (sizes 0xFFFFFFFF in every
 * header, the real ones in the zip64 extra field), and written to a pipe (sizes only in
 * a data descriptor after each entry's data; 8-byte sizes there with -fz or data from
 * standard input). minescan reads each the same as its source tree, through the central
 * directory and, with that damaged, through the local headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { openTarget } from '../../mountfs/open-target.js';
import { hostTree, sorted, vfsTree } from '../helpers/tree-compare.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { damageCentralDirectory } from '../helpers/hostile-disks.js';

const run = promisify(execFile);
let scratch: string;
let src: string;

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-zip64-');
  src = path.join(scratch, 'src');
  await mkdir(path.join(src, 'var/spool/cron/crontabs'), { recursive: true });
  await mkdir(path.join(src, 'etc/empty.d'), { recursive: true });
  await writeFile(path.join(src, 'var/spool/cron/crontabs/root'), '* * * * * root /tmp/.x/xmrig -o pool.example:3333\n');
  await writeFile(path.join(src, 'etc/hostname'), 'zipped\n'.repeat(5000));
  await writeFile(path.join(src, 'etc/empty'), '');
  // Random bytes do not deflate: Info-ZIP stores them, so both methods are read.
  await writeFile(path.join(src, 'etc/random.bin'), randomBytes(300_000));
});
afterAll(async () => {
  await removeScratchDir(scratch);
});

/** Both the end of central directory record and the zip64 one, when there is one, point nowhere. */
async function damageBothEnds(file: string): Promise<void> {
  await damageCentralDirectory(file);
  const bytes = await readFile(file);
  const zip64End = bytes.lastIndexOf(Buffer.from('PK\x06\x06', 'latin1'));
  if (zip64End >= 0) bytes.writeBigUInt64LE(0x7fffff00n, zip64End + 48);
  await writeFile(file, bytes);
}

/**
 * How Info-ZIP writes the tree, and the damage its central directory has as written:
 * `zip -fz` to a pipe ends with an end record that marks the central directory's offset
 * for zip64 but has no zip64 end record (unzip -t calls it "missing 4294961879 bytes"),
 * so minescan reads it from its local headers and says the scan is incomplete.
 */
const WRITERS: Array<[string, string, RegExp | undefined]> = [
  ['zip -fz to a file', 'zip -fz -qr {out} var etc', undefined],
  ['zip to a pipe (data descriptors)', 'zip -qr - var etc | cat > {out}', undefined],
  ['zip -fz to a pipe (zip64 data descriptors)', 'zip -fz -qr - var etc | cat > {out}', /^zip central directory: Invalid zip64 central directory locator; 10 entries were read from their local headers instead/],
];

/** The messages of the open's failures. */
const failures = (opened: Awaited<ReturnType<typeof openTarget>>) => opened.failures.map((f) => (f.error as Error).message);

describe('zip64 archives written by Info-ZIP', () => {
  it.each(WRITERS)('%s: read through the central directory, the same as the source tree', async (name, command, damage) => {
    const file = path.join(scratch, `whole-${WRITERS.findIndex(([n]) => n === name)}.zip`);
    await run('bash', ['-c', `cd ${src} && ${command.replace('{out}', file)}`]);
    const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'] });
    try {
      expect(failures(opened)).toEqual(damage ? [expect.stringMatching(damage)] : []);
      expect(sorted(await vfsTree(opened.filesystems[0]!.vfs))).toEqual(sorted(await hostTree(src)));
    } finally {
      await opened.close();
    }
  });

  it.each(WRITERS)('%s: with the central directory damaged, read from the local headers the same as the source tree', async (name, command) => {
    const file = path.join(scratch, `damaged-${WRITERS.findIndex(([n]) => n === name)}.zip`);
    await run('bash', ['-c', `cd ${src} && ${command.replace('{out}', file)}`]);
    await damageBothEnds(file);
    const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'] });
    try {
      // Every entry was found and the walk reached the central directory: the only failure is the damage.
      expect(failures(opened)).toEqual([expect.stringMatching(/^zip central directory: .*; 10 entries were read from their local headers instead/)]);
      expect(sorted(await vfsTree(opened.filesystems[0]!.vfs))).toEqual(sorted(await hostTree(src)));
    } finally {
      await opened.close();
    }
  });

  it('a member zip streamed from standard input (zip64, 8-byte sizes in its descriptor) is read whole, also from its local headers', async () => {
    const file = path.join(scratch, 'stdin.zip');
    await run('bash', ['-c', `zip -q - - < ${path.join(src, 'etc/random.bin')} | cat > ${file}`]);
    const want = await readFile(path.join(src, 'etc/random.bin'));
    for (const damaged of [false, true]) {
      if (damaged) await damageBothEnds(file);
      const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'] });
      try {
        expect(failures(opened)).toEqual(damaged ? [expect.stringMatching(/; 1 entries were read from their local headers instead/)] : []);
        expect(await opened.filesystems[0]!.vfs.readFile('/-')).toEqual(want);
      } finally {
        await opened.close();
      }
    }
  });

  it('a local header that marks its sizes 0xFFFFFFFF without a zip64 extra field ends the walk there, saying where', async () => {
    const file = path.join(scratch, 'no-zip64-field.zip');
    await run('bash', ['-c', `cd ${src} && zip -fz -qr ${file} var etc`]);
    await damageBothEnds(file);
    const bytes = await readFile(file);
    const second = bytes.indexOf(Buffer.from('PK\x03\x04', 'latin1'), 4);
    const extraAt = second + 30 + bytes.readUInt16LE(second + 26);
    const zip64At = bytes.indexOf(Buffer.from([1, 0, 16, 0]), extraAt);
    bytes.writeUInt16LE(0x6666, zip64At);
    await writeFile(file, bytes);
    const opened = await openTarget(file, { bytesRead: 0 }, { retain: ['/**'] });
    try {
      expect(failures(opened)).toEqual([
        expect.stringMatching(/; 1 entries were read from their local headers instead/),
        `zip64 extra field at offset ${second}: sizes marked 0xFFFFFFFF without a zip64 extra field; the 1 entries before it were read, the rest of the archive was not`,
      ]);
    } finally {
      await opened.close();
    }
  });
});
