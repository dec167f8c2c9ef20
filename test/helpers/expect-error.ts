/**
 * Asserts that a promise fails with a typed MountfsError of the given kind (and text).
 */
import { expect } from 'vitest';
import { MountfsError } from '../../mountfs/errors.js';

export async function expectError(p: Promise<unknown>, kind: string, text?: RegExp): Promise<MountfsError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MountfsError);
  expect((err as MountfsError).kind).toBe(kind);
  if (text) expect((err as MountfsError).message).toMatch(text);
  return err as MountfsError;
}
