/**
 * Hashes packaged files and reports the ones whose bytes are not what their package
 * recorded. A few files are hashed at once so reading one overlaps hashing another;
 * the total read is bounded, so a hostile tree of huge "libraries" cannot make the
 * scan run for hours. The rule follows the place and the name: a PAM module, a
 * command rootkits replace (a name list in package-integrity.yaml), anything else. A changed
 * ELF file prelink rewrote (RHEL/CentOS 5 and 6) is not judged, only counted.
 */
import type { CheckContext } from '../../model/check.js';
import type { Finding } from '../../model/finding.js';
import { basename } from '../../../mountfs/path.js';
import { MountfsError, isNotFound } from '../../../mountfs/errors.js';
import type { PackageDigestAlgorithm } from '../../facts/package-db.js';
import { MAX_VERIFY_BYTES, digestsOf } from './hash.js';
import type { Digests } from '../../hashes/hash-file.js';
import { fileKind, isPrelinked } from './files.js';
import { placeOf } from './scope.js';
import type { Expected } from './records.js';
import { packageTools } from './remediation.js';
import { unlockPrefixOf } from '../shared/unlock.js';

const PAM_RULE = 'integrity.pam-module-modified';
const TROJANED_RULE = 'integrity.trojaned-command-modified';
const MODIFIED_RULE = 'integrity.package-file-modified';
/** The rule ids named here, for the ruleIds of the check that verifies packages. */
export const VERIFY_RULE_IDS = [PAM_RULE, TROJANED_RULE, MODIFIED_RULE];
const CONCURRENCY = 4;
/** A Debian server's scope is ~100 MiB, a RHEL one with big libraries ~1 GiB. */
const MAX_TOTAL_BYTES = 4 * 1024 ** 3;

export class IntegrityVerifier {
  private running = new Set<Promise<void>>();
  private queued = new Set<string>();
  private totalRead = 0;
  private budgetNoted = false;
  /** Files a single-pass source kept neither the bytes nor the digests of. */
  private notKept: string[] = [];
  /** Changed ELF files prelink rewrote. */
  private prelinked: string[] = [];

  constructor(
    private readonly ctx: CheckContext,
    private readonly report: (f: Finding) => void,
    /** Moved-aside copies (ps.original) by the command path they were moved from. */
    private readonly movedCopies: ReadonlyMap<string, string[]>,
  ) {}

  /** Starts verifying the file; waits while CONCURRENCY files are in flight. Each path once. `size` as for digestsOf. */
  async add(path: string, expected: Expected, size?: number): Promise<void> {
    if (this.queued.has(path)) return;
    this.queued.add(path);
    while (this.running.size >= CONCURRENCY) await Promise.race(this.running);
    // A task never rejects: one that failed while others were in flight would go unhandled.
    const task = this.verify(path, expected, size)
      .catch((err: unknown) => this.ctx.error(path, err))
      .finally(() => this.running.delete(task));
    this.running.add(task);
  }

  async done(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
    if (this.prelinked.length > 0) {
      this.prelinked.sort();
      this.ctx.error(
        this.prelinked[0],
        new Error(
          `${this.prelinked.length} packaged ELF file(s) differ from their package and carry prelink's undo section: prelink rewrote them, which rpm -V undoes before comparing and minescan cannot, so they were not judged (first: ${this.prelinked[0]})`,
        ),
      );
    }
    if (this.notKept.length > 0) {
      // Files finish in any order: name the first by path, so the report is the same every run.
      this.notKept.sort();
      this.ctx.error(
        this.notKept[0],
        new Error(`${this.notKept.length} packaged file(s) could not be verified: the single-pass source kept neither their bytes nor their digests (first: ${this.notKept[0]})`),
      );
    }
  }

  private async verify(path: string, expected: Expected, size: number | undefined): Promise<void> {
    if (this.totalRead >= MAX_TOTAL_BYTES) {
      if (!this.budgetNoted) this.ctx.error(path, new Error(`integrity check: ${MAX_TOTAL_BYTES} bytes hashed; the remaining packaged files were not verified`));
      this.budgetNoted = true;
      return;
    }
    const algorithms = new Set<PackageDigestAlgorithm>(expected.digests.map((d) => d.algorithm));
    let digests: Digests;
    try {
      const result = await digestsOf(this.ctx.vfs, path, algorithms, size);
      if (result.kind === 'too-large') {
        this.ctx.error(path, new Error(`${result.size} bytes: too large to verify against its package`));
        return;
      }
      this.totalRead += result.bytesRead;
      this.ctx.hashed(result.bytesRead);
      digests = result.digests;
    } catch (err) {
      if (err instanceof MountfsError && err.kind === 'limit') this.notKept.push(path);
      else if (isNotFound(err)) await this.reportChanged(path, expected, {});
      else this.ctx.error(path, err);
      return;
    }
    this.ctx.examined(path);
    if (expected.digests.some((d) => digests[d.algorithm] === d.digest)) return;
    if (await this.prelinkedElf(path)) {
      this.prelinked.push(path);
      return;
    }
    await this.reportChanged(path, expected, digests);
  }

  /** Only asked of changed files, which are few: the whole file is read again. */
  private async prelinkedElf(path: string): Promise<boolean> {
    try {
      return (await fileKind(this.ctx.vfs, path)).elf && (await isPrelinked(this.ctx.vfs, path, MAX_VERIFY_BYTES));
    } catch {
      return false;
    }
  }

  private async reportChanged(path: string, expected: Expected, digests: Digests): Promise<void> {
    const ctx = this.ctx;
    const first = expected.digests[0]!;
    const actual = digests[first.algorithm] ?? 'none (it cannot be read as a regular file)';
    const expectedText = expected.digests.map((d) => d.digest).join(' or ');
    let kind: string;
    let note = '';
    try {
      const st = await ctx.vfs.lstat(path);
      kind = (await fileKind(ctx.vfs, path)).words;
      if (st.type === 'symlink') note = `; the packaged file was replaced by a symlink to ${await ctx.vfs.readlink(path)}`;
    } catch (err) {
      kind = isNotFound(err) ? 'a dangling link or an unreadable file' : 'unreadable';
      try {
        if ((await ctx.vfs.lstat(path)).type === 'symlink') note = `; the packaged file was replaced by a symlink to ${await ctx.vfs.readlink(path)}`;
      } catch {
        // Already described as unreadable.
      }
    }
    const moved = this.movedCopies.get(path);
    if (moved) note += `; a moved-aside copy lies beside it (${moved.join(', ')}), which the hijacked-command findings describe`;
    const rule =
      placeOf(path) === 'pam' ? PAM_RULE : ctx.rules.matchName('command', basename(path)).some((r) => r.id === TROJANED_RULE) ? TROJANED_RULE : MODIFIED_RULE;
    this.report(
      ctx.rules.finding(rule, {
        path,
        evidence: `${first.algorithm} ${actual}; ${expected.database.location} records ${expectedText} for ${expected.packages.join(', ')}`,
        vars: {
          package: expected.packages.join(', '),
          database: expected.database.location,
          algorithm: first.algorithm,
          expected: expectedText,
          actual,
          kind,
          note,
          unlock: await unlockPrefixOf(ctx, path),
          ...(await packageTools(ctx, expected.database, expected.packages)),
        },
      }),
    );
  }
}
