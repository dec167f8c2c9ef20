/**
 * The kernel-modules check: modules loaded at boot and commands modprobe runs.
 *
 * - Lists of modules to load: /etc/modules (Debian's kmod init script and
 *   systemd-modules-load: "name [parameters]", `#` comments) and modules-load.d(5)
 *   (one name per line, `#` or `;` comments) in /etc, /run, /usr/local/lib, /usr/lib and
 *   /lib, where a file in an earlier directory replaces a same-named one in a later one.
 *   Each name is matched against the `kernel-module` name rules ("-" read as "_", as
 *   modprobe does); a name no rule knows whose module file exists and no package owns
 *   is reported at medium, unless DKMS built it. Module files are found through each
 *   kernel's modules.dep (what modprobe itself reads), then in extra/ and updates/.
 * - modprobe.d(5) in the same directories plus /etc/modprobe.conf: lines continue with a
 *   trailing backslash; `install MODULE COMMAND` and `remove MODULE COMMAND` make modprobe
 *   run COMMAND through /bin/sh. Every line goes through the shared command-line scan
 *   (scope kernel-modules), commands as shell.
 */
import type { Check, CheckContext } from '../model/check.js';
import { basename, joinPath } from '../../mountfs/path.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteLineCommand, deleteStartedCommands, showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, type CommandLine, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { continuedLines, activeLines, textLines } from '../facts/vfs-lines.js';
import { globFiles, packageOwner, readConfigText } from './shared/config-files.js';

const CONFIG_DIRS = ['/etc', '/run', '/usr/local/lib', '/usr/lib', '/lib'];
const LOAD_LIST_DIRS = CONFIG_DIRS.map((d) => `${d}/modules-load.d`);
const MODPROBE_DIRS = CONFIG_DIRS.map((d) => `${d}/modprobe.d`);
const ETC_MODULES = '/etc/modules';
const MODPROBE_CONF = '/etc/modprobe.conf';
const MODULE_TREES = ['/lib/modules', '/usr/lib/modules'];
const CATEGORY = 'persistence/kernel-module';
/** Kernels one image keeps; more is junk. */
const MAX_KERNELS = 32;
/** modules.dep of a distribution kernel is about 1 MiB. */
const MAX_MODULES_DEP = 16 << 20;
/** Lines continued this often are junk, not configuration. */
const MAX_CONTINUED_LINES = 100;
/** Module names examined per scan; boot lists name a handful. */
const MAX_MODULES = 512;

export const kernelModulesCheck: Check = {
  id: 'kernel-modules',
  ruleIds: ['kernel-modules.unpackaged-module', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [{ what: 'kernel module configuration', globs: ['/etc/modules', '/etc/modprobe.conf', '/etc/modules-load.d', '/etc/modules-load.d/*', '/etc/modprobe.d', '/etc/modprobe.d/*'] }],
  description: 'Kernel modules loaded at boot (/etc/modules, modules-load.d) and commands of modprobe.d install/remove lines',
  paths: [
    ETC_MODULES,
    MODPROBE_CONF,
    ...LOAD_LIST_DIRS.map((d) => `${d}/*.conf`),
    ...MODPROBE_DIRS.map((d) => `${d}/*.conf`),
    ...MODULE_TREES.flatMap((t) => [`${t}/*/modules.dep`, `${t}/*/extra/**`, `${t}/*/updates/**`]),
    '/var/lib/dkms',
  ],
  async run(ctx) {
    const loads: ModuleToLoad[] = [];
    // Debian links modules-load.d/modules.conf to /etc/modules: each file is read once.
    const seen = new Set<string>();
    for (const path of [ETC_MODULES, ...(await configFiles(ctx, LOAD_LIST_DIRS))]) {
      const real = await ctx.vfs.realpath(path).catch(() => undefined);
      if (real === undefined || seen.has(real)) continue;
      seen.add(real);
      const file = await readConfigText(ctx, path);
      if (file) loads.push(...parseModuleList(file.text, path, path === ETC_MODULES));
    }
    const finder = new ModuleFiles(ctx);
    for (const load of loads.slice(0, MAX_MODULES)) await judgeModule(ctx, load, finder);
    if (loads.length > MAX_MODULES) ctx.error(undefined, new Error(`${loads.length} modules to load: only the first ${MAX_MODULES} were examined`));

    for (const path of [MODPROBE_CONF, ...(await configFiles(ctx, MODPROBE_DIRS))]) {
      const file = await readConfigText(ctx, path);
      if (file) await scanModprobeFile(ctx, path, file.text);
    }
  },
};

/** The *.conf files of the directories, a name in an earlier directory hiding the same name in later ones. */
async function configFiles(ctx: CheckContext, dirs: string[]): Promise<string[]> {
  const byName = new Map<string, string>();
  for (const dir of dirs) {
    for (const path of await globFiles(ctx, `${dir}/*.conf`)) if (!byName.has(basename(path))) byName.set(basename(path), path);
  }
  return [...byName.keys()].sort().map((name) => byName.get(name)!);
}

export interface ModuleToLoad {
  /** As written. */
  name: string;
  path: string;
  line: number;
  lineText: string;
}

/** Module names of /etc/modules (`withParameters`: "name args...") or a modules-load.d file. */
export function parseModuleList(text: string, path: string, withParameters: boolean): ModuleToLoad[] {
  const out: ModuleToLoad[] = [];
  for (const { text: lineText, line: n } of activeLines(text, '#;')) {
    const line = lineText.trim();
    const name = withParameters ? line.split(/\s+/)[0]! : line;
    out.push({ name, path, line: n, lineText });
  }
  return out;
}

/** modprobe's spelling: "-" and "_" are the same character in module names. */
export function moduleKey(name: string): string {
  return name.replace(/-/g, '_');
}

async function judgeModule(ctx: CheckContext, load: ModuleToLoad, finder: ModuleFiles): Promise<void> {
  const where = `${load.path}:${load.line}`;
  const key = moduleKey(load.name);
  const ko = await finder.find(key);
  const owner = ko ? await packageOwner(ctx, ko) : undefined;
  const unowned = owner?.kind === 'unowned';
  const built = ko && unowned ? await finder.builtByDkms(ko) : false;
  const removable = ko !== undefined && unowned && !built ? ko : undefined;
  const vars = {
    name: load.name,
    where,
    ko: ko ? `${ko}${owner?.kind === 'owned' ? `, from package ${owner.package}` : ''}` : 'no module file found',
    fix: await fixLoadLine(ctx, load, removable),
  };
  const input = { path: load.path, line: load.line, evidence: load.lineText.trim(), category: CATEGORY, vars };
  const rules = ctx.rules.matchName('kernel-module', key);
  for (const rule of rules) ctx.report(ctx.rules.finding(rule, input));
  // Without a package database (ownership unknown) nobody can tell a vendor driver from a planted one.
  if (rules.length === 0 && removable) ctx.report(ctx.rules.finding('kernel-modules.unpackaged-module', input));
}

async function fixLoadLine(ctx: CheckContext, load: ModuleToLoad, removable: string | undefined): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, load.path);
  if (unlock) commands.push(unlock);
  commands.push(`sed -i '${load.line}d' ${shellQuote(load.path)}   # deletes line ${load.line}: ${showLine(load.lineText.trim())}`);
  if (removable) {
    commands.push(`rm -f ${shellQuote(removable)}   # no package owns this module file`);
    commands.push('depmod -a   # for every kernel in /lib/modules: depmod -a VERSION');
  }
  return commands.join('\n');
}

/** Where a module name's file is, per installed kernel, read lazily once. */
class ModuleFiles {
  private index?: Promise<Map<string, string>>;
  constructor(private readonly ctx: CheckContext) {}

  async find(key: string): Promise<string | undefined> {
    this.index ??= this.build();
    return (await this.index).get(key);
  }

  /** DKMS builds modules from source into updates/dkms and keeps its tree in /var/lib/dkms. */
  async builtByDkms(ko: string): Promise<boolean> {
    return ko.includes('/updates/dkms/') && (await this.ctx.vfs.exists('/var/lib/dkms'));
  }

  private async build(): Promise<Map<string, string>> {
    const map = new Map<string, string>();
    const add = (path: string) => {
      const m = /^(.+?)\.ko(?:\.(?:gz|xz|zst))?$/.exec(basename(path));
      if (m && !map.has(moduleKey(m[1]!))) map.set(moduleKey(m[1]!), path);
    };
    for (const tree of MODULE_TREES) {
      let versions: string[];
      try {
        versions = (await this.ctx.vfs.readdir(tree)).filter((e) => e.type === 'directory').map((e) => e.name).sort().slice(0, MAX_KERNELS);
      } catch {
        continue;
      }
      for (const version of versions) {
        const root = joinPath(tree, version);
        const dep = await readConfigText(this.ctx, joinPath(root, 'modules.dep'), MAX_MODULES_DEP);
        for (const { text: line } of dep ? textLines(dep.text) : []) {
          const colon = line.indexOf(':');
          if (colon > 0) add(joinPath(root, line.slice(0, colon)));
        }
        // A module copied in by hand without depmod is not in modules.dep yet.
        for (const sub of ['extra', 'updates']) {
          for (const path of await globFiles(this.ctx, `${root}/${sub}/**/*.ko*`)) add(path);
        }
      }
    }
    return map;
  }
}

/** The logical lines of a modprobe.d file: continuations joined, reported at their first line. */
export function modprobeLines(text: string): CommandLine[] {
  const out: CommandLine[] = [];
  for (const continued of continuedLines(text, MAX_CONTINUED_LINES, '')) {
    const trimmed = continued.text.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const line: CommandLine = { line: continued.line, text: trimmed, evidence: trimmed };
    const command = /^(install|remove)\s+(\S+)\s+(\S.*)$/.exec(trimmed);
    if (command) {
      line.run = { syntax: 'shell', command: command[3]! };
      line.vars = { context: ` (modprobe runs it as root whenever module ${command[2]} is ${command[1] === 'install' ? 'loaded' : 'removed'})` };
    }
    out.push(line);
  }
  return out;
}

async function scanModprobeFile(ctx: CheckContext, path: string, text: string): Promise<void> {
  await scanCommandLines(
    ctx,
    {
      scope: 'kernel-modules',
      path,
      category: CATEGORY,
      vars: { context: ' (modprobe configuration)' },
      fix: async (line, started) => {
        const commands: string[] = [];
        const unlock = await unlockCommand(ctx, path);
        if (unlock) commands.push(unlock);
        commands.push(deleteLineCommand(path, line));
        commands.push(...(await deleteStartedCommands(ctx, started)));
        return commands.join('\n');
      },
    },
    modprobeLines(text),
  );
}
