/**
 * A hash list that cannot be used as given. It names the file and, when one line is
 * at fault, the line: a typo in a list must fail loudly, never shrink the list silently.
 */
export class HashListError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    message: string,
  ) {
    super(`hash list ${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'HashListError';
  }
}
