/**
 * Which operating system a scanned root belongs to, so the engine runs the checks made
 * for it: a Windows root given the Linux checks finds nothing and says "clean", which is
 * a wrong verdict, not a missing feature. One disk may hold both kinds on different
 * volumes, so each filesystem is judged on its own.
 *
 * A root is Windows when it has Windows\System32\config holding the SYSTEM or SOFTWARE
 * hive, the files without which Windows does not boot, found ignoring case (Windows
 * itself ignores it; a copy on a Linux filesystem keeps whatever case it had). Anything
 * else is judged Linux, as every root was before.
 */
import type { Vfs } from '../../../mountfs/vfs.js';
import type { Platform } from '../../model/check.js';
import { caselessGlob, findCaseless, sameName } from './caseless.js';

export interface RootPlatform {
  platform: Platform;
  /** What the verdict rests on, for the report: "/Windows/System32/config/SYSTEM". */
  evidence: string;
}

const CONFIG_DIR = '/Windows/System32/config';
const BOOT_HIVES = ['SYSTEM', 'SOFTWARE'];

/** What the judgement reads, for sources that keep only what is declared (a single-pass archive). */
export const PLATFORM_PATHS = BOOT_HIVES.map((h) => caselessGlob(`${CONFIG_DIR}/${h}`));

export async function detectPlatform(vfs: Vfs): Promise<RootPlatform> {
  const config = await findCaseless(vfs, CONFIG_DIR);
  if (config !== undefined) {
    try {
      const entries = await vfs.readdir(config);
      for (const hive of BOOT_HIVES) {
        const e = entries.find((d) => d.type === 'file' && sameName(hive, d.name));
        if (e) return { platform: 'windows', evidence: `${config}/${e.name}` };
      }
    } catch {
      // An unreadable config directory proves nothing: judged as before.
    }
  }
  return { platform: 'linux', evidence: `no ${CONFIG_DIR} with a SYSTEM or SOFTWARE hive` };
}
