/**
 * Values that run a command (a service's ImagePath, Run entries, debuggers) through
 * scanCommandLines with the `windows-registry` content scope, so the command-line rules
 * of every persistence place apply (pools, wallets, miner options) with the Windows
 * rules of windows-registry.yaml; a PowerShell -EncodedCommand is decoded by the command
 * scan (src/rules/decode.ts) and its script judged too.
 */
import type { CheckContext } from '../../model/check.js';
import type { Finding } from '../../model/finding.js';
import { scanCommandLines, type CommandLine } from '../shared/command-scan.js';
import { baseVars, type RegistryEntry } from './registry-entries.js';

/**
 * Runs the command-line rules over the entries' data, one CommandFile per hive. The
 * shared scan numbers lines; here a "line" is a value, so findings lose the number and
 * their messages name the value instead of "path:line".
 */
export async function scanEntryCommands(ctx: CheckContext, entries: RegistryEntry[], category: string): Promise<void> {
  const byHive = new Map<string, RegistryEntry[]>();
  for (const e of entries) byHive.set(e.hive.path, [...(byHive.get(e.hive.path) ?? []), e]);
  for (const [path, list] of byHive) {
    const lines: CommandLine[] = [];
    const whereOf = new Map<number, RegistryEntry>();
    for (const entry of list) {
      const add = (text: string, evidence: string) => {
        const line = lines.length + 1;
        whereOf.set(line, entry);
        lines.push({ line, text, evidence, vars: { ...baseVars(entry), ...entry.vars } });
      };
      add(entry.data, `${entry.where} = ${entry.data}`);
    }
    const view: CheckContext = {
      ...ctx,
      report: (finding: Finding) => {
        const entry = finding.line !== undefined ? whereOf.get(finding.line) : undefined;
        if (entry) {
          finding.message = finding.message.split(`${path}:${finding.line}`).join(entry.where);
          // A payload decoded from the value (a PowerShell -EncodedCommand, src/rules/decode.ts)
          // is quoted alone: name the value it came from.
          if (!finding.evidence.startsWith(entry.where)) finding.evidence = `${entry.where}: ${finding.evidence}`;
          delete finding.line;
        }
        ctx.report(finding);
      },
      // What a registry value starts is not recorded: the correlation pass reads a
      // persistence point as "path:line" of a text file, which a hive is not.
      started: () => undefined,
    };
    await scanCommandLines(view, { scope: 'windows-registry', path, category, vars: { context: '' }, fix: async (l) => String(l.vars?.fix ?? '') }, lines);
  }
}
