/**
 * Miner files on a Windows root, where intruders can write without an administrator's
 * installer: ProgramData, every profile (AppData, Downloads, Desktop), Users\Public,
 * Windows\Temp, PerfLogs, the recycle bin and the drive's root folders other than
 * Windows and Program Files. Three things are looked for:
 * - Windows programs (PE files, recognised by their MZ and PE signatures, whatever their
 *   name): their printable strings, read in bounded windows as the Linux miner-files
 *   check reads ELF strings (src/miners/elf-strings.ts), judged by the same
 *   binary-strings rules (miner-files.yaml: XMRig and its forks);
 * - miner configurations (config.json and the like, src/miners/miner-config.ts);
 * - names (windows-file name rules, windows-miner-files.yaml): xmrig.exe and the other
 *   miners' programs, and WinRing0, the kernel driver XMRig loads for its MSR tweak.
 * Findings from the shared rules get the Windows remediation of windows-miner.remove.
 * One scan reads at most SCAN_BYTE_BUDGET; what the budget leaves is an error entry.
 */
import type { Check, CheckContext } from '../../model/check.js';
import type { Finding } from '../../model/finding.js';
import { limitExceeded } from '../../../mountfs/errors.js';
import { readElfStrings, type ByteBudget } from '../../miners/elf-strings.js';
import { judgeBinaryStrings } from '../../miners/miner-binary.js';
import { CONFIG_MAX_BYTES, isConfigName, judgeMinerConfig, looksLikeText } from '../../miners/miner-config.js';
import { caselessGlob } from '../../facts/windows/caseless.js';
import { isPeSignature, PE_HEAD_BYTES, peHeaderOffset } from './pe-file.js';
import { isUserWritable, windowsDisplayPath } from './windows-paths.js';

const SCAN_BYTE_BUDGET = 1 << 30;
const MAX_WALK_ENTRIES = 3_000_000;
const REMOVE = 'windows-miner.remove';
const GLOBS = ['/ProgramData/**', '/Users/**', '/Windows/Temp/**', '/PerfLogs/**', '/$Recycle.Bin/**'].map(caselessGlob);
const TEXT_SAMPLE = 4096;

export const windowsMinerFilesCheck: Check = {
  id: 'windows-miner-files',
  description: 'Miner programs (PE files by their strings and names), miner configurations and the WinRing0 driver in folders any Windows account can write to',
  platforms: ['windows'],
  paths: GLOBS,
  ruleIds: [REMOVE],
  async run(ctx) {
    const budget: ByteBudget = { left: SCAN_BYTE_BUDGET };
    let overBudget = 0;
    let top: string[] = [];
    try {
      top = (await ctx.vfs.readdir('/')).filter((e) => e.type === 'directory').map((e) => e.name);
    } catch (err) {
      ctx.error('/', err);
    }
    // Folders at the drive's root other than Windows's own are writable by any account.
    const rootFolders = top.filter((n) => isUserWritable(`/${n}/x`)).map((n) => `/${n.replace(/[\\*?[\]{}()!+@,]/g, (c) => `\\${c}`)}/**`);
    const globs = [...new Set([...GLOBS, ...rootFolders])];
    for await (const entry of ctx.vfs.walk(globs, { maxEntries: MAX_WALK_ENTRIES, onError: (p, err) => ctx.error(p, err) })) {
      if (entry.stat.type !== 'file' || entry.stat.size === 0 || !isUserWritable(entry.path)) continue;
      if (budget.left <= 0) {
        overBudget++;
        continue;
      }
      try {
        for (const f of await examine(ctx, entry.path, entry.stat.size, budget)) ctx.report(f);
      } catch (err) {
        ctx.error(entry.path, err);
      }
    }
    if (overBudget > 0) ctx.error(undefined, limitExceeded('windows-miner-files check', `the ${SCAN_BYTE_BUDGET}-byte read budget ran out; files not read: ${overBudget}`));
  },
};

async function examine(ctx: CheckContext, path: string, size: number, budget: ByteBudget): Promise<Finding[]> {
  const out: Finding[] = [];
  const shown = windowsDisplayPath(path);
  const fix = ctx.rules.finding(REMOVE, { path, evidence: '', vars: { name: shown } }).remediation;
  for (const rule of ctx.rules.matchName('windows-file', path)) out.push(ctx.rules.finding(rule, { path, evidence: shown, vars: { name: shown } }));
  const configName = isConfigName(path);
  const head = await ctx.vfs.readFile(path, { maxBytes: configName && size <= CONFIG_MAX_BYTES ? size : PE_HEAD_BYTES });
  budget.left -= head.length;
  const lfanew = peHeaderOffset(head, size);
  if (lfanew !== undefined) {
    const signature = await ctx.vfs.readFile(path, { offset: lfanew, maxBytes: 4 });
    if (isPeSignature(signature)) {
      const strings = await readElfStrings(ctx.vfs, path, size, head.subarray(0, PE_HEAD_BYTES), budget);
      ctx.examined(path);
      const found = judgeBinaryStrings(ctx.rules, path, strings.strings);
      if (found) out.push({ ...found, remediation: fix });
    }
  } else if (configName && size <= CONFIG_MAX_BYTES && looksLikeText(head.subarray(0, TEXT_SAMPLE))) {
    ctx.examined(path);
    const found = judgeMinerConfig(ctx.rules, path, head.toString('utf8'));
    if (found) out.push({ ...found, remediation: fix });
  }
  return out;
}
