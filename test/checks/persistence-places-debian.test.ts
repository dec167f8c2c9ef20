/**
 * The user services, generators, at jobs, shell start-up and udev rules checks over the
 * clean debootstrapped Debian root, together with every other check (as a scan runs
 * them): nothing of medium severity or more may come from them, and they must have read
 * the stock start-up files, generators and udev rules.
 */
import { describe, expect, it } from 'vitest';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { severityRank } from '../../src/model/finding.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { fixture } from '../helpers/fixtures.js';

const DEBIAN_ROOT = fixture('debianRoot');
const MINE = /^persistence\/(?:systemd-user|systemd-generator|at|shell-startup|udev)$/;

describe('persistence places on a clean Debian root', () => {
  it('gives nothing of medium severity or more from user units, generators, at jobs, start-up files or udev rules', async () => {
    const result = await scanDirectory(DEBIAN_ROOT, ALL_CHECKS);
    const mine = result.findings.filter((f) => MINE.test(f.category));
    expect(mine.filter((f) => severityRank(f.severity) >= severityRank('medium'))).toEqual([]);
    expect(result.errors.filter((e) => /generator|udev|systemd\/user|bashrc|profile/.test(e.path ?? ''))).toEqual([]);
  });
});
