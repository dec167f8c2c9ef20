/**
 * The user services check: systemd user units, which every user's own service manager
 * (`systemd --user`) starts at that user's login, or at boot when the user "lingers".
 *
 * Follows systemd.unit(5)'s user unit search path: ~/.config/systemd/user and
 * ~/.local/share/systemd/user of every home in /etc/passwd (and /root), then the global
 * /etc/systemd/user, /run/systemd/user, /usr/local/lib/systemd/user, /usr/lib/systemd/user
 * and /lib/systemd/user. Units, drop-ins, `*.wants` enablement, masks and timers are read
 * as for system units (systemd-units.ts). A user's links enable that user's units and the
 * global ones; links in /etc/systemd/user (`systemctl --global enable`) enable a unit for
 * every user. /var/lib/systemd/linger/<user> (`loginctl enable-linger`) makes the user's
 * manager start at boot, which the findings say.
 *
 * Command lines go through the shared rules (scope systemd-unit); an enabled unit in a
 * home is also reported at info level, an inventory of what users start by themselves.
 */
import type { Check, CheckContext } from '../model/check.js';
import { COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { joinPath } from '../../mountfs/path.js';
import { shellQuote } from '../rules/ruleset.js';
import { deleteStartedCommands } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import type { Home } from '../facts/login-homes.js';
import { indexUnits, listDir, scanUnitFile, unitState, type UnitFile, type UnitState } from './shared/systemd-units.js';

const GLOBAL_DIRS = ['/etc/systemd/user', '/run/systemd/user', '/usr/local/lib/systemd/user', '/usr/lib/systemd/user', '/lib/systemd/user'];
const HOME_DIRS = ['.config/systemd/user', '.local/share/systemd/user'];
const LINGER_DIR = '/var/lib/systemd/linger';
const CATEGORY = 'persistence/systemd-user';

export const userServicesCheck: Check = {
  id: 'user-services',
  ruleIds: ['user-service.enabled-home-unit', ...COMMAND_SCAN_RULE_IDS],
  persistence: true,
  watched: [{ what: 'systemd user unit or generator', globs: ['/etc/systemd/user', '/etc/systemd/user/*', '/etc/systemd/user/*/*'] }],
  description: 'systemd user units and timers of every account and the global user unit directories, with enablement and lingering',
  paths: [
    '/etc/passwd',
    `${LINGER_DIR}/*`,
    ...GLOBAL_DIRS.flatMap((d) => [`${d}/*`, `${d}/*/*`]),
    ...HOME_DIRS.flatMap((d) => [`/root/${d}/*`, `/root/${d}/*/*`, `/**/${d}/*`, `/**/${d}/*/*`]),
  ],
  async run(ctx) {
    const homes = await ctx.facts.loginHomes();
    const dirHome = new Map<string, Home>();
    for (const home of homes) for (const d of HOME_DIRS) dirHome.set(joinPath(home.path, d), home);
    const index = await indexUnits(ctx, [...dirHome.keys(), ...GLOBAL_DIRS]);
    const lingering = new Set((await listDir(ctx, LINGER_DIR)).map((e) => e.path.slice(LINGER_DIR.length + 1)));

    const homeOf = (path: string) => [...dirHome.entries()].find(([d]) => path.startsWith(`${d}/`))?.[1];
    for (const unit of index.files.values()) {
      const home = dirHome.get(unit.dir);
      // A user's links apply to that user's units and to the global ones.
      const state = unitState(index, unit, (link) => {
        const owner = homeOf(link);
        return owner === undefined || home === undefined || owner === home;
      });
      const users = usersOf(home, state, homeOf);
      const context = describe(unit, state, home, users, lingering);
      const scanned = await scanUnitFile(ctx, index, unit, {
        category: CATEGORY,
        context,
        fix: (started) => userUnitFix(ctx, unit, state, home, users, lingering, started),
      });
      if (scanned && home && !unit.dropIn && state.active) {
        ctx.report(
          ctx.rules.finding('user-service.enabled-home-unit', {
            path: unit.path,
            evidence: scanned.firstExec ? `${unit.name}: ${scanned.firstExec}` : unit.name,
            category: CATEGORY,
            vars: { name: unit.name, context, fix: await userUnitFix(ctx, unit, state, home, users, lingering, scanned.started) },
          }),
        );
      }
    }
  },
};

/** Accounts whose manager runs the unit: the home's, or for a global unit those whose links enable it. */
function usersOf(home: Home | undefined, state: UnitState, homeOf: (p: string) => Home | undefined): string[] {
  if (home) return home.users.map((u) => u.name);
  if (!state.active) return [];
  const linked = state.links.map(homeOf);
  // Enabled in /etc/systemd/user, or started by a trigger: every user's manager starts it.
  if (linked.length === 0 || linked.some((h) => h === undefined)) return ['every user'];
  return [...new Set(linked.flatMap((h) => h?.users.map((u) => u.name) ?? []))];
}

function describe(unit: UnitFile, state: UnitState, home: Home | undefined, users: string[], lingering: Set<string>): string {
  const owner = home ? `of ${home.users.map((u) => u.name).join('/') || home.path}` : 'in a global user unit directory';
  const kind = unit.dropIn ? `drop-in of user unit ${unit.name} ${owner}, which is` : `user unit ${unit.name} ${owner},`;
  const lingers = users.includes('every user') ? [...lingering] : users.filter((u) => lingering.has(u));
  let start = '';
  if (state.active) {
    start =
      lingers.length > 0
        ? `; ${lingers.join(', ')} ${lingers.length > 1 ? 'linger' : 'lingers'}: it starts at boot without a login`
        : `; it starts when ${users.length > 0 ? users.join(', ') : 'the user'} logs in`;
  }
  return ` (${kind} ${state.text}${start})`;
}

async function userUnitFix(
  ctx: CheckContext,
  unit: UnitFile,
  state: UnitState,
  home: Home | undefined,
  users: string[],
  lingering: Set<string>,
  started: string[],
): Promise<string> {
  const commands: string[] = [];
  const unlock = await unlockCommand(ctx, unit.path);
  if (unlock) commands.push(unlock);
  const named = users.filter((u) => u !== 'every user');
  const asUser = (u: string, what: string) => `systemctl --user -M ${shellQuote(u)}@ ${what}`;
  const owner = await ctx.facts.packages.owner(unit.path);
  if (owner.kind === 'owned') {
    commands.push((await ctx.facts.packageCommands()).restore(owner, unit.path));
  } else if (unit.dropIn) {
    commands.push(`rm -f ${shellQuote(unit.path)}`);
    for (const u of named) commands.push(asUser(u, `daemon-reload && ${asUser(u, `restart ${shellQuote(unit.name)}`)}`));
  } else {
    if (!home) commands.push(`systemctl --global disable ${shellQuote(unit.name)}`);
    for (const u of named) commands.push(asUser(u, `disable --now ${shellQuote(unit.name)}`));
    const remove = [unit.path, ...unit.links, ...state.links].filter((p, i, all) => all.indexOf(p) === i);
    commands.push(`rm -f ${remove.map(shellQuote).join(' ')}`);
    for (const u of named) commands.push(asUser(u, 'daemon-reload'));
    if (!home) commands.push(`# stop it in every running user manager: systemctl --user -M USER@ stop ${shellQuote(unit.name)}`);
  }
  for (const u of (users.includes('every user') ? [...lingering] : named).filter((n) => lingering.has(n))) {
    commands.push(`loginctl disable-linger ${shellQuote(u)}   # ${u}'s manager starts at boot: keep only if intended`);
  }
  commands.push(...(await deleteStartedCommands(ctx, started)));
  return commands.join('\n');
}
