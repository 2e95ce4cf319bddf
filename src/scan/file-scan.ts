// One candidate file as a worker holds it: its text, its top-level chunks, which chunks were parsed
// and how much work it has cost. `scan(names)` parses only the chunks that mention one of the new
// names and returns the summaries found there.
import { BUDGET, countCalls, mib, nestsDeeperThan } from './budget.ts';
import { chunkAt, lastAtOrBefore, lineOf, lineStarts, splitChunks, type Chunk } from './chunks.ts';
import { enclosingFunction, NOT_CALLS, summariseFunction, textCallsIn, topLevelFunctions } from './extract.ts';
import { parseC } from './parse.ts';
import { CallNames } from './name-matcher.ts';
import type { FileSummary, MacroSummary } from './summary.ts';
import { blankCommentsAndStrings, findMacros, recoverFunctionName, splitArgs, type RawMacro } from './text-calls.ts';

const CALL = /\b([A-Za-z_]\w*)\s*\(/g;

/** A file is worth parsing only if it mentions skbs at all: 7% of a tree's files, a tenth of its bytes. */
export function isCandidate(buf: Buffer): boolean {
  return buf.indexOf('skb') >= 0 || buf.indexOf('sk_buff') >= 0;
}

/** More `}` than `{`: text that still belongs to an enclosing body. */
function closesMore(text: string): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 123) depth++;
    else if (c === 125) depth--;
  }
  return depth < 0;
}

const INCLUDE = /^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]/gm;
const AN_ARG = /[(,]\s*([A-Za-z_]\w*)\s*(?=[,)])/g;

/** Positions of the `\n` before each line that opens with `{` (a function body, in kernel style). */
function bodyOpenings(clean: string): number[] {
  const out: number[] = [];
  for (let i = clean.indexOf('\n{'); i >= 0; i = clean.indexOf('\n{', i + 1)) out.push(i);
  return out;
}

export class FileScan {
  readonly file: string;
  private readonly text: string;
  private readonly chunks: Chunk[];
  private readonly parsed = new Set<number>();
  private macros: RawMacro[] | null = null;
  /** Per macro, the names its body calls (`name(`). */
  private macroCalls: string[][] = [];
  private readonly macrosDone = new Set<number>();
  /** The file's calls by name, read once: each round only looks its names up. */
  private callNames: CallNames | null = null;
  /** Work spent on this file so far, against the bounds of budget.ts. */
  private parsedBytes = 0;
  private parsedCalls = 0;

  /** Chunks by the names passed in them as an argument (`, name)` or `(name,`), once asked for. */
  private argumentChunks: Map<string, number[]> | null = null;

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
    this.chunks = splitChunks(text);
  }

  /** The names of the file's `#include` lines: `linux/ptr_ring.h` for `<…>`, `./x.h` for `"x.h"`. */
  includes(): string[] {
    const out: string[] = [];
    for (const m of this.text.matchAll(INCLUDE)) out.push(m[1] === '<' ? m[2] ?? '' : `./${m[2] ?? ''}`);
    return out;
  }

  /**
   * Summaries of the chunks that call one of `names` or pass one as an argument, as a function:
   * `NF_HOOK(..., ip6_forward_finish)`, `ptr_ring_cleanup(r, __skb_array_destroy_skb)`.
   * The caller (ScanState) passes only names this file was not searched for yet.
   */
  scan(names: ReadonlySet<string>): FileSummary {
    const out: FileSummary = { file: this.file, functions: [], macros: [], parseErrors: 0, skipped: [] };
    if (names.size === 0) return out;
    this.callNames ??= new CallNames(this.text);
    const hitsByChunk = new Map<number, number[]>();
    for (const index of this.callNames.calls(names)) {
      const ci = chunkAt(this.chunks, index);
      const list = hitsByChunk.get(ci);
      if (list === undefined) hitsByChunk.set(ci, [index]);
      else list.push(index);
    }
    // Only to parse the chunk: a name passed as an argument names no function around it to recover.
    // Any argument: NF_HOOK's okfn is the last, codel_dequeue's drop_func is not. Tables of function
    // pointers (`.ndo_start_xmit = name,`) do not match.
    // Read once per file: every later round only looks its names up.
    if (this.argumentChunks === null) {
      this.argumentChunks = new Map();
      for (const m of this.text.matchAll(AN_ARG)) {
        const name = m[1] ?? '';
        const ci = chunkAt(this.chunks, m.index);
        const list = this.argumentChunks.get(name);
        if (list === undefined) this.argumentChunks.set(name, [ci]);
        else if (list[list.length - 1] !== ci) list.push(ci);
      }
    }
    const small = names.size < this.argumentChunks.size;
    for (const name of small ? names : this.argumentChunks.keys()) {
      if (!(small ? this.argumentChunks.has(name) : names.has(name))) continue;
      for (const ci of this.argumentChunks.get(name) ?? []) if (!hitsByChunk.has(ci)) hitsByChunk.set(ci, []);
    }
    for (const [ci, hits] of hitsByChunk) {
      if (this.parsed.has(ci)) continue;
      this.parsed.add(ci);
      this.parseChunk(ci, hits, out);
    }
    this.scanMacros(names, out.macros);
    return out;
  }

  private parseChunk(ci: number, hits: number[], out: FileSummary): void {
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    // Bounded work per piece: a piece over a bound is not parsed, and the summary names it.
    const where = `line ${this.position(chunk.startIndex).line}`;
    const bytes = chunk.endIndex - chunk.startIndex;
    if (bytes > BUDGET.chunkBytes) {
      out.skipped.push(`${where}: a top-level piece of ${mib(bytes)}, more than the ${mib(BUDGET.chunkBytes)} bound: not parsed`);
      return;
    }
    const text = this.text.slice(chunk.startIndex, chunk.endIndex);
    const clean = blankCommentsAndStrings(text);
    if (nestsDeeperThan(clean, BUDGET.nesting)) {
      out.skipped.push(`${where}: brackets nested more than ${BUDGET.nesting} levels deep: not parsed`);
      return;
    }
    if (this.parsedBytes + bytes > BUDGET.parsedBytesPerFile) {
      out.skipped.push(`${where}: the file's parsed pieces would pass the ${mib(BUDGET.parsedBytesPerFile)} bound: not parsed`);
      return;
    }
    const calls = countCalls(clean);
    if (this.parsedCalls + calls > BUDGET.callsPerFile) {
      out.skipped.push(`${where}: the file's parsed pieces would hold more than ${BUDGET.callsPerFile} calls: not parsed`);
      return;
    }
    this.parsedBytes += bytes;
    this.parsedCalls += calls;
    const tree = parseC(text);
    if (tree.rootNode.hasError) out.parseErrors++;
    const positionOf = (i: number): { line: number; column: number } => this.position(chunk.startIndex + i);
    // A function that is last in its chunk owns the text up to the chunk's end: a macro the grammar
    // cannot follow (a case label made by a macro, say) can end a function node early, and kernel
    // style still closes the function with the chunk's column-0 brace.
    const all = topLevelFunctions(tree.rootNode);
    const lastDef = all[all.length - 1];
    const last = lastDef !== undefined && closesMore(clean.slice(lastDef.endIndex)) ? lastDef : undefined;
    // Every function of the chunk is summarised now: the chunk is not parsed again when a later
    // round looks for other names.
    for (const def of all) {
      const end = def === last ? clean.length : def.endIndex;
      const summary = summariseFunction(def, clean, end, positionOf, chunk.startIndex);
      if (summary !== null) out.functions.push(summary);
    }
    // Each body is recovered once, however many hits it holds (a hit's body is found by a binary
    // search over the chunk's body openings, not by a search back through the text).
    let opens: number[] | null = null;
    const recovered = new Set<number>();
    for (const hit of hits) {
      const local = hit - chunk.startIndex;
      if (clean.charCodeAt(local) === 32) continue; // inside a comment or a string
      const node = tree.rootNode.descendantForIndex(local);
      const def = enclosingFunction(node) ?? (last !== undefined && local >= last.endIndex ? last : null);
      if (def !== null) continue;
      opens ??= bodyOpenings(clean);
      const bodyOpen = opens[lastAtOrBefore(opens, local, (n) => n)] ?? -1;
      if (bodyOpen < 0 || bodyOpen > local || recovered.has(bodyOpen)) continue;
      recovered.add(bodyOpen);
      this.recover(ci, clean, local, bodyOpen + 1, out);
    }
  }

  /** No function node around a hit: name the function from the header text, take calls from the text. */
  private recover(ci: number, clean: string, local: number, bodyOpen: number, out: FileSummary): void {
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const name = recoverFunctionName(clean, local);
    if (name === null) return;
    const headerStart = Math.max(0, clean.lastIndexOf(name, bodyOpen));
    const startByte = chunk.startIndex + headerStart;
    if (out.functions.some((f) => f.recovered && f.startByte === startByte)) return;
    const positionOf = (i: number): { line: number; column: number } => this.position(chunk.startIndex + i);
    const { calls } = textCallsIn(clean, bodyOpen, clean.length, positionOf);
    const before = clean.slice(Math.max(0, headerStart - 80), headerStart);
    out.functions.push({
      name,
      startLine: positionOf(headerStart).line,
      endLine: positionOf(clean.length).line,
      startByte,
      endByte: chunk.endIndex,
      isStatic: /\bstatic\b/.test(before),
      isInline: /\binline\b/.test(before),
      isNoinline: /\b(?:noinline|__fix_address)\b/.test(before),
      params: [],
      reasonParams: [],
      calls,
      assigns: [],
      returnReasons: [],
      formula: { t: 'never' },
      recovered: true,
    });
  }

  private scanMacros(names: ReadonlySet<string>, out: MacroSummary[]): void {
    if (this.macros === null) {
      this.macros = findMacros(this.text);
      this.macroCalls = this.macros.map((m) => [...new Set(Array.from(m.body.matchAll(CALL), (c) => c[1] ?? ''))]);
    }
    this.macros.forEach((m, i) => {
      if (this.macrosDone.has(i)) return;
      // A macro that calls one of its parameters (`#define CALL_RXH(rxh) … res = rxh(rx); …`) makes a direct call of
      // the function passed to it: kept whatever is searched, so that resolve sees the call through it.
      // So is a variadic macro searched by its own name (a callee that code hands a function to): it may only pass its
      // arguments on (`#define ring_resize(...) alloc_hooks(ring_resize_noprof(__VA_ARGS__))`, call-index.ts macroTargets).
      const own = m.params.length === 1 && m.params[0] === '...' && names.has(m.name);
      if (!own && !(this.macroCalls[i] ?? []).some((n) => names.has(n) || m.params.includes(n))) return;
      this.macrosDone.add(i);
      const clean = blankCommentsAndStrings(m.body);
      const calls: MacroSummary['calls'] = [];
      for (const c of clean.matchAll(CALL)) {
        const callee = c[1] ?? '';
        if (NOT_CALLS.has(callee)) continue;
        calls.push({ callee, args: splitArgs(clean, c.index + c[0].length - 1)?.args ?? [] });
      }
      out.push({ name: m.name, line: m.line, params: m.params, calls });
    });
  }

  private lineStartsCache: number[] | null = null;

  private position(index: number): { line: number; column: number } {
    if (this.lineStartsCache === null) this.lineStartsCache = lineStarts(this.text);
    const line = lineOf(this.lineStartsCache, index);
    return { line: line + 1, column: index - (this.lineStartsCache[line] ?? 0) + 1 };
  }
}
