/**
 * Pool and wallet extraction on the texts miners really leave: XMRig command lines and
 * config.json (the format of xmrig/xmrig src/config.json), cpuminer and T-Rex command
 * lines, and texts that look alike but name no pool.
 */
import { describe, expect, it } from 'vitest';
import { extractMinerIndicators, MAX_INDICATORS } from '../../src/miners/pool-indicators.js';
import { parsePoolData } from '../../src/miners/pool-data.js';

/** The Monero General Fund's published address: a real standard address (95 characters). */
const XMR = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';
const XMR_INTEGRATED = `4${'B'.repeat(1)}${'9'.repeat(104)}`;
const XMR_SUB = `8${'A'.repeat(1)}${'7'.repeat(93)}`;
const ETH = '0x52bc44d5378309ee2abf1539bf71de1b7d7be3b5';

describe('extractMinerIndicators', () => {
  it('reads an XMRig command line: stratum URL, -o endpoint, wallet', () => {
    const text = `nohup ./xmrig -o stratum+tcp://Pool.SupportXMR.com:3333 -u ${XMR}.rig01 -p x --donate-level=1 -o 45.9.148.21:14444 >/dev/null &`;
    expect(extractMinerIndicators(text)).toEqual({
      pools: ['pool.supportxmr.com:3333', '45.9.148.21:14444'],
      wallets: [XMR],
    });
  });

  it('reads the XMRig config.json format', () => {
    const config = `{
    "donate-level": 1,
    "pools": [
        { "algo": null, "url": "gulf.moneroocean.stream:10001", "user": "${XMR}", "pass": "x", "tls": false },
        { "url": "stratum+ssl://xmr-eu1.nanopool.org:14433", "user": "${XMR}+50000" },
        { "url": "198.51.100.7:443", "user": "x" }
    ]
}`;
    expect(extractMinerIndicators(config)).toEqual({
      pools: ['gulf.moneroocean.stream:10001', 'xmr-eu1.nanopool.org:14433', '198.51.100.7:443'],
      wallets: [XMR],
    });
  });

  it('knows integrated addresses and subaddresses', () => {
    const text = `-u ${XMR_INTEGRATED} and later ${XMR_SUB}`;
    expect(extractMinerIndicators(text).wallets).toEqual([XMR_INTEGRATED, XMR_SUB]);
  });

  it('takes other coins only as a -u/"user" value', () => {
    expect(extractMinerIndicators(`t-rex -a ethash -o stratum2+tcp://eth.2miners.com:2020 -u ${ETH}.w1 -p x`)).toEqual({
      pools: ['eth.2miners.com:2020'],
      wallets: [ETH],
    });
    expect(extractMinerIndicators(`{"pool": "eu1.ethermine.org:4444", "wallet": "${ETH}"}`).wallets).toEqual([ETH]);
    // A contract address in ordinary text is no payout address.
    expect(extractMinerIndicators(`token ${ETH} deployed`).wallets).toEqual([]);
  });

  it('stratum schemes count whatever the host; the user part of a URL is not the host', () => {
    expect(extractMinerIndicators('minerd -a cryptonight -o stratum+tcp://worker1@10.0.0.8:3333').pools).toEqual(['10.0.0.8:3333']);
    expect(extractMinerIndicators('ethminer -P stratum1+tcp://mine.example.net').pools).toEqual(['mine.example.net']);
  });

  it('a known pool domain counts with a port anywhere, without one only after -o/"url"', () => {
    expect(extractMinerIndicators('connect pool.minexmr.com:4444 later').pools).toEqual(['pool.minexmr.com:4444']);
    expect(extractMinerIndicators('-o xmr.2miners.com').pools).toEqual(['xmr.2miners.com']);
    expect(extractMinerIndicators('see https://supportxmr.com for stats').pools).toEqual([]);
  });

  it('an unknown host on a pool port needs a wallet or -u beside it', () => {
    expect(extractMinerIndicators('ssh -o ProxyCommand=x -o host.example.com:3333').pools).toEqual([]);
    expect(extractMinerIndicators('-o host.example.com:3333 -u worker').pools).toEqual(['host.example.com:3333']);
    expect(extractMinerIndicators('-o host.example.com:8443 -u worker').pools).toEqual([]);
  });

  it('stays quiet on ordinary administration', () => {
    const texts = [
      'curl -fsS -m 10 --retry 5 -o /dev/null https://hc-ping.com/5f1e0c8a-0000-4000-8000-000000000000',
      'mount -o ro,noexec /dev/sdb1 /mnt; sudo -u www-data php artisan schedule:run',
      '{"url": "http://127.0.0.1:8080/health", "user": "admin"}',
      'pgrep -f xmrig && echo "miner found"; grep -r stratum+tcp /etc || true',
      'node /opt/app/server.js --port 3333',
    ];
    for (const t of texts) expect(extractMinerIndicators(t), t).toEqual({ pools: [], wallets: [] });
  });

  it('dedupes and keeps the first-seen order', () => {
    const text = `-o stratum+tcp://b.c3pool.com:13333 -u ${XMR}\n-o stratum+tcp://a.c3pool.com:13333 -u ${XMR}\n-o stratum+tcp://b.c3pool.com:13333`;
    expect(extractMinerIndicators(text)).toEqual({ pools: ['b.c3pool.com:13333', 'a.c3pool.com:13333'], wallets: [XMR] });
  });

  it('rejects impossible ports and hosts', () => {
    expect(extractMinerIndicators('stratum+tcp://pool.example.com:99999 stratum+tcp://999.1.1.1:3333 stratum+tcp://-bad-:1').pools).toEqual([]);
  });

  it('bounds the work on hostile text', () => {
    const many = Array.from({ length: 500 }, (_, i) => `stratum+tcp://p${i}.example.com:3333`).join(' ');
    expect(extractMinerIndicators(many).pools).toHaveLength(MAX_INDICATORS);
    const huge = 'stratum+tcp://'.repeat(400_000) + 'a'.repeat(2_000_000) + ` stratum+tcp://late.example.com:3333`;
    expect(extractMinerIndicators(huge).pools).toEqual([]);
    expect(extractMinerIndicators('\u0000\uffff'.repeat(100_000))).toEqual({ pools: [], wallets: [] });
  }, 30_000);
});

describe('parsePoolData', () => {
  it('fails loudly on malformed data', () => {
    expect(() => parsePoolData('rules: []\n', 'x.yaml')).toThrow(/x\.yaml: "miner-pools" must be a mapping/);
    const base = (over: string) =>
      `miner-pools:\n  url-schemes: [stratum+tcp]\n  domains: [a.com]\n  ports: [3333]\n  wallets: [{name: m, regex: 'x'}]\n  user-wallets: [{name: e, regex: 'y'}]\n${over}`;
    expect(() => parsePoolData(base(''), 'x.yaml')).not.toThrow();
    expect(() => parsePoolData(base('').replace('[3333]', '[70000]'), 'x.yaml')).toThrow(/ports/);
    expect(() => parsePoolData(base('').replace("'x'", "'('"), 'x.yaml')).toThrow(/wallets\[0\]/);
    expect(() => parsePoolData(base('').replace('a.com', 'not a domain'), 'x.yaml')).toThrow(/domains/);
  });
});
