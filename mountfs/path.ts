/**
 * Paths inside a scanned root. They are always absolute, "/"-separated, and never
 * leave the root: ".." at the root stays at the root, as the kernel does for "/..".
 */

/**
 * Path components split or matched so far in this process. An attacker's tree can be
 * nested thousands of levels deep, so the walk must do a constant amount of path work
 * per level; tests hold that down with this count instead of the clock.
 */
export const pathWork = { components: 0 };

/** Splits a path into its components, dropping empty and "." parts (".." is kept). */
export function splitPath(path: string): string[] {
  const parts = path.split('/').filter((c) => c !== '' && c !== '.');
  pathWork.components += parts.length;
  return parts;
}

/** Lexically normalises to an absolute path inside the root. */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const c of splitPath(path)) {
    if (c === '..') out.pop();
    else out.push(c);
  }
  return '/' + out.join('/');
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export function dirname(path: string): string {
  const p = normalizePath(path);
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

export function basename(path: string): string {
  const p = normalizePath(path);
  return p.slice(p.lastIndexOf('/') + 1);
}
