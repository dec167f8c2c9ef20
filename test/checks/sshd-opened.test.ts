/**
 * sshd opened wider: a second Port (an extra way in) and PermitRootLogin yes with
 * password authentication, which is medium when the file saying it is not as the
 * package shipped it (Debian writes /etc/ssh/sshd_config from the template
 * /usr/share/openssh/sshd_config) and low when it is. A single moved Port is an
 * administrator's habit and stays quiet. The template is installed with dpkg-deb and
 * dpkg --root, so its digest is the one dpkg recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { sshdConfigCheck } from '../../src/checks/sshd-config.js';
import type { Finding } from '../../src/model/finding.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { buildDeb, initDpkgRoot, installDebs } from '../helpers/dpkg-root.js';

const TEMPLATE = 'Include /etc/ssh/sshd_config.d/*.conf\n#Port 22\n#PermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\nUsePAM yes\n';
const rows = (findings: Finding[]) => findings.filter((f) => f.rule.startsWith('sshd.')).map((f) => `${f.path}:${f.line} ${f.rule} ${f.severity}`).sort();

describe('sshd opened wider', () => {
  let scratch: string;
  /** A root with openssh-server's template installed and sshd_config written from it, then `edit` applied. */
  async function root(name: string, edit: Record<string, string>): Promise<string> {
    const dir = path.join(scratch, name);
    await initDpkgRoot(dir);
    await installDebs(dir, [await buildDeb(path.join(scratch, `${name}-deb`), { name: 'openssh-server', files: [{ path: '/usr/share/openssh/sshd_config', content: TEMPLATE }] })]);
    await mkdir(path.join(dir, 'etc/ssh/sshd_config.d'), { recursive: true });
    await writeFile(path.join(dir, 'etc/ssh/sshd_config'), TEMPLATE);
    for (const [rel, text] of Object.entries(edit)) await writeFile(path.join(dir, rel), text);
    return dir;
  }

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-sshd-opened-');
    for (const d of ['a-deb', 'b-deb', 'c-deb', 'd-deb']) await mkdir(path.join(scratch, d), { recursive: true });
  }, 60_000);
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports a second port and root password logins in a drop-in at medium', async () => {
    const dir = await root('a', { 'etc/ssh/sshd_config.d/50-cloud.conf': 'Port 22\nPort 2223\nPermitRootLogin yes\nPasswordAuthentication yes\n' });
    const { findings, errors } = await scanDirectory(dir, [sshdConfigCheck]);
    expect(errors).toEqual([]);
    expect(rows(findings)).toEqual([
      '/etc/ssh/sshd_config.d/50-cloud.conf:2 sshd.extra-port medium',
      '/etc/ssh/sshd_config.d/50-cloud.conf:3 sshd.root-password-login-changed medium',
    ]);
    expect(findings.find((f) => f.rule === 'sshd.extra-port')!.message).toContain('it listens on 22, 2223');
  });

  it('reports root password logins in an edited sshd_config at medium, with the default password authentication', async () => {
    const dir = await root('b', { 'etc/ssh/sshd_config': `${TEMPLATE}PermitRootLogin yes\n` });
    const { findings } = await scanDirectory(dir, [sshdConfigCheck]);
    expect(rows(findings)).toEqual(['/etc/ssh/sshd_config:6 sshd.root-password-login-changed medium']);
  });

  it('keeps root password logins low in a file as the package shipped it, and a single moved port quiet', async () => {
    const shipped = `${TEMPLATE}PermitRootLogin yes\n`;
    const dir = path.join(scratch, 'c');
    await initDpkgRoot(dir);
    await installDebs(dir, [await buildDeb(path.join(scratch, 'c-deb'), { name: 'openssh-server', files: [{ path: '/usr/share/openssh/sshd_config', content: shipped }] })]);
    await mkdir(path.join(dir, 'etc/ssh/sshd_config.d'), { recursive: true });
    await writeFile(path.join(dir, 'etc/ssh/sshd_config'), shipped);
    await writeFile(path.join(dir, 'etc/ssh/sshd_config.d/20-port.conf'), 'Port 2222\n');
    const { findings } = await scanDirectory(dir, [sshdConfigCheck]);
    expect(rows(findings)).toEqual(['/etc/ssh/sshd_config:6 sshd.root-password-login low']);
  });
});
