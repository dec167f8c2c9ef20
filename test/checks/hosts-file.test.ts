/**
 * The hosts-file check: security-agent domains (Alibaba Cloud aegis and CloudMonitor,
 * Tencent Cloud YunJing, an antivirus) pointed at loopback, 0.0.0.0, :: and reserved
 * addresses, mining pools pinned to an address, with exact rules and lines; Debian's
 * stock hosts file, internal names, an agent domain pinned to its real VPC address and
 * an ad-blocking list stay silent; a hostile file ends quickly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { classifyAddress, hostsFileCheck, parseHosts } from '../../src/checks/hosts-file.js';
import { scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { findingSummary, unfilledTemplates } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { put } from '../helpers/planted-tree.js';

const STOCK = '127.0.0.1\tlocalhost\n127.0.1.1\tweb01\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n';

describe('hosts-file check', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-hosts-');
    await put(
      path.join(scratch, 'infected'),
      'etc/hosts',
      STOCK +
        [
          '127.0.0.1 update.aegis.aliyun.com jsrv.aegis.aliyun.com # keep it quiet',
          '0.0.0.0\tupdate2.aegis.aliyun.com aegis.alicdn.com',
          ':: cms-cloudmonitor.aliyun.com',
          '255.255.255.255 s.yd.qcloud.com',
          '127.0.0.2 database.clamav.net.',
          '198.51.100.7 pool.supportxmr.com',
          '10.0.0.5 db01.internal gulf.moneroocean.stream',
          '',
        ].join('\n'),
    );
    await put(
      path.join(scratch, 'clean'),
      'etc/hosts',
      STOCK + '10.0.0.5 db01.internal db01\n100.100.30.25 update.aegis.aliyun.com\n0.0.0.0 ads.example.com tracker.example.net\nnot-an-address aegis.alicdn.com\n',
    );
    await put(path.join(scratch, 'hostile'), 'etc/hosts', `127.0.0.1 ${'a'.repeat(2_000_000)}\n${'0.0.0.0 x.aegis.aliyun.com '.repeat(20_000)}\n${'\u0000\u00ff'.repeat(100_000)}\n`);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('reports blocked security agents and pinned pools, one finding per line naming every host', async () => {
    const result = await scanDirectory(path.join(scratch, 'infected'), [hostsFileCheck]);
    expect(result.errors).toEqual([]);
    expect(unfilledTemplates(result.findings)).toEqual([]);
    expect(findingSummary(result.findings)).toEqual(
      [
        'high hosts.security-agent-blocked /etc/hosts:8',
        'high hosts.security-agent-blocked /etc/hosts:9',
        'high hosts.security-agent-blocked /etc/hosts:10',
        'high hosts.security-agent-blocked /etc/hosts:11',
        'high hosts.security-agent-blocked /etc/hosts:12',
        'high hosts.mining-pool-pinned /etc/hosts:13',
        'high hosts.mining-pool-pinned /etc/hosts:14',
      ].sort(),
    );
    const aegis = result.findings.find((f) => f.line === 8)!;
    expect(aegis.category).toBe('tampering/hosts');
    expect(aegis.message).toContain('points update.aegis.aliyun.com, jsrv.aegis.aliyun.com');
    expect(aegis.message).toContain('at 127.0.0.1');
    expect(aegis.remediation).toMatch(/^sed -i '8d' \/etc\/hosts   # deletes line 8: 127\.0\.0\.1 update\.aegis/);
    const pool = result.findings.find((f) => f.line === 13)!;
    expect(pool.message).toContain('pins pool.supportxmr.com');
  });

  it('classifies addresses and parses lines as the resolver does', () => {
    expect(['127.0.0.53', '0.0.0.0', '::', '::1', '::ffff:127.0.0.1', '240.1.1.1', '10.1.2.3', '100.100.30.25', 'fe80::1', '8.8.8.8', '2001:db8::1', 'x'].map(classifyAddress)).toEqual([
      'loopback', 'unspecified', 'unspecified', 'loopback', 'loopback', 'reserved', 'private', 'private', 'private', 'public', 'reserved', undefined,
    ]);
    expect(parseHosts('1.2.3.4 A.Example.  b # c d\n').map((e) => e.name)).toEqual(['a.example', 'b']);
  });

  it('keeps stock, internal names, VPC endpoints and ad-blocking entries silent', async () => {
    const result = await scanDirectory(path.join(scratch, 'clean'), [hostsFileCheck]);
    expect(result.errors).toEqual([]);
    expect(result.findings).toEqual([]);
  });

  it('reads a hostile file quickly', async () => {
    const result = await scanHostile(path.join(scratch, 'hostile'), [hostsFileCheck], { maxOperations: 100 });
    // Names past 64 on a line are ignored (the resolver's line buffer is smaller than that line); the repeated name is named once.
    const blocked = result.findings.filter((f) => f.rule === 'hosts.security-agent-blocked');
    expect(blocked.map((f) => f.line)).toEqual([2]);
    expect(blocked[0]!.message).toContain('points x.aegis.aliyun.com, a domain');
  });
});
