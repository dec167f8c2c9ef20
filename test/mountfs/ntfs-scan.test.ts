/**
 * `minescan scan` of a disk holding an NTFS volume, end to end: the volume made by
 * mkntfs and written through ntfs-3g, placed in a GPT partition (type 0700, Microsoft
 * basic data) and in an MBR partition (type 0x07), scanned by the built CLI. The report
 * lists the NTFS volume as scanned, and the scan is complete; a BitLocker volume is listed
 * as not read, with the reason, and the scan is incomplete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeScratchDir, removeScratchDir, REPO } from '../helpers/images.js';

const run = promisify(execFile);
const START_SECTOR = 2048;
const VOLUME_MIB = 32;
let dir: string;
let volume: string;

/** A disk of `table` with the NTFS volume copied into its one partition at sector 2048. */
async function disk(table: 'gpt' | 'mbr'): Promise<string> {
  const out = path.join(dir, `${table}.img`);
  await run('truncate', ['-s', `${VOLUME_MIB + 4}M`, out]);
  const sectors = (VOLUME_MIB << 20) / 512;
  if (table === 'gpt') {
    await run('sgdisk', ['-n', `1:${START_SECTOR}:${START_SECTOR + sectors - 1}`, '-t', '1:0700', '-c', '1:Basic data partition', out]);
    const { stdout } = await run('sgdisk', ['-p', out]);
    expect(stdout).toMatch(new RegExp(`\\s1\\s+${START_SECTOR}\\s+${START_SECTOR + sectors - 1}\\s.*0700`));
  } else {
    const child = execFile('sfdisk', ['-q', out]);
    child.stdin!.end(`label: dos\nstart=${START_SECTOR}, size=${sectors}, type=7\n`);
    await new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`sfdisk exited ${code}`)))));
    const { stdout } = await run('sfdisk', ['-d', out]);
    expect(stdout).toMatch(new RegExp(`start=\\s*${START_SECTOR}, size=\\s*${sectors}, type=7`));
  }
  await run('dd', [`if=${volume}`, `of=${out}`, 'bs=1M', `seek=${(START_SECTOR * 512) >> 20}`, 'conv=notrunc,sparse', 'status=none']);
  return out;
}

async function scan(image: string) {
  const result = await run('node', [path.join(REPO, 'bin/minescan.js'), 'scan', image, '--format', 'json', '--fail-on', 'none'], { maxBuffer: 64 << 20 }).catch(
    (err: { code: number; stdout: string }) => err,
  );
  return { code: 'code' in result ? result.code : 0, report: JSON.parse(result.stdout) };
}

beforeAll(async () => {
  dir = await makeScratchDir('minescan-ntfs-scan-');
  volume = path.join(dir, 'volume.img');
  const mnt = path.join(dir, 'mnt');
  await mkdir(mnt);
  await run('truncate', ['-s', `${VOLUME_MIB}M`, volume]);
  await run('mkntfs', ['-F', '-Q', '-q', '-p', String(START_SECTOR), '-L', 'Windows', volume]);
  await run('ntfs-3g', [volume, mnt]);
  try {
    await mkdir(path.join(mnt, 'Windows/System32/drivers/etc'), { recursive: true });
    await writeFile(path.join(mnt, 'Windows/System32/drivers/etc/hosts'), '127.0.0.1 localhost\r\n');
    await mkdir(path.join(mnt, 'Users/Public'), { recursive: true });
    await writeFile(path.join(mnt, 'Users/Public/readme.txt'), 'hello\r\n');
  } finally {
    await run('umount', [mnt]);
  }
});

afterAll(async () => {
  if (dir) await removeScratchDir(dir);
});

describe('minescan scan of a Windows disk', () => {
  it.each(['gpt', 'mbr'] as const)('scans the NTFS volume of a %s disk', async (table) => {
    const { code, report } = await scan(await disk(table));
    expect(report.errors).toEqual([]);
    expect(report.status).toBe('complete');
    expect(code).toBe(0);
    const volumes = report.source.volumes as { scheme: string; type: string; start: number; filesystem: string; scanned: boolean }[];
    expect(volumes).toHaveLength(1);
    expect(volumes[0]).toMatchObject({ scheme: table, start: START_SECTOR * 512, filesystem: 'ntfs', scanned: true });
    expect(volumes[0]!.type).toMatch(table === 'gpt' ? /Microsoft basic data/i : /NTFS/);
  });

  it('lists a BitLocker volume as not read, with the reason, and ends incomplete', async () => {
    const locked = path.join(dir, 'bitlocker.img');
    await run('cp', ['--sparse=always', volume, locked]);
    const fh = await open(locked, 'r+');
    await fh.write(Buffer.from('-FVE-FS-', 'latin1'), 0, 8, 3);
    await fh.close();
    const { code, report } = await scan(locked);
    expect(code).toBe(3);
    expect(report.status).toBe('incomplete');
    expect(report.source.volumes).toMatchObject([{ filesystem: 'BitLocker', scanned: false }]);
    expect(JSON.stringify(report.errors)).toMatch(/BitLocker-encrypted/);
  });

  it('scans the bare volume too', async () => {
    const { code, report } = await scan(volume);
    expect(code).toBe(0);
    expect(report.source.volumes).toMatchObject([{ scheme: 'none', filesystem: 'ntfs', scanned: true }]);
  });
});
