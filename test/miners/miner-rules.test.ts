/**
 * The rules of src/rules/builtin/miner-files.yaml, through the same judges the check uses:
 * each binary-strings rule fires on the strings its miner carries and not when one
 * group is missing; the miner-config rules on XMRig's and xmr-stak's formats and on a
 * bare pool list, never on ordinary configurations that share some keys.
 */
import { describe, expect, it } from 'vitest';
import { judgeBinaryStrings } from '../../src/miners/miner-binary.js';
import { judgeMinerConfig, isConfigName, looksLikeText } from '../../src/miners/miner-config.js';
import { builtinRules } from '../helpers/scan-dir.js';
import { XMR_WALLET } from './elf-fixtures.js';

const rules = await builtinRules();
const ETH = '0x52bc44d5378309ee2abf1539bf71de1b7d7be3b5';

describe('binary-strings rules', () => {
  it.each([
    ['miner.xmrig-binary', 'critical', ['XMRig/6.21.0', '--donate-level=N', 'rx/0', 'stratum+tcp://']],
    ['miner.xmrig-like-binary', 'high', ['--donate-level=N', 'cryptonight', 'nicehash']],
    ['miner.xmr-stak-binary', 'high', ['xmr-stak-rx 1.0.5', 'randomx', '"pool_address" : "pool.example.net:3333",']],
    ['miner.cpuminer-binary', 'high', ['cpuminer-multi 1.3.7', 'stratum+tcp://', '-a, --algo=ALGO']],
    ['miner.ccminer-binary', 'high', ['ccminer 2.3.1-tpruvot', 'stratum+tcp://', 'cuda']],
    ['miner.gpu-miner-binary', 'high', ['lolMiner 1.76', '--pool', 'etchash']],
    ['miner.gpu-miner-binary', 'high', ['T-Rex NVIDIA GPU miner', 'stratum+ssl://', 'kawpow']],
    ['miner.gpu-miner-binary', 'high', ['SRBMiner-MULTI', 'stratum+tcp://', 'randomx']],
    ['miner.packed-elf', 'medium', ['UPX!', '$Info: This file is packed with the UPX executable packer http://upx.sf.net $']],
  ])('%s (%s) fires on its strings and not when one is missing', (rule, severity, strings) => {
    const junk = ['GLIBC_2.34', '.shstrtab', 'libpthread.so.0'];
    const f = judgeBinaryStrings(rules, '/tmp/x', [...junk, ...strings]);
    expect(f).toMatchObject({ rule, severity, path: '/tmp/x' });
    for (let i = 0; i < strings.length; i++) {
      const fewer = strings.filter((_, j) => j !== i);
      expect(judgeBinaryStrings(rules, '/tmp/x', [...junk, ...fewer])?.rule, `without ${strings[i]}`).not.toBe(rule);
    }
  });

  it('reports the most severe rule once, with the strings that made it fire', () => {
    const f = judgeBinaryStrings(rules, '/usr/local/bin/kworker', ['xmrig', 'XMRig/6.21.0', 'donate.ssl.xmrig.com', 'cn/r', 'nicehash', 'UPX!']);
    expect(f).toMatchObject({ rule: 'miner.xmrig-binary', evidence: 'xmrig | donate.ssl.xmrig.com | cn/r | nicehash' });
    expect(f?.indicators).toBeUndefined();
  });

  it('stays quiet on lookalikes: a RandomX library, a miner hunter, a UPX mention', () => {
    for (const strings of [
      ['randomx_create_vm', 'RandomX', 'randomx', 'cryptonight'],
      ['pgrep xmrig', 'kill -9 minerd', 'randomx'],
      ['stratum+tcp://', 'nicehash', 'rx/0'],
      ['UPX!'],
      ['$Info: This file is packed with the UPX executable packer http://upx.sf.net $'],
    ]) {
      expect(judgeBinaryStrings(rules, '/opt/x', strings), strings.join(',')).toBeUndefined();
    }
  });
});

describe('miner-config rules', () => {
  it('minified XMRig JSON, the pools read from it', () => {
    const text = `{"donate-level":1,"pools":[{"url":"stratum+ssl://xmr.2miners.com:12222","user":"${XMR_WALLET}.w","tls":true}]}`;
    expect(judgeMinerConfig(rules, '/tmp/config_background.json', text)).toMatchObject({
      rule: 'miner.config',
      line: 1,
      indicators: { pools: ['xmr.2miners.com:12222'], wallets: [XMR_WALLET] },
    });
  });

  it("xmr-stak's pools.txt", () => {
    const text = `"pool_list" :\n[\n\t{"pool_address" : "pool.supportxmr.com:5555", "wallet_address" : "${XMR_WALLET}", "rig_id" : "", "pool_password" : "x", "use_nicehash" : false, "use_tls" : false, "tls_fingerprint" : "", "pool_weight" : 1 },\n],\n"currency" : "monero",\n`;
    expect(judgeMinerConfig(rules, '/root/.x/pools.txt', text)).toMatchObject({ rule: 'miner.config', line: 3, indicators: { pools: ['pool.supportxmr.com:5555'] } });
  });

  it('a launcher line pairing a stratum URL with an account of another coin', () => {
    const text = `#!/bin/sh\ncd /dev/shm/.g && ./t -a kawpow -o stratum+tcp://rvn.2miners.com:6060 -u ${ETH}.w1 -p x\n`;
    expect(judgeMinerConfig(rules, '/dev/shm/.g/run', text)).toMatchObject({
      rule: 'miner.config-text',
      line: 2,
      indicators: { pools: ['rvn.2miners.com:6060'], wallets: [ETH] },
    });
  });

  it('stays quiet on ordinary configurations and scripts', () => {
    const quiet = [
      // A database connection-pool configuration.
      '{"pools": [{"name": "main", "url": "db.internal:5432", "user": "app", "max": 20}], "cpu": {"limit": 2}}',
      // A health check and a monitoring script that only look for miners.
      '*/5 * * * * curl -fsS -m 10 https://hc-ping.com/abc\npgrep -f "stratum+tcp" && logger miner\n',
      '{"url": "https://api.example.com:443/v1", "user": "svc", "timeout": 30}',
      'stratum+tcp://pool.example.net:3333 is blocked by the firewall\n',
    ];
    for (const t of quiet) expect(judgeMinerConfig(rules, '/etc/x.json', t), t).toBeUndefined();
  });

  it('knows configuration names and text from binary', () => {
    expect(['config.json', 'config_background.json', 'a.conf', 'pools.txt', 'x.cfg'].every((n) => isConfigName(`/tmp/${n}`))).toBe(true);
    expect(isConfigName('/tmp/xmrig')).toBe(false);
    expect(looksLikeText(Buffer.from('{"a": 1}\n'))).toBe(true);
    expect(looksLikeText(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1]))).toBe(false);
    expect(looksLikeText(Buffer.alloc(0))).toBe(false);
  });
});
