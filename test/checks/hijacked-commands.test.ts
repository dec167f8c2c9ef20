import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hijackedCommandsCheck } from '../../src/checks/hijacked-commands.js';
import { builtinRules, scanDirectory } from '../helpers/scan-dir.js';
import { declaredPaths } from '../../src/model/check.js';
import { compileGlob } from '../../mountfs/glob.js';
import type { Finding } from '../../src/model/finding.js';

const run = promisify(execFile);
/** A real ELF program of the host, so the "is it ELF" test reads real bytes. */
const HOST_PS = '/usr/bin/ps';

const WRAPPER = `#!/bin/bash
# hide the miner
/usr/bin/ps.original "$@" | grep -v -E 'kdevtmpfsi|sysetmd' | grep -v grep
`;

async function put(root: string, rel: string, content: string, mode = 0o755): Promise<string> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await chmod(file, mode);
  return file;
}

async function putElf(root: string, rel: string): Promise<void> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await copyFile(HOST_PS, file);
}

/** A merged-/usr root: /bin and /sbin are symlinks into /usr, as on Debian 12. */
async function mergedUsrRoot(root: string): Promise<void> {
  await mkdir(path.join(root, 'usr/bin'), { recursive: true });
  await mkdir(path.join(root, 'usr/sbin'), { recursive: true });
  await symlink('usr/bin', path.join(root, 'bin'));
  await symlink('usr/sbin', path.join(root, 'sbin'));
}

const byRule = (findings: Finding[]) =>
  findings.map((f) => `${f.rule} ${f.severity} ${f.path}`).sort();

describe('hijacked-commands', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-hijack-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('reports a ps wrapper and its moved original, with what the wrapper runs and filters', async () => {
    const root = path.join(scratch, 'wrapper');
    await mergedUsrRoot(root);
    await put(root, 'usr/bin/ps', WRAPPER);
    await putElf(root, 'usr/bin/ps.original');
    await put(root, 'var/lib/dpkg/info/procps.list', '/.\n/bin\n/bin/ps\n/usr/bin/top\n', 0o644);

    const result = await scanDirectory(root, [hijackedCommandsCheck]);
    expect(result.errors).toEqual([]);
    expect(byRule(result.findings)).toEqual([
      'hijacked-command.moved-original high /usr/bin/ps.original',
      'hijacked-command.wrapper critical /usr/bin/ps',
    ]);
    const moved = result.findings.find((f) => f.rule === 'hijacked-command.moved-original')!;
    expect(moved.category).toBe('integrity/commands');
    expect(moved.evidence).toMatch(/^\/usr\/bin\/ps\.original: an ELF program of \d+ bytes; \/usr\/bin\/ps: a script \(#!\/bin\/bash\)$/);
    expect(moved.remediation).toContain('chattr -ia /usr/bin/ps /usr/bin/ps.original');
    expect(moved.remediation).toContain('apt-get install --reinstall procps');
    expect(moved.remediation).toContain('mv -f /usr/bin/ps.original /usr/bin/ps');

    const wrapper = result.findings.find((f) => f.rule === 'hijacked-command.wrapper')!;
    expect(wrapper.evidence).toBe(`/usr/bin/ps.original "$@" | grep -v -E 'kdevtmpfsi|sysetmd' | grep -v grep`);
    expect(wrapper.message).toBe(
      `/usr/bin/ps is a script in place of the ps program: it runs /usr/bin/ps.original and drops lines from its output with: grep -v -E 'kdevtmpfsi|sysetmd' | grep -v grep`,
    );
    expect(wrapper.remediation).toContain('apt-get install --reinstall procps');
    expect(wrapper.remediation).toContain('rm -f /usr/bin/ps.original');
    expect(result.filesExamined).toBe(2);
  });

  it('reports a wrapper that runs a hidden copy, and one that only sits beside its moved copy', async () => {
    const root = path.join(scratch, 'hidden');
    await mergedUsrRoot(root);
    // top runs a copy hidden as a dot file; netstat reaches its .orig through $0, which no word names.
    await put(root, 'usr/bin/top', '#!/bin/sh\nexec /usr/bin/.top "$@"\n');
    await putElf(root, 'usr/bin/.top');
    await put(root, 'usr/bin/netstat', '#!/bin/sh\n"$0.orig" "$@" | grep -v 3333\n');
    await putElf(root, 'usr/bin/netstat.orig');
    await putElf(root, 'usr/bin/netstat.old');
    await put(root, 'var/lib/dpkg/info/procps.list', '/usr/bin/top\n', 0o644);
    await put(root, 'var/lib/dpkg/info/net-tools.list', '/bin/netstat\n', 0o644);

    const result = await scanDirectory(root, [hijackedCommandsCheck]);
    expect(byRule(result.findings)).toEqual([
      'hijacked-command.moved-original high /usr/bin/netstat.old',
      'hijacked-command.moved-original high /usr/bin/netstat.orig',
      'hijacked-command.wrapper critical /usr/bin/netstat',
      'hijacked-command.wrapper critical /usr/bin/top',
    ]);
    const top = result.findings.find((f) => f.path === '/usr/bin/top')!;
    expect(top.evidence).toBe('exec /usr/bin/.top "$@"');
    expect(top.message).toBe('/usr/bin/top is a script in place of the top program: it runs /usr/bin/.top');
    expect(top.remediation).toContain('rm -f /usr/bin/.top');
    const netstat = result.findings.find((f) => f.path === '/usr/bin/netstat')!;
    expect(netstat.message).toContain('it runs /usr/bin/netstat.old, /usr/bin/netstat.orig');
    expect(netstat.evidence).toBe('"$0.orig" "$@" | grep -v 3333');
    expect(netstat.remediation).toContain('apt-get install --reinstall net-tools');
  });

  it('reports a script where an ELF belongs only when no package owns it', async () => {
    const root = path.join(scratch, 'ownership');
    await mergedUsrRoot(root);
    await mkdir(path.join(root, 'usr/local/bin'), { recursive: true });
    // Unowned scripts shadowing system commands earlier in PATH.
    await put(root, 'usr/local/bin/curl', '#!/bin/sh\n/usr/bin/curl --silent "$@"\n');
    await put(root, 'usr/local/bin/lsof', 'echo no lsof here\n');
    // Owned scripts: the package put them there.
    await put(root, 'usr/bin/kill', '#!/bin/sh\n/bin/kill.procps "$@"\n');
    // Debian ships ldd and which as scripts; they are not on the must-be-ELF list.
    await put(root, 'usr/local/bin/ldd', '#!/bin/bash\necho ldd\n');
    await put(root, 'usr/local/bin/which', '#!/bin/sh\necho which\n');
    await putElf(root, 'usr/bin/ls');
    await put(root, 'var/lib/dpkg/info/procps.list', '/bin/kill\n', 0o644);

    const result = await scanDirectory(root, [hijackedCommandsCheck]);
    expect(result.errors).toEqual([]);
    expect(byRule(result.findings)).toEqual([
      'hijacked-command.script-not-elf high /usr/local/bin/curl',
      'hijacked-command.script-not-elf high /usr/local/bin/lsof',
    ]);
    const curl = result.findings.find((f) => f.path === '/usr/local/bin/curl')!;
    expect(curl.message).toBe('/usr/local/bin/curl should be a compiled program but is a script (#!/bin/sh), and no installed package owns it');
    expect(curl.evidence).toBe('/usr/bin/curl --silent "$@"');
    expect(curl.remediation).toContain('rm -f /usr/local/bin/curl');
    const lsof = result.findings.find((f) => f.path === '/usr/local/bin/lsof')!;
    expect(lsof.message).toContain('is neither ELF nor a #! script (18 bytes)');
  });

  it('says so when there is no package database, and gives a reinstall command that looks the package up', async () => {
    const root = path.join(scratch, 'no-dpkg');
    await put(root, 'bin/ps', '#!/bin/sh\necho fake\n');
    await put(root, 'sbin/ss.bak', '#!/bin/sh\n');
    await putElf(root, 'sbin/ss');

    const result = await scanDirectory(root, [hijackedCommandsCheck]);
    expect(byRule(result.findings)).toEqual([
      'hijacked-command.moved-original high /sbin/ss.bak',
      'hijacked-command.script-not-elf high /bin/ps',
    ]);
    const ps = result.findings.find((f) => f.path === '/bin/ps')!;
    expect(ps.message).toContain('there is no package database to say whether a package installed it');
    expect(ps.remediation).toContain(`apt-get install --reinstall "$(dpkg -S /bin/ps | cut -d: -f1)"`);
    expect(ps.remediation).toContain(`dnf reinstall "$(rpm -qf /bin/ps)"`);
    const ss = result.findings.find((f) => f.path === '/sbin/ss.bak')!;
    expect(ss.evidence).toMatch(/^\/sbin\/ss\.bak: a script \(#!\/bin\/sh\); \/sbin\/ss: an ELF program of \d+ bytes$/);
  });

  it('survives binary junk, empty files, directories and dangling links in the command directories', async () => {
    const root = path.join(scratch, 'junk');
    await mergedUsrRoot(root);
    await put(root, 'usr/bin/find', Buffer.from([0, 1, 2, 0xff, 0x0a, 0x0a, 0x23]).toString('latin1').repeat(40_000));
    await put(root, 'usr/bin/ls', '');
    await mkdir(path.join(root, 'usr/bin/w'));
    await symlink('/nowhere/pgrep', path.join(root, 'usr/bin/pgrep'));
    await symlink('/usr/bin/missing', path.join(root, 'usr/bin/top.original'));

    const result = await scanDirectory(root, [hijackedCommandsCheck]);
    expect(result.errors).toEqual([]);
    expect(byRule(result.findings)).toEqual([
      'hijacked-command.moved-original high /usr/bin/top.original',
      'hijacked-command.script-not-elf high /usr/bin/find',
      'hijacked-command.script-not-elf high /usr/bin/ls',
    ]);
    expect(result.findings.find((f) => f.path === '/usr/bin/ls')!.message).toContain('is an empty file');
    expect(result.findings.find((f) => f.path === '/usr/bin/top.original')!.evidence).toBe('/usr/bin/top.original: missing; /usr/bin/top: missing');
  });

  it("gives nothing on a copy of the host's real command directories with their package lists", async () => {
    const root = path.join(scratch, 'host');
    await mkdir(path.join(root, 'usr/local'), { recursive: true });
    for (const dir of ['usr/bin', 'usr/sbin', 'usr/local/bin', 'usr/local/sbin']) {
      if (!existsSync(`/${dir}`)) continue;
      // Hard links when the scratch directory shares the host's filesystem: instant, no space.
      await run('cp', ['-al', `/${dir}`, path.join(root, dir)]).catch(() => run('cp', ['-a', `/${dir}`, path.join(root, dir)]));
    }
    await symlink('usr/bin', path.join(root, 'bin'));
    await symlink('usr/sbin', path.join(root, 'sbin'));
    await mkdir(path.join(root, 'etc'));
    await run('cp', ['-a', '/etc/alternatives', path.join(root, 'etc/alternatives')]);
    const info = path.join(root, 'var/lib/dpkg/info');
    await mkdir(info, { recursive: true });
    const lists = (await readdir('/var/lib/dpkg/info')).filter((n) => n.endsWith('.list'));
    expect(lists.length).toBeGreaterThan(10);
    for (const n of lists) await copyFile(path.join('/var/lib/dpkg/info', n), path.join(info, n));

    const result = await scanDirectory(root, [hijackedCommandsCheck]);
    expect(result.errors).toEqual([]);
    expect(result.findings).toEqual([]);
    // It did look: every must-be-ELF command the host has was read.
    expect(result.filesExamined).toBeGreaterThan(15);
  });
});

describe('hijacked-commands declared paths', () => {
  it('names the listed commands and their moved copies, not whole directories', async () => {
    const globs = declaredPaths(hijackedCommandsCheck, await builtinRules()).map(compileGlob);
    const declared = (p: string) => globs.some((g) => g.matches(p));
    expect(declared('/usr/bin/ps')).toBe(true);
    expect(declared('/usr/bin/ps.original')).toBe(true);
    expect(declared('/usr/local/sbin/netstat.orig')).toBe(true);
    expect(declared('/bin/ls')).toBe(true);
    expect(declared('/usr/bin/python3')).toBe(false);
    expect(declared('/usr/bin/ldd')).toBe(false);
  });
});
