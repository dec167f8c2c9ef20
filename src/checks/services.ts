/**
 * The services check: what starts by itself at boot.
 *
 * systemd (systemd.unit(5), systemd.service(5)): unit files in /etc/systemd/system,
 * /run/systemd/system, /usr/lib/systemd/system and /lib/systemd/system, their drop-ins
 * and their enabled, masked or timer-started state, read as systemd-units.ts describes.
 *
 * SysV and friends: /etc/rc.local, /etc/inittab (id:runlevels:action:process),
 * /etc/init.d/*, /etc/rc.d/** (RHEL's init.d, rc.local and rc?.d), /etc/rc?.d/*; the
 * same file reached through several links is read once, under its real path.
 *
 * Findings say whether the unit is enabled. Severities come from the rules and do not
 * change with the state: a disabled unit that starts a miner from /tmp is one
 * `systemctl enable` (or one timer) away from running, and critical stays reserved for
 * family indicators.
 */
import type { Check, CheckContext } from '../model/check.js';
import { isElf } from './shared/file-head.js';
import { readScriptOnce, type ScriptRead } from './shared/read-script.js';
import { basename, dirname } from '../../mountfs/path.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteLineCommand, deleteStartedCommands } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { INIT_GLOBS, SERVICE_PATHS, UNIT_DIRS } from './shared/whole-file-places.js';
import { activeLines } from '../facts/vfs-lines.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { indexUnits, scanUnitFile, unitState, type UnitFile, type UnitIndex, type UnitState } from './shared/systemd-units.js';

const SYSTEMD = 'persistence/systemd';
const INIT = 'persistence/init';

export const servicesCheck: Check = {
  id: 'services',
  ruleIds: ['init.binary-script', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [
    { what: 'systemd unit', globs: UNIT_DIRS.flatMap((d) => [d, `${d}/*`, `${d}/*/*`]) },
    { what: 'boot script', globs: ['/etc/rc.local', '/etc/inittab', '/etc/init.d', '/etc/init.d/*', '/etc/rc.d', '/etc/rc.d/*', '/etc/rc.d/*/*', '/etc/rc[0-6S].d', '/etc/rc[0-6S].d/*'] },
  ],
  description: 'Self-starting services: systemd units with their enabled state, rc.local, inittab and init scripts',
  paths: SERVICE_PATHS,
  async run(ctx) {
    const index = await indexUnits(ctx, UNIT_DIRS);
    for (const unit of index.files.values()) await scanUnit(ctx, index, unit);
    for (const script of await initScripts(ctx)) await scanInitScript(ctx, script);
  },
};

// ---------------------------------------------------------------------------------
// systemd units
// ---------------------------------------------------------------------------------

async function scanUnit(ctx: CheckContext, index: UnitIndex, unit: UnitFile): Promise<void> {
  const state = unitState(index, unit);
  const context = unit.dropIn ? ` (drop-in of unit ${unit.name}, which is ${state.text})` : ` (unit ${unit.name}, ${state.text})`;
  await scanUnitFile(ctx, index, unit, { category: SYSTEMD, context, fix: (started) => unitFix(ctx, unit, state, started) });
}

async function unitFix(ctx: CheckContext, unit: UnitFile, state: UnitState, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, unit.path);
  if (unlock) commands.push(unlock);
  const owner = await ctx.facts.packages.owner(unit.path);
  if (owner.kind === 'owned') {
    commands.push((await ctx.facts.packageCommands()).restore(owner, unit.path));
    commands.push('systemctl daemon-reload');
  } else if (unit.dropIn) {
    commands.push(`rm -f ${shellQuote(unit.path)}`);
    commands.push(`systemctl daemon-reload && systemctl restart ${shellQuote(unit.name)}`);
  } else {
    commands.push(`systemctl disable --now ${shellQuote(unit.name)}`);
    const remove = [unit.path, ...unit.links, ...state.links].filter((p, i, all) => all.indexOf(p) === i);
    commands.push(`rm -f ${remove.map(shellQuote).join(' ')}`);
    commands.push('systemctl daemon-reload');
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}

// ---------------------------------------------------------------------------------
// rc.local, inittab, init scripts
// ---------------------------------------------------------------------------------

type InitKind = 'rc.local' | 'inittab' | 'init.d' | 'boot-script';

interface InitScript {
  path: string;
  kind: InitKind;
}

async function initScripts(ctx: CheckContext): Promise<InitScript[]> {
  const byReal = new Map<string, InitScript>();
  for await (const entry of ctx.vfs.walk(INIT_GLOBS, { onError: (p, e) => ctx.error(p, e) })) {
    if (entry.stat.type === 'directory') continue;
    let real: string;
    try {
      real = await ctx.vfs.realpath(entry.path);
      if ((await ctx.vfs.stat(real)).type !== 'file') continue;
    } catch {
      continue; // a dangling rc?.d link starts nothing
    }
    if (!byReal.has(real)) byReal.set(real, { path: real, kind: initKind(real) });
  }
  return [...byReal.values()];
}

function initKind(path: string): InitKind {
  const name = basename(path);
  if (name === 'rc.local') return 'rc.local';
  if (path === '/etc/inittab') return 'inittab';
  if (dirname(path) === '/etc/init.d' || dirname(path) === '/etc/rc.d/init.d') return 'init.d';
  return 'boot-script';
}

const INIT_CONTEXT: Record<InitKind, string> = {
  'rc.local': ' (rc.local, run as root at the end of boot)',
  inittab: ' (inittab entry)',
  'init.d': ' (init script, run as root at boot)',
  'boot-script': ' (boot script, run as root)',
};

async function scanInitScript(ctx: CheckContext, script: InitScript): Promise<void> {
  // One read: the head tells an ELF from a script, and a script is read on from there, as the shell reads it.
  let size: number;
  let read: ScriptRead;
  try {
    size = (await ctx.vfs.stat(script.path)).size;
    read = await readScriptOnce(ctx.vfs, script.path, size, 0, (head) => script.kind === 'inittab' || !isElf(head));
  } catch (err) {
    ctx.error(script.path, err);
    return;
  }
  ctx.examined(script.path);
  if (read.kind === 'binary') {
    ctx.report(
      ctx.rules.finding('init.binary-script', {
        path: script.path,
        evidence: `ELF executable, ${size} bytes`,
        category: INIT,
        vars: { context: INIT_CONTEXT[script.kind], fix: await initFix(ctx, script, undefined, []) },
      }),
    );
    ctx.started({ path: script.path, startedBy: 'init' });
    return;
  }
  if (read.unread) ctx.error(script.path, read.unread);
  const text = read.text;
  const file: CommandFile = {
    scope: 'init-script',
    path: script.path,
    category: INIT,
    vars: { context: INIT_CONTEXT[script.kind] },
    fix: (line, started) => initFix(ctx, script, line, started),
  };
  await scanCommandLines(ctx, file, script.kind === 'inittab' ? inittabLines(text) : scriptLines(text));
}

/** inittab(5): "id:runlevels:action:process"; the process is run by /bin/sh. */
export function inittabLines(text: string): CommandLine[] {
  const out: CommandLine[] = [];
  for (const { text: physical, line: n } of activeLines(text)) {
    const raw = physical.trim();
    const line: CommandLine = { line: n, text: raw, evidence: raw };
    const m = /^([^:]*):([^:]*):([^:]*):(.*)$/.exec(raw);
    if (m && m[4]!.trim() !== '' && m[3] !== 'initdefault') {
      line.run = { syntax: 'shell', command: m[4]! };
      line.vars = { context: ` (inittab entry "${m[1]}", action ${m[3]}, runlevels ${m[2] || 'all'})` };
    }
    out.push(line);
  }
  return out;
}

async function initFix(ctx: CheckContext, script: InitScript, line: CommandLine | undefined, started: string[]): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, script.path);
  if (unlock) commands.push(unlock);
  const owner = await ctx.facts.packages.owner(script.path);
  if (owner.kind === 'owned') {
    commands.push((await ctx.facts.packageCommands()).restore(owner, script.path, 'script'));
  } else if (script.kind === 'init.d' && owner.kind === 'unowned') {
    const name = basename(script.path);
    commands.push(`update-rc.d -f ${shellQuote(name)} remove 2>/dev/null || chkconfig --del ${shellQuote(name)}`);
    commands.push(`rm -f ${shellQuote(script.path)}   # no package owns this init script`);
  } else if (line) {
    commands.push(deleteLineCommand(script.path, line));
    if (script.kind === 'inittab') commands.push('init q   # makes init read inittab again');
  } else {
    commands.push(`rm -f ${shellQuote(script.path)}`);
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}
