// Bounds on the work one file may cost the scanner. Real kernel trees stay far below them (Debian's
// 6.1: the deepest nesting of `(`, `[` and `{` in a piece that mentions skbs is 10 levels, the largest
// such top-level piece 295 KB and the most calls in one 4,496 (both bnx2.h), the largest file that
// mentions skbs 554 KB (nl80211.c)), so
// they only stop pathological input: a piece nested a thousand levels deep would overflow the stack
// of every recursive walk (and of the structured clone that carries summaries between threads), a
// megabyte-long line of calls or a 50 MB comment would cost gigabytes. What exceeds a bound is not
// parsed, and is counted and named in the index summary instead.

const MiB = 1024 * 1024;

export const BUDGET = {
  /** Deepest nesting of brackets in a top-level piece handed to tree-sitter. */
  nesting: 64,
  /** Largest top-level piece handed to tree-sitter. */
  chunkBytes: 1 * MiB,
  /** Most bytes of one file handed to tree-sitter, over all its pieces. */
  parsedBytesPerFile: 4 * MiB,
  /** Most calls (`name(`) of one file that are summarised one by one, over all its parsed pieces. */
  callsPerFile: 50_000,
  /** Largest file that is read whole and searched; a larger one is only checked for mentions of skbs. */
  candidateBytes: 8 * MiB,
} as const;

/** Whether the nesting of `(`, `[` and `{` in `clean` (comments and strings blanked) goes deeper than `limit`. */
export function nestsDeeperThan(clean: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < clean.length; i++) {
    const c = clean.charCodeAt(i);
    if (c === 40 || c === 91 || c === 123) {
      if (++depth > limit) return true;
    } else if (c === 41 || c === 93 || c === 125) {
      depth--;
    }
  }
  return false;
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

const CALL_LIKE = /\b[A-Za-z_]\w*\s*\(/g;

/** How many `name(` the text holds. */
export function countCalls(clean: string): number {
  let n = 0;
  CALL_LIKE.lastIndex = 0;
  while (CALL_LIKE.exec(clean) !== null) n++;
  return n;
}
