/**
 * /etc/ld.so.preload: every library it names is loaded into every program, which is how
 * userland rootkits (Kinsing's libsystem.so among them) hide a miner from ps and top.
 * Every entry is reported; one naming a missing file or a library no package owns is
 * high; family rules match the library's name.
 */
import type { Check } from '../engine/check.js';
import { basename } from '../../mountfs/path.js';

const PRELOAD = '/etc/ld.so.preload';
const MAX_PRELOAD = 64 << 10;

export const ldPreloadCheck: Check = {
  id: 'ld-preload',
  description: 'Libraries forced into every process by /etc/ld.so.preload',
  paths: [PRELOAD],
  async run(ctx) {
    let text: string;
    try {
      if (!(await ctx.vfs.exists(PRELOAD))) return;
      text = (await ctx.vfs.readFile(PRELOAD, { maxBytes: MAX_PRELOAD })).toString('utf8');
    } catch (err) {
      ctx.error(PRELOAD, err);
      return;
    }
    ctx.examined(PRELOAD);
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      // ld.so reads entries separated by whitespace or colons; "#" starts a comment.
      const entries = lines[i]!.replace(/#.*/, '').split(/[\s:]+/).filter(Boolean);
      for (const name of entries) {
        const input = { path: PRELOAD, line: i + 1, evidence: name, vars: { name } };
        const family = ctx.rules.matchName('preload-library', basename(name));
        for (const rule of family) ctx.report(ctx.rules.finding(rule, input));
        let exists = false;
        try {
          exists = await ctx.vfs.exists(name);
        } catch (err) {
          ctx.error(name, err);
        }
        if (!exists) {
          ctx.report(ctx.rules.finding('preload.missing-library', input));
          continue;
        }
        ctx.started({ path: name, startedBy: `${PRELOAD}:${i + 1}` });
        const owner = await ctx.facts.packages.owner(name);
        if (owner === undefined && family.length === 0) ctx.report(ctx.rules.finding('preload.unowned-library', input));
        else if (family.length === 0) ctx.report(ctx.rules.finding('preload.entry', input));
      }
    }
  },
};
