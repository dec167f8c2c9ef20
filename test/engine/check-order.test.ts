/**
 * The findings of a scan do not depend on the order of ALL_CHECKS: the engine runs the
 * checks phase by phase (find, follow, combine) and decides between findings on one
 * path from the rule packs. A planted root exercises each dependency: a cron line
 * starting a script in /tmp that starts a miner (follow phase), the miner's digest on a
 * hash list and the started-file inventory (combine phase), and an unowned file a path
 * rule names, whose unowned finding yields to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ALL_CHECKS } from '../../src/checks/index.js';
import type { Check } from '../../src/model/check.js';
import type { Finding } from '../../src/model/finding.js';
import { applyPrecedence } from '../../src/engine/precedence.js';
import { loadHashLists } from '../../src/hashes/load-hash-list.js';
import { builtinRules, scanDirectory } from '../helpers/scan-dir.js';
import { plantFiles } from '../helpers/planted-tree.js';

const MINER = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.alloc(64, 7), Buffer.from('xmrig donate-level')]);

let scratch: string;
let hashList: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'minescan-order-'));
  await plantFiles(path.join(scratch, 'root'), {
    'etc/crontab': '*/5 * * * * root /usr/local/bin/update.sh\n',
    'usr/local/bin/update.sh': { content: '#!/bin/sh\n/tmp/.x/run.sh >/dev/null 2>&1\n', mode: 0o755 },
    'tmp/.x/run.sh': { content: '#!/bin/sh\ncd /tmp/.x && ./kworker -o pool.supportxmr.com:3333\nhistory -c\n', mode: 0o755 },
    'tmp/.x/kworker': { content: MINER, mode: 0o755 },
    'tmp/xmrig-6.21/xmrig': { content: MINER, mode: 0o755 },
    'usr/bin/ps.original': { content: MINER, mode: 0o755 },
  });
  hashList = path.join(scratch, 'miners.txt');
  await writeFile(hashList, `${createHash('md5').update(MINER).digest('hex')}  Coinminer.Linux.XMRig\n`);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A fixed permutation per seed (mulberry32), so a failure can be replayed. */
function shuffled<T>(list: readonly T[], seed: number): T[] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const canonical = (findings: Finding[]) => findings.map((f) => JSON.stringify(f)).sort();

describe('the order of ALL_CHECKS', () => {
  it('does not change the findings', async () => {
    const root = path.join(scratch, 'root');
    const hashes = await loadHashLists([hashList], { bundled: false });
    const scan = async (checks: readonly Check[]) => {
      const result = await scanDirectory(root, checks, hashes);
      expect(result.errors).toEqual([]);
      return result.findings;
    };
    const listed = await scan(ALL_CHECKS);
    const rules = listed.map((f) => f.rule);
    // The planted chain is found through every phase, so the comparison means something.
    expect(rules).toContain('hash.known-malware');
    expect(listed.some((f) => f.rule.startsWith('correlation.'))).toBe(true);
    expect(listed.some((f) => f.category === 'persistence/script' && f.path === '/tmp/.x/run.sh')).toBe(true);
    const want = canonical(listed);
    for (const seed of [1, 2, 3]) expect(canonical(await scan(shuffled(ALL_CHECKS, seed)))).toEqual(want);
    expect(canonical(await scan([...ALL_CHECKS].reverse()))).toEqual(want);
  });
});

describe('the phases', () => {
  it('refuse a find check that reads the started files and a combine check that records one', async () => {
    const root = path.join(scratch, 'root');
    const early: Check = { id: 'reads-too-early', description: 'test', paths: [], run: async (ctx) => void ctx.startedFiles() };
    const late: Check = { id: 'records-too-late', description: 'test', phase: 'combine', paths: [], run: async (ctx) => ctx.started({ path: '/x', startedBy: '/y:1' }) };
    const result = await scanDirectory(root, [late, early]);
    expect(result.errors.map((e) => [e.kind, e.check])).toEqual([
      ['check-failed', 'reads-too-early'],
      ['check-failed', 'records-too-late'],
    ]);
  });
});

describe('precedence between findings on one path', () => {
  it('drops an unowned-file finding where hijacked-commands or a path rule says more, in either order', async () => {
    const rules = await builtinRules();
    const unowned = rules.finding('integrity.unowned-system-binary', { path: '/usr/bin/ps.original', evidence: 'x', vars: { kind: 'an ELF program', dir: '/usr/bin' } });
    const moved = rules.finding('hijacked-command.moved-original', { path: '/usr/bin/ps.original', evidence: 'x' });
    const other = rules.finding('integrity.unowned-system-binary', { path: '/usr/bin/kswaped', evidence: 'x', vars: { kind: 'an ELF program', dir: '/usr/bin' } });
    expect(applyPrecedence([unowned, moved, other], rules)).toEqual([moved, other]);
    expect(applyPrecedence([moved, other, unowned], rules)).toEqual([moved, other]);
    const pathRule = rules.pathRules()[0]!;
    const named = rules.finding(pathRule, { path: '/usr/bin/kswaped', evidence: 'x' });
    expect(applyPrecedence([other, named], rules)).toEqual([named]);
    // A finding of a rule that yields to nothing stays beside anything.
    expect(applyPrecedence([moved, named], rules)).toEqual([moved, named]);
  });
});
