/**
 * Miner binaries and configurations found by what they contain, whatever their name
 * or place: an XMRig build renamed "kworker" in ~/.cache, a config.json in
 * /var/tmp/.ICE-unix/.x. The rules are src/rules/builtin/miner-files.yaml (binary-strings
 * and miner-config scopes); the pools and wallets go to finding.indicators.
 *
 * Which files: one walk of the whole tree but /proc, /sys and /dev (/dev/shm is
 * walked, and so is /run: empty on a disk, it may hold a dropped miner in a mounted
 * evidence directory or a container export). Files a package owns are left out (their integrity is the package check's
 * job); that is what keeps a clean system cheap, since then only generated and
 * dropped files remain. Of those, every file's first 64 bytes are read; ELF files have
 * their strings read (miners/elf-strings.ts), files named like a configuration up to
 * 1 MiB and any other text file up to 16 KiB are read as text. Files are read in
 * order of how likely a miner hides there (temporary and hidden directories first,
 * then homes, /opt, /usr/local, /etc, /var, then the rest), within a scan-wide byte
 * budget; when the budget runs out the check says so in the scan's errors.
 *
 * Single-pass archives (tar.gz, tar.zst, tar.xz) keep only the declared paths below:
 * temporary directories, homes, /opt, /usr/local, /etc, /srv and hidden entries of the
 * system directories. A miner dropped under a visible name in /usr/bin, /usr/sbin,
 * /bin, /sbin or /usr/lib of such an archive is not read here (keeping every system
 * binary would exhaust the archive's retention budget before the files the other checks
 * need); the check reports how many unowned ELF files it could not read. Disk images and
 * directories have no such limit.
 */
import pLimit from 'p-limit';
import type { Check, CheckContext } from '../model/check.js';
import type { Stat } from '../../mountfs/vfs.js';
import { MountfsError, limitExceeded } from '../../mountfs/errors.js';
import { readElfStrings, type ByteBudget } from '../miners/elf-strings.js';
import { elfIdent } from '../miners/elf-sections.js';
import { judgeBinaryStrings } from '../miners/miner-binary.js';
import { CONFIG_MAX_BYTES, SMALL_TEXT_MAX_BYTES, isConfigName, judgeMinerConfig, looksLikeText } from '../miners/miner-config.js';

/** Bytes this check reads in one scan at most (strings of every unowned ELF, texts, heads). */
export const SCAN_BYTE_BUDGET = 1 << 30;
/** Files read at once; enough to hide latency, few enough to keep memory bounded (each read is at most 1 MiB). */
const EXAMINE_CONCURRENCY = 8;
const HEAD_BYTES = 64;
const TEXT_SAMPLE = 4096;
const MAX_WALK_ENTRIES = 5_000_000;
/** Files kept for reading after the walk; the rest are counted and reported. */
const MAX_CANDIDATES = 500_000;
/**
 * The package managers' own databases and caches: thousands of generated text files
 * whose formats the package checks read. Their visible files get only the ELF test
 * (head bytes), not the text read; hidden ones are read like any other.
 */
const PACKAGE_DATA = /^\/var\/(?:lib\/dpkg|lib\/apt\/lists|cache\/apt|cache\/debconf|lib\/rpm|cache\/dnf|cache\/yum)\/(?:[^.][^/]*\/)*[^./][^/]*$/;
/** Top-level directories that hold no files on a disk (kernel and device views). */
const PRUNED_TOP = new Set(['proc', 'sys', 'dev']);

/** Declared for single-pass archives; see the header for what this leaves out. */
export const MINER_FILE_GLOBS = [
  '/tmp/**',
  '/var/tmp/**',
  '/dev/shm/**',
  '/root/*',
  '/root/*/*',
  '/root/.*/**',
  '/home/*/*',
  '/home/*/*/*',
  '/home/*/.*/**',
  '/opt/*',
  '/opt/*/*',
  '/opt/*/bin/*',
  '/opt/.*/**',
  '/opt/*/.*/**',
  '/usr/local/bin/*',
  '/usr/local/sbin/*',
  '/usr/local/.*/**',
  '/usr/local/*/.*/**',
  '/etc/**',
  '/srv/*',
  '/srv/.*/**',
  '/var/.*/**',
  '/var/*/.*/**',
  '/var/lib/*/.*/**',
  '/.*/**',
  '/usr/.*/**',
  '/usr/*/.*/**',
  '/usr/lib/*/.*/**',
  '/bin/.*',
  '/sbin/.*',
  '/lib/.*/**',
  '/boot/.*/**',
  '/mnt/.*/**',
];

interface Candidate {
  path: string;
  size: number;
  tier: number;
}

interface Tally {
  budget: ByteBudget;
  /** Files left unread because the budget ran out. */
  overBudget: number;
  /** ELF files a single-pass source did not keep. */
  notKept: number;
  firstNotKept?: string;
  /** Files not even listed because MAX_CANDIDATES was reached. */
  unlisted: number;
}

export interface MinerFilesOptions {
  /** Bytes read in one scan at most. */
  scanByteBudget: number;
}

export const minerFilesCheck: Check = makeMinerFilesCheck({ scanByteBudget: SCAN_BYTE_BUDGET });

export function makeMinerFilesCheck(options: MinerFilesOptions): Check {
  return {
    id: 'miner-files',
    description: 'Miner binaries (XMRig and others, UPX-packed ELF) and miner configurations found by content anywhere outside package-owned files',
    paths: MINER_FILE_GLOBS,
    async run(ctx) {
      const tally: Tally = { budget: { left: options.scanByteBudget }, overBudget: 0, notKept: 0, unlisted: 0 };
      const candidates = await listCandidates(ctx, tally);
      // Stable: within a tier, walk order.
      candidates.sort((a, b) => a.tier - b.tier);
      // Several files in flight: on a mounted tree each read is a few syscalls of latency,
      // on a cloud snapshot a block fetch; one at a time, a server's 100k unowned files
      // take minutes. The budget is checked when a file starts, so it may be passed by
      // what is in flight, never by more than that.
      const limit = pLimit(EXAMINE_CONCURRENCY);
      await Promise.all(
        candidates.map((c) =>
          limit(async () => {
            if (tally.budget.left <= 0) {
              tally.overBudget++;
              return;
            }
            try {
              await examine(ctx, c, tally);
            } catch (err) {
              ctx.error(c.path, err);
            }
          }),
        ),
      );
      if (tally.overBudget > 0) {
        ctx.error(undefined, limitExceeded('miner-files check', `the ${options.scanByteBudget}-byte read budget ran out; unowned files not read, or not to the end (the least likely places last): ${tally.overBudget}`));
      }
      if (tally.unlisted > 0) {
        ctx.error(undefined, limitExceeded('miner-files check', `more than ${MAX_CANDIDATES} unowned files; files not read: ${tally.unlisted}`));
      }
      if (tally.notKept > 0) {
        ctx.error(tally.firstNotKept, limitExceeded('miner-files check', `unowned ELF files the single-pass source did not keep (outside the declared paths), whose strings were not read: ${tally.notKept}`));
      }
    },
  };
}

async function listCandidates(ctx: CheckContext, tally: Tally): Promise<Candidate[]> {
  let top: string[];
  try {
    top = (await ctx.vfs.readdir('/')).map((e) => e.name);
  } catch (err) {
    ctx.error('/', err);
    return [];
  }
  const globs = ['/*', '/dev/shm/**', ...top.filter((n) => !PRUNED_TOP.has(n)).map((n) => `/${escapeGlob(n)}/**`)];
  const out: Candidate[] = [];
  const walk = ctx.vfs.walk(globs, { maxEntries: MAX_WALK_ENTRIES, onError: (p, e) => ctx.error(p, e) });
  for await (const entry of walk) {
    if (!worthReading(entry.stat)) continue;
    // Without a package database (ownership unknown) every file stays in.
    if ((await ctx.facts.packages.owner(entry.path)).kind === 'owned') continue;
    if (out.length >= MAX_CANDIDATES) {
      tally.unlisted++;
      continue;
    }
    out.push({ path: entry.path, size: entry.stat.size, tier: tier(entry.path) });
  }
  return out;
}

function worthReading(stat: Stat): boolean {
  return stat.type === 'file' && stat.size > 0;
}

/** 0: temporary and hidden places; 1: homes, /opt, /usr/local, /etc, /srv, /var; 2: the system directories. */
function tier(path: string): number {
  if (/^\/(?:tmp|var\/tmp|dev\/shm)\//.test(path) || /\/\.[^/]/.test(path)) return 0;
  if (/^\/(?:root|home|opt|usr\/local|etc|srv|var|mnt|media|boot)\//.test(path)) return 1;
  return 2;
}

async function examine(ctx: CheckContext, c: Candidate, tally: Tally): Promise<void> {
  const configName = isConfigName(c.path);
  const textLimit = PACKAGE_DATA.test(c.path) ? 0 : configName ? CONFIG_MAX_BYTES : SMALL_TEXT_MAX_BYTES;
  let bytes: Buffer;
  let whole = c.size <= textLimit;
  try {
    bytes = await read(ctx, c.path, whole ? c.size : HEAD_BYTES, tally);
  } catch (err) {
    if (!isLimit(err) || !whole) {
      ctx.error(c.path, err);
      return;
    }
    // A single-pass source kept only the head of a file outside the declared paths.
    whole = false;
    try {
      bytes = await read(ctx, c.path, HEAD_BYTES, tally);
    } catch (err2) {
      ctx.error(c.path, err2);
      return;
    }
  }
  const head = bytes.subarray(0, HEAD_BYTES);
  if (elfIdent(head)) {
    await examineElf(ctx, c, head, tally);
    return;
  }
  if (!whole || !looksLikeText(bytes.subarray(0, TEXT_SAMPLE))) return;
  ctx.examined(c.path);
  const finding = judgeMinerConfig(ctx.rules, c.path, bytes.toString('utf8'));
  if (finding) ctx.report(finding);
}

async function examineElf(ctx: CheckContext, c: Candidate, head: Buffer, tally: Tally): Promise<void> {
  let strings: string[];
  try {
    const got = await readElfStrings(ctx.vfs, c.path, c.size, head, tally.budget);
    strings = got.strings;
    if (got.stoppedBy === 'scan-budget') tally.overBudget++;
    if (got.stoppedBy === 'not-kept' && got.bytesRead === 0) {
      tally.notKept++;
      tally.firstNotKept ??= c.path;
      return;
    }
  } catch (err) {
    ctx.error(c.path, err);
    return;
  }
  ctx.examined(c.path);
  const finding = judgeBinaryStrings(ctx.rules, c.path, strings);
  if (finding) ctx.report(finding);
}

async function read(ctx: CheckContext, path: string, bytes: number, tally: Tally): Promise<Buffer> {
  const got = await ctx.vfs.readFile(path, { maxBytes: bytes });
  tally.budget.left -= got.length;
  return got;
}

function isLimit(err: unknown): boolean {
  return err instanceof MountfsError && err.kind === 'limit';
}

/** A directory name as a literal glob segment. */
function escapeGlob(name: string): string {
  return name.replace(/[\\*?[\]{}()!+@,]/g, (c) => `\\${c}`);
}
