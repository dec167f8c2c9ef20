/**
 * Debian's own files that command-line rules match, held against the rule that a
 * package's unchanged file is at most low (src/checks/shared/command-scan.ts): the
 * detection corpus's provisioned server has cloud-init and AppArmor installed from
 * Debian's packages (images/build-corpus.sh, install_packages), whose hotplug unit
 * reads its arguments from the socket systemd hands it (`read args <&3`, a reverse
 * shell's spelling) and whose init script tells how to tear profiles down
 * (aa-teardown). The tampered-packaged-* cases change those files after install: the
 * same rules keep their severity there.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { servicesCheck } from '../../src/checks/services.js';
import type { Finding } from '../../src/model/finding.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { fixture } from '../helpers/fixtures.js';

const CORPUS = fixture('detectionCorpus');
const HOTPLUG = '/usr/lib/systemd/system/cloud-init-hotplugd.service';
const APPARMOR = '/etc/init.d/apparmor';

const rulesOn = (findings: Finding[], p: string, rule: string) => findings.filter((f) => f.path === p && f.rule === rule);

describe("Debian's packaged lines", () => {
  it('the corpus holds the real files, with the lines the rules match', async () => {
    const root = path.join(CORPUS, 'clean-provisioned');
    expect(await readFile(path.join(root, HOTPLUG), 'utf8')).toContain('read args <&3');
    expect(await readFile(path.join(root, APPARMOR), 'utf8')).toContain("aa-teardown");
  });

  it('are low on the provisioned server, where the files are as the packages installed them', async () => {
    const { findings, errors } = await scanDirectory(path.join(CORPUS, 'clean-provisioned'), [servicesCheck]);
    expect(errors).toEqual([]);
    const shell = rulesOn(findings, HOTPLUG, 'command.reverse-shell');
    expect(shell.map((f) => f.severity)).toEqual(['low']);
    expect(shell[0]!.message).toContain('is as package cloud-init installed it');
    expect(rulesOn(findings, APPARMOR, 'command.disable-security').map((f) => f.severity)).toEqual(['low']);
  });

  it('keep their severity once the files are changed', async () => {
    const unit = await scanDirectory(path.join(CORPUS, 'tampered-packaged-unit'), [servicesCheck]);
    expect(rulesOn(unit.findings, HOTPLUG, 'command.reverse-shell').map((f) => f.severity)).toEqual(['high', 'high']);
    const init = await scanDirectory(path.join(CORPUS, 'tampered-packaged-init-script'), [servicesCheck]);
    expect(rulesOn(init.findings, APPARMOR, 'command.disable-security').map((f) => f.severity)).toEqual(['medium', 'medium']);
  });
});
