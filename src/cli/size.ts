/**
 * Byte sizes on the command line (--spool-budget 16G): a whole number with an optional
 * binary unit K, M, G or T (powers of 1024, "KiB"/"GB" spellings accepted).
 */
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** The size in bytes, or null when `text` is not a size. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return null;
  const bytes = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(bytes) ? bytes : null;
}
