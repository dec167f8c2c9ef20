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
 * Makes `root` a Windows root: the hives the platform judgement looks for (their content
 * is not read), under `system32` as this root spells it.
 */
export async function plantWindowsRoot(root: string, files: Record<string, string | Buffer> = {}, system32 = 'Windows/System32'): Promise<void> {
  await plantFiles(root, { [`${system32}/config/SYSTEM`]: 'regf', [`${system32}/config/SOFTWARE`]: 'regf', ...files });
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
