// The calls on the paths into a drop call's straight line from further back: through the jumps and
// fall-throughs that join its first instruction, then through the joins of those lines, a bounded number of
// joins back. `if (x) helper(); if (slot_used) { kfree_skb(skb); }`: gcc lays the call of `helper` out of
// line and jumps back into the drop's line, so the drop's own straight line never shows it.
import type { Insn } from './decode.ts';

export interface PathCall {
  /** The called function (symbol or relocation name). */
  name: string;
  /** Offset of the call instruction. */
  off: number;
  /** How many joins back from the drop call's straight line the call was met (1: on a line that jumps or falls into it). */
  joins: number;
}

/** The control flow the walk reads: an instruction's predecessors (fall-through and jumps into it), and whether something jumps to it. */
export interface PathGraph {
  predecessors(i: number): number[];
  isJoin(i: number): boolean;
}

export interface PathWalk {
  /** The drop functions (their calls end a path: what comes before belongs to another drop). */
  isDrop(x: Insn): boolean;
  /** Whether the code goes on from `x` into the instruction after it (not a jump, return, or call that never returns). */
  fallsThrough(x: Insn): boolean;
  /** Calls that say nothing (tracing, stack protector, thunks). */
  ignore(name: string): boolean;
  /** Joins crossed at most. */
  maxJoins: number;
  /** Instructions read back at most on one path, over all its lines. */
  budget: number;
}

/**
 * The calls made on the paths that lead into the straight line starting at instruction `start`, one line per
 * join back up to `maxJoins`, each path reading at most `budget` instructions. A path ends at another drop
 * call, at the function's entry and at a line it has already read (a loop). A line is read backwards from the
 * predecessor up to the first instruction something jumps to; conditional jumps not taken stay on the line.
 */
export function pathCalls(insns: readonly Insn[], graph: PathGraph, start: number, walk: PathWalk): PathCall[] {
  const out: PathCall[] = [];
  const seen = new Set<number>([start]);
  const taken = new Set<number>();
  let frontier: Array<{ at: number; left: number }> = [{ at: start, left: walk.budget }];
  for (let joins = 1; joins <= walk.maxJoins && frontier.length > 0; joins++) {
    const next: Array<{ at: number; left: number }> = [];
    for (const { at, left } of frontier) {
      for (const q of graph.predecessors(at)) {
        let k = q;
        let n = left;
        let ended = false;
        for (; k >= 0 && n > 0; k--, n--) {
          const y = insns[k];
          if (y === undefined || walk.isDrop(y) || (k !== q && !walk.fallsThrough(y))) {
            ended = true;
            break;
          }
          if (y.flow === 'call' && y.callee !== null && !walk.ignore(y.callee) && !taken.has(k)) {
            taken.add(k);
            out.push({ name: y.callee, off: y.off, joins });
          }
          if (graph.isJoin(k) || k === 0) break;
        }
        // k is the line's first instruction (a join), unless the path ended or ran out of budget.
        if (ended || n <= 0 || k <= 0 || seen.has(k)) continue;
        seen.add(k);
        next.push({ at: k, left: n - 1 });
      }
    }
    frontier = next;
  }
  return out;
}
