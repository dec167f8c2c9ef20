/**
 * The ld-so-conf check on planted trees: library directories in temporary, hidden, home
 * and unusual places (found through includes, a loop among them), an unpackaged vendor
 * drop-in, LD_AUDIT in /etc/environment, LD_PRELOAD in systemd's DefaultEnvironment=, with exact
 * rule ids, lines and severities; Debian's stock files stay silent; hostile files (a
 * huge line, binary junk, a deep include chain) end quickly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ldSoConfCheck, parseLdSoConf, preloadedLibraries } from '../../src/checks/ld-so-conf.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingSummary, unfilledTemplates } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { junkBytes, put } from '../helpers/planted-tree.js';

/** Debian bookworm's files, owned as dpkg lists them. */
async function plantStock(root: string): Promise<void> {
  await put(root, 'etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n\n');
  await put(root, 'etc/ld.so.conf.d/libc.conf', '# libc default configuration\n/usr/local/lib\n');
  await put(root, 'etc/ld.so.conf.d/x86_64-linux-gnu.conf', '# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n');
  await put(root, 'var/lib/dpkg/info/libc-bin.list', '/etc/ld.so.conf\n/etc/ld.so.conf.d\n/etc/ld.so.conf.d/libc.conf\n');
  await put(root, 'var/lib/dpkg/info/libc6:amd64.list', '/etc/ld.so.conf.d\n/etc/ld.so.conf.d/x86_64-linux-gnu.conf\n');
  await put(root, 'etc/environment', '');
  await put(root, 'etc/systemd/system.conf', '[Manager]\n#DefaultEnvironment=\n#LogLevel=info\n');
}

describe('ld-so-conf check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-ldconf-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');
    await plantStock(infected);
    await put(infected, 'etc/ld.so.conf.d/zz-sys.conf', '# system libs\n/tmp/.x\n/opt/vendor/lib:/dev/shm/lib\ninclude /var/tmp/more.conf\n');
    await put(infected, 'var/tmp/more.conf', '/home/bob/lib\n/srv/lib=libc6\n/usr/lib/.hid\n/usr/lib/mysql\n');
    await put(infected, 'etc/ld.so.conf.d/loop.conf', 'include /etc/ld.so.conf\n');
    await put(infected, 'etc/ld.so.conf.d/cuda.conf', '/usr/local/cuda/lib64\n');
    await put(infected, 'etc/environment', 'PATH="/usr/local/sbin:/usr/bin"\nLD_PRELOAD=/usr/lib/.lib/libx.so\n#LD_AUDIT=/commented.so\nLD_AUDIT=/usr/lib/.lib/libaudit.so\n');
    await put(infected, 'etc/systemd/system.conf', '[Manager]\n#DefaultEnvironment=\nDefaultEnvironment="LD_PRELOAD=/lib/x86_64-linux-gnu/libz.so.9" FOO=1\n');
    await put(infected, 'etc/systemd/system.conf.d/10-path.conf', '[Manager]\nDefaultEnvironment=LD_LIBRARY_PATH=/opt/app/lib\n');

    await plantStock(clean);
    await put(clean, 'etc/ld.so.conf.d/cuda.conf', '/usr/local/cuda/lib64\n');
    await put(clean, 'etc/ld.so.conf.d/oracle.conf', '/opt/oracle/instantclient_21_1\n');
    await put(clean, 'etc/environment', 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"\nLANG=en_US.UTF-8\n');

    await put(hostile, 'etc/ld.so.conf', `include /etc/ld.so.conf.d/*.conf\n${'/usr/lib:'.repeat(300_000)}\n`);
    const junk = junkBytes(300_000);
    await put(hostile, 'etc/ld.so.conf.d/junk.conf', junk);
    // A chain deeper than the include limit: every file includes the next.
    for (let i = 0; i < 40; i++) await put(hostile, `etc/ld.so.conf.d/c${i}.conf`, `include /etc/chain/c${i + 1}.conf\n`);
    for (let i = 0; i < 40; i++) await put(hostile, `etc/chain/c${i}.conf`, `include /etc/chain/c${i + 1}.conf\n/usr/lib/c${i}\n`);
    await put(hostile, 'etc/environment', `LD_AUDIT=${'/x'.repeat(200_000)}\n`);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports each planted library directory and preload with its rule, line and severity', async () => {
    const result = await scanDirectory(infected, [ldSoConfCheck]);
    expect(result.errors).toEqual([]);
    expect(unfilledTemplates(result.findings)).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(
      [
        'high linker.library-dir-in-temp /etc/ld.so.conf.d/zz-sys.conf:2',
        'high linker.library-dir-in-temp /etc/ld.so.conf.d/zz-sys.conf:3',
        'high linker.library-dir-in-temp /etc/ld.so.conf.d/zz-sys.conf:4',
        'high linker.library-dir-in-home /var/tmp/more.conf:1',
        'high linker.library-dir-unusual /var/tmp/more.conf:2',
        'high linker.library-dir-hidden /var/tmp/more.conf:3',
        'low linker.unpackaged-drop-in /etc/ld.so.conf.d/cuda.conf',
        // LD_PRELOAD on line 2 is the shell-startup check's.
        'high linker.environment-audit /etc/environment:4',
        'high linker.systemd-default-preload /etc/systemd/system.conf:3',
        'medium linker.environment-library-path /etc/systemd/system.conf.d/10-path.conf:2',
      ].sort(),
    );
    const temp = result.findings.find((f) => f.path === '/etc/ld.so.conf.d/zz-sys.conf' && f.line === 2)!;
    expect(temp.category).toBe('persistence/linker');
    expect(temp.message).toContain('/tmp/.x');
    expect(temp.remediation).toMatch(/^sed -i '2d' \/etc\/ld\.so\.conf\.d\/zz-sys\.conf   # deletes line 2: \/tmp\/\.x\nldconfig/);
    const shm = result.findings.find((f) => f.line === 3 && f.path.endsWith('zz-sys.conf'))!;
    expect(shm.message).toContain('/dev/shm/lib');
    const env = result.findings.find((f) => f.rule === 'linker.environment-audit')!;
    expect(env.message).toContain('sets LD_AUDIT');
    expect(env.remediation).toContain("sed -i '4d' /etc/environment");
    const systemd = result.findings.find((f) => f.rule === 'linker.systemd-default-preload')!;
    expect(systemd.remediation).toContain('systemctl daemon-reexec');
  });

  it('records preloaded libraries as started, so the hash check looks at them', async () => {
    expect(preloadedLibraries('LD_PRELOAD=/usr/lib/.lib/libx.so')).toEqual(['/usr/lib/.lib/libx.so']);
    expect(preloadedLibraries('DefaultEnvironment="LD_PRELOAD=/a.so /b.so" X=1')).toEqual(['/a.so', '/b.so']);
    expect(preloadedLibraries('LD_PRELOAD DEFAULT=/lib/c.so:/lib/d.so')).toEqual(['/lib/c.so', '/lib/d.so']);
  });

  it('parses ld.so.conf the way ldconfig does', () => {
    const entries = parseLdSoConf('include ld.so.conf.d/*.conf /x/*.conf\nhwcap 1 nosegneg\n/a:/b, /c=libc5 # /d\nrelative/dir\n', '/etc/ld.so.conf');
    expect(entries.map((e) => `${e.kind} ${e.value} ${e.line}`)).toEqual([
      'include /etc/ld.so.conf.d/*.conf 1',
      'include /x/*.conf 1',
      'dir /a 3',
      'dir /b 3',
      'dir /c 3',
    ]);
  });

  it('keeps Debian stock files and vendor drop-ins below medium', async () => {
    const result = await scanDirectory(clean, [ldSoConfCheck]);
    expect(result.errors).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(['low linker.unpackaged-drop-in /etc/ld.so.conf.d/cuda.conf', 'low linker.unpackaged-drop-in /etc/ld.so.conf.d/oracle.conf']);
  });

  it('reads hostile files quickly and bounded', async () => {
    const result = await scanHostile(hostile, [ldSoConfCheck], { maxOperations: 4_000 });
    // The chain stops at the include limit: c0..c6 of /etc/chain are read from the drop-ins' depth.
    const chained = result.findings.filter((f) => f.path.startsWith('/etc/chain/'));
    expect(chained).toEqual([]);
    expect(result.findings.filter((f) => f.rule === 'linker.environment-audit').map((f) => f.line)).toEqual([1]);
  });
});
