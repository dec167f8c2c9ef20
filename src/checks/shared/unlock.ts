/**
 * The immutable and append-only inode flags (chattr +i, +a) in remediation: miner kits
 * lock their cron lines, keys, accounts and wrappers so that cleaning fails, so every
 * fix that edits or removes a locked file starts with the one `chattr -ia` built here.
 */
import type { InodeFlags, Vfs } from '../../../mountfs/vfs.js';
import type { CheckContext } from '../../model/check.js';
import { shellQuote } from '../../rules/ruleset.js';

/** The file's flags; undefined when it has none to tell (a dangling path, a source without flags). */
export async function flagsOf(vfs: Vfs, path: string): Promise<InodeFlags | undefined> {
  try {
    return await vfs.flags(path);
  } catch {
    return undefined;
  }
}

/** "immutable (chattr +i)", "append-only (chattr +a)", both, or '' when neither flag is set or flags are unknown. */
export function flagWords(flags: InodeFlags | undefined): string {
  if (!flags) return '';
  return [flags.immutable ? 'immutable (chattr +i)' : '', flags.appendOnly ? 'append-only (chattr +a)' : ''].filter(Boolean).join(' and ');
}

/** Whether removing or editing the file fails until its flags are cleared. */
export function isLocked(flags: InodeFlags | undefined): flags is InodeFlags {
  return flags?.immutable === true || flags?.appendOnly === true;
}

/** "chattr -ia PATH..." clearing both flags of the files. */
export function chattrUnlock(paths: string[]): string {
  return `chattr -ia ${paths.map(shellQuote).join(' ')}`;
}

/** "chattr -ia PATH\n" when the file is locked, '' when not: the first line of a fix written as one string. */
export function unlockPrefix(path: string, flags: InodeFlags | undefined): string {
  return isLocked(flags) ? `${chattrUnlock([path])}\n` : '';
}

/** "chattr -ia PATH   # it is immutable" when the file is locked: the first command of a fix built as a list. */
export async function unlockCommand(ctx: CheckContext, path: string): Promise<string | undefined> {
  const flags = await flagsOf(ctx.vfs, path);
  return isLocked(flags) ? `${chattrUnlock([path])}   # it is ${flags.immutable ? 'immutable' : 'append-only'}` : undefined;
}

/** unlockPrefix with the flags looked up. */
export async function unlockPrefixOf(ctx: CheckContext, path: string): Promise<string> {
  return unlockPrefix(path, await flagsOf(ctx.vfs, path));
}
