/**
 * Sizes on the command line (--spool-budget): binary units, and anything else refused.
 */
import { describe, expect, it } from 'vitest';
import { parseSize } from '../src/cli/size.js';

describe('parseSize', () => {
  it('reads bytes and binary units', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('16G')).toBe(16 * 1024 ** 3);
    expect(parseSize('16GiB')).toBe(16 * 1024 ** 3);
    expect(parseSize('2t')).toBe(2 * 1024 ** 4);
  });
  it('refuses what is not a size', () => {
    for (const bad of ['', 'lots', '-1G', '1.5G', '4X', '99999999999T']) expect(parseSize(bad), bad).toBeNull();
  });
});
