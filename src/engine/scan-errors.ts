/**
 * The report's `errors`: every one means something the scan needed was not read, so
 * they must be exact and few. An error keeps its kind, structure and offset (a
 * MountfsError's), the same error met by several checks or several times is one entry
 * with a count, and the list is bounded: a disk whose every block fails gives a
 * readable report, not a million lines.
 */
import { MountfsError } from '../../mountfs/errors.js';
import type { ReportError, ReportErrorKind } from '../model/report.js';

/** Entries kept per scan; the rest are counted in `errorsOmitted`. */
export const MAX_ERROR_ENTRIES = 200;

/** What an error says about itself: a MountfsError's kind, structure and offset; an errno's io. */
export function typedFields(err: unknown): { kind?: ReportErrorKind; structure?: string; offset?: number } {
  if (err instanceof MountfsError) return { kind: err.kind, structure: err.structure, ...(err.offset !== undefined ? { offset: err.offset } : {}) };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { kind: 'io' };
  return {};
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An entry without a kind yet: what checks record (engine tests compare these). */
export type ErrorEntry = Omit<ReportError, 'kind'> & { kind?: ReportErrorKind };

export class ErrorLog<E extends ErrorEntry = ErrorEntry> {
  private readonly byKey = new Map<string, E>();
  omitted = 0;

  constructor(private readonly max = MAX_ERROR_ENTRIES) {}

  add(entry: E): void {
    const key = [entry.kind ?? '', entry.volume ?? '', entry.path ?? '', entry.structure ?? '', entry.offset ?? '', entry.check ?? '', entry.message].join('\0');
    const seen = this.byKey.get(key);
    if (seen) {
      seen.count = (seen.count ?? 1) + (entry.count ?? 1);
      return;
    }
    if (this.byKey.size >= this.max) {
      this.omitted += entry.count ?? 1;
      return;
    }
    this.byKey.set(key, { ...entry });
  }

  entries(): E[] {
    return [...this.byKey.values()];
  }
}

/** The report's form of an entry: every entry has a kind. */
export function reportError(entry: ErrorEntry): ReportError {
  const { kind, ...rest } = entry;
  return { kind: kind ?? 'other', ...rest };
}
