/**
 * Reading the small configuration files the boot-time and login checks look at
 * (ld.so.conf, modules-load.d, modprobe.d, sudoers, sshd_config, hosts): bounded reads,
 * include globs resolved inside the scanned root, include chains followed once per file,
 * and who installed a file. Every read is capped, every
 * include list and continuation is capped, and a file that cannot be read becomes an
 * error entry while the scan goes on.
 */
import type { CheckContext } from '../../model/check.js';
import type { Ownership } from '../../facts/package-ownership.js';
import { readText } from './read-text.js';
import { compileGlob } from '../../../mountfs/glob.js';

/**
 * Content kept of one configuration file: the programs that read these files read them
 * whole, so minescan does too, up to this much (the rest is reported as not read).
 */
export const MAX_CONFIG_BYTES = 64 << 20;
/** Files one include (glob or directory) may add; a directory of thousands of drop-ins is junk. */
export const MAX_INCLUDED_FILES = 256;

export interface ConfigText {
  /** The path as named (include, glob hit, fixed place). */
  path: string;
  text: string;
}

/**
 * The text of a regular file (symlinks followed inside the root), read whole as the
 * program it configures reads it, up to `maxBytes` of content (the unread rest is an
 * error entry); undefined when it is absent, not a file, or unreadable (the last
 * reported through ctx.error).
 */
export async function readConfigText(ctx: CheckContext, path: string, maxBytes = MAX_CONFIG_BYTES): Promise<ConfigText | undefined> {
  const text = await readText(ctx, path, { maxKeptBytes: maxBytes });
  return text === undefined ? undefined : { path, text };
}

/**
 * The text of a file an include reaches, read at most once per real file (`seen` holds
 * the real paths read so far) and only up to `maxDepth` includes deep: include loops,
 * links back to a file already read and endless chains are what hostile images bring.
 * A name that does not resolve reads nothing, without an error.
 */
export async function readIncludedConfig(ctx: CheckContext, path: string, depth: number, maxDepth: number, seen: Set<string>): Promise<ConfigText | undefined> {
  let real: string;
  try {
    real = await ctx.vfs.realpath(path);
  } catch {
    return undefined;
  }
  if (seen.has(real) || depth > maxDepth) return undefined;
  seen.add(real);
  return readConfigText(ctx, path);
}

/** The entries an absolute glob names, sorted (the order ld.so, sudo and sshd read them in), at most MAX_INCLUDED_FILES. */
export async function globFiles(ctx: CheckContext, glob: string): Promise<string[]> {
  const matcher = compileGlob(glob);
  const found: string[] = [];
  for await (const e of ctx.vfs.walk([glob], { onError: (p, err) => ctx.error(p, err), maxEntries: 100_000 })) {
    if (e.stat.type === 'directory' || !matcher.matches(e.path)) continue;
    found.push(e.path);
    if (found.length > MAX_INCLUDED_FILES) {
      ctx.error(glob, new Error(`more than ${MAX_INCLUDED_FILES} files: only the first ${MAX_INCLUDED_FILES} were read`));
      break;
    }
  }
  return found.sort().slice(0, MAX_INCLUDED_FILES);
}

/**
 * The package that installed the file, or the file a link leads to (alternatives:
 * /usr/bin/w -> /etc/alternatives/w -> /usr/bin/w.procps); undefined when no package
 * owns it, unknown when the image has no package database to ask.
 */
export async function packageOwner(ctx: CheckContext, path: string): Promise<Ownership> {
  const direct = await ctx.facts.packages.owner(path);
  if (direct.kind !== 'unowned') return direct;
  try {
    const real = await ctx.vfs.realpath(path);
    return real === path ? direct : await ctx.facts.packages.owner(real);
  } catch {
    return direct;
  }
}

/** Glob metacharacters a path from a configuration file may carry. */
export function isGlob(path: string): boolean {
  return /[*?[{]/.test(path);
}
