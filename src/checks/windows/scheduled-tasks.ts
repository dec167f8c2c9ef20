/**
 * The Windows scheduled-tasks check: every task under Windows\System32\Tasks (Task
 * Scheduler 2.0 XML, src/checks/parsers/task-xml.ts) and every legacy Windows\Tasks\*.job
 * (task-job.ts). Each Exec action's Command, Arguments and WorkingDirectory become one
 * command line judged by scanCommandLines in the windows-command scope (windows-commands.yaml
 * and the pool/wallet rules of command-lines.yaml), which also records what it starts.
 * Its own rules (windows-scheduled-tasks.yaml): a task run as SYSTEM whose program sits in
 * a folder other accounts can write to, and a hidden task outside Microsoft's folder.
 * Tasks the registry's TaskCache lists without a file are the registry checks' business.
 */
import type { Check, CheckContext } from '../../model/check.js';
import { COMMAND_SCAN_RULE_IDS, scanCommandLines, type CommandLine } from '../shared/command-scan.js';
import { decodeTaskText, parseTaskXml, type ScheduledTask } from '../parsers/task-xml.js';
import { parseJob } from '../parsers/task-job.js';
import { caselessGlob } from '../../facts/windows/caseless.js';
import { limitExceeded } from '../../../mountfs/errors.js';
import { isSystemAccount, isUserWritable, removeStartedPrograms, windowsDisplayPath } from './windows-paths.js';

const TASKS_DIR = caselessGlob('/Windows/System32/Tasks');
const TASK_XML = `${TASKS_DIR}/**`;
const JOB_FILES = caselessGlob('/Windows/Tasks/*.job');
/** Task files are a few KiB; Task Scheduler itself refuses far smaller ones than this. */
const MAX_TASK_BYTES = 1 << 20;
const CATEGORY = 'persistence/scheduled-task';
const SYSTEM_USER_WRITABLE = 'windows-task.system-user-writable';
const HIDDEN = 'windows-task.hidden';

export const windowsScheduledTasksCheck: Check = {
  id: 'windows-scheduled-tasks',
  description: 'Windows scheduled tasks (Task Scheduler XML and legacy .job files): what their actions run, as whom, hidden or not',
  persistence: true,
  platforms: ['windows'],
  paths: [TASK_XML, JOB_FILES],
  ruleIds: [...COMMAND_SCAN_RULE_IDS, SYSTEM_USER_WRITABLE, HIDDEN],
  async run(ctx) {
    const seen = new Set<string>();
    for await (const entry of ctx.vfs.walk([TASK_XML, JOB_FILES], { onError: (p, err) => ctx.error(p, err) })) {
      if (entry.stat.type !== 'file' || seen.has(entry.stat.id)) continue;
      seen.add(entry.stat.id);
      const bytes = await readTaskFile(ctx, entry.path, entry.stat.size);
      if (!bytes) continue;
      try {
        if (/\.job$/i.test(entry.path) && !/\/system32\/tasks\//i.test(entry.path)) await judgeJob(ctx, entry.path, bytes);
        else await judgeXml(ctx, entry.path, bytes);
      } catch (err) {
        ctx.error(entry.path, err);
      }
    }
  },
};

async function readTaskFile(ctx: CheckContext, path: string, size: number): Promise<Buffer | undefined> {
  if (size > MAX_TASK_BYTES) {
    ctx.error(path, limitExceeded('task file', `${size} bytes, over the ${MAX_TASK_BYTES}-byte bound of a task; not read`));
    return undefined;
  }
  try {
    const bytes = await ctx.vfs.readFile(path, { maxBytes: MAX_TASK_BYTES });
    ctx.examined(path);
    return bytes;
  } catch (err) {
    ctx.error(path, err);
    return undefined;
  }
}

/** A task as the check judges it, whichever format it came from. */
interface TaskView {
  path: string;
  name: string;
  hidden: boolean;
  enabled: boolean;
  runAs?: string;
  triggers: string[];
  actions: { line: number; command: string; arguments: string; workingDirectory: string }[];
}

async function judgeXml(ctx: CheckContext, path: string, bytes: Buffer): Promise<void> {
  const text = decodeTaskText(bytes);
  const task: ScheduledTask = parseTaskXml(text);
  const relative = path.split('/').slice(4).join('\\');
  // Each action reported at the line of its <Command>, so the finding points into the file.
  const commandLines: number[] = [];
  for (let at = text.indexOf('<Command'); at >= 0 && commandLines.length < task.execs.length; at = text.indexOf('<Command', at + 1)) {
    commandLines.push(lineAt(text, at));
  }
  await judge(ctx, {
    path,
    name: task.uri && task.uri.startsWith('\\') ? task.uri : `\\${relative}`,
    hidden: task.hidden,
    enabled: task.enabled,
    ...(task.runAs ? { runAs: task.runAs } : {}),
    triggers: task.triggers,
    actions: task.execs.map((e, i) => ({ line: commandLines[i] ?? i + 1, command: e.command, arguments: e.arguments, workingDirectory: e.workingDirectory })),
  });
}

async function judgeJob(ctx: CheckContext, path: string, bytes: Buffer): Promise<void> {
  const job = parseJob(bytes);
  await judge(ctx, {
    path,
    name: path.split('/').pop()!,
    hidden: job.hidden,
    enabled: !job.disabled,
    triggers: [],
    actions: job.application ? [{ line: 1, command: job.application, arguments: job.parameters, workingDirectory: job.workingDirectory }] : [],
  });
}

async function judge(ctx: CheckContext, task: TaskView): Promise<void> {
  const account = task.runAs ?? 'the account that registered it';
  const context = ` (scheduled task ${task.name}${task.enabled ? '' : ', disabled'}${task.hidden ? ', hidden' : ''}, runs as ${account}${task.triggers.length ? `, triggers: ${[...new Set(task.triggers)].join(', ')}` : ''})`;
  const remove = /\.job$/i.test(task.path) ? `Remove-Item -Force -LiteralPath '${windowsDisplayPath(task.path)}'` : `schtasks /Delete /TN "${task.name}" /F`;
  const lines: CommandLine[] = task.actions.map((a) => {
    const text = `${a.command} ${a.arguments}`.trim();
    return {
      line: a.line,
      text,
      evidence: a.workingDirectory ? `${text} (in ${a.workingDirectory})` : text,
      run: { syntax: 'windows', command: `${programOf(a.command, a.workingDirectory)} ${a.arguments}` },
    };
  });
  const started = await scanCommandLines(ctx, {
    scope: 'windows-command',
    path: task.path,
    category: CATEGORY,
    vars: { context, task: task.name },
    fix: async (_line, programs) => [remove, ...removeStartedPrograms(programs)].join('\n'),
  }, lines);

  for (const l of lines) {
    const programs = started.get(l.line) ?? [];
    const writable = programs.filter(isUserWritable);
    if (isSystemAccount(task.runAs) && writable.length > 0) {
      ctx.report(
        ctx.rules.finding(SYSTEM_USER_WRITABLE, {
          path: task.path,
          line: l.line,
          evidence: l.evidence,
          category: CATEGORY,
          vars: { task: task.name, name: windowsDisplayPath(writable[0]!), account, context, fix: [remove, ...removeStartedPrograms(programs)].join('\n') },
        }),
      );
    }
  }
  if (task.hidden && lines.length > 0 && !/^\\microsoft\\/i.test(task.name)) {
    ctx.report(
      ctx.rules.finding(HIDDEN, {
        path: task.path,
        line: lines[0]!.line,
        evidence: lines.map((l) => l.evidence).join('; '),
        category: CATEGORY,
        vars: { task: task.name, context, fix: remove },
      }),
    );
  }
}

/** The program quoted, found in the working directory when it is a bare name there. */
function programOf(command: string, workingDirectory: string): string {
  const bare = command.trim().replace(/^"|"$/g, '');
  if (workingDirectory && !/[\\/]/.test(bare)) {
    return `"${workingDirectory.replace(/^"|"$/g, '').replace(/[\\/]+$/, '')}\\${bare}"`;
  }
  return `"${bare}"`;
}

function lineAt(text: string, offset: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
