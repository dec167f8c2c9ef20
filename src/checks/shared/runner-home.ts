/**
 * The HOME a script runs with, as far as the place that starts it tells: `~/x` and
 * `$HOME/x` in a script name a file only when the account running it is known. A
 * user's crontab runs as that user (cron sets HOME from /etc/passwd), the scripts of
 * cron.{hourly,daily,...} and cron's system jobs mostly as root, a file in an account's
 * home is that account's (its start-up files, a script kept there), and a script
 * started from one of those places inherits that HOME.
 */
import type { CheckContext } from '../../model/check.js';
import { basename } from '../../../mountfs/path.js';

const USER_CRONTAB = /^\/var\/spool\/cron\/(?:crontabs\/|tabs\/)?([^/]+)$/;
const ROOT_RUN = /^\/etc\/(?:crontab|anacrontab|cron\.(?:d|hourly|daily|weekly|monthly)\/|rc\.local|init\.d\/)/;

/** The home of the account a file at `path` belongs to or runs as; undefined when nothing says. */
export async function runnerHome(ctx: CheckContext, path: string): Promise<string | undefined> {
  const homes = await ctx.facts.loginHomes();
  let best: string | undefined;
  for (const h of homes) {
    if (h.path === '/' || !path.startsWith(`${h.path}/`)) continue;
    if (best === undefined || h.path.length > best.length) best = h.path;
  }
  if (best !== undefined) return best;
  const spool = USER_CRONTAB.exec(path);
  if (spool) {
    const user = basename(spool[1]!);
    const entry = (await ctx.facts.passwd()).entries.find((e) => e.name === user);
    return entry?.home;
  }
  return ROOT_RUN.test(path) ? '/root' : undefined;
}

/** The HOME every starter of a script agrees on ("path:line" starters only); undefined when they differ or none says. */
export async function startersHome(ctx: CheckContext, script: string, startedBy: readonly string[]): Promise<string | undefined> {
  const own = await runnerHome(ctx, script);
  if (own !== undefined) return own;
  let agreed: string | undefined;
  for (const by of startedBy) {
    const m = /^(\/.*):\d+$/.exec(by);
    if (!m) return undefined;
    const home = await runnerHome(ctx, m[1]!);
    if (home === undefined || (agreed !== undefined && agreed !== home)) return undefined;
    agreed = home;
  }
  return agreed;
}
