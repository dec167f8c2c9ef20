/**
 * The public Windows sample data beside the repository (../shared/windows-samples: real
 * task trees, WMI repositories, shell links; never copied into the repository). Under
 * CI=true a missing folder fails the test file; elsewhere its tests are skipped with a
 * message saying why. Also a Windows root for check tests: the SYSTEM and SOFTWARE hive
 * names that make the engine judge a tree Windows (src/facts/windows/platform.ts), and
 * files planted in one (UTF-16 text as Task Scheduler writes it, a minimal PE program).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './images.js';
import { plantFiles } from './planted-tree.js';

export const WINDOWS_SAMPLES = path.resolve(REPO, '../shared/windows-samples');

/** True when the samples are there; throws under CI when they are not. */
export function windowsSamplesPresent(): boolean {
  if (existsSync(path.join(WINDOWS_SAMPLES, 'SOURCES.md'))) return true;
  if (process.env.CI === 'true') throw new Error(`the Windows sample data is missing: ${WINDOWS_SAMPLES} (CI requires it)`);
  console.warn(`skipping tests on real Windows samples: ${WINDOWS_SAMPLES} is not there`);
  return false;
}

/**
 * Makes `root` a Windows root: the hives the platform judgement looks for, under `system32`
 * as this root spells it. They are valid hives holding only a root key, so the registry
 * checks read them and find nothing.
 */
export async function plantWindowsRoot(root: string, files: Record<string, string | Buffer> = {}, system32 = 'Windows/System32'): Promise<void> {
  await plantFiles(root, { [`${system32}/config/SYSTEM`]: emptyHive('SYSTEM'), [`${system32}/config/SOFTWARE`]: emptyHive('SOFTWARE'), ...files });
}

/**
 * A registry hive (regf 1.5) with one bin holding the root key and nothing else, laid out
 * as the registry file format specification gives it: a 4 KiB base block whose checksum is
 * the XOR of its first 127 dwords, then a 4 KiB hive bin with the root nk cell and a free cell.
 */
export function emptyHive(name: string): Buffer {
  const hive = Buffer.alloc(8192);
  hive.write('regf', 0, 'latin1');
  hive.writeUInt32LE(1, 4); // primary and secondary sequence numbers equal: not dirty
  hive.writeUInt32LE(1, 8);
  hive.writeUInt32LE(1, 20); // version 1.5
  hive.writeUInt32LE(5, 24);
  hive.writeUInt32LE(1, 32); // file format: direct memory load
  hive.writeUInt32LE(0x20, 36); // root cell, after the bin header
  hive.writeUInt32LE(4096, 40); // hive bins data size
  hive.writeUInt32LE(1, 44); // clustering factor
  hive.write(name, 48, 'utf16le');
  let sum = 0;
  for (let i = 0; i < 508; i += 4) sum = (sum ^ hive.readUInt32LE(i)) >>> 0;
  hive.writeUInt32LE(sum === 0 ? 1 : sum === 0xffffffff ? 0xfffffffe : sum, 508);
  const bin = hive.subarray(4096);
  bin.write('hbin', 0, 'latin1');
  bin.writeUInt32LE(0, 4); // offset of this bin in the hive bins data
  bin.writeUInt32LE(4096, 8);
  const rootName = 'ROOT';
  const nkSize = (4 + 76 + rootName.length + 7) & ~7;
  const nk = bin.subarray(0x20);
  nk.writeInt32LE(-nkSize, 0); // negative: allocated
  nk.write('nk', 4, 'latin1');
  nk.writeUInt16LE(0x2c, 6); // KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
  nk.writeUInt32LE(0xffffffff, 4 + 16); // no parent
  nk.writeUInt32LE(0xffffffff, 4 + 28); // no subkey list
  nk.writeUInt32LE(0xffffffff, 4 + 32); // no volatile subkey list
  nk.writeUInt32LE(0xffffffff, 4 + 40); // no value list
  nk.writeUInt32LE(0xffffffff, 4 + 44); // no security cell
  nk.writeUInt32LE(0xffffffff, 4 + 48); // no class name
  nk.writeUInt16LE(rootName.length, 4 + 72);
  nk.write(rootName, 4 + 76, 'latin1');
  bin.writeInt32LE(4096 - 0x20 - nkSize, 0x20 + nkSize); // the rest of the bin is one free cell
  return hive;
}

/** Text as Windows writes task XML: UTF-16LE with a byte-order mark, CRLF line ends. */
export function utf16(text: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf16le')]);
}

/** A minimal PE image: MZ, e_lfanew 0x80, "PE\0\0", a COFF header for x86-64, then the strings. */
export function peFile(strings: string[]): Buffer {
  const head = Buffer.alloc(0x200);
  head.write('MZ', 0, 'latin1');
  head.writeUInt32LE(0x80, 0x3c);
  head.write('PE\0\0', 0x80, 'latin1');
  head.writeUInt16LE(0x8664, 0x84);
  return Buffer.concat([head, Buffer.from(strings.join('\0') + '\0', 'latin1'), Buffer.alloc(512)]);
}
