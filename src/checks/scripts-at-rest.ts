/**
 * The scripts-at-rest check: dropper and launcher scripts that sit in a temporary,
 * hidden or home place, whether or not anything minescan reads starts them. A dropper
 * is often run once by hand or by an exploit and left behind (`/tmp/.ICE-unix/.x/i.sh`,
 * `/dev/shm/s.sh`, `/root/.cache/.p/update.sh`), and it says what the intrusion did:
 * download and run code, kill rival miners and security agents, write crontabs, plant
 * SSH keys, lock files with chattr, start a miner with a pool and a wallet.
 *
 * Each shell script found there goes through the same command-line rules as a script a
 * persistence line starts (shared/command-scan.ts, scope `script`), weighted by place:
 * in a world-writable temporary directory or a hidden one (other than the per-user tool
 * directories, ~/.local, ~/.nvm, ~/.acme.sh...) a rule keeps its severity; in the open
 * in a home or /root, where administrators keep install scripts (get-docker.sh and its
 * like download and run code by design), a rule is at most low unless it names malware
 * itself (`malware-specific`, a family's rule). A file a package owns, a script a
 * persistence point starts (started-scripts judges it with its chain) and the files the
 * cron, services and shell-startup checks read whole are left to those.
 *
 * It runs in the combine phase, after everything that starts a script was recorded;
 * what a script at rest starts is no persistence chain, so it records nothing.
 */
import type { Check, CheckContext } from '../model/check.js';
import { severityRank, type Finding } from '../model/finding.js';
import { compileGlob } from '../../mountfs/glob.js';
import { limitExceeded } from '../../mountfs/errors.js';
import { basename } from '../../mountfs/path.js';
import { shellQuote } from '../rules/ruleset.js';
import type { Rule } from '../rules/types.js';
import { readScriptOnce } from './shared/read-script.js';
import { WHOLE_FILE_PLACES } from './shared/whole-file-places.js';
import { unlockCommand } from './shared/unlock.js';
import { scanCommandLines, scriptLines, type CommandFile, COMMAND_SCAN_RULE_IDS } from './shared/command-scan.js';
import { shellVarsFor } from './parsers/shell-commands.js';
import { runnerHome } from './shared/runner-home.js';

export const SCRIPT_AT_REST_GLOBS = ['/tmp/**', '/var/tmp/**', '/dev/shm/**', '/run/shm/**', '/root/**', '/home/*/*', '/home/*/.*/**'];
/** Entries walked, scripts read and the size of one: a hostile /tmp of a million files stays bounded, and says so. */
const MAX_ENTRIES = 100_000;
const MAX_SCRIPTS = 2_000;
const MAX_SCRIPT_BYTES = 1 << 20;
const CATEGORY = 'dropper/script-at-rest';
const TEMP = /^\/(?:tmp|var\/tmp|dev\/shm|run\/shm)\//;
/** Per-user tool directories scripts are installed in on purpose (as command.started-from-hidden spares them). */
const TOOL_DIRS = new Set(['.local', '.cargo', '.rustup', '.nvm', '.rbenv', '.pyenv', '.sdkman', '.acme.sh', '.deno', '.bun', '.volta', '.asdf', '.dotnet', '.oh-my-zsh', '.npm', '.cache']);
/** A "#!" line naming a shell, or none at all (a shell runs such a file itself). */
const SHELL_SHEBANG = /^#!\s*(?:\/usr)?\/bin\/(?:env\s+)?(?:ba|da|z|k|a)?sh\b/;

type Place = 'temporary' | 'hidden' | 'open';

export const scriptsAtRestCheck: Check = {
  id: 'scripts-at-rest',
  phase: 'combine',
  ruleIds: [...COMMAND_SCAN_RULE_IDS],
  description: 'Shell scripts left in temporary, hidden and home places (droppers, launchers), by the command-line rules, weighted by place',
  paths: SCRIPT_AT_REST_GLOBS,
  async run(ctx) {
    const elsewhere = WHOLE_FILE_PLACES.map(compileGlob);
    const started = new Set<string>();
    for (const s of ctx.startedFiles()) {
      started.add(s.path);
      started.add(await ctx.vfs.realpath(s.path).catch(() => s.path));
    }
    let read = 0;
    for await (const entry of ctx.vfs.walk(SCRIPT_AT_REST_GLOBS, { maxEntries: MAX_ENTRIES, onError: (p, e) => ctx.error(p, e) })) {
      const { path, stat } = entry;
      if (stat.type !== 'file' || stat.size === 0 || stat.size > MAX_SCRIPT_BYTES) continue;
      if (started.has(path) || elsewhere.some((g) => g.matches(path))) continue;
      if (!looksLikeScriptName(path, stat.mode)) continue;
      if (read >= MAX_SCRIPTS) {
        ctx.error(path, limitExceeded('scripts at rest', `${MAX_SCRIPTS} scripts were read in temporary, hidden and home places; the rest were not`));
        return;
      }
      read++;
      await scanScriptAtRest(ctx, path, stat.size);
    }
  },
};

/** A name or mode that says "run me": executable, or a shell script's extension. */
function looksLikeScriptName(path: string, mode: number): boolean {
  return (mode & 0o111) !== 0 || /\.(?:sh|bash)$/.test(basename(path));
}

async function scanScriptAtRest(ctx: CheckContext, path: string, size: number): Promise<void> {
  let text: string;
  try {
    const script = await readScriptOnce(ctx.vfs, path, size, 0, (head) => isShellScript(head));
    if (script.kind !== 'script') return;
    if (script.unread) ctx.error(path, script.unread);
    text = script.text;
  } catch (err) {
    ctx.error(path, err);
    return;
  }
  if ((await ctx.facts.packages.owner(path)).kind === 'owned') return;
  ctx.examined(path);
  const place = placeOf(path);
  const file: CommandFile = {
    scope: 'script',
    path,
    category: CATEGORY,
    vars: { context: ` (a script at rest in ${PLACE_TEXT[place]}, which nothing minescan read starts)` },
    weigh: (f, rule) => weigh(f, rule, place),
    fix: async () => {
      const unlock = await unlockCommand(ctx, path);
      return [...(unlock ? [unlock] : []), `rm -f ${shellQuote(path)}   # a script no package installed, in ${PLACE_TEXT[place]}`].join('\n');
    },
  };
  // What a script at rest starts is no persistence chain: nothing to record.
  const quiet: CheckContext = { ...ctx, started: () => undefined };
  await scanCommandLines(quiet, file, scriptLines(text), shellVarsFor(await runnerHome(ctx, path)));
}

const PLACE_TEXT: Record<Place, string> = {
  temporary: 'a world-writable temporary directory',
  hidden: 'a hidden directory',
  open: 'a home directory',
};

/** Text with no NUL byte in its first bytes, starting with a shell's "#!" or with none. */
function isShellScript(head: Buffer): boolean {
  if (head.includes(0)) return false;
  const first = head.subarray(0, 128).toString('latin1');
  return first.startsWith('#!') ? SHELL_SHEBANG.test(first) : true;
}

export function placeOf(path: string): Place {
  if (TEMP.test(path)) return 'temporary';
  const parts = path.split('/').filter(Boolean);
  // /root/x or /home/u/x: what counts is what lies below the home.
  const below = parts[0] === 'root' ? parts.slice(1, -1) : parts.slice(2, -1);
  const name = parts[parts.length - 1] ?? '';
  if (below.some((c) => c.startsWith('.') && !TOOL_DIRS.has(c))) return 'hidden';
  if (below.length === 0 && name.startsWith('.')) return 'hidden';
  return 'open';
}

/** In the open, a rule that describes a behaviour (not malware itself) is at most low. */
function weigh(f: Finding, rule: Rule, place: Place): Finding['severity'] {
  if (place !== 'open' || severityRank(f.severity) <= severityRank('low')) return f.severity;
  return rule.malwareSpecific || rule.family ? f.severity : 'low';
}
