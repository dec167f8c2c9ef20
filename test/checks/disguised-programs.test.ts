/**
 * Programs disguised as something else: ELF programs (ET_EXEC, or PIE with an entry
 * point and an interpreter) named like libraries or kept in library directories, and
 * SUID/SGID root files, that no package owns; a SUID copy of the root's own shell is
 * critical. The ELF files are laid out here from the System V gABI's header and
 * program-header formats; shared objects (ET_DYN without an interpreter) of the same
 * names, owned programs and owned SUID files are the counterparts that must stay quiet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { disguisedProgramsCheck } from '../../src/checks/disguised-programs.js';
import { elfType } from '../../src/checks/parsers/elf-type.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { plantFiles } from '../helpers/planted-tree.js';

/** A 64-bit little-endian ELF: file header, then `interp` adds one PT_INTERP program header. */
function elf(type: 2 | 3, { entry = 0x1040, interp = false } = {}): Buffer {
  const header = Buffer.alloc(64);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // ELFDATA2LSB
  header[6] = 1; // EV_CURRENT
  header.writeUInt16LE(type, 16); // e_type
  header.writeUInt16LE(62, 18); // EM_X86_64
  header.writeUInt32LE(1, 20); // e_version
  header.writeBigUInt64LE(BigInt(entry), 24); // e_entry
  header.writeBigUInt64LE(interp ? 64n : 0n, 32); // e_phoff
  header.writeUInt16LE(64, 52); // e_ehsize
  header.writeUInt16LE(56, 54); // e_phentsize
  header.writeUInt16LE(interp ? 2 : 0, 56); // e_phnum
  if (!interp) return Buffer.concat([header, Buffer.from('\0code\0')]);
  const ph = Buffer.alloc(112);
  ph.writeUInt32LE(6, 0); // PT_PHDR
  ph.writeUInt32LE(3, 56); // PT_INTERP
  return Buffer.concat([header, ph, Buffer.from('/lib64/ld-linux-x86-64.so.2\0')]);
}

const PROGRAM = elf(2);
const PIE = elf(3, { interp: true });
const SHARED = elf(3);

describe('ELF types', () => {
  it('tells programs (ET_EXEC, PIE) from shared objects', () => {
    expect(elfType(PROGRAM)).toBe('program');
    expect(elfType(PIE)).toBe('program');
    expect(elfType(SHARED)).toBe('shared-object');
    expect(elfType(elf(3, { interp: true, entry: 0 }))).toBe('shared-object');
    expect(elfType(Buffer.from('#!/bin/sh\n'))).toBeUndefined();
    // A program header table past the bytes given is not guessed at.
    expect(elfType(PIE.subarray(0, 80))).toBe('unknown');
  });
});

describe('disguised programs', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-disguised-');
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('finds unowned programs named like or kept among libraries and unowned SUID root files, a shell copy critical', async () => {
    const root = path.join(scratch, 'root');
    const dash = await readFile('/bin/dash');
    await plantFiles(root, {
      'etc/shells': '# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/dash\n',
      'usr/bin/dash': { content: dash, mode: 0o755 },
      'usr/bin/passwd': { content: PIE, mode: 0o4755 },
      'usr/lib/x86_64-linux-gnu/libc.so.6': { content: PIE, mode: 0o755 },
      'var/lib/dpkg/status': 'Package: dash\nStatus: install ok installed\nVersion: 1\n\nPackage: passwd\nStatus: install ok installed\nVersion: 1\n\nPackage: libc6\nStatus: install ok installed\nVersion: 1\n',
      'var/lib/dpkg/info/dash.list': '/.\n/usr\n/usr/bin\n/usr/bin/dash\n',
      'var/lib/dpkg/info/passwd.list': '/.\n/usr/bin/passwd\n',
      'var/lib/dpkg/info/libc6.list': '/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n',
      // Planted.
      'usr/lib/x86_64-linux-gnu/libdbus-glib-2.so.3': { content: PROGRAM, mode: 0o755 },
      'opt/agent/lib/libnetcheck.so': { content: PIE, mode: 0o644 },
      'usr/lib/x86_64-linux-gnu/gvfsd-helper': { content: PIE, mode: 0o755 },
      'usr/local/bin/pkexecd': { content: PROGRAM, mode: 0o4755 },
      'var/lib/games/.xsnd': { content: dash, mode: 0o4755 },
      'usr/local/share/fonts/.cache-1': { content: dash, mode: 0o2755 },
      // Ordinary: an unowned shared object, a script among the libraries, an unowned program elsewhere.
      'usr/local/lib/libvendor.so.2': { content: SHARED, mode: 0o755 },
      'usr/lib/x86_64-linux-gnu/helper.sh': { content: '#!/bin/sh\nexit 0\n', mode: 0o755 },
      'opt/tool/bin/tool': { content: PROGRAM, mode: 0o755 },
    });
    const { findings, errors } = await scanDirectory(root, [disguisedProgramsCheck]);
    expect(errors).toEqual([]);
    expect(findings.map((f) => `${f.path} ${f.rule} ${f.severity}`).sort()).toEqual(
      [
        '/usr/lib/x86_64-linux-gnu/libdbus-glib-2.so.3 disguised.program-named-library high',
        '/opt/agent/lib/libnetcheck.so disguised.program-named-library high',
        '/usr/lib/x86_64-linux-gnu/gvfsd-helper disguised.program-in-library-dir high',
        '/usr/local/bin/pkexecd disguised.unowned-suid high',
        '/var/lib/games/.xsnd disguised.suid-shell-copy critical',
        '/usr/local/share/fonts/.cache-1 disguised.suid-shell-copy critical',
      ].sort(),
    );
    const copy = findings.find((f) => f.path === '/var/lib/games/.xsnd')!;
    expect(copy.message).toBe('/var/lib/games/.xsnd is a SUID root copy of /usr/bin/dash: any local user runs it with -p and is root (a backdoor left for getting root back)');
    expect(copy.remediation).toContain("chmod ug-s /var/lib/games/.xsnd && rm -f /var/lib/games/.xsnd");
  });

  it('says nothing on a root without a package database, where ownership tells nothing', async () => {
    const root = path.join(scratch, 'no-db');
    await plantFiles(root, { 'usr/lib/libx.so.1': { content: PROGRAM, mode: 0o755 }, 'usr/bin/su': { content: PIE, mode: 0o4755 } });
    const { findings } = await scanDirectory(root, [disguisedProgramsCheck]);
    expect(findings).toEqual([]);
  });
});
