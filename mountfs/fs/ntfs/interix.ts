/**
 * Interix symbolic links: the form ntfs-3g writes symlinks in by default (and Services
 * for Unix did), a regular file with the system attribute whose data is "IntxLNK\1"
 * followed by the target in UTF-16LE. The target is a POSIX path and is taken as it is.
 *
 * Follows ntfs-3g's description of Interix symlinks (its "junctions and symbolic
 * links" documentation).
 */
const MAGIC = Buffer.from('IntxLNK\x01', 'latin1');
/** The longest target worth reading: PATH_MAX UTF-16 code units. */
export const MAX_INTERIX_BYTES = MAGIC.length + 4096 * 2;

/** Whether a file of `size` bytes with these DOS attributes may be an Interix symlink. */
export const mayBeInterixLink = (attributes: number, size: number): boolean => (attributes & 0x4) !== 0 && size > MAGIC.length && size <= MAX_INTERIX_BYTES && size % 2 === 0;

/** The target, or undefined when the data is not an Interix symlink. */
export function interixTarget(data: Buffer): string | undefined {
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const target = data.subarray(MAGIC.length).toString('utf16le');
  return target.length > 0 && !target.includes('\0') ? target : undefined;
}
