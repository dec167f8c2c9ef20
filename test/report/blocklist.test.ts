/**
 * The report's blocklist: pools and wallets from findings' indicators or, without
 * them, from their evidence; the firewall and cloud entries filled from
 * src/rules/builtin/blocklist.yaml; hostile values kept out of the commands; and the
 * "Block these" block of the text report.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { cronCheck } from '../../src/checks/cron.js';
import { buildBlocklist, MAX_POOLS } from '../../src/report/blocklist.js';
import { parseBlocklistData } from '../../src/report/blocklist-data.js';
import { renderText } from '../../src/report/text.js';
import { SEVERITIES, type Finding } from '../../src/model/finding.js';
import { emptyTimeline } from '../../src/engine/timeline.js';
import type { ScanReport } from '../../src/model/report.js';
import { rowFromReport } from '../../src/fleet/summary.js';

const WALLET = '4' + 'A'.repeat(94).replace(/A/g, (_, i: number) => '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'[i % 58]!);

const finding = (evidence: string, indicators?: Finding['indicators']): Finding => ({
  rule: 'test.rule',
  category: 'test',
  severity: 'high',
  path: '/etc/crontab',
  line: 3,
  message: 'm',
  evidence,
  remediation: 'r',
  ...(indicators ? { indicators } : {}),
});

function reportWith(findings: Finding[]): ScanReport {
  return {
    schemaVersion: 1,
    tool: { name: 'minescan', version: 'test' },
    target: '/t',
    startedAt: '',
    finishedAt: '',
    source: null,
    findings,
    summary: Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as ScanReport['summary'],
    timeline: emptyTimeline(),
    blocklist: buildBlocklist(findings),
    stats: { filesExamined: 0, bytesRead: 0, bytesHashed: 0, durationMs: 0 },
    status: 'complete',
    errors: [],
    errorsOmitted: 0,
    notes: [],
  };
}

describe('blocklist', () => {
  it('takes indicators when a finding has them, its evidence otherwise, and fills every template', () => {
    const b = buildBlocklist([
      finding('anything', { pools: ['pool.supportxmr.com:3333', 'gulf.moneroocean.stream'], wallets: [WALLET] }),
      finding(`*/5 * * * * root /tmp/.x/xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u ${WALLET} -p x`),
      finding('0 3 * * * root /usr/local/bin/backup'),
    ]);
    expect(b.pools.map((p) => [p.pool, p.host, p.port, p.findings])).toEqual([
      ['pool.supportxmr.com:3333', 'pool.supportxmr.com', 3333, [0, 1]],
      ['gulf.moneroocean.stream', 'gulf.moneroocean.stream', undefined, [0]],
    ]);
    const supportxmr = Object.fromEntries(b.pools[0]!.entries.map((e) => [e.kind, e.text]));
    expect(supportxmr.iptables).toBe('iptables -A OUTPUT -p tcp -d pool.supportxmr.com --dport 3333 -j REJECT');
    expect(supportxmr.nftables).toContain('getent ahostsv4 pool.supportxmr.com');
    expect(supportxmr.nftables).toContain('tcp dport 3333 reject');
    expect(supportxmr['dns-sinkhole']).toContain("echo '0.0.0.0 pool.supportxmr.com' >> /etc/hosts");
    expect(supportxmr['aliyun-security-group']).toContain('aliyun ecs AuthorizeSecurityGroupEgress');
    expect(supportxmr['aliyun-security-group']).toContain('--Policy drop');
    expect(supportxmr['aliyun-security-group']).toContain('--PortRange 3333/3333');
    const portless = Object.fromEntries(b.pools[1]!.entries.map((e) => [e.kind, e.text]));
    expect(portless.iptables).toBe('iptables -A OUTPUT -d gulf.moneroocean.stream -j REJECT');
    expect(b.wallets).toEqual([{ wallet: WALLET, findings: [0, 1], pools: ['pool.supportxmr.com:3333', 'gulf.moneroocean.stream'] }]);
    const cloud = Object.fromEntries(b.cloud.map((c) => [c.kind, c.text]));
    expect(cloud['aws-security-group']).toMatch(/egress rules only allow/);
    expect(cloud['aws-dns-firewall']).toContain('--domains pool.supportxmr.com gulf.moneroocean.stream');
    expect(cloud['aws-network-firewall']).toContain('"Targets":["pool.supportxmr.com","gulf.moneroocean.stream"]');
    expect(b.notes.join(' ')).toMatch(/resolve a host name once/);
  });

  it('is empty for findings that name no pool, notes included', () => {
    expect(buildBlocklist([finding('curl -fsS https://hc-ping.com/abc'), finding('/usr/bin/certbot -q renew')])).toEqual({
      notes: [],
      pools: [],
      wallets: [],
      cloud: [],
      omitted: { pools: 0, wallets: 0 },
    });
  });

  it('keeps hostile values out of the commands and bounds the lists', () => {
    const b = buildBlocklist([
      finding('x', { pools: ['evil.com;rm -rf /:80', '$(reboot).com:1', 'ok.example:99999', 'Pool.SupportXMR.com:3333'], wallets: ['4abc;id', WALLET] }),
    ]);
    expect(b.pools.map((p) => p.pool)).toEqual(['pool.supportxmr.com:3333']);
    expect(b.wallets.map((w) => w.wallet)).toEqual([WALLET]);
    const many = buildBlocklist([finding('x', { pools: Array.from({ length: MAX_POOLS + 5 }, (_, i) => `p${i}.example.net:3333`), wallets: [] })]);
    expect(many.pools).toHaveLength(MAX_POOLS);
    expect(many.omitted).toEqual({ pools: 5, wallets: 0 });
    // Evidence of binary junk and a huge line: no crash, nothing invented.
    expect(buildBlocklist([finding('\0\xff'.repeat(300_000)), finding(`-o ${'a.'.repeat(200_000)}com:3333`)]).pools).toEqual([]);
  });

  it('fails loudly on malformed template data', () => {
    expect(() => parseBlocklistData('rules: []\n', 'b.yaml')).toThrow(/b.yaml: "blocklist" must be a mapping/);
    expect(() => parseBlocklistData('blocklist:\n  notes: []\n  per-pool:\n    - kind: x\n  all-pools: []\n', 'b.yaml')).toThrow(/per-pool\[0\]\.with-port/);
  });

  describe('from a planted cron line', () => {
    let scratch: string;
    beforeAll(async () => {
      scratch = await makeScratchDir('minescan-blocklist-');
    });
    afterAll(async () => {
      if (scratch) await removeScratchDir(scratch);
    });

    it('lists pool.supportxmr.com:3333 with the cron finding that names it, and prints "Block these"', async () => {
      await mkdir(path.join(scratch, 'etc'), { recursive: true });
      await writeFile(
        path.join(scratch, 'etc/crontab'),
        `SHELL=/bin/sh\n*/10 * * * * root /var/tmp/.sys/kworker -o stratum+tcp://pool.supportxmr.com:3333 -u ${WALLET} -k --donate-level 1\n`,
      );
      const { findings } = await scanDirectory(scratch, [cronCheck]);
      const b = buildBlocklist(findings);
      expect(b.pools.map((p) => p.pool)).toEqual(['pool.supportxmr.com:3333']);
      expect(b.pools[0]!.findings.map((i) => [findings[i]!.path, findings[i]!.line])).toContainEqual(['/etc/crontab', 2]);
      expect(b.wallets.map((w) => w.wallet)).toEqual([WALLET]);

      const text = renderText([reportWith(findings)], { color: false });
      expect(text).toContain('Block these (minescan applies none of them):');
      expect(text).toContain('  pool pool.supportxmr.com:3333 — named by /etc/crontab:2');
      expect(text).toContain('    iptables: iptables -A OUTPUT -p tcp -d pool.supportxmr.com --dport 3333 -j REJECT');
      expect(text).toContain(`    ${WALLET} (mines to pool.supportxmr.com:3333)`);
      // The fleet summary row carries the pools of each instance.
      expect(rowFromReport('i-0abc', 'eu-west-1', reportWith(findings), 'r.json').pools).toEqual(['pool.supportxmr.com:3333']);
    });

    it('prints no "Block these" block for a clean crontab', async () => {
      await writeFile(path.join(scratch, 'etc/crontab'), '*/10 * * * * root curl -fsS -m 10 -o /dev/null https://hc-ping.com/6f1a2c3d\n');
      const { findings } = await scanDirectory(scratch, [cronCheck]);
      expect(renderText([reportWith(findings)], { color: false })).not.toContain('Block these');
    });
  });
});
