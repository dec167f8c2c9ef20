/**
 * The ld-preload check over planted trees: Kinsing's libsystem.so (family rule, no
 * second finding), a library no package owns, a missing one, two entries on one line,
 * colon separators and comments, a bare name found through /etc/ld.so.conf's include,
 * $LIB expansion, a packaged library (medium), a locked preload file, a tree without a
 * package database; exact rule ids, severities, lines, families and remediation, the
 * libraries recorded as started; clean trees and hostile files give nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ldPreloadCheck } from '../../src/checks/ld-preload.js';
import { parsePreload } from '../../src/facts/ld-so.js';
import type { Check, StartedFile } from '../../src/model/check.js';
import type { Finding } from '../../src/model/finding.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const run = promisify(execFile);
const ELF = '\x7fELF\x02\x01\x01\0stand-in\n';

async function put(root: string, rel: string, text: string): Promise<void> {
  const p = path.join(root, rel);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text, 'latin1');
}

const summary = (fs: Finding[]) => fs.map((f) => `${f.severity} ${f.rule} ${f.path}:${f.line} ${f.evidence}${f.family ? ` [${f.family}]` : ''}`).sort();

/** Runs after the check and keeps what it recorded as started. */
function startedProbe(into: StartedFile[]): Check {
  return { id: 'probe', description: 'records started files', phase: 'combine', paths: [], run: async (ctx) => void into.push(...ctx.startedFiles()) };
}

const PRELOAD = [
  '# added by the intruder',
  '/etc/libsystem.so',
  '/usr/local/lib/libhide.so /gone/libx.so   # two on one line',
  'libjemalloc.so.2:$LIB/libprocesshider.so',
  'libcustom.so',
  '',
].join('\n');

describe('ld-preload check', () => {
  let scratch: string;
  let infected: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-preload-');
    infected = path.join(scratch, 'infected');
    await put(infected, 'etc/ld.so.preload', PRELOAD);
    await put(infected, 'etc/libsystem.so', ELF);
    await put(infected, 'usr/local/lib/libhide.so', ELF);
    await put(infected, 'usr/lib/x86_64-linux-gnu/libjemalloc.so.2', ELF);
    await put(infected, 'lib/x86_64-linux-gnu/libprocesshider.so', ELF);
    await put(infected, 'opt/custom/lib/libcustom.so', ELF);
    await put(infected, 'etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
    await put(infected, 'etc/ld.so.conf.d/custom.conf', '# custom\n/opt/custom/lib\n');
    await put(infected, 'var/lib/dpkg/info/libjemalloc2:amd64.list', '/.\n/usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n');
    await run('chattr', ['+i', path.join(infected, 'etc/ld.so.preload')]);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('parses entries as glibc does: whitespace and colons separate, # comments', () => {
    expect(parsePreload(PRELOAD).map((e) => `${e.line}:${e.name}:${e.onLine}`)).toEqual([
      '2:/etc/libsystem.so:1',
      '3:/usr/local/lib/libhide.so:2',
      '3:/gone/libx.so:2',
      '4:libjemalloc.so.2:2',
      '4:$LIB/libprocesshider.so:2',
      '5:libcustom.so:1',
    ]);
  });

  it('reports each entry once, by what it is', async () => {
    const started: StartedFile[] = [];
    const result = await scanDirectory(infected, [ldPreloadCheck, startedProbe(started)]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(
      [
        'critical kinsing.preload-libsystem /etc/ld.so.preload:2 /etc/libsystem.so [kinsing]',
        'high preload.unowned-library /etc/ld.so.preload:3 /usr/local/lib/libhide.so',
        'high preload.missing-library /etc/ld.so.preload:3 /gone/libx.so',
        'medium preload.entry /etc/ld.so.preload:4 libjemalloc.so.2',
        'high preload.unowned-library /etc/ld.so.preload:4 $LIB/libprocesshider.so',
        'high preload.unowned-library /etc/ld.so.preload:5 libcustom.so',
      ].sort(),
    );
    expect(started).toEqual([
      { path: '/etc/libsystem.so', startedBy: '/etc/ld.so.preload:2' },
      { path: '/usr/local/lib/libhide.so', startedBy: '/etc/ld.so.preload:3' },
      { path: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', startedBy: '/etc/ld.so.preload:4' },
      { path: '/lib/x86_64-linux-gnu/libprocesshider.so', startedBy: '/etc/ld.so.preload:4' },
      { path: '/opt/custom/lib/libcustom.so', startedBy: '/etc/ld.so.preload:5' },
    ]);
  });

  it('tells how to remove each entry, unlocking the file first', async () => {
    const result = await scanDirectory(infected, [ldPreloadCheck]);
    const find = (rule: string, evidence: string) => result.findings.find((f) => f.rule === rule && f.evidence === evidence)!;

    const kinsing = find('kinsing.preload-libsystem', '/etc/libsystem.so');
    expect(kinsing.category).toBe('persistence/preload');
    expect(kinsing.remediation).toContain('rm -f /etc/libsystem.so');

    const hide = find('preload.unowned-library', '/usr/local/lib/libhide.so');
    expect(hide.message).toContain('loads /usr/local/lib/libhide.so, which no installed package owns');
    expect(hide.message).toContain('/etc/ld.so.preload is immutable (chattr +i)');
    expect(hide.remediation).toMatch(
      /^chattr -ia \/etc\/ld\.so\.preload\nsed -i '3s#\/usr\/local\/lib\/libhide\\\.so##' \/etc\/ld\.so\.preload   # removes only this entry from line 3\nrm -f \/usr\/local\/lib\/libhide\.so   # no package owns it\n/,
    );

    const gone = find('preload.missing-library', '/gone/libx.so');
    expect(gone.message).toContain('names /gone/libx.so, which is not on this disk');
    expect(gone.remediation).not.toContain('rm -f');

    const jemalloc = find('preload.entry', 'libjemalloc.so.2');
    expect(jemalloc.message).toContain('loads /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 (from package libjemalloc2) into every program');
    expect(jemalloc.remediation).not.toContain('rm -f');

    const custom = find('preload.unowned-library', 'libcustom.so');
    expect(custom.message).toContain('loads /opt/custom/lib/libcustom.so,');
    expect(custom.remediation).toContain("sed -i '5d' /etc/ld.so.preload   # deletes line 5: libcustom.so");
    expect(custom.remediation).toContain('rm -f /opt/custom/lib/libcustom.so');
  });

  it('falls back to the plain entry without a package database, and says so', async () => {
    const tree = path.join(scratch, 'nodb');
    await put(tree, 'etc/ld.so.preload', '/usr/lib/libtcmalloc.so.4\n/usr/lib/libnothere.so\n');
    await put(tree, 'usr/lib/libtcmalloc.so.4', ELF);
    const result = await scanDirectory(tree, [ldPreloadCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual([
      'high preload.missing-library /etc/ld.so.preload:2 /usr/lib/libnothere.so',
      'medium preload.entry /etc/ld.so.preload:1 /usr/lib/libtcmalloc.so.4',
    ]);
    expect(result.findings.find((f) => f.rule === 'preload.entry')!.message).toContain('no package database tells who installed it');
    expect(result.findings.find((f) => f.rule === 'preload.entry')!.remediation).toMatch(/^If nobody put it there on purpose:\nsed -i '1d' \/etc\/ld\.so\.preload/);
  });

  it('is silent without the file, with a comment-only file and on binary junk', async () => {
    const none = path.join(scratch, 'none');
    await put(none, 'etc/hostname', 'web1\n');
    expect((await scanDirectory(none, [ldPreloadCheck])).findings).toEqual([]);

    const comments = path.join(scratch, 'comments');
    await put(comments, 'etc/ld.so.preload', '# nothing preloaded\n\n   \n');
    const c = await scanDirectory(comments, [ldPreloadCheck]);
    expect(c.findings).toEqual([]);
    expect(c.filesExamined).toBe(1);

    const junk = path.join(scratch, 'junk');
    let bytes = '';
    for (let i = 0; i < 300_000; i++) bytes += String.fromCharCode((i * 7919) % 256);
    await put(junk, 'etc/ld.so.preload', bytes);
    const j = await scanHostile(junk, [ldPreloadCheck], { maxOperations: 500 });
    expect(j.errors).toEqual([{ path: '/etc/ld.so.preload', message: expect.stringMatching(/only the first 256 were examined/) }]);
    expect(j.findings).toHaveLength(256);
    expect(j.findings.every((f) => f.rule === 'preload.missing-library')).toBe(true);
  });
});
