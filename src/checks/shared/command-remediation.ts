/**
 * Remediation pieces the cron and services checks assemble into a finding's {fix}.
 */
import type { CheckContext } from '../../model/check.js';
import { shellQuote } from '../../rules/ruleset.js';
import { unlockCommand } from './unlock.js';
import type { CommandLine } from './command-scan.js';

/** Where packaged programs live: without a package database, these are not offered for deletion. */
const SYSTEM_PROGRAM_DIRS = /^\/(?:usr\/)?(?:s?bin|lib|lib32|lib64|libexec)\//;
const SHOWN_LINE_CHARS = 160;

/** `sed -i 'Nd' FILE` with the line it deletes shown, so the operator can check it first. */
export function deleteLineCommand(path: string, line: CommandLine): string {
  return `sed -i '${line.line}d' ${shellQuote(path)}   # deletes line ${line.line}: ${showLine(line.evidence)}`;
}

/** A line for a shell comment: control characters replaced, cut to a readable length. */
export function showLine(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > SHOWN_LINE_CHARS ? `${clean.slice(0, SHOWN_LINE_CHARS)}…` : clean;
}

/** Commands deleting the started programs that exist in the image and no package owns. */
export async function deleteStartedCommands(ctx: CheckContext, started: string[]): Promise<string[]> {
  const commands: string[] = [];
  for (const path of started) {
    let real: string;
    try {
      real = await ctx.vfs.realpath(path);
      if ((await ctx.vfs.stat(real)).type !== 'file') continue;
    } catch {
      continue;
    }
    const owner = await ctx.facts.packages.ownerOfAny([path, real]);
    if (owner.kind === 'owned') continue;
    if (owner.kind === 'unknown' && (SYSTEM_PROGRAM_DIRS.test(path) || SYSTEM_PROGRAM_DIRS.test(real))) continue;
    const unlock = await unlockCommand(ctx, real);
    if (unlock) commands.push(unlock);
    commands.push(`rm -f ${shellQuote(real)}   # the program it starts`);
  }
  return commands;
}
