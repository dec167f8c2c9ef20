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

  constructor(kind: MountfsErrorKind, structure: string, message: string, offset?: number) {
    super(`${structure}${offset !== undefined ? ` at offset ${offset}` : ''}: ${message}`);
    this.name = 'MountfsError';
    this.kind = kind;
    this.structure = structure;
    this.offset = offset;
  }
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
