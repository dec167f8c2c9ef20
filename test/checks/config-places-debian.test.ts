/**
 * The linker, kernel-module, sudoers, sshd and hosts checks over the clean Debian
 * bookworm root (debootstrap, built once per run by the image project's global setup) with every check: they read
 * the stock files and report nothing of medium or higher severity.
 */
import { describe, expect, it } from 'vitest';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { fixture } from '../helpers/fixtures.js';

const DEBIAN_ROOT = fixture('debianRoot');
const MINE = /^(?:linker|kernel-modules|sudoers|sshd|hosts)\./;
const MY_CHECKS = ['ld-so-conf', 'kernel-modules', 'sudoers', 'sshd-config', 'hosts-file'];

describe('boot-time and login configuration on a clean Debian root', () => {
  it('reads the stock files and raises nothing medium or higher', async () => {
    const result = await scanDirectory(DEBIAN_ROOT, ALL_CHECKS);
    const mine = result.findings.filter((f) => MINE.test(f.rule));
    expect(mine.filter((f) => f.severity !== 'low' && f.severity !== 'info')).toEqual([]);
    // Nothing at all from the stock files: Debian's sudoers, sshd_config, ld.so.conf and modprobe.d are silent.
    expect(mine).toEqual([]);
    // Each check did read its stock files (hosts-file has none: debootstrap writes no /etc/hosts).
    for (const id of MY_CHECKS.filter((c) => c !== 'hosts-file')) {
      const alone = await scanDirectory(DEBIAN_ROOT, ALL_CHECKS.filter((c) => c.id === id));
      expect(alone.filesExamined, id).toBeGreaterThan(0);
      expect(alone.errors, id).toEqual([]);
    }
  });
});
