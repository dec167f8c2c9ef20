/**
 * Windows names are case-insensitive: one disk says C:\Windows\System32, another
 * C:\WINDOWS\system32, and a directory target copied onto a Linux filesystem keeps
 * whichever case it was given. The VFS compares names exactly, as Linux does, so what
 * minescan looks up on a Windows root goes through here: globs whose letters match
 * either case (for `Check.paths` and walks), and paths resolved to the case the root
 * actually uses.
 */
import type { Vfs } from '../../../mountfs/vfs.js';

/**
 * A glob whose letters match in either case: "/Windows/*.exe" → "/[Ww][Ii]...". Globs
 * with character classes of their own are refused (their letters would be doubled).
 */
export function caselessGlob(glob: string): string {
  if (glob.includes('[')) throw new Error(`caselessGlob: ${glob} has a character class already`);
  return glob.replace(/[A-Za-z]/g, (c) => `[${c.toUpperCase()}${c.toLowerCase()}]`);
}

/** Names in a directory compared as Windows compares them (ASCII and beyond, without locale). */
export function sameName(a: string, b: string): boolean {
  return a.length === b.length && a.toUpperCase() === b.toUpperCase();
}

/**
 * The path as the root spells it, each component looked up ignoring case (an exact
 * match first); undefined when a component is absent or a directory cannot be read.
 */
export async function findCaseless(vfs: Vfs, path: string): Promise<string | undefined> {
  let at = '';
  for (const part of path.split('/').filter((p) => p !== '')) {
    const dir = at === '' ? '/' : at;
    let name: string | undefined;
    try {
      const entries = await vfs.readdir(dir);
      name = entries.find((e) => e.name === part)?.name ?? entries.find((e) => sameName(e.name, part))?.name;
    } catch {
      return undefined;
    }
    if (name === undefined) return undefined;
    at = `${at}/${name}`;
  }
  return at === '' ? '/' : at;
}
