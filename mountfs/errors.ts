/**
 * One error type for everything below the VFS. Images are attacker-controlled, so a
 * caller must be able to tell "this image is damaged at X" (corrupt) from "minescan
 * does not read this yet" (unsupported) from "the read itself failed" (io), and the
 * report must say which structure and where.
 */
export type MountfsErrorKind = 'corrupt' | 'unsupported' | 'io' | 'not-found' | 'limit';

export class MountfsError extends Error {
  readonly kind: MountfsErrorKind;
  /** The on-disk structure involved, e.g. "ext4 extent header", "GPT header". */
  readonly structure: string;
  /** Byte offset in the byte source where the structure lies, when known. */
  readonly offset?: number;
  /** What is wrong, without the structure and offset that `message` adds. */
  readonly detail: string;
  /** Where the structure was met, when the structure alone does not say (a partition, an LVM PV). */
  readonly where?: string;

  constructor(kind: MountfsErrorKind, structure: string, message: string, offset?: number, where?: string) {
    super(`${where ? `${where}: ` : ''}${structure}${offset !== undefined ? ` at offset ${offset}` : ''}: ${message}`);
    this.name = 'MountfsError';
    this.kind = kind;
    this.structure = structure;
    this.offset = offset;
    this.detail = message;
    if (where !== undefined) this.where = where;
  }
}

/**
 * The same error, told where it was met and what followed from it: its kind, structure
 * and offset are kept, so a warning about a damaged table reaches the report as typed
 * as the error that found the damage.
 */
export function within(where: string, err: MountfsError, consequence?: string): MountfsError {
  const detail = consequence ? `${err.detail}; ${consequence}` : err.detail;
  return new MountfsError(err.kind, err.structure, detail, err.offset, err.where ? `${where}: ${err.where}` : where);
}

export const corrupt = (structure: string, message: string, offset?: number): MountfsError =>
  new MountfsError('corrupt', structure, message, offset);

export const unsupported = (structure: string, message: string, offset?: number): MountfsError =>
  new MountfsError('unsupported', structure, message, offset);

export const ioError = (structure: string, message: string, offset?: number): MountfsError =>
  new MountfsError('io', structure, message, offset);

export const notFound = (path: string, message = 'no such file or directory'): MountfsError =>
  new MountfsError('not-found', path, message);

export const limitExceeded = (structure: string, message: string, offset?: number): MountfsError =>
  new MountfsError('limit', structure, message, offset);

export function isNotFound(err: unknown): boolean {
  return err instanceof MountfsError && err.kind === 'not-found';
}
