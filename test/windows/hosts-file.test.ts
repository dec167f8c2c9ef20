/**
 * The Windows hosts file, judged by the same hosts rules as /etc/hosts plus the Windows
 * Update and Defender rule: pools pinned, security and update domains sent nowhere, found
 * whatever the case of the path; Windows's stock hosts file and an intranet entry stay
 * silent; the Linux hosts check's findings keep their text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { plantWindowsRoot } from '../helpers/windows-samples.js';

/** Windows 10's hosts file as installed (comments only). */
const STOCK = [
  '# Copyright (c) 1993-2009 Microsoft Corp.',
  '#',
  '# This is a sample HOSTS file used by Microsoft TCP/IP for Windows.',
  '#',
  '# localhost name resolution is handled within DNS itself.',
  '#\t127.0.0.1       localhost',
  '#\t::1             localhost',
  '',
].join('\r\n');

describe('Windows hosts file', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-winhosts-');
    await plantWindowsRoot(path.join(scratch, 'infected'), {
      'WINDOWS/system32/Drivers/ETC/HOSTS': `${STOCK}127.0.0.1 wdcp.microsoft.com definitionupdates.microsoft.com\r\n0.0.0.0\tdownload.windowsupdate.com\r\n185.212.1.9 xmr-eu1.nanopool.org\r\n127.0.0.1 www.bitdefender.com\r\n10.1.2.3 intranet.corp.example\r\n`,
    }, 'WINDOWS/system32');
    await plantWindowsRoot(path.join(scratch, 'clean'), { 'Windows/System32/drivers/etc/hosts': `${STOCK}10.1.2.3 intranet.corp.example\r\n` });
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds blocked update and security domains and pinned pools, with Windows remediation', async () => {
    const result = await scanDirectory(path.join(scratch, 'infected'), ALL_CHECKS);
    const hosts = '/WINDOWS/system32/Drivers/ETC/HOSTS';
    expect(result.findings.map((f) => [f.rule, f.line])).toEqual(
      expect.arrayContaining([
        ['windows-hosts.update-blocked', 8],
        ['windows-hosts.update-blocked', 9],
        ['hosts.mining-pool-pinned', 10],
        ['windows-hosts.update-blocked', 11],
      ]),
    );
    expect(result.findings.every((f) => f.path === hosts)).toBe(true);
    expect(result.findings).toHaveLength(4);
    const first = result.findings.find((f) => f.line === 8)!;
    expect(first.message).toContain('wdcp.microsoft.com, definitionupdates.microsoft.com');
    expect(first.remediation).toContain("$h = 'C:\\WINDOWS\\system32\\Drivers\\ETC\\HOSTS'");
    expect(first.remediation).toContain('ReadCount -ne 8');
  });

  it('stays silent on the stock file and an intranet entry', async () => {
    const result = await scanDirectory(path.join(scratch, 'clean'), ALL_CHECKS);
    expect(result.findings).toEqual([]);
    expect(result.errors).toEqual([]);
  });
});
