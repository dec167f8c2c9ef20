/**
 * Globs on absolute paths inside the scanned root, compiled per path segment so a walk
 * can prune every directory no pattern can reach. Segment syntax is picomatch's
 * (`*`, `?`, `[...]`, `{a,b}`); a `**` segment spans any number of directories.
 * Dot files always match: miners hide in them.
 *
 * A glob runs as a small automaton over path components. A walk keeps the state each
 * directory reached and steps it by one name per entry (`start`, `step`), so an entry
 * costs the same at depth 10 000 as at depth 1; `matches` and `mayContain` run a whole
 * path for callers that hold a single path.
 */
import picomatch from 'picomatch';
import { pathWork, splitPath } from './path.js';

/** The glob segments a path so far may be at, ascending; empty once nothing can match. */
export type GlobState = readonly number[];

export interface CompiledGlob {
  readonly source: string;
  /** Does the path itself match? */
  matches(path: string): boolean;
  /** Could something below this directory match? */
  mayContain(dirPath: string): boolean;
  /** The state of the root directory "/". */
  readonly start: GlobState;
  /** The state of `name` inside a directory whose state is `state`. */
  step(state: GlobState, name: string): GlobState;
  /** Does a path with this state match? */
  accepts(state: GlobState): boolean;
  /** Could something below a directory with this state match? */
  live(state: GlobState): boolean;
}

type SegmentMatcher = ((s: string) => boolean) | 'globstar';

export function compileGlob(glob: string): CompiledGlob {
  const segments: SegmentMatcher[] = splitPath(glob).map((seg) =>
    seg === '**' ? 'globstar' : picomatch(seg, { dot: true, nonegate: true }),
  );
  const n = segments.length;

  /** Adds the segment after each globstar (a `**` may span no directory). */
  const closure = (states: number[]): GlobState => {
    const out = new Set<number>();
    for (const s of states) {
      out.add(s);
      for (let i = s; i < n && segments[i] === 'globstar'; i++) out.add(i + 1);
    }
    return [...out].sort((a, b) => a - b);
  };

  const start = closure([0]);

  const step = (state: GlobState, part: string): GlobState => {
    pathWork.components++;
    const next: number[] = [];
    for (const i of state) {
      if (i >= n) continue;
      const m = segments[i]!;
      if (m === 'globstar') next.push(i);
      else if (m(part)) next.push(i + 1);
    }
    return next.length === 0 ? next : closure(next);
  };

  const run = (path: string): GlobState => {
    let state = start;
    for (const part of splitPath(path)) {
      state = step(state, part);
      if (state.length === 0) break;
    }
    return state;
  };

  const accepts = (state: GlobState) => state.includes(n);
  const live = (state: GlobState) => state.some((i) => i < n);

  return {
    source: glob,
    matches: (path) => accepts(run(path)),
    mayContain: (dirPath) => live(run(dirPath)),
    start,
    step,
    accepts,
    live,
  };
}

/** True when any glob matches the path. */
export function matchesAny(globs: string[], path: string): boolean {
  return globs.some((g) => compileGlob(g).matches(path));
}
