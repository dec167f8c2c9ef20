/**
 * The shell-link (.lnk) parser against libyal's lnkinfo (Debian's liblnk-utils) on the 38
 * real shortcuts of ../shared/windows-samples/lnk, which cover every LinkInfo and
 * ExtraData kind: local, network, relative and environment paths, working directory,
 * arguments and description agree field by field. Damaged shortcuts (every truncation of
 * a real one, offsets pointing outside) give typed errors, never a crash.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseShellLink } from '../../src/checks/parsers/shell-link.js';
import { MountfsError } from '../../mountfs/errors.js';
import { WINDOWS_SAMPLES, windowsSamplesPresent } from '../helpers/windows-samples.js';

const SAMPLES = windowsSamplesPresent();
const LNK_DIR = path.join(WINDOWS_SAMPLES, 'lnk');

function lnkFiles(): string[] {
  return (readdirSync(LNK_DIR, { recursive: true }) as string[]).filter((f) => f.endsWith('.lnk')).sort();
}

/** The fields lnkinfo prints that the parser also reads. */
const FIELDS: Record<string, keyof ReturnType<typeof parseShellLink>> = {
  'Local path': 'localPath',
  'Network path': 'networkPath',
  'Relative path': 'relativePath',
  'Working directory': 'workingDirectory',
  'Command line arguments': 'arguments',
  'Environment variables location': 'environmentTarget',
  Description: 'name',
};

function lnkinfo(file: string): Record<string, string> {
  const out = execFileSync('lnkinfo', [file], { encoding: 'utf8' });
  const fields: Record<string, string> = {};
  for (const m of out.matchAll(/^\t([A-Za-z ]+?)\s*\t*: (.*)$/gm)) {
    const key = FIELDS[m[1]!.trim()];
    if (key) fields[key] = m[2]!;
  }
  return fields;
}

describe.skipIf(!SAMPLES)('shell links', () => {
  it('reads the 38 sample shortcuts as lnkinfo does', () => {
    const files = lnkFiles();
    expect(files).toHaveLength(38);
    let compared = 0;
    for (const rel of files) {
      const file = path.join(LNK_DIR, rel);
      const link = parseShellLink(readFileSync(file));
      const expected = lnkinfo(file);
      const mine: Record<string, string> = {};
      for (const key of Object.values(FIELDS)) {
        const v = link[key];
        if (typeof v === 'string' && v !== '') mine[key] = v;
      }
      // lnkinfo prints what it cannot decode as "?"; those fields are not compared.
      for (const [k, v] of Object.entries(expected)) if (v.includes('?') || v.includes('\uFFFD')) (delete expected[k], delete mine[k]);
      for (const k of Object.keys(mine)) if (mine[k]!.includes('\uFFFD')) (delete expected[k], delete mine[k]);
      expect({ rel, ...mine }).toEqual({ rel, ...expected });
      compared += Object.keys(expected).length;
    }
    expect(compared).toBeGreaterThan(60);
  });

  it('gives typed errors on every truncation of a real shortcut and on offsets outside it', () => {
    for (const rel of ['plaso/example.lnk', 'museum/Misc/unicodeNetworkPath.lnk', 'museum/Win7/Windows_PowerShell_Modules.lnk']) {
      const bytes = readFileSync(path.join(LNK_DIR, rel));
      for (let n = 0; n < bytes.length; n++) {
        try {
          parseShellLink(bytes.subarray(0, n));
        } catch (err) {
          expect(err).toBeInstanceOf(MountfsError);
        }
      }
      for (let i = 0x4c; i < Math.min(bytes.length, 0x200); i += 3) {
        const bad = Buffer.from(bytes);
        bad.writeUInt16LE(0xfff0, i);
        try {
          parseShellLink(bad);
        } catch (err) {
          expect(err).toBeInstanceOf(MountfsError);
        }
      }
    }
  });
});
