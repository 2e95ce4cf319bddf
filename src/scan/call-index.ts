// The tree's function and macro summaries as they arrive round after round, and the lookups that
// resolve reads on every round (who calls a name, who passes it as an argument, which functions call a
// parameter), kept up to date as summaries are added instead of rebuilt from every call of the tree
// each round. Each list keeps the order of one pass over the files (in the order they were first
// added), their functions and their calls, so resolve visits them as such a pass would.
import type { CallSummary, FunctionSummary, MacroSummary } from './summary.ts';

export interface FileUnits {
  functions: FunctionSummary[];
  macros: MacroSummary[];
  /** What of the file was over a bound of the scanner's work and not parsed (FileSummary.skipped). */
  skipped?: string[];
}

export interface Def {
  file: string;
  fn: FunctionSummary;
}

/**
 * Where a call or a macro stands in the pass: `at` orders the function (or macro) by its file's rank and
 * its own place in the file (rank × 2^22 + place: a file holds far fewer than 4 million functions, its
 * parsed pieces at most 4 MiB), `k` is the call's place in it.
 */
interface Position {
  at: number;
  k: number;
}

export interface CallRef extends Position {
  file: string;
  fn: FunctionSummary;
  call: CallSummary;
}

export interface MacroRef extends Position {
  file: string;
  macro: MacroSummary;
}

const isHeader = (file: string): boolean => file.endsWith('.h');
const IDENTIFIER = /^[A-Za-z_]\w*$/;
const PLACES = 2 ** 22;

const comparePositions = (a: Position, b: Position): number => a.at - b.at || a.k - b.k;

/**
 * Lists by name whose items are appended as they arrive and put in the order of the pass when read:
 * a round adds items to many lists but reads few of them.
 */
export class PassOrdered<T extends Position> {
  private readonly lists = new Map<string, T[]>();
  private readonly unsorted = new Set<T[]>();

  add(key: string, item: T): void {
    const list = this.lists.get(key);
    if (list === undefined) {
      this.lists.set(key, [item]);
      return;
    }
    const last = list[list.length - 1];
    if (last !== undefined && comparePositions(last, item) > 0) this.unsorted.add(list);
    list.push(item);
  }

  get(key: string): readonly T[] | undefined {
    const list = this.lists.get(key);
    if (list !== undefined && this.unsorted.delete(list)) list.sort(comparePositions);
    return list;
  }

  get size(): number {
    return this.lists.size;
  }

  keys(): IterableIterator<string> {
    return this.lists.keys();
  }
}

/** Items of several lists, each once, in the order of the pass. */
export function inPassOrder<T extends Position>(lists: Iterable<readonly T[] | undefined>): T[] {
  const seen = new Set<T>();
  for (const list of lists) for (const x of list ?? []) seen.add(x);
  return [...seen].sort(comparePositions);
}

export class CallIndex {
  /** Every file's summaries, in the order the files were first added. */
  readonly files = new Map<string, FileUnits>();
  /** Per file: its functions by name (the first of a name). */
  readonly localFns = new Map<string, Map<string, FunctionSummary>>();
  readonly fileOf = new Map<FunctionSummary, string>();
  /** Functions defined in headers, by name: the first file of the pass that defines it. */
  readonly headerFns = new Map<string, Def>();
  readonly callersOf = new PassOrdered<CallRef>();
  /** By callee: each call of it in a macro body (a macro twice if it calls the callee twice). */
  readonly macroUsers = new PassOrdered<MacroRef>();
  /** By a name passed as a whole argument: every call that passes it (once per call). */
  readonly passedBy = new PassOrdered<CallRef>();
  /** Per file, the same for its own calls: where a file's static functions are passed. */
  readonly passedIn = new Map<string, PassOrdered<CallRef>>();
  /** Calls of one of the calling function's own parameters (`destroy(ptr)`), with the parameter's index. */
  private readonly paramCallList = new PassOrdered<CallRef & { param: number }>();
  /**
   * Header macros that only pass all their arguments on to one function (`#define ptr_ring_resize_multiple_bh(...)
   * alloc_hooks(ptr_ring_resize_multiple_bh_noprof(__VA_ARGS__))`, 6.x's allocation profiling): by macro name, that
   * function. A call of the macro is indexed as a call of the function too (callersOf), with the same arguments.
   */
  readonly macroTargets = new Map<string, string>();
  private readonly aliased = new Set<CallSummary>();
  private readonly rank = new Map<string, number>();
  private readonly starts = new Map<string, Set<string>>();
  private readonly macroLines = new Map<string, Set<string>>();

  /** Add a file's summaries; functions and macros it already holds (same start, same name) are kept once. */
  add(file: string, s: { functions: readonly FunctionSummary[]; macros: readonly MacroSummary[]; skipped?: readonly string[] }): void {
    let u = this.files.get(file);
    if (u === undefined) {
      this.files.set(file, (u = { functions: [], macros: [] }));
      this.rank.set(file, this.rank.size);
      this.localFns.set(file, new Map());
      this.starts.set(file, new Set());
      this.macroLines.set(file, new Set());
    }
    const rank = this.rank.get(file) ?? 0;
    const starts = this.starts.get(file) ?? new Set<string>();
    for (const fn of s.functions) {
      const key = `${fn.startByte}:${fn.name}`;
      if (starts.has(key)) continue;
      starts.add(key);
      this.addFunction(file, rank, u.functions.length, fn);
      u.functions.push(fn);
    }
    const lines = this.macroLines.get(file) ?? new Set<string>();
    for (const m of s.macros) {
      const key = `${m.line}:${m.name}`;
      if (lines.has(key)) continue;
      lines.add(key);
      const i = u.macros.length;
      u.macros.push(m);
      m.calls.forEach((c, k) => this.macroUsers.add(c.callee, { at: rank * PLACES + i, k, file, macro: m }));
      const target = isHeader(file) ? forwardedTo(m) : null;
      if (target !== null && !this.macroTargets.has(m.name)) {
        this.macroTargets.set(m.name, target);
        for (const ref of [...(this.callersOf.get(m.name) ?? [])]) this.addAlias(ref, target);
      }
    }
    if (s.skipped !== undefined && s.skipped.length > 0) u.skipped = [...new Set([...(u.skipped ?? []), ...s.skipped])];
  }

  private addFunction(file: string, rank: number, i: number, fn: FunctionSummary): void {
    this.fileOf.set(fn, file);
    const local = this.localFns.get(file);
    if (local !== undefined && !local.has(fn.name)) local.set(fn.name, fn);
    if (isHeader(file)) {
      const h = this.headerFns.get(fn.name);
      if (h === undefined || (this.rank.get(h.file) ?? 0) > rank) this.headerFns.set(fn.name, { file, fn });
    }
    let passed = this.passedIn.get(file);
    const at = rank * PLACES + i;
    fn.calls.forEach((call, k) => {
      const ref: CallRef = { at, k, file, fn, call };
      this.callersOf.add(call.callee, ref);
      const target = this.macroTargets.get(call.callee);
      if (target !== undefined) this.addAlias(ref, target);
      const param = fn.params.indexOf(call.callee);
      if (param >= 0) this.paramCallList.add('', { ...ref, param });
      call.args.forEach((a, j) => {
        // Once per call: a name passed twice is one entry.
        if (!IDENTIFIER.test(a) || call.args.indexOf(a) !== j) return;
        this.passedBy.add(a, ref);
        if (passed === undefined) this.passedIn.set(file, (passed = new PassOrdered()));
        passed.add(a, ref);
      });
    });
  }

  /** A call of a forwarding macro, indexed as the call of its function that it expands to. */
  private addAlias(ref: CallRef, target: string): void {
    if (this.aliased.has(ref.call)) return;
    this.aliased.add(ref.call);
    this.callersOf.add(target, { ...ref, call: { ...ref.call, callee: target } });
  }

  /** Calls of one of the calling function's own parameters (`destroy(ptr)`), with the parameter's index. */
  get paramCalls(): ReadonlyArray<CallRef & { param: number }> {
    return this.paramCallList.get('') ?? [];
  }

  /** A callee the compiler can inline into `file`: a function of the same file, or one defined in a header. */
  inlineable(file: string, name: string): Def | null {
    const same = this.localFns.get(file)?.get(name);
    if (same !== undefined) return { file, fn: same };
    return this.headerFns.get(name) ?? null;
  }
}

/**
 * The function a variadic macro passes all its arguments on to, or null: its one call with `__VA_ARGS__` as the
 * arguments, every other call of its body only wrapping that one (`alloc_hooks(f_noprof(__VA_ARGS__))`).
 */
function forwardedTo(m: MacroSummary): string | null {
  if (m.params.length !== 1 || m.params[0] !== '...') return null;
  const inner = m.calls.filter((c) => c.args.length === 1 && c.args[0]?.trim() === '__VA_ARGS__');
  const target = inner[0]?.callee;
  if (inner.length !== 1 || target === undefined) return null;
  const wraps = (c: { callee: string; args: string[] }): boolean => c.callee === target || (c.args.length === 1 && new RegExp(`^\\s*${target}\\s*\\(`).test(c.args[0] ?? ''));
  return m.calls.every(wraps) ? target : null;
}
