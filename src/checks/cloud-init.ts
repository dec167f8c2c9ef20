/**
 * The cloud-init check: what cloud-init runs on a cloud server, at every boot or at the
 * first boot of every instance launched from the disk (so also of a restored snapshot).
 *
 * - Scripts (cloud-init's cc_scripts_per_boot, _per_instance, _per_once and
 *   cc_scripts_user, which run every executable file of their directory as root):
 *   /var/lib/cloud/scripts/per-{boot,instance,once}/*, and the user-data scripts of each
 *   instance, /var/lib/cloud/instances/ID/scripts/* (vendor/ too; `instance` is a link to
 *   the current one). Read as shell with scope cloud-init; the file itself is recorded as
 *   started. A per-boot script no package owns is a low inventory finding: images ship
 *   some, intruders add theirs.
 * - Cloud-config (/etc/cloud/cloud.cfg, /etc/cloud/cloud.cfg.d/*.cfg, parsed in
 *   parsers/cloud-config.ts): every bootcmd and runcmd item is a command line of scope cloud-init;
 *   write_files content is decoded and scanned when its path is a persistence place, or
 *   when the shared rules find a high-severity line in it.
 *
 * Every command goes through the shared rules of command-lines.yaml (category
 * persistence/cloud-init); the pack of this check is cloud-init.yaml.
 */
import type { Check, CheckContext } from '../model/check.js';
import { readRunnable } from './shared/read-script.js';
import { basename, dirname } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import { shellQuote } from '../rules/ruleset.js';
import type { TemplateVars } from '../rules/ruleset.js';
import { deleteStartedCommands } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { crontabLines } from './shared/crontab-lines.js';
import { listDir, unitLines } from './shared/systemd-units.js';
import { readWholeText, type WholeText, activeLines } from '../facts/vfs-lines.js';
import { parseCloudConfig, type CloudCommand, type CloudWriteFile } from './parsers/cloud-config.js';

const CLOUD = '/var/lib/cloud';
const SCRIPT_DIRS = ['per-boot', 'per-instance', 'per-once'] as const;
const CONFIG_FILE = '/etc/cloud/cloud.cfg';
const CONFIG_DIR = '/etc/cloud/cloud.cfg.d';
/** What is read of a binary script to describe it (a text script is read whole). */
const MAX_FILE_BYTES = 1 << 20;
/** Instance directories read (a long-lived image re-launched many times keeps them all), and scripts in all. */
const MAX_INSTANCES = 32;
/**
 * Content of a cloud-config kept for the YAML parser, which costs about a second per
 * MiB of blank lines: comment padding is kept short whatever its size, and a file with
 * more content than this has its unread rest reported.
 */
const MAX_CONFIG_KEPT_BYTES = 8 << 20;
const MAX_SCRIPTS = 512;
const MAX_CONFIG_FILES = 256;
const CATEGORY = 'persistence/cloud-init';

type ScriptKind = (typeof SCRIPT_DIRS)[number] | 'user-data';

export const cloudInitCheck: Check = {
  id: 'cloud-init',
  ruleIds: ['cloud-init.per-boot-script', 'cloud-init.write-files-persistence', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [
    {
      what: 'cloud-init script or configuration',
      globs: ['/var/lib/cloud/scripts/per-boot', '/var/lib/cloud/scripts/per-boot/*', '/var/lib/cloud/scripts/per-instance/*', '/var/lib/cloud/scripts/per-once/*', '/etc/cloud/cloud.cfg', '/etc/cloud/cloud.cfg.d', '/etc/cloud/cloud.cfg.d/*'],
    },
  ],
  description: 'cloud-init per-boot, per-instance, per-once and user-data scripts, and bootcmd, runcmd and write_files of /etc/cloud',
  paths: [
    ...SCRIPT_DIRS.map((d) => `${CLOUD}/scripts/${d}/*`),
    `${CLOUD}/instance/scripts/*`,
    `${CLOUD}/instance/scripts/vendor/*`,
    `${CLOUD}/instances/*/scripts/*`,
    `${CLOUD}/instances/*/scripts/vendor/*`,
    CONFIG_FILE,
    `${CONFIG_DIR}/*.cfg`,
  ],
  async run(ctx) {
    const seen = new Set<string>();
    const scripts: { path: string; kind: ScriptKind; instance?: string }[] = [];
    for (const kind of SCRIPT_DIRS) {
      for (const e of await listDir(ctx, `${CLOUD}/scripts/${kind}`)) scripts.push({ path: e.path, kind });
    }
    const instances = (await listDir(ctx, `${CLOUD}/instances`)).filter((e) => e.type === 'directory');
    if (instances.length > MAX_INSTANCES) ctx.error(`${CLOUD}/instances`, new Error(`${instances.length} instance directories; the scripts of the first ${MAX_INSTANCES} were read`));
    const scriptDirs = [`${CLOUD}/instance`, ...instances.slice(0, MAX_INSTANCES).map((e) => e.path)].flatMap((d) => [`${d}/scripts`, `${d}/scripts/vendor`]);
    for (const dir of scriptDirs) {
      for (const e of await listDir(ctx, dir)) if (e.type !== 'directory') scripts.push({ path: e.path, kind: 'user-data' });
    }
    if (scripts.length > MAX_SCRIPTS) ctx.error(CLOUD, new Error(`${scripts.length} cloud-init scripts; the first ${MAX_SCRIPTS} were read`));
    for (const s of scripts.slice(0, MAX_SCRIPTS)) await checkScript(ctx, s.path, s.kind, seen);

    const configs = [CONFIG_FILE, ...(await listDir(ctx, CONFIG_DIR)).filter((e) => e.type !== 'directory' && e.path.endsWith('.cfg')).map((e) => e.path).sort()];
    if (configs.length > MAX_CONFIG_FILES + 1) ctx.error(CONFIG_DIR, new Error(`${configs.length - 1} files; the first ${MAX_CONFIG_FILES} were read`));
    for (const path of configs.slice(0, MAX_CONFIG_FILES + 1)) await checkConfig(ctx, path);
  },
};

// --- scripts ---------------------------------------------------------------------

async function checkScript(ctx: CheckContext, path: string, kind: ScriptKind, seen: Set<string>): Promise<void> {
  // cloud-init's runparts runs only executable files.
  const runnable = await readRunnable(ctx, path, seen, MAX_FILE_BYTES);
  if (!runnable) return;
  const { real, script } = runnable;
  // Report at the instances/ID path, which stays put when `instance` moves to a new one.
  const shown = kind === 'user-data' ? real : path;
  ctx.started({ path: shown, startedBy: `cloud-init ${kind === 'user-data' ? 'scripts-user' : `scripts-${kind}`}` });
  const instance = /^\/var\/lib\/cloud\/instances\/([^/]+)\//.exec(real)?.[1];
  const vars: TemplateVars = { context: scriptContext(kind, shown, instance), kind, dir: dirname(shown) };
  const fix = (started: string[]) => scriptFix(ctx, shown, kind, started);
  const binary = script.kind === 'binary';
  const lines = script.kind === 'script' ? scriptLines(script.text) : [];
  if (!binary) {
    const file: CommandFile = { scope: 'cloud-init', path: shown, category: CATEGORY, vars, fix: (_line, started) => fix(started) };
    await scanCommandLines(ctx, file, lines);
  }
  if (kind !== 'per-boot') return;
  const owner = await ctx.facts.packages.ownerOfAny([path, real]);
  if (owner.kind === 'owned' || (!binary && !lines.some((l) => l.run))) return;
  const commands = lines.filter((l) => l.run);
  ctx.report(
    ctx.rules.finding('cloud-init.per-boot-script', {
      path: shown,
      line: commands[0]?.line,
      evidence: script.kind === 'binary' ? `(executable file, ${script.bytesRead} bytes read)` : commands.slice(0, 5).map((l) => l.evidence).join('; '),
      category: CATEGORY,
      vars: { ...vars, owner: owner.kind === 'unknown' ? 'no package database tells whether a package owns it' : 'no package owns it', fix: await fix([]) },
    }),
  );
}

function scriptContext(kind: ScriptKind, path: string, instance: string | undefined): string {
  switch (kind) {
    case 'per-boot':
      return ' (cloud-init per-boot script: runs as root at every boot)';
    case 'per-instance':
      return ' (cloud-init per-instance script: runs as root at the first boot of every instance, also of every instance launched from a snapshot of this disk)';
    case 'per-once':
      return ' (cloud-init per-once script: runs as root once, and again after `cloud-init clean`)';
    case 'user-data':
      return ` (cloud-init ${basename(path) === 'runcmd' ? 'runcmd script' : 'user-data script'} of instance ${instance ?? 'unknown'}: ran as root at its first boot, and runs at the first boot of every instance given the same user data)`;
  }
}

async function scriptFix(ctx: CheckContext, path: string, kind: ScriptKind, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  commands.push(`rm -f ${shellQuote(path)}   # cloud-init runs every executable file in ${dirname(path)}`);
  if (kind === 'user-data') commands.push(`# and remove it from the instance's user data (cloud console or API), or the next instance runs it again`);
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}

// --- cloud-config ----------------------------------------------------------------

async function checkConfig(ctx: CheckContext, path: string): Promise<void> {
  let whole: WholeText;
  try {
    if ((await ctx.vfs.stat(path)).type !== 'file') return;
    // cloud-init loads the whole file. Only comments at the start of a line are kept short:
    // an indented '#' line may be content of a block scalar.
    whole = await readWholeText(ctx.vfs, path, { commentChars: '#', indentedComments: false, maxKeptBytes: MAX_CONFIG_KEPT_BYTES });
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  ctx.examined(path);
  if (whole.unread) ctx.error(path, whole.unread);
  const text = whole.text;
  let config;
  try {
    config = await parseCloudConfig(text);
  } catch (err) {
    ctx.error(path, err);
    return;
  }
  for (const p of config.problems) ctx.error(path, new Error(p));

  const lines: CommandLine[] = [];
  for (const c of config.commands) lines.push(...commandLines(c, path));
  const file: CommandFile = {
    scope: 'cloud-init',
    path,
    category: CATEGORY,
    vars: { context: '' },
    fix: (line, started) => {
      const entry = config.commands.find((c) => line.line >= c.line && line.line <= c.endLine);
      return entryFix(ctx, path, entry, started, `${entry?.key ?? 'command'} entry`);
    },
  };
  await scanInBatches(ctx, file, lines);

  for (const w of config.writeFiles) await checkWriteFile(ctx, path, w);
}

function commandContext(c: CloudCommand, path: string): string {
  return c.key === 'bootcmd'
    ? ` (bootcmd of ${path}: cloud-init runs it as root at every boot, before the network is up)`
    : ` (runcmd of ${path}: cloud-init runs it as root once per instance, at its first boot, also of every instance launched from a snapshot of this disk)`;
}

/** A string item may hold several shell lines; each is a line of cloud-init's script. */
function commandLines(c: CloudCommand, path: string): CommandLine[] {
  const vars = { context: commandContext(c, path), key: c.key };
  if (c.command === c.text) {
    return scriptLines(c.command).map((l) => ({ ...l, line: c.bodyLine !== undefined ? c.bodyLine + l.line - 1 : c.line, vars }));
  }
  return [{ line: c.line, text: c.text, evidence: c.evidence, run: { syntax: 'shell', command: c.command }, vars }];
}

/**
 * scanCommandLines reads one text line per line number; items of a flow list, or the
 * lines of a folded string, share a number, so they go in separate batches.
 */
async function scanInBatches(ctx: CheckContext, file: CommandFile, lines: CommandLine[]): Promise<void> {
  const batches: { numbers: Set<number>; lines: CommandLine[] }[] = [];
  for (const l of lines) {
    let batch = batches.find((b) => !b.numbers.has(l.line));
    if (!batch) batches.push((batch = { numbers: new Set(), lines: [] }));
    batch.numbers.add(l.line);
    batch.lines.push(l);
  }
  for (const b of batches) await scanCommandLines(ctx, file, b.lines);
}

async function entryFix(ctx: CheckContext, path: string, entry: { line: number; endLine: number; ownLines: boolean } | undefined, started: string[], what = 'entry'): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, path);
  if (unlock) commands.push(unlock);
  if (entry && entry.ownLines) {
    const range = entry.endLine > entry.line ? `${entry.line},${entry.endLine}` : `${entry.line}`;
    commands.push(`sed -i '${range}d' ${shellQuote(path)}   # deletes the ${what} at line${entry.endLine > entry.line ? `s ${entry.line}-${entry.endLine}` : ` ${entry.line}`}`);
  } else if (entry) {
    commands.push(`# edit ${path}: remove the ${what} at line ${entry.line} (it shares its line with others)`);
  }
  if (!what.startsWith('bootcmd')) commands.push('# before any `cloud-init clean`: it makes the next boot run runcmd and write_files again');
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}

// --- write_files -----------------------------------------------------------------

/** Paths whose content something runs or trusts: cron, systemd, init, shell start-up, preload, keys, sudo, udev, modules. */
const PERSISTENCE_TARGET =
  /^\/etc\/(?:crontab$|cron\.d\/|cron\.(?:hourly|daily|weekly|monthly)\/|anacrontab$|rc\.local$|init\.d\/|rc\d?\.d\/|profile$|profile\.d\/|bash\.bashrc$|bashrc$|zsh|environment$|ld\.so\.preload$|systemd\/|udev\/rules\.d\/|modprobe\.d\/|modules-load\.d\/|modules$|sudoers|ssh\/sshd_config|update-motd\.d\/|cloud\/)|^\/(?:usr\/)?lib\/(?:systemd|udev\/rules\.d)\/|^\/var\/spool\/cron\/|^\/var\/lib\/cloud\/scripts\/|\/\.(?:bashrc|profile|bash_profile|bash_login|bash_logout|zshrc|zprofile|zshenv|config\/systemd\/)|\/authorized_keys2?$|^\/usr\/local\/s?bin\//;

async function checkWriteFile(ctx: CheckContext, path: string, w: CloudWriteFile): Promise<void> {
  const target = w.target ?? '(no path)';
  const persistence = w.target !== undefined && PERSISTENCE_TARGET.test(w.target);
  const encoded = w.encoding === 'text' ? '' : ` (${w.encoding})`;
  const vars: TemplateVars = { target, encoding: w.encoding, context: '' };
  const fix = (started: string[]) => writeFileFix(ctx, path, w, started);
  if (w.problem) ctx.error(path, new Error(`write_files entry at line ${w.line} for ${target}: ${w.problem}`));
  if (persistence) {
    ctx.report(
      ctx.rules.finding('cloud-init.write-files-persistence', {
        path,
        line: w.line,
        evidence: `write_files path: ${target}${encoded}`,
        category: CATEGORY,
        vars: { ...vars, fix: await fix([]) },
      }),
    );
  }
  if (!w.content) return;
  const text = w.content.toString('utf8');
  if (!persistence && !ctx.rules.matchLines('cloud-init', path, text).some((h) => h.rule.severity === 'high')) return;
  const lines = contentLines(w.target ?? '', text);
  const exact = w.bodyLine !== undefined;
  for (const l of lines) {
    const n = l.line;
    l.line = exact ? w.bodyLine! + n - 1 : w.contentLine;
    l.vars = {
      ...l.vars,
      context: ` (${exact ? '' : `line ${n} of the ${w.encoding === 'text' ? '' : `${w.encoding}-decoded `}content of `}the write_files entry for ${target}: cloud-init writes it once per instance, as root)`,
    };
  }
  const file: CommandFile = { scope: 'cloud-init', path, category: CATEGORY, vars, fix: (_line, started) => fix(started) };
  await scanInBatches(ctx, file, lines);
}

/** The content as the file it becomes is read: a crontab, a unit, a key or list file, or a script. */
function contentLines(target: string, text: string): CommandLine[] {
  if (/^\/etc\/(?:crontab|cron\.d\/)/.test(target)) return crontabLines(text, 'system');
  if (/^\/etc\/anacrontab$/.test(target)) return crontabLines(text, 'anacron');
  if (/^\/var\/spool\/cron\//.test(target)) return crontabLines(text, 'user', basename(target));
  if (/\/systemd\/.*\.(?:service|socket|timer|path|mount)$|\.service\.d\/[^/]+\.conf$/.test(target)) return unitLines(text).lines;
  if (/\/authorized_keys2?$|^\/etc\/(?:ld\.so\.preload|sudoers|ssh\/|modprobe\.d\/|modules|environment$|cloud\/)|\/rules\.d\//.test(target)) {
    // Read, not run: the content rules still see every line.
    return activeLines(text).map(({ text: raw, line }) => ({ line, text: raw.trim(), evidence: raw.trim() }));
  }
  return scriptLines(text);
}

async function writeFileFix(ctx: CheckContext, path: string, w: CloudWriteFile, started: string[]): Promise<string> {
  const commands = [await entryFix(ctx, path, w, [], `write_files entry for ${w.target ?? 'a file'}`)];
  if (w.target !== undefined) {
    try {
      const real = await ctx.vfs.realpath(w.target);
      if ((await ctx.vfs.stat(real)).type === 'file' && (await ctx.facts.packages.owner(real)).kind !== 'owned') {
        const unlock = await unlockCommand(ctx, real);
        if (unlock) commands.push(unlock);
        commands.push(`rm -f ${shellQuote(real)}   # the file cloud-init wrote from it (check it first)`);
      }
    } catch {
      // Not written yet (the instance has not booted with it): nothing to delete.
    }
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.filter((c) => c !== '').join('\n');
}
