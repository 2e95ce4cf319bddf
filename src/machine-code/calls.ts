// The drop calls of one decoded function, each with what the code around it says: the constants that reach
// the callee's reason register (walked back through every predecessor), the other calls, immediates,
// per-cpu counter offsets and strings of its neighbourhood.
import { codeReturn } from './return-value.ts';
import { codeAfter, type After } from './after-drop.ts';
import { valueOrigins, type Origin } from './dataflow.ts';
import { ARG_FAMILIES, type DecodedFunction, type Insn } from './decode.ts';
import { pathCalls, type PathCall } from './path-calls.ts';
import { originArguments, type CodeCallArguments } from './call-arguments.ts';

export interface Callee {
  name: string;
  /** Index of the `enum skb_drop_reason` parameter (from the indexed tree's prototype), or null. */
  reasonArg: number | null;
  /** Index of the freed buffer's parameter. */
  skbArg: number;
  /** An out-of-line function whose own code tail-jumps to a drop function: its drops are reported at the return from its call. */
  forward?: Forward;
}

/** What the code of an out-of-line function shows: a path that ends with a jump to a drop function (a tail call). */
export interface Forward {
  /** The functions on the way, this one first, the drop function it jumps to last (`[dev_kfree_skb_any_reason, sk_skb_reason_drop]`). */
  path: string[];
  /** Another path of it calls a drop function (returns after it): a drop there is reported inside it. */
  alsoInside: boolean;
  /** The reason constants its jump passes, when they are constants in its own code (else its reason parameter passes through). */
  reasons: { values: number[]; complete: boolean } | null;
}

export interface DropCall {
  /** Index of the call instruction. */
  index: number;
  /** Offset of the call instruction; the location's offset is `ret`. */
  off: number;
  ret: number;
  callee: string;
  tail: boolean;
  /** The callee is not a drop function but ends a path with a tail jump to one (calls.ts Forward), else null. */
  through: Forward | null;
  /** Constants that reach the reason register; `complete` is false when some path brings a non-constant. */
  reasons: { values: number[]; complete: boolean } | null;
  /** Other functions called in the neighbourhood (before and after the drop call). */
  neighbours: string[];
  /**
   * Functions called further back, on the paths that join the call's straight line (one or two joins back,
   * path-calls.ts): `if (c) helper(); … kfree_skb(skb)` with `helper`'s call laid out elsewhere.
   */
  pathCalls: PathCall[];
  /** Immediates of the neighbourhood (unsigned 32-bit). */
  imms: number[];
  /** %gs-relative displacements (per-cpu counters) of the neighbourhood. */
  gsDisps: number[];
  /** Memory displacements of the neighbourhood (a counter index × 8 shows up here). */
  disps: number[];
  /** Data referenced rip-relative in the neighbourhood (image addresses or relocation names). */
  dataRefs: Array<bigint | string>;
  /** Another drop call just before this one in the same straight line, or just after it. */
  dropBefore: boolean;
  dropAfter: boolean;
  /**
   * When the call's block is a jump target (an out-of-line drop block, a `goto drop` label): what the
   * straight lines that jump or fall into it call and compare, the code of the conditions that lead there.
   */
  entry: EntryFacts | null;
  /**
   * Immediates compared (`cmp $imm`, `test $imm`) just before each conditional branch into the call's straight
   * line: the jumps into it when it is a jump target, and the `jcc` it falls through from when it is laid out
   * inline after one (conditions.ts matches them with the site's condition); `edges`: the paths into that
   * straight line (many when gcc merged the blocks of several sites into one).
   */
  guard: { compared: number[]; edges: number; fields: GuardField[] };
  /** Where the freed buffer (the callee's skb argument) comes from, over every path back. */
  skb: Origin[];
  /** The constant arguments of each call whose result is the freed buffer (call-arguments.ts). */
  skbCallArgs: CodeCallArguments[];
  /** The field the freed buffer was loaded from is set to NULL right after the call (`kfree_skb(p->skb); p->skb = NULL;`). */
  clearsField: boolean;
  /** Offsets of WARN traps (`ud2` the kernel resumes after) on the straight line into the call or on a jump into its block. */
  warnings: number[];
  /** The constants the straight path after the call can return in %eax (return-value.ts), or null. */
  returns: number[] | null;
  /** The memory writes on the straight path after the call, and where that path ends (after-drop.ts). */
  after: After;
  /** Counter bumps on the straight line into the call, back to its first conditional jump or join (counters.ts). */
  bumpsBefore: Array<{ off: number; disp: number }>;
}

/**
 * A memory field read before a conditional branch into a drop block: by the compare itself (`cmpl $0x5,0x7c(%rbx)`,
 * `testb $0x4,0x7e(%rbx)`) or by a load a few instructions before it (`mov 0x70(%rdi),%eax; test %eax,%eax`).
 */
export interface GuardField {
  disp: number;
  /** The immediate the compare tests the field against (`cmp`) or with (`test`), when it holds the field itself. */
  imm: number | null;
}

export interface EntryFacts {
  /** Jumps and fall-throughs into the block. */
  edges: number;
  /** Functions called on those straight lines (before the branch). */
  calls: string[];
  /** Immediates compared on them (`cmp $imm`, `test $imm`). */
  compared: number[];
}

/** Calls that never return (objtool's list is in the tree; these are the ones a drop path meets). */
export interface FlowOptions {
  noreturn: ReadonlySet<string>;
  /** Static-key and exception-fixup edges into this function: [from offset, to offset]. */
  hiddenEdges: ReadonlyArray<[number, number]>;
  /** Offsets of trapping instructions the kernel resumes after: a WARN's `ud2` (bug-table.ts). */
  resumes?: ReadonlySet<number>;
}

const NOT_NEIGHBOURS = /^(__fentry__|__stack_chk_fail|__x86_|__sanitizer_|__asan_|__kasan_|__ubsan_|__tsan_|__cfi_|__warn_printk$)/;
const BACK_WINDOW = 24;
const FORWARD_WINDOW = 14;
const AFTER_JUMP = 5;
/** Instructions read back from each branch into a drop block. */
const ENTRY_WINDOW = 4;
/** Joins crossed back from a drop call's straight line, and instructions read on one path, for its path calls. */
const PATH_JOINS = 2;
const PATH_BUDGET = 32;
/** Instructions after a drop call searched for the store that clears the freed field. */
const CLEAR_WINDOW = 4;

interface FallThrough {
  noreturn: ReadonlySet<string>;
  resumes?: ReadonlySet<number> | undefined;
}

function fallsThrough(x: Insn, t: FallThrough): boolean {
  if (x.flow === 'stop') return t.resumes?.has(x.off) === true;
  if (x.flow === 'jmp' || x.flow === 'ret' || x.flow === 'ijmp') return false;
  if (x.flow === 'call' && x.callee !== null && t.noreturn.has(x.callee)) return false;
  return true;
}

class Flow {
  private readonly preds: Map<number, number[]>;
  private readonly fn: DecodedFunction;
  private readonly noreturn: FallThrough;

  constructor(fn: DecodedFunction, opts: FlowOptions) {
    this.fn = fn;
    this.noreturn = opts;
    const preds = new Map<number, number[]>();
    const add = (to: number | undefined, from: number | undefined): void => {
      if (to === undefined || from === undefined) return;
      const l = preds.get(to);
      if (l === undefined) preds.set(to, [from]);
      else l.push(from);
    };
    fn.insns.forEach((x, i) => {
      if ((x.flow === 'jmp' || x.flow === 'jcc') && x.local !== null) add(fn.at.get(x.local), i);
    });
    for (const [from, to] of opts.hiddenEdges) add(fn.at.get(to), fn.at.get(from));
    this.preds = preds;
  }

  predecessors(i: number): number[] {
    const out: number[] = [];
    const prev = this.fn.insns[i - 1];
    if (prev !== undefined && fallsThrough(prev, this.noreturn)) out.push(i - 1);
    for (const q of this.preds.get(i) ?? []) out.push(q);
    return out;
  }

  /** Constants register `family` can hold just before instruction `at`, over every path back to where it is written. */
  reachingConstants(at: number, family: number): { values: number[]; complete: boolean } {
    const values = new Set<number>();
    let complete = true;
    const seen = new Set<number>();
    const work = [at];
    let steps = 0;
    const bit = 1 << family;
    while (work.length > 0) {
      const p = work.pop();
      if (p === undefined || seen.has(p)) continue;
      seen.add(p);
      if (++steps > 600) {
        complete = false;
        break;
      }
      const from = this.predecessors(p);
      if (from.length === 0) complete = false; // the function's entry (a parameter) or an edge we cannot see
      for (const q of from) {
        const x = this.fn.insns[q];
        if (x === undefined) continue;
        if (x.loads !== null && x.loads[0] === family) values.add(x.loads[1]);
        else if ((x.writes & bit) !== 0) complete = false;
        else work.push(q);
      }
    }
    return { values: [...values].sort((a, b) => a - b), complete };
  }

  isJoin(i: number): boolean {
    return (this.preds.get(i)?.length ?? 0) > 0;
  }
}

/** First instruction of the straight line that ends in the call at `i` (a jump target, or after a jump). */
function blockStart(flow: Flow, insns: readonly Insn[], i: number, noreturn: FallThrough, isDrop: (x: Insn) => boolean): number {
  let k = i;
  for (let n = 0; n < BACK_WINDOW && k > 0 && !flow.isJoin(k); n++) {
    const y = insns[k - 1];
    if (y === undefined || !fallsThrough(y, noreturn) || y.flow === 'jcc' || isDrop(y)) break;
    k--;
  }
  return k;
}

/**
 * What leads into a drop block that is a jump target: for each conditional jump into it, the call whose result
 * it tests (`call skb_clone; test %rax,%rax; je drop`) and the immediates compared just before it.
 */
function entryFacts(flow: Flow, insns: readonly Insn[], start: number, noreturn: FallThrough, isDrop: (x: Insn) => boolean, callees: ReadonlyMap<string, Callee>): EntryFacts | null {
  if (!flow.isJoin(start)) return null;
  const preds = flow.predecessors(start);
  const calls: string[] = [];
  const compared: number[] = [];
  for (const q of preds) {
    if (insns[q]?.flow !== 'jcc') continue;
    for (let k = q - 1, n = 0; k >= 0 && n < ENTRY_WINDOW; k--, n++) {
      const y = insns[k];
      if (y === undefined || isDrop(y) || !fallsThrough(y, noreturn) || y.flow === 'jcc') break;
      if (y.flow === 'call' || y.flow === 'icall') {
        if (y.callee !== null && !callees.has(y.callee) && !NOT_NEIGHBOURS.test(y.callee)) calls.push(y.callee);
        break;
      }
      if (y.compares) for (const v of y.imms) compared.push(v);
      if (flow.isJoin(k)) break;
    }
  }
  return { edges: preds.length, calls, compared };
}

/** The immediates compared before each conditional jump into, or falling through into, the block at `start`. */
function guardCompared(flow: Flow, insns: readonly Insn[], start: number, noreturn: FallThrough, isDrop: (x: Insn) => boolean): { compared: number[]; edges: number; fields: GuardField[] } {
  const out: number[] = [];
  const fields: GuardField[] = [];
  const preds = flow.predecessors(start);
  for (const q of preds) {
    if (insns[q]?.flow !== 'jcc') continue;
    for (let k = q - 1, n = 0; k >= 0 && n < ENTRY_WINDOW; k--, n++) {
      const y = insns[k];
      if (y === undefined || isDrop(y) || !fallsThrough(y, noreturn) || y.flow === 'jcc' || y.flow === 'call' || y.flow === 'icall') break;
      if (y.compares) for (const v of y.imms) if (!out.includes(v)) out.push(v);
      // A field read on the way to the branch: compared in place, or loaded into a register (not a store).
      const loadsCompared = k === q - 2 && insns[q - 1]?.compares === true && y.writes !== 0;
      if (y.disp !== null && y.store === null && y.clears === null && (y.compares || loadsCompared) && !fields.some((f) => f.disp === y.disp)) {
        fields.push({ disp: y.disp, imm: y.compares ? (y.imms[0] ?? null) : null });
      }
      if (flow.isJoin(k)) break;
    }
  }
  return { compared: out, edges: preds.length, fields };
}

/** Whether a field the freed buffer was loaded from (`mov 0x100(%r12),%rsi`) is set to 0 just after the call. */
function clearsAfter(insns: readonly Insn[], i: number, skb: readonly Origin[], noreturn: FallThrough, isDrop: (x: Insn) => boolean): boolean {
  // An array element (loaded through an index register) is cleared through one; a plain field without.
  const key = (disp: number, indexed: boolean): string => `${disp}${indexed ? 'i' : ''}`;
  const disps = new Set(skb.flatMap((o) => (o.kind === 'load' ? [key(o.disp, o.indexed === true)] : [])));
  if (disps.size === 0) return false;
  for (let k = i + 1, n = 0; k < insns.length && n < CLEAR_WINDOW; k++, n++) {
    const y = insns[k];
    if (y === undefined || isDrop(y)) break;
    if (y.clears !== null && disps.has(key(y.clears.disp, y.clears.index !== null))) return true;
    if (!fallsThrough(y, noreturn) || y.flow === 'jcc') break;
  }
  return false;
}

/**
 * Whether a function's own code ends a path with a jump to one of `callees` (a tail call), and whether another
 * path calls one; `reasonFamily` gives the register of a jump target's reason, for the constants it gets there.
 */
export function tailJumps(fn: DecodedFunction, isTarget: (name: string) => boolean, reasonFamily: (name: string) => number | undefined, opts: FlowOptions): { targets: string[]; alsoInside: boolean; reasons: { values: number[]; complete: boolean } | null } | null {
  const targets: string[] = [];
  let alsoInside = false;
  let flow: Flow | null = null;
  const values = new Set<number>();
  let complete = true;
  fn.insns.forEach((x, i) => {
    if (x.callee === null || !isTarget(x.callee)) return;
    if (x.flow === 'call') alsoInside = true;
    if (x.flow !== 'jmp') return;
    if (!targets.includes(x.callee)) targets.push(x.callee);
    const family = reasonFamily(x.callee);
    if (family === undefined) {
      complete = false;
      return;
    }
    flow ??= new Flow(fn, opts);
    const r = flow.reachingConstants(i, family);
    for (const v of r.values) values.add(v);
    if (!r.complete || r.values.length === 0) complete = false;
  });
  if (targets.length === 0) return null;
  return { targets, alsoInside, reasons: complete && values.size > 0 ? { values: [...values].sort((a, b) => a - b), complete: true } : null };
}

export function findDropCalls(fn: DecodedFunction, callees: ReadonlyMap<string, Callee>, opts: FlowOptions): DropCall[] {
  const flow = new Flow(fn, opts);
  const insns = fn.insns;
  const isDrop = (x: Insn): boolean => (x.flow === 'call' || x.flow === 'jmp') && x.callee !== null && callees.has(x.callee);
  const out: DropCall[] = [];
  insns.forEach((x, i) => {
    if (!isDrop(x) || x.callee === null) return;
    const callee = callees.get(x.callee);
    const family = callee?.reasonArg === null || callee?.reasonArg === undefined ? undefined : ARG_FAMILIES[callee.reasonArg];
    const fixed = callee?.forward?.reasons;
    const reasons = fixed != null && fixed.values.length > 0 ? fixed : family === undefined ? null : flow.reachingConstants(i, family);
    const neighbours: string[] = [];
    const imms: number[] = [];
    const gsDisps: number[] = [];
    const disps: number[] = [];
    const dataRefs: Array<bigint | string> = [];
    const take = (y: Insn): void => {
      if ((y.flow === 'call' || y.flow === 'jmp') && y.callee !== null && !callees.has(y.callee) && !NOT_NEIGHBOURS.test(y.callee)) neighbours.push(y.callee);
      for (const v of y.imms) imms.push(v);
      if (y.gsDisp !== null) gsDisps.push(y.gsDisp);
      if (y.disp !== null) disps.push(y.disp);
      if (y.dataRef !== null) dataRefs.push(y.dataRef);
    };
    let dropBefore = false;
    let dropAfter = false;
    const warnings: number[] = [];
    const bumpsBefore: Array<{ off: number; disp: number }> = [];
    let branchedBack = false;
    // Backwards along the straight line that falls into the call, stopping at the previous drop call.
    for (let k = i - 1, n = 0; k >= 0 && n < BACK_WINDOW; k--, n++) {
      const y = insns[k];
      if (y !== undefined && isDrop(y) && y.flow === 'call') dropBefore = true;
      if (y === undefined || !fallsThrough(y, opts) || isDrop(y)) break;
      take(y);
      if (y.flow === 'jcc') branchedBack = true;
      else if (!branchedBack && y.bump !== null) bumpsBefore.push({ off: y.off, disp: y.bump });
      if (y.flow === 'stop') warnings.push(y.off);
      // A jump target starts another path: what comes before it in the layout is not this block.
      if (flow.isJoin(k)) break;
    }
    // Forwards to the end of the block, then one jump further (the shared exit sets the return value).
    let jumped = false;
    let branched = false;
    for (let k = i + 1, n = 0; k < insns.length && n < FORWARD_WINDOW; k++, n++) {
      const y = insns[k];
      if (y !== undefined && isDrop(y) && !flow.isJoin(k)) dropAfter = true;
      if (y === undefined || isDrop(y)) break;
      take(y);
      // `kfree_skb(skb); if (!sent) send_sig(…);`: the calls of the first conditional branch after the drop, both ways.
      if (y.flow === 'jcc' && y.local !== null && !branched) {
        branched = true;
        const t = fn.at.get(y.local);
        for (let j = t ?? insns.length, m = 0; j < insns.length && m < AFTER_JUMP; j++, m++) {
          const z = insns[j];
          if (z === undefined || isDrop(z)) break;
          if ((z.flow === 'call' || z.flow === 'jmp') && z.callee !== null && !callees.has(z.callee) && !NOT_NEIGHBOURS.test(z.callee)) neighbours.push(z.callee);
          if (!fallsThrough(z, opts)) break;
        }
      }
      if (y.flow === 'jmp' && y.local !== null && !jumped) {
        jumped = true;
        const t = fn.at.get(y.local);
        if (t === undefined) break;
        for (let j = t, m = 0; j < insns.length && m < AFTER_JUMP; j++, m++) {
          const z = insns[j];
          if (z === undefined || isDrop(z)) break;
          take(z);
          if (!fallsThrough(z, opts)) break;
        }
        break;
      }
      if (!fallsThrough(y, opts)) break;
    }
    const skbFamily = ARG_FAMILIES[callee?.skbArg ?? 0];
    const skb = skbFamily === undefined ? [] : valueOrigins(insns, (k) => flow.predecessors(k), i, skbFamily);
    const start = blockStart(flow, insns, i, opts, isDrop);
    // `if (WARN_ON(c)) goto drop;`: the WARN's trap, then a jump into the drop block.
    for (const q of flow.isJoin(start) ? flow.predecessors(start) : []) {
      if (insns[q]?.flow !== 'jmp') continue;
      for (let k = q - 1, n = 0; k >= 0 && n < ENTRY_WINDOW; k--, n++) {
        const y = insns[k];
        if (y === undefined || isDrop(y) || !fallsThrough(y, opts) || y.flow === 'jcc') break;
        if (y.flow === 'stop' && !warnings.includes(y.off)) warnings.push(y.off);
        if (flow.isJoin(k)) break;
      }
    }
    out.push({
      index: i, off: x.off, ret: x.off + x.len, callee: x.callee, tail: x.flow === 'jmp', through: callee?.forward ?? null,
      reasons, neighbours, imms, gsDisps, disps, dataRefs, dropBefore, dropAfter,
      pathCalls: pathCalls(insns, flow, start, { isDrop, fallsThrough: (y) => fallsThrough(y, opts), ignore: (n) => callees.has(n) || NOT_NEIGHBOURS.test(n), maxJoins: PATH_JOINS, budget: PATH_BUDGET }),
      entry: entryFacts(flow, insns, start, opts, isDrop, callees),
      guard: guardCompared(flow, insns, start, opts, isDrop),
      skb, skbCallArgs: originArguments(skb, (k, f) => flow.reachingConstants(k, f)), clearsField: clearsAfter(insns, i, skb, opts, isDrop), warnings,
      returns: x.flow === 'call' ? codeReturn(insns, fn.at, i, (k, f) => flow.reachingConstants(k, f)) : null,
      after: codeAfter(insns, fn.at, i),
      bumpsBefore,
    });
  });
  return out;
}
