// Binary drop calls against source sites, all of a function's calls at once: a soft assignment (Sinkhorn
// balancing of the match matrix) in which each site can absorb about one call, so that a call that clearly
// belongs to site A makes A less likely for the others.

/** Copies of sites' code (compilers duplicate a block): how many calls, and what a copy weighs against a site's own call. */
export interface Copies {
  count: number;
  weight: number;
}

/**
 * Row-stochastic assignment probabilities. `w[i][j]` ≥ 0 is how well call i fits site j; `capacity[j]` is
 * how many calls site j can take; `none` is the weight of "no site explains this call" (a missed site).
 * With `copies`, each site also has a copy column (weight `w[i][j] × copies.weight`), all of them together
 * taking at most `copies.count` calls: the calls gcc duplicated a site's block for (see unplacedCalls). A
 * copy's share is added to its site's; `copy[i][j]` is that share.
 */
export function softAssignWithCopies(w: readonly number[][], capacity: readonly number[], none: number, copies: Copies | null, rounds = 60): { p: number[][]; copy: number[][] } {
  const m = capacity.length;
  const extra = copies !== null && copies.count > 0 ? copies : null;
  // Columns: the sites, then (with copies) one copy column per site, then "no site".
  let p = w.map((row) => [...row, ...(extra !== null ? row.map((x) => x * extra.weight) : []), none]);
  const normalise = (rows: number[][]): number[][] => rows.map((row) => {
    const s = row.reduce((a, b) => a + b, 0);
    return s > 0 ? row.map((x) => x / s) : row;
  });
  for (let r = 0; r < rounds; r++) {
    p = normalise(p);
    for (let j = 0; j < m; j++) {
      let col = 0;
      for (const row of p) col += row[j] ?? 0;
      const cap = capacity[j] ?? 1;
      if (col > cap) {
        const k = cap / col;
        for (const row of p) row[j] = (row[j] ?? 0) * k;
      }
    }
    if (extra !== null) {
      let all = 0;
      for (const row of p) for (let j = m; j < 2 * m; j++) all += row[j] ?? 0;
      if (all > extra.count) {
        const k = extra.count / all;
        for (const row of p) for (let j = m; j < 2 * m; j++) row[j] = (row[j] ?? 0) * k;
      }
    }
  }
  p = normalise(p);
  if (extra === null) return { p, copy: p.map((row) => row.slice(0, m).map(() => 0)) };
  return {
    p: p.map((row) => [...row.slice(0, m).map((x, j) => x + (row[m + j] ?? 0)), row[2 * m] ?? 0]),
    copy: p.map((row) => row.slice(m, 2 * m)),
  };
}

/** softAssignWithCopies without copies: the assignment probabilities only. */
export function softAssign(w: readonly number[][], capacity: readonly number[], none: number, rounds = 60): number[][] {
  return softAssignWithCopies(w, capacity, none, null, rounds).p;
}

/**
 * How many calls no one-call-per-site matching can place: a maximum matching of calls to the sites each
 * fits within a factor `fit` of its best site (site j taking up to capacity[j] calls, at least 1), and the
 * calls left over. gcc duplicates a block now and then (a label's block copied into each goto's path, the
 * code after a join copied into both arms), so a function can hold more calls of a site than the source
 * has sites; those calls are copies, and the assignment must let them go to the site they fit. A call that
 * fits no site at all (every weight 0) is not counted.
 */
export function unplacedCalls(w: readonly number[][], capacity: readonly number[], fit: number): number {
  const m = capacity.length;
  const fits = w.map((row) => {
    const best = Math.max(0, ...row.slice(0, m));
    return best > 0 ? row.slice(0, m).flatMap((x, j) => (x > 0 && x >= fit * best ? [j] : [])) : [];
  });
  const room = capacity.map((c) => Math.max(1, Math.floor(c)));
  const taken: number[][] = capacity.map(() => []);
  // Augmenting paths (Kuhn's algorithm, a site holding up to room[j] calls).
  const place = (i: number, seen: Set<number>): boolean => {
    for (const j of fits[i] ?? []) {
      if (seen.has(j)) continue;
      seen.add(j);
      const held = taken[j] ?? [];
      if (held.length < (room[j] ?? 1)) {
        held.push(i);
        return true;
      }
      for (let k = 0; k < held.length; k++) {
        const other = held[k];
        if (other !== undefined && place(other, seen)) {
          held[k] = i;
          return true;
        }
      }
    }
    return false;
  };
  // A call that fits no site at all is a missed site, not a copy.
  let left = 0;
  for (let i = 0; i < w.length; i++) if ((fits[i]?.length ?? 0) > 0 && !place(i, new Set())) left++;
  return left;
}

/**
 * Sites that one call may stand for together (gcc merged their identical code into one block, and the
 * debug info names one of them): sites with the same call text (`key[j]`, '' for a site that cannot be
 * merged), more of them than the function has drop calls (`calls`), each taking at least `share` of this
 * call's row. The indices, best first; empty when the row does not split that way.
 */
export function mergedSites(row: readonly number[], key: readonly string[], calls: number, share = 0.25): number[] {
  const best = key.reduce((b, k, j) => (k !== '' && (row[j] ?? 0) > (row[b] ?? -1) ? j : b), -1);
  const k = key[best];
  if (best < 0 || k === undefined || (row[best] ?? 0) < share) return [];
  const same = key.flatMap((x, j) => (x === k ? [j] : []));
  if (same.length <= calls) return [];
  const split = same.filter((j) => (row[j] ?? 0) >= share).sort((a, b) => (row[b] ?? 0) - (row[a] ?? 0) || a - b);
  return split.length >= 2 ? split : [];
}
