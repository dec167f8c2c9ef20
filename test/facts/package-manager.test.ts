/**
 * The package tools minescan names in its advice follow the scanned root: os-release
 * and the tools present in the image decide between apt, dnf, yum, zypper and apk, and
 * the checks' remediation uses them. Roots are plain directories, scanned as minescan
 * scans a mounted evidence directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DirectoryFileSystem } from '../../mountfs/fs/dir/directory-fs.js';
import { RawVfs } from '../../mountfs/vfs.js';
import { Facts } from '../../src/facts/facts.js';
import { hijackedCommandsCheck } from '../../src/checks/hijacked-commands.js';
import { scanDirectory } from '../helpers/scan-dir.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-pkgtools-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function put(root: string, rel: string, content: string, mode = 0o644): Promise<void> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await chmod(file, mode);
}

/** A root with the given os-release text (none when undefined) and tool files. */
async function root(name: string, osRelease: string | undefined, tools: string[] = []): Promise<string> {
  const dir = path.join(scratch, name);
  if (osRelease !== undefined) await put(dir, 'etc/os-release', osRelease);
  for (const t of tools) await put(dir, t.slice(1), '#!/bin/sh\n', 0o755);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function frontEnd(dir: string): Promise<string | undefined> {
  const vfs = new RawVfs(await DirectoryFileSystem.open(dir));
  try {
    return (await new Facts(vfs).packageCommands()).frontEnd;
  } finally {
    await vfs.close();
  }
}

describe('the root package tools', () => {
  it('follow os-release, and the tools in the image between dnf and yum', async () => {
    expect(await frontEnd(await root('debian', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'))).toBe('apt');
    expect(await frontEnd(await root('ubuntu', 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'))).toBe('apt');
    expect(await frontEnd(await root('fedora', 'NAME="Fedora Linux"\nID=fedora\n', ['/usr/bin/dnf']))).toBe('dnf');
    expect(await frontEnd(await root('centos7', 'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n', ['/usr/bin/yum']))).toBe('yum');
    expect(await frontEnd(await root('alinux', 'ID="alinux"\nID_LIKE="rhel fedora centos anolis"\n', ['/usr/bin/yum', '/usr/bin/dnf']))).toBe('dnf');
    expect(await frontEnd(await root('suse', 'NAME="openSUSE Leap"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\n'))).toBe('zypper');
    expect(await frontEnd(await root('alpine', 'NAME="Alpine Linux"\nID=alpine\n'))).toBe('apk');
    // An unknown distribution of a known family.
    expect(await frontEnd(await root('derivative', 'ID=mydistro\nID_LIKE="rhel centos fedora"\n'))).toBe('dnf');
  });

  it('fall back on the tools present, then on nothing', async () => {
    expect(await frontEnd(await root('bare-yum', undefined, ['/usr/bin/yum']))).toBe('yum');
    expect(await frontEnd(await root('bare-apk', undefined, ['/sbin/apk']))).toBe('apk');
    expect(await frontEnd(await root('bare', undefined))).toBeUndefined();
  });
});

describe('advice in the root package tools', () => {
  // A script where a compiled ps belongs, and no package database: the advice looks the owner up.
  const PS = '#!/bin/sh\necho fake\n';

  async function psFinding(dir: string) {
    await put(dir, 'bin/ps', PS, 0o755);
    const result = await scanDirectory(dir, [hijackedCommandsCheck]);
    const ps = result.findings.find((f) => f.path === '/bin/ps' && f.rule === 'hijacked-command.script-not-elf');
    expect(ps).toBeDefined();
    return ps!.remediation;
  }

  it('an Alpine root gets apk', async () => {
    const fix = await psFinding(await root('alpine-ps', 'NAME="Alpine Linux"\nID=alpine\n', ['/sbin/apk']));
    expect(fix).toContain(`apk fix --reinstall "$(apk info --who-owns /bin/ps | sed 's/.* is owned by //')"`);
    expect(fix).not.toMatch(/apt-get|dpkg|dnf|rpm/);
  });

  it('a CentOS 7 root gets yum and rpm', async () => {
    const fix = await psFinding(await root('centos-ps', 'ID="centos"\nID_LIKE="rhel fedora"\n', ['/usr/bin/yum']));
    expect(fix).toContain('yum reinstall "$(rpm -qf /bin/ps)"');
    expect(fix).not.toMatch(/apt-get|dpkg|dnf|apk/);
  });

  it('a Debian root gets apt', async () => {
    const fix = await psFinding(await root('debian-ps', 'ID=debian\n', ['/usr/bin/apt-get']));
    expect(fix).toContain('apt-get install --reinstall "$(dpkg -S /bin/ps | cut -d: -f1)"');
    expect(fix).not.toMatch(/dnf|rpm|apk/);
  });

  it('a root that says nothing gets both dpkg and RPM commands', async () => {
    const fix = await psFinding(await root('silent-ps', undefined));
    expect(fix).toContain('apt-get install --reinstall "$(dpkg -S /bin/ps | cut -d: -f1)"');
    expect(fix).toContain('dnf reinstall "$(rpm -qf /bin/ps)"');
  });
});
