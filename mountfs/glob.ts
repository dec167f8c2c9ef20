/**
 * Globs on absolute paths inside the scanned root, compiled per path segment so a walk
 * can prune every directory no pattern can reach. Segment syntax is picomatch's
 * (`*`, `?`, `[...]`, `{a,b}`); a `**` segment spans any number of directories.
 * Dot files always match: miners hide in them.
 */
import picomatch from 'picomatch';
import { splitPath } from './path.js';

export interface CompiledGlob {
  readonly source: string;
  /** Does the path itself match? */
  matches(path: string): boolean;
  /** Could something below this directory match? */
  mayContain(dirPath: string): boolean;
}

type SegmentMatcher = ((s: string) => boolean) | 'globstar';

export function compileGlob(glob: string): CompiledGlob {
  const segments: SegmentMatcher[] = splitPath(glob).map((seg) =>
    seg === '**' ? 'globstar' : picomatch(seg, { dot: true, nonegate: true }),
  );
  const n = segments.length;

  const closure = (states: Set<number>): Set<number> => {
    for (const i of states) if (i < n && segments[i] === 'globstar') states.add(i + 1);
    return states;
  };

  const run = (path: string): Set<number> => {
    let states = closure(new Set([0]));
    for (const part of splitPath(path)) {
      const next = new Set<number>();
      for (const i of states) {
        if (i >= n) continue;
        const m = segments[i]!;
        if (m === 'globstar') next.add(i);
        else if (m(part)) next.add(i + 1);
      }
      states = closure(next);
      if (states.size === 0) break;
    }
    return states;
  };

  return {
    source: glob,
    matches: (path) => run(path).has(n),
    mayContain: (dirPath) => [...run(dirPath)].some((i) => i < n),
  };
}

/** True when any glob matches the path. */
export function matchesAny(globs: string[], path: string): boolean {
  return globs.some((g) => compileGlob(g).matches(path));
}
