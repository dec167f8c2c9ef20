/**
 * The systemd generators check. systemd.generator(7): at boot and at every
 * `daemon-reload`, systemd runs every executable in the generator directories, as root
 * and before any unit starts, and loads the units they write to /run/systemd/generator*.
 * A generator is therefore a unit factory that leaves no unit file on disk.
 *
 * Directories (system, user and environment generators): /run/systemd/*-generators,
 * /etc/systemd/*-generators, /usr/local/lib/systemd/*-generators,
 * /usr/lib/systemd/*-generators and /lib/systemd/*-generators, in that order: the first
 * file of a name is the one systemd runs, and a link to /dev/null masks the name. Packages install generators under /usr/lib only, so an
 * unpackaged one in /etc, /usr/local or /run is high; an unpackaged one under /usr/lib is
 * medium (and not judged at all without a package database). Script generators are also
 * scanned with the shared command-line rules (scope script); every generator is recorded
 * as started for the hash check.
 */
import type { Check, CheckContext } from '../model/check.js';
import type { Ownership } from '../facts/package-ownership.js';
import { isElf } from './shared/file-head.js';
import { readRunnable } from './shared/read-script.js';
import { basename } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteLineCommand, deleteStartedCommands } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, scriptLines, type CommandFile, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { listDir } from './shared/systemd-units.js';

const KINDS = ['system-generators', 'user-generators', 'system-environment-generators', 'user-environment-generators'];
const LOCAL_BASES = ['/run/systemd', '/etc/systemd', '/usr/local/lib/systemd'];
const PACKAGE_BASES = ['/usr/lib/systemd', '/lib/systemd'];
/** What is read of a binary generator to describe it (a script is read whole). */
const MAX_FILE_BYTES = 1 << 20;
const CATEGORY = 'persistence/systemd-generator';

export const systemdGeneratorsCheck: Check = {
  id: 'systemd-generators',
  ruleIds: ['generator.unpackaged-local', 'generator.unpackaged', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [
    {
      what: 'systemd user unit or generator',
      globs: ['/etc/systemd/system-generators', '/etc/systemd/system-generators/*', '/etc/systemd/user-generators', '/etc/systemd/user-generators/*'],
    },
  ],
  description: 'systemd generators: programs systemd runs as root at every boot and daemon-reload',
  paths: [...LOCAL_BASES, ...PACKAGE_BASES].flatMap((b) => KINDS.map((k) => `${b}/${k}/*`)),
  async run(ctx) {
    const seen = new Set<string>();
    for (const kind of KINDS) {
      // systemd runs one generator per name: the first in search order; a /dev/null link masks it.
      const names = new Set<string>();
      for (const base of [...LOCAL_BASES, ...PACKAGE_BASES]) {
        for (const entry of await listDir(ctx, `${base}/${kind}`)) {
          if (entry.type === 'directory' || names.has(basename(entry.path))) continue;
          names.add(basename(entry.path));
          await checkGenerator(ctx, entry.path, kind, LOCAL_BASES.includes(base), seen);
        }
      }
    }
  },
};

async function checkGenerator(ctx: CheckContext, path: string, kind: string, local: boolean, seen: Set<string>): Promise<void> {
  try {
    // A generator masked by a link to /dev/null does not run.
    if ((await ctx.vfs.lstat(path)).type === 'symlink' && (await ctx.vfs.readlink(path)) === '/dev/null') return;
  } catch (err) {
    if (!isNotFound(err)) ctx.error(path, err);
    return;
  }
  // systemd runs only executable files there; /lib and /usr/lib are one directory on merged-/usr systems.
  const runnable = await readRunnable(ctx, path, seen, MAX_FILE_BYTES);
  if (!runnable) return;
  const { real, script } = runnable;
  ctx.started({ path: real, startedBy: `systemd ${kind}` });

  const owner = await ctx.facts.packages.ownerOfAny([path, real]);
  const lines = script.kind === 'script' ? scriptLines(script.text) : undefined;
  const context = ` (systemd ${kind.replace(/s$/, '')}, run as ${kind.startsWith('user') ? 'each user' : 'root'} at boot and at every daemon-reload)`;
  const fix = (line: CommandLine | undefined, started: string[]) => generatorFix(ctx, path, real, owner, line, started);

  if (owner.kind !== 'owned' && (local || owner.kind === 'unowned')) {
    const rule = local ? 'generator.unpackaged-local' : 'generator.unpackaged';
    const firstLine = lines?.[0]?.evidence;
    ctx.report(
      ctx.rules.finding(rule, {
        path: real,
        evidence: script.kind === 'binary' ? `${isElf(script.head) ? 'ELF executable' : 'binary'}, ${script.bytesRead} bytes read` : `script: ${firstLine ?? '(empty)'}`,
        category: CATEGORY,
        vars: { name: basename(path), context, fix: await fix(undefined, []) },
      }),
    );
  }
  if (lines === undefined) return;
  const file: CommandFile = { scope: 'script', path: real, category: CATEGORY, vars: { context }, fix: (line, started) => fix(line, started) };
  await scanCommandLines(ctx, file, lines);
}

async function generatorFix(
  ctx: CheckContext,
  path: string,
  real: string,
  owner: Ownership,
  line: CommandLine | undefined,
  started: string[],
): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, real);
  if (unlock) commands.push(unlock);
  if (owner.kind === 'owned') commands.push((await ctx.facts.packageCommands()).restore(owner, real));
  else if (owner.kind === 'unknown' && line && !LOCAL_BASES.some((b) => real.startsWith(`${b}/`))) commands.push(deleteLineCommand(real, line));
  else commands.push(`rm -f ${[...new Set([path, real])].map(shellQuote).join(' ')}   # no package installed this generator`);
  commands.push('systemctl daemon-reload   # regenerates /run/systemd/generator*, without what it wrote');
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}
