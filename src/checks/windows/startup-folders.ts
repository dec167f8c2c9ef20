/**
 * The Windows Startup folders: what Explorer starts at every logon, for all users
 * (ProgramData\Microsoft\Windows\Start Menu\Programs\StartUp) and for each profile
 * (Users\<name>\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup). Shortcuts
 * (.lnk, src/checks/parsers/shell-link.ts) become one command line of their target,
 * arguments and working directory; scripts (.bat, .cmd, .ps1, .vbs, .js, ...) are judged
 * line by line; both through scanCommandLines in the windows-command scope. A program
 * placed in the folder itself (installers put shortcuts there, droppers put the program)
 * is recorded as started and fires windows-startup.program. desktop.ini is Explorer's.
 */
import type { Check, CheckContext } from '../../model/check.js';
import { COMMAND_SCAN_RULE_IDS, scanCommandLines, type CommandLine } from '../shared/command-scan.js';
import { caselessGlob } from '../../facts/windows/caseless.js';
import { limitExceeded } from '../../../mountfs/errors.js';
import { parseShellLink } from '../parsers/shell-link.js';
import { decodeWindowsText } from '../parsers/windows-text.js';
import { removeStartedPrograms, windowsDisplayPath } from './windows-paths.js';

const START_MENU = 'Microsoft/Windows/Start Menu/Programs/Startup';
const ALL_USERS = caselessGlob(`/ProgramData/${START_MENU}/*`);
const PER_USER = caselessGlob(`/Users/*/AppData/Roaming/${START_MENU}/*`);
/** Startup scripts and shortcuts are small; a bigger one is read up to this and the rest reported. */
const MAX_FILE_BYTES = 1 << 20;
const CATEGORY = 'persistence/startup-folder';
const PROGRAM = 'windows-startup.program';
const SCRIPT = /\.(?:bat|cmd|ps1|psm1|vbs|vbe|js|jse|wsf|wsh|hta)$/i;
const PROGRAM_FILE = /\.(?:exe|com|scr|pif|dll|cpl|msi)$/i;
/** cmd comments, PowerShell and VBScript comments: not run. */
const COMMENT = /^\s*(?:@?rem(?:\s|$)|::|#|'|\/\/)/i;

export const windowsStartupFoldersCheck: Check = {
  id: 'windows-startup-folders',
  description: 'Windows Startup folders (all users and each profile): the shortcuts, scripts and programs started at logon',
  persistence: true,
  platforms: ['windows'],
  paths: [ALL_USERS, PER_USER],
  ruleIds: [...COMMAND_SCAN_RULE_IDS, PROGRAM],
  async run(ctx) {
    for await (const entry of ctx.vfs.walk([ALL_USERS, PER_USER], { onError: (p, err) => ctx.error(p, err) })) {
      if (entry.stat.type !== 'file' || /\/desktop\.ini$/i.test(entry.path)) continue;
      const parts = entry.path.split('/');
      const owner = parts[1]!.toLowerCase() === 'users' ? parts[2]! : undefined;
      const context = ` (Startup folder of ${owner ?? 'all users'}: started at every logon${owner ? ` of ${owner}` : ''})`;
      try {
        await judgeEntry(ctx, entry.path, entry.stat.size, context);
      } catch (err) {
        ctx.error(entry.path, err);
      }
    }
  },
};

async function judgeEntry(ctx: CheckContext, path: string, size: number, context: string): Promise<void> {
  const remove = `Remove-Item -Force -LiteralPath '${windowsDisplayPath(path).replace(/'/g, "''")}'`;
  const file = { scope: 'windows-command' as const, path, category: CATEGORY, vars: { context }, fix: async (_l: CommandLine, started: string[]) => [remove, ...removeStartedPrograms(started)].join('\n') };
  if (PROGRAM_FILE.test(path)) {
    ctx.examined(path);
    ctx.started({ path, startedBy: path });
    ctx.report(ctx.rules.finding(PROGRAM, { path, evidence: windowsDisplayPath(path), category: CATEGORY, vars: { context, fix: remove } }));
    return;
  }
  const isLink = /\.lnk$/i.test(path);
  if (!isLink && !SCRIPT.test(path)) return;
  if (size > MAX_FILE_BYTES) ctx.error(path, limitExceeded('startup file', `${size} bytes; only the first ${MAX_FILE_BYTES} were read`));
  const bytes = await ctx.vfs.readFile(path, { maxBytes: MAX_FILE_BYTES });
  ctx.examined(path);
  if (isLink) {
    const link = parseShellLink(bytes);
    const target = link.target ?? link.relativePath;
    if (!target) return;
    const text = `${target} ${link.arguments ?? ''}`.trim();
    const evidence = link.workingDirectory ? `${text} (in ${link.workingDirectory})` : text;
    await scanCommandLines(ctx, file, [{ line: 1, text, evidence, run: { syntax: 'windows', command: `"${target}" ${link.arguments ?? ''}` } }]);
    return;
  }
  // cmd scripts run each line as a command; the other languages are read for what their lines say.
  const runs = /\.(?:bat|cmd)$/i.test(path);
  const lines: CommandLine[] = [];
  decodeWindowsText(bytes)
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || COMMENT.test(line)) return;
      lines.push({ line: i + 1, text: line, evidence: line, ...(runs ? { run: { syntax: 'windows' as const, command: line.replace(/^@/, '') } } : {}) });
    });
  await scanCommandLines(ctx, file, lines);
}
