import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { indicatorPathsCheck } from '../../src/checks/indicator-paths.js';
import { builtinRules, scanDirectory } from '../helpers/scan-dir.js';
import { declaredPaths } from '../../src/model/check.js';
import type { CheckRunResult } from '../../src/engine/run-checks.js';

const ELF = '\x7fELF\x02\x01\x01\x00';
const XMRIG_CONFIG = '{\n  "autosave": true,\n  "donate-level": 1,\n  "pools": [{"url": "pool.supportxmr.com:3333"}]\n}\n';

async function put(root: string, rel: string, content = ELF): Promise<void> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content, 'latin1');
}

/** Every family's indicators, and the generic miner ones. */
async function plantInfected(root: string): Promise<void> {
  await put(root, 'etc/libsystem.so');
  await put(root, 'tmp/kdevtmpfsi');
  await put(root, 'var/tmp/.ice-unix/kdevtmpfsi');
  await put(root, 'etc/kinsing');
  await mkdir(path.join(root, 'var/tmp'), { recursive: true });
  await symlink('/etc/kinsing', path.join(root, 'var/tmp/kinsing'));
  await put(root, 'root/.configrc5/a/upd', '#!/bin/sh\n./kswapd0\n');
  await mkdir(path.join(root, 'home/admin/.configrc7'), { recursive: true });
  await put(root, 'tmp/.X25-unix/.rsync/c/tsm');
  await put(root, 'opt/sysetmd/sysetmd');
  await put(root, 'etc/systemd/system/A_li_yun_Duns.service', '[Service]\nExecStart=/opt/sysetmd/sysetmd\n');
  await put(root, 'usr/bin/kaudited');
  await put(root, 'lib/modules/4.18.0-348.el8.x86_64/kernel/drivers/net/netlink.ko');
  await put(root, 'usr/bin/cleanfda');
  await put(root, 'root/.cache/.x/config.json', XMRIG_CONFIG);
  // A config with binary junk around the setting still matches, shown with the junk masked.
  await put(root, 'dev/shm/.s/config.json', `\x00\x01\xff${'A'.repeat(100)}"donate-level":0,\x00\x02`);
  await put(root, 'tmp/xmrig-6.21.0/xmrig');
}

/** Near misses: the same places with ordinary content, look-alike names and wrong types. */
async function plantClean(root: string): Promise<void> {
  await mkdir(path.join(root, 'tmp/.X11-unix'), { recursive: true });
  await mkdir(path.join(root, 'tmp/.X25-unix'), { recursive: true });
  await mkdir(path.join(root, 'tmp/kdevtmpfsi'), { recursive: true });
  await mkdir(path.join(root, 'etc/libsystem.so'), { recursive: true });
  await put(root, 'root/.config/app/config.json', '{"theme": "dark", "donate": false}\n');
  await put(root, 'home/admin/.vscode/config.json', '{"telemetry": {"level": "off"}}\n');
  await put(root, 'root/.configrc', 'a file, not a kit directory\n');
  await put(root, 'usr/sbin/auditd');
  await put(root, 'lib/modules/6.1.0-18-amd64/kernel/net/netlink/netlink_diag.ko');
  await put(root, 'etc/systemd/system/ssh.service', '[Service]\nExecStart=/usr/sbin/sshd -D\n');
  await put(root, 'opt/sysetmd-docs/README', 'not the miner\n');
  await put(root, 'var/lib/xmrig-notes.txt', 'not in a temporary directory\n');
  // Outside every glob: never visited, whatever it holds.
  await put(root, 'srv/data/deep/config.json', XMRIG_CONFIG);
}

const summary = (r: CheckRunResult) => r.findings.map((f) => `${f.rule} ${f.severity} ${f.family ?? '-'} ${f.path}`).sort();

describe('indicator-paths', () => {
  let scratch: string;
  let infected: CheckRunResult;
  let clean: CheckRunResult;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-indicators-'));
    await plantInfected(path.join(scratch, 'infected'));
    await plantClean(path.join(scratch, 'clean'));
    infected = await scanDirectory(path.join(scratch, 'infected'), [indicatorPathsCheck]);
    clean = await scanDirectory(path.join(scratch, 'clean'), [indicatorPathsCheck]);
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('finds each planted indicator once, with its family', () => {
    expect(infected.errors).toEqual([]);
    expect(summary(infected)).toEqual([
      'aliyun-duns.sysetmd-dir critical aliyun-duns /opt/sysetmd',
      'aliyun-duns.unit-file critical aliyun-duns /etc/systemd/system/A_li_yun_Duns.service',
      'cleanfda.binary critical cleanfda /usr/bin/cleanfda',
      'indicator.xmrig-binary-temp high - /tmp/xmrig-6.21.0/xmrig',
      'indicator.xmrig-config high - /dev/shm/.s/config.json',
      'indicator.xmrig-config high - /root/.cache/.x/config.json',
      'kinsing.libsystem-file critical kinsing /etc/libsystem.so',
      'kinsing.loader-file critical kinsing /etc/kinsing',
      'kinsing.loader-file critical kinsing /var/tmp/kinsing',
      'kinsing.miner-file critical kinsing /tmp/kdevtmpfsi',
      'kinsing.miner-file critical kinsing /var/tmp/.ice-unix/kdevtmpfsi',
      'outlaw.configrc-dir critical outlaw /home/admin/.configrc7',
      'outlaw.configrc-dir critical outlaw /root/.configrc5',
      'outlaw.rsync-dir critical outlaw /tmp/.X25-unix/.rsync',
      'skidmap.binary critical skidmap /usr/bin/kaudited',
      'skidmap.kernel-module critical skidmap /lib/modules/4.18.0-348.el8.x86_64/kernel/drivers/net/netlink.ko',
    ]);
    for (const f of infected.findings) {
      expect(f.remediation).toContain(f.rule === 'indicator.xmrig-config' || f.rule === 'outlaw.rsync-dir' ? path.dirname(f.path) : f.path);
      expect(f.category).toMatch(/^malware\//);
    }
  });

  it('says what is there, and quotes the text a contains rule matched', () => {
    const find = (p: string) => infected.findings.find((f) => f.path === p)!;
    expect(find('/usr/bin/kaudited').evidence).toMatch(/^file, 8 bytes, mode 0644, modified \d{4}-\d\d-\d\dT/);
    expect(find('/usr/bin/kaudited').message).toBe('/usr/bin/kaudited is a Skidmap component (kaudited)');
    expect(find('/root/.configrc5').evidence).toMatch(/^directory, mode 0755/);
    expect(find('/var/tmp/kinsing').evidence).toMatch(/^symlink to a file, 8 bytes/);
    expect(find('/root/.cache/.x/config.json').evidence).toBe(
      '{ "autosave": true, "donate-level": 1, "pools": [{"url": "pool.supportxmr.com:3333"}] }',
    );
    expect(find('/dev/shm/.s/config.json').evidence).toBe(`${'A'.repeat(60)}"donate-level":0,.`);
    expect(find('/etc/systemd/system/A_li_yun_Duns.service').remediation).toContain('systemctl disable --now A_li_yun_Duns.service');
    expect(find('/root/.configrc5').remediation).toContain('rm -rf /root/.configrc5');
  });

  it('counts the entries it examined', () => {
    expect(infected.filesExamined).toBe(16);
  });

  it('declares only the files its contains rules read, so read-once sources keep just those', async () => {
    const paths = declaredPaths(indicatorPathsCheck, await builtinRules());
    expect(paths).toContain('/tmp/**/config.json');
    expect(paths).toContain('/home/*/.config/xmrig.json');
    expect(paths).not.toContain('/etc/libsystem.so');
    expect(paths).not.toContain('/**');
  });

  it('finds nothing in the clean counterpart', () => {
    expect(clean.errors).toEqual([]);
    expect(clean.findings).toEqual([]);
  });
});
