/**
 * On an RPM root, every reinstall minescan advises is the root's own front end: a
 * packaged cron script with an intruder's line is restored with `dnf reinstall` on a
 * Fedora root and `yum reinstall` on a CentOS 7 one, never apt-get. The database is
 * written by rpm itself (rpmbuild, rpm -i --root).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { buildRpms, installRpms } from '../helpers/rpm-root.js';

const SCRIPT = '#!/bin/sh\n/usr/sbin/logrotate /etc/logrotate.conf\n';
const BAD_LINE = 'nohup /var/tmp/.cache/kworker >/dev/null 2>&1 &';

let scratch: string;
let base: string;
beforeAll(async () => {
  scratch = await makeScratchDir('minescan-pkgtools-rpm-');
  base = path.join(scratch, 'base');
  const rpms = await buildRpms(path.join(scratch, 'rpmbuild'), [
    { name: 'logrotate', digestAlgorithm: 8, files: [{ path: '/etc/cron.daily/logrotate', content: SCRIPT.trimEnd(), mode: '755' }] },
  ]);
  await installRpms(base, rpms);
  await appendFile(path.join(base, 'etc/cron.daily/logrotate'), `${BAD_LINE}\n`);
  await mkdir(path.join(base, 'var/tmp/.cache'), { recursive: true });
  await writeFile(path.join(base, 'var/tmp/.cache/kworker'), '\x7fELF');
});
afterAll(async () => {
  await removeScratchDir(scratch);
});

async function fixOn(name: string, osRelease: string, tool: string): Promise<string> {
  const root = path.join(scratch, name);
  await cp(base, root, { recursive: true });
  await writeFile(path.join(root, 'etc/os-release'), osRelease);
  await mkdir(path.join(root, path.dirname(tool)), { recursive: true });
  await writeFile(path.join(root, tool), '#!/bin/sh\n', { mode: 0o755 });
  const result = await scanDirectory(root, [cronCheck]);
  const finding = result.findings.find((f) => f.path === '/etc/cron.daily/logrotate' && f.rule === 'command.started-from-temp');
  expect(finding).toBeDefined();
  return finding!.remediation;
}

describe('reinstall advice on an RPM root', () => {
  it('is dnf on Fedora', async () => {
    const fix = await fixOn('fedora', 'NAME="Fedora Linux"\nID=fedora\n', '/usr/bin/dnf');
    expect(fix).toMatch(/^dnf reinstall logrotate   # \/etc\/cron\.daily\/logrotate belongs to logrotate: this restores the packaged script$/m);
    expect(fix).not.toContain('apt-get');
  });

  it('is yum on CentOS 7', async () => {
    const fix = await fixOn('centos7', 'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n', '/usr/bin/yum');
    expect(fix).toMatch(/^yum reinstall logrotate   # /m);
    expect(fix).not.toContain('apt-get');
  });
});
