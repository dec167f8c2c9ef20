/**
 * Paths as package databases write them, made safe to look up: a database inside a
 * hostile image can name anything, so a recorded path is taken only when it is
 * absolute after a leading "/" is added (dpkg's md5sums leave it out), has no ".."
 * component and no NUL. Also the merged-/usr spellings: dpkg lists "/bin/ps" while a
 * merged system keeps the file at "/usr/bin/ps".
 */

const MERGED_USR = ['/bin/', '/sbin/', '/lib/', '/lib32/', '/lib64/', '/libx32/'];
/** PATH_MAX: longer names are not paths any kernel opens. */
export const MAX_PACKAGE_PATH = 4096;

/** The absolute, normalised path, or undefined when the recorded text is not a usable path. */
export function packagePath(raw: string): string | undefined {
  if (raw === '' || raw.length > MAX_PACKAGE_PATH || raw.includes('\0')) return undefined;
  const parts = raw.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  return '/' + parts.join('/');
}

/** The path and its other merged-/usr spelling, if it has one. */
export function mergedUsrAliases(path: string): string[] {
  const out = [path];
  for (const p of MERGED_USR) {
    if (path.startsWith(p)) out.push(`/usr${path}`);
    else if (path.startsWith(`/usr${p}`)) out.push(path.slice(4));
  }
  return out;
}
