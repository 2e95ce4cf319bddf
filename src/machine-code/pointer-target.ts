// A call through a function pointer inside an inlined helper (`destroy(ptr)` in ptr_ring_cleanup) is a drop site
// of the index only as bound to the drop function some caller somewhere passes by name (skb_array's
// `ptr_ring_cleanup(r, __skb_array_destroy_skb)`, scan/resolve.ts). Where the location's own chain hands that
// inline function another function of its file (`ptr_ring_cleanup(&rq->xdp_ring, veth_ptr_free)`), the pointer is
// that function here, and a drop call in the code shows gcc inlined it into the direct call (out of line, the code
// would call it by name and drop inside it). The debug info then names the innermost inlined line: the passed
// function's own free, not the pointer call. So the bound pointer site gives way to the passed function's sites.
import type { CodeSite } from '../explain/explain.ts';
import type { LineReader } from './source-features.ts';

/** The factor on a bound pointer site whose chain passes another function to the inline code that calls it. */
export const POINTER_OTHER_TARGET = 0.1;

export interface PointerTargetVerdict {
  /** Per site: the factor on its prior (1 when the rule says nothing). */
  factors: number[];
  /** Per site: the evidence behind a factor other than 1. */
  evidence: Array<string | null>;
}

const word = (name: string): RegExp => new RegExp(`(?<![\\w$])${name.replace(/[$]/g, '\\$')}(?![\\w$])`);

/** The source text of lines from..to of `file`, or null when unreadable. */
function text(lines: LineReader, file: string, from: number, to: number): string | null {
  const all = lines(file);
  if (all === null || from < 1 || from > all.length) return null;
  return all.slice(from - 1, Math.min(to, all.length)).join('\n');
}

/**
 * For the candidate sites of one location: each bound pointer site (its line does not name its drop function) that
 * another candidate's chain shows to be a call of a function passed by name to one of the pointer site's inline
 * helpers, while the location's function does not name the bound drop function itself, weighs POINTER_OTHER_TARGET.
 */
export function pointerTargets(sites: readonly CodeSite[], lines: LineReader): PointerTargetVerdict {
  const factors = sites.map(() => 1);
  const evidence: Array<string | null> = sites.map(() => null);
  sites.forEach((p, j) => {
    if (p.role !== 'site' || p.via.length === 0 || p.tailCallOf !== null || p.calledAt !== null) return;
    const at = text(lines, p.site.file, p.site.line, Math.max(p.site.line, p.site.endLine));
    if (at === null || word(p.site.api).test(at)) return;
    // The location's function names the bound drop function itself (passes it too): the pointer may be it here.
    const own = text(lines, p.fn.file, p.fn.startLine, p.fn.endLine);
    if (own === null || word(p.site.api).test(own)) return;
    for (const t of sites) {
      if (t === p || t.role !== 'site' || t.passedTo === null || t.passedTo === undefined || !p.via.includes(t.passedTo)) continue;
      // The function passed: the first of t's chain after the part it shares with p's.
      let k = 0;
      while (k < t.via.length && t.via[k] === p.via[k]) k++;
      const passed = t.via[k];
      if (passed === undefined || p.via.includes(passed)) continue;
      const call = at.trim().replace(/\s+/g, ' ');
      factors[j] = POINTER_OTHER_TARGET;
      evidence[j] = `machine code: this line calls through a pointer (\`${call.length > 50 ? call.slice(0, 50) + '…' : call}\`), bound to ${p.site.api} only where a caller passes it; here ${passed} is passed to ${t.passedTo}(), and the direct drop call in the code shows it inlined there, so the debug info names ${passed}'s own line`;
      return;
    }
  });
  return { factors, evidence };
}
