/**
 * The disguised-programs check: programs no package installed that pass for something
 * else. Miner kits name their binary like a library (`libnetmon.so.1`,
 * `libdbus-glib.so.3`) or drop it among the libraries, where nobody lists programs, and
 * leave a SUID copy of a shell behind as a way back to root.
 *
 * One walk of the root's metadata (types, modes, owners: no file is read for it) finds:
 *
 * - ELF programs (elf-type.ts: ET_EXEC, or PIE with an entry point and an interpreter,
 *   not a shared object) named like a library (`*.so`, `*.so.*`) anywhere, or kept in a
 *   library directory under any name, that no package owns;
 * - SUID or SGID root files no package owns, anywhere: a copy of one of the root's own
 *   shells (its digest is that of a shell /etc/shells lists) is critical.
 *
 * Files a package owns are the package integrity check's question (changed or not), so
 * they are left alone here; so is a root without a package database, where ownership
 * says nothing.
 */
import type { Check, CheckContext } from '../model/check.js';
import { basename } from '../../mountfs/path.js';
import { isNotFound } from '../../mountfs/errors.js';
import type { Stat } from '../../mountfs/vfs.js';
import { shellQuote } from '../rules/ruleset.js';
import { elfType, ELF_TYPE_BYTES } from './parsers/elf-type.js';
import { streamDigests } from '../hashes/hash-file.js';
import { readWholeText, activeLines } from '../facts/vfs-lines.js';

const NAMED_LIBRARY = 'disguised.program-named-library';
const IN_LIBRARY_DIR = 'disguised.program-in-library-dir';
const SUID = 'disguised.unowned-suid';
const SUID_SHELL = 'disguised.suid-shell-copy';

/** Every entry of the root, bounded: a metadata walk, no file read for it. */
const MAX_ENTRIES = 2_000_000;
/** Kernel and device views hold no files on a disk. */
const PRUNED = /^\/(?:proc|sys|dev)(?:\/|$)/;
const LIBRARY_NAME = /\.so(?:\.[0-9][\w.]*)?$/;
const LIBRARY_DIR = /^\/(?:usr\/(?:local\/)?)?lib(?:32|64|x32)?\//;
/** Shells are a few MiB; a SUID file larger than this is no copy of one. */
const MAX_SHELL_BYTES = 16 << 20;

export const disguisedProgramsCheck: Check = {
  id: 'disguised-programs',
  ruleIds: [NAMED_LIBRARY, IN_LIBRARY_DIR, SUID, SUID_SHELL],
  description: 'Programs named like libraries or kept among them, and SUID/SGID root files, that no package installed',
  // Metadata and file heads only: a single-pass source keeps every file's first bytes and
  // every program's digests (an ET_DYN program whose headers lie past them is not judged).
  paths: [],
  async run(ctx) {
    if (!(await ctx.facts.packages.available())) return;
    let shells: Promise<Map<string, string>> | undefined;
    for await (const { path, stat } of ctx.vfs.walk(['/**'], { maxEntries: MAX_ENTRIES, onError: (p, e) => ctx.error(p, e) })) {
      if (stat.type !== 'file' || PRUNED.test(path)) continue;
      const suid = isSetIdRoot(stat);
      const named = LIBRARY_NAME.test(basename(path));
      const inLibDir = LIBRARY_DIR.test(path) && (stat.mode & 0o111) !== 0;
      if (!suid && !named && !inLibDir) continue;
      if ((await ctx.facts.packages.owner(path)).kind !== 'unowned') continue;
      try {
        if (suid) {
          shells ??= shellDigests(ctx);
          await judgeSetId(ctx, path, stat, await shells);
        }
        if (named || inLibDir) await judgeLibraryPlace(ctx, path, named);
      } catch (err) {
        if (!isNotFound(err)) ctx.error(path, err);
      }
    }
  },
};

function isSetIdRoot(stat: Stat): boolean {
  return ((stat.mode & 0o4000) !== 0 && stat.uid === 0) || ((stat.mode & 0o2000) !== 0 && stat.gid === 0);
}

async function judgeLibraryPlace(ctx: CheckContext, path: string, named: boolean): Promise<void> {
  const head = await ctx.vfs.readFile(path, { maxBytes: ELF_TYPE_BYTES });
  if (elfType(head) !== 'program') return;
  ctx.examined(path);
  ctx.report(
    ctx.rules.finding(named ? NAMED_LIBRARY : IN_LIBRARY_DIR, {
      path,
      evidence: `${path}: an ELF program (not a shared object); no installed package owns it`,
      vars: { name: basename(path), fix: `rm -f ${shellQuote(path)}   # kill what runs it first` },
    }),
  );
}

async function judgeSetId(ctx: CheckContext, path: string, stat: Stat, shells: Map<string, string>): Promise<void> {
  ctx.examined(path);
  const bits = [(stat.mode & 0o4000) !== 0 ? 'SUID' : '', (stat.mode & 0o2000) !== 0 ? 'SGID' : ''].filter(Boolean).join('+');
  let shell: string | undefined;
  if (stat.size <= MAX_SHELL_BYTES && shells.size > 0) {
    shell = shells.get((await sha256Of(ctx, path)) ?? '');
  }
  const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
  ctx.report(
    ctx.rules.finding(shell ? SUID_SHELL : SUID, {
      path,
      evidence: `${path}: mode ${mode} (${bits}), owner ${stat.uid}:${stat.gid}, ${stat.size} bytes${shell ? `, the same bytes as ${shell}` : ''}; no installed package owns it`,
      vars: { bits, shell: shell ?? '', fix: `chmod ug-s ${shellQuote(path)} && rm -f ${shellQuote(path)}` },
    }),
  );
}

/** sha256 -> shell path, for the shells /etc/shells lists (and /bin/sh) that are regular files. */
async function shellDigests(ctx: CheckContext): Promise<Map<string, string>> {
  const names = new Set(['/bin/sh', '/bin/bash', '/bin/dash']);
  try {
    const whole = await readWholeText(ctx.vfs, '/etc/shells', { commentChars: '#' });
    for (const { text } of activeLines(whole.text)) if (text.trim().startsWith('/')) names.add(text.trim());
  } catch (err) {
    if (!isNotFound(err)) ctx.error('/etc/shells', err);
  }
  const out = new Map<string, string>();
  const seen = new Set<string>();
  for (const name of names) {
    try {
      const real = await ctx.vfs.realpath(name);
      if (seen.has(real)) continue;
      seen.add(real);
      const digest = await sha256Of(ctx, real);
      if (digest && !out.has(digest)) out.set(digest, name);
    } catch {
      // A shell /etc/shells lists but the root lacks is common (zsh removed): nothing to compare.
    }
  }
  return out;
}

/** The file's SHA-256: what a single-pass source computed as it went past, else hashed here (bounded). */
async function sha256Of(ctx: CheckContext, path: string): Promise<string | undefined> {
  const known = await ctx.vfs.knownDigests(path);
  if (known) return known.sha256;
  const hashed = await streamDigests(ctx.vfs, path, ['sha256'], MAX_SHELL_BYTES);
  if (hashed.kind !== 'hashed') return undefined;
  ctx.hashed(hashed.bytesRead);
  return hashed.digests.sha256;
}
