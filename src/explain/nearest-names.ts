// "Did you mean": the indexed function names nearest to an unknown one, by edit distance. A batch can
// name 200,000 unknown symbols, so each lookup must not compare against every name: a bigram index
// keeps only the names that can be within the distance, and only those are measured.
//
// Why the filter is exact: an edit changes at most 2 bigram positions of a string, so `d` edits remove
// at most 2d of its distinct bigrams. A name within distance `d` of the query therefore shares at least
// (distinct bigrams of the query) - 2d of them, and so at least one of any 2d + 1 of them: only the names
// listed under the query's 2d + 1 rarest bigrams are candidates, and only candidates that share enough
// bigrams in all are measured.
import { compareText } from '../text-order.ts';

/** The most names a lookup returns. */
const SHOWN = 5;
const MAX_NAME = 512;
/** Lookups remembered: the same unknown symbol repeats in a log. */
const MEMO_MAX = 20_000;

/** The largest distance still worth suggesting for a name of this length. */
const limitFor = (name: string): number => Math.max(2, Math.floor(name.length / 4));

/** Distinct bigrams of the name with start and end marks (so that short names have some). */
function bigrams(name: string): Set<string> {
  const padded = `\u0001${name}\u0002`;
  const out = new Set<string>();
  for (let i = 0; i + 1 < padded.length; i++) out.add(padded.slice(i, i + 2));
  return out;
}

export class NameIndex {
  private readonly names: readonly string[];
  private readonly postings = new Map<string, number[]>();
  private readonly counts: Uint32Array;
  private readonly memo = new Map<string, string[]>();
  private prev = new Int32Array(64);
  private cur = new Int32Array(64);

  constructor(names: readonly string[]) {
    this.names = names;
    this.counts = new Uint32Array(names.length);
    names.forEach((n, id) => {
      for (const g of bigrams(n)) {
        let list = this.postings.get(g);
        if (list === undefined) this.postings.set(g, (list = []));
        list.push(id);
      }
    });
  }

  /** Up to five names within the distance limit, nearest first, then in text order. */
  nearest(name: string): string[] {
    const known = this.memo.get(name);
    if (known !== undefined) return known;
    // No kernel symbol is longer (KSYM_NAME_LEN is 512 since 6.1): a longer text is not a name to correct.
    if (name.length > MAX_NAME) return [];
    const limit = limitFor(name);
    const grams = bigrams(name);
    const need = grams.size - 2 * limit;
    const touched: number[] = [];
    /** Bigrams whose (long) lists were not counted: a candidate may share each of them unseen. */
    let uncounted = 0;
    if (need > 0) {
      const lists = [...grams].map((g) => this.postings.get(g) ?? []).sort((a, b) => a.length - b.length);
      // Candidates come from the rarest 2d + 1 lists; the other lists only add to their counts, and
      // only while that is cheaper than measuring the candidates themselves.
      let work = 0;
      for (let i = 0; i <= 2 * limit && i < lists.length; i++) work += lists[i]?.length ?? 0;
      lists.forEach((list, i) => {
        const opens = i <= 2 * limit;
        if (!opens && list.length > work) {
          uncounted++;
          return;
        }
        for (const id of list) {
          const c = this.counts[id] ?? 0;
          if (c === 0) {
            if (!opens) continue;
            touched.push(id);
          }
          this.counts[id] = c + 1;
        }
      });
    }
    const found: Array<{ n: string; d: number }> = [];
    const consider = (id: number): void => {
      const n = this.names[id] ?? '';
      if (Math.abs(n.length - name.length) > limit) return;
      const d = this.distanceWithin(name, n, limit);
      if (d <= limit) found.push({ n, d });
    };
    if (need > 0) {
      for (const id of touched) {
        if ((this.counts[id] ?? 0) + uncounted >= need) consider(id);
        this.counts[id] = 0;
      }
    } else {
      // A name too short for the filter: few such lookups, and each is short to measure.
      for (let id = 0; id < this.names.length; id++) consider(id);
    }
    const out = found.sort((a, b) => a.d - b.d || compareText(a.n, b.n)).slice(0, SHOWN).map((x) => x.n);
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(name, out);
    return out;
  }

  /** Levenshtein distance of a and b, or limit + 1 as soon as it must exceed `limit`. */
  private distanceWithin(a: string, b: string, limit: number): number {
    if (this.prev.length <= b.length) {
      this.prev = new Int32Array(b.length + 1);
      this.cur = new Int32Array(b.length + 1);
    }
    let prev = this.prev;
    let cur = this.cur;
    for (let j = 0; j <= b.length; j++) prev[j] = j;
    for (let i = 1; i <= a.length; i++) {
      cur[0] = i;
      let rowMin = i;
      const ca = a.charCodeAt(i - 1);
      for (let j = 1; j <= b.length; j++) {
        const v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (ca === b.charCodeAt(j - 1) ? 0 : 1));
        cur[j] = v;
        if (v < rowMin) rowMin = v;
      }
      if (rowMin > limit) return limit + 1;
      [prev, cur] = [cur, prev];
    }
    return prev[b.length] ?? limit + 1;
  }
}
