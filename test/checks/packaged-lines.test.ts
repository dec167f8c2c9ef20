/**
 * Content rules on a package's own, unchanged files: at most low, unless the rule names
 * malware itself (`malware-specific`, a family's rule) or the file is no longer what the
 * package installed. Packages are built with dpkg-deb and installed with dpkg --root,
 * so the digests compared are the ones dpkg recorded; Debian's real cloud-init and
 * AppArmor files are held to the same in the detection corpus (clean-provisioned and the
 * tampered-packaged-* cases, test/scan/packaged-corpus-lines.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { servicesCheck } from '../../src/checks/services.js';
import type { Finding } from '../../src/model/finding.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { buildDeb, initDpkgRoot, installDebs } from '../helpers/dpkg-root.js';

// Written in the manner of upstream units that take their input on a socket systemd passes as descriptor 3.
const HOTPLUG_UNIT = `[Unit]
Description=Device hotplug listener
Requires=devhook.socket

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'read event <&3; exec /usr/libexec/devhook/handle "$event"'
`;
const HELPER_INIT = `#!/bin/sh
### BEGIN INIT INFO
# Provides: fwhelper
### END INIT INFO
case "$1" in
  stop)
    echo "To drop every rule now, run: ufw disable"
    ;;
esac
`;
const MINER_UNIT = `[Service]
ExecStart=/usr/bin/hashd --donate-level 1 -o pool.supportxmr.com:3333 -u 4AMASi45ub7Qe4ZE36UT5G6cU4ud8Fhhe4deS4F3cw9KTAb8dLcukC7edhDQ7cn5d4gEYkbUrMWeWQLGsCmrG6dLaYyNoVK
`;

const byRule = (findings: Finding[], p: string) =>
  findings.filter((f) => f.path === p && f.rule.startsWith('command.')).map((f) => [f.rule, f.severity]).sort();

describe('content rules on packaged files', () => {
  let scratch: string;
  let root: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-packaged-lines-');
    root = path.join(scratch, 'root');
    await initDpkgRoot(root);
    await installDebs(root, [
      await buildDeb(scratch, {
        name: 'devhook',
        files: [
          { path: '/lib/systemd/system/devhook.service', content: HOTPLUG_UNIT },
          { path: '/lib/systemd/system/devhook-tampered.service', content: HOTPLUG_UNIT },
          { path: '/etc/init.d/fwhelper', content: HELPER_INIT, mode: 0o755, conffile: true },
          { path: '/lib/systemd/system/hashd.service', content: MINER_UNIT },
        ],
      }),
    ]);
    // Changed after install: the package database's digest no longer matches.
    await writeFile(path.join(root, 'lib/systemd/system/devhook-tampered.service'), `${HOTPLUG_UNIT}# local change\n`);
    // The same unit no package installed.
    await writeFile(path.join(root, 'lib/systemd/system/devhook-copy.service'), HOTPLUG_UNIT);
  }, 120_000);
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('caps a behaviour rule at low on the unchanged file, and says whose it is', async () => {
    const { findings, errors } = await scanDirectory(root, [servicesCheck]);
    expect(errors).toEqual([]);
    expect(byRule(findings, '/lib/systemd/system/devhook.service')).toEqual([['command.reverse-shell', 'low']]);
    const f = findings.find((x) => x.path === '/lib/systemd/system/devhook.service' && x.rule === 'command.reverse-shell')!;
    expect(f.message).toContain('is as package devhook installed it');
    expect(byRule(findings, '/etc/init.d/fwhelper')).toEqual([['command.disable-security', 'low']]);
  });

  it('keeps the severity on a changed packaged file and on an unowned copy', async () => {
    const { findings } = await scanDirectory(root, [servicesCheck]);
    expect(byRule(findings, '/lib/systemd/system/devhook-tampered.service')).toEqual([['command.reverse-shell', 'high']]);
    expect(byRule(findings, '/lib/systemd/system/devhook-copy.service')).toEqual([['command.reverse-shell', 'high']]);
  });

  it('keeps a malware-specific rule (a miner with a pool and a wallet) high on an unchanged packaged file', async () => {
    const { findings } = await scanDirectory(root, [servicesCheck]);
    expect(byRule(findings, '/lib/systemd/system/hashd.service')).toContainEqual(['command.miner', 'high']);
  });
});
