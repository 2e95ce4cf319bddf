// Binary drop calls against source sites, all of a function's calls at once: a soft assignment (Sinkhorn
// balancing of the match matrix) in which each site can absorb about one call, so that a call that clearly
// belongs to site A makes A less likely for the others.

/**
 * Row-stochastic assignment probabilities. `w[i][j]` ≥ 0 is how well call i fits site j; `capacity[j]` is
 * how many calls site j can take (compilers duplicate a call now and then, so a little more than 1);
 * `none` is the weight of "no site explains this call" (a missed site).
 */
export function softAssign(w: readonly number[][], capacity: readonly number[], none: number, rounds = 60): number[][] {
  const m = capacity.length;
  let p = w.map((row) => [...row, none]);
  for (let r = 0; r < rounds; r++) {
    p = p.map((row) => {
      const s = row.reduce((a, b) => a + b, 0);
      return s > 0 ? row.map((x) => x / s) : row;
    });
    for (let j = 0; j < m; j++) {
      let col = 0;
      for (const row of p) col += row[j] ?? 0;
      const cap = capacity[j] ?? 1;
      if (col > cap) {
        const k = cap / col;
        for (const row of p) row[j] = (row[j] ?? 0) * k;
      }
    }
  }
  return p.map((row) => {
    const s = row.reduce((a, b) => a + b, 0);
    return s > 0 ? row.map((x) => x / s) : row;
  });
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
