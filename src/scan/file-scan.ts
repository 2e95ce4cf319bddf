// One candidate file as a worker holds it: its text, its top-level chunks, which chunks were parsed
// and which names were already searched. `scan(names)` parses only the chunks that mention one of
// the new names and returns the summaries found there.
import { chunkAt, lineOf, lineStarts, splitChunks, type Chunk } from './chunks.ts';
import { enclosingFunction, NOT_CALLS, summariseFunction, textCallsIn, topLevelFunctions } from './extract.ts';
import { parseC } from './parse.ts';
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

export function namesPattern(names: readonly string[]): RegExp {
  return new RegExp(`\\b(${names.join('|')})\\s*\\(`, 'g');
}

export class FileScan {
  readonly file: string;
  private readonly text: string;
  private readonly chunks: Chunk[];
  private readonly parsed = new Set<number>();
  private macros: RawMacro[] | null = null;
  private readonly macrosDone = new Set<number>();
  readonly searched = new Set<string>();

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
    this.chunks = splitChunks(text);
  }

  /**
   * Summaries of the chunks that call one of `names`. `asArguments` (this file's static helpers) are
   * also looked for where they are passed as a function, last: `NF_HOOK(..., ip6_forward_finish)`.
   */
  scan(names: readonly string[], asArguments: readonly string[] = []): FileSummary {
    const out: FileSummary = { file: this.file, functions: [], macros: [], parseErrors: 0 };
    const fresh = names.filter((n) => !this.searched.has(n));
    for (const n of fresh) this.searched.add(n);
    if (fresh.length === 0) return out;
    const pattern = namesPattern(fresh);
    const hitsByChunk = new Map<number, number[]>();
    for (const m of this.text.matchAll(pattern)) {
      const ci = chunkAt(this.chunks, m.index);
      const list = hitsByChunk.get(ci);
      if (list === undefined) hitsByChunk.set(ci, [m.index]);
      else list.push(m.index);
    }
    const args = asArguments.filter((n) => fresh.includes(n));
    if (args.length > 0) {
      // Only to parse the chunk: a name passed as an argument names no function around it to recover.
      // The last argument (NF_HOOK's okfn is): `, name)`. Tables of function pointers do not match.
      for (const m of this.text.matchAll(new RegExp(`,\\s*(?:${args.join('|')})\\s*\\)`, 'g'))) {
        const ci = chunkAt(this.chunks, m.index);
        if (!hitsByChunk.has(ci)) hitsByChunk.set(ci, []);
      }
    }
    for (const [ci, hits] of hitsByChunk) {
      if (this.parsed.has(ci)) continue;
      this.parsed.add(ci);
      this.parseChunk(ci, hits, out);
    }
    this.scanMacros(pattern, out.macros);
    return out;
  }

  private parseChunk(ci: number, hits: number[], out: FileSummary): void {
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const text = this.text.slice(chunk.startIndex, chunk.endIndex);
    const clean = blankCommentsAndStrings(text);
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
    for (const hit of hits) {
      const local = hit - chunk.startIndex;
      if (clean.charCodeAt(local) === 32) continue; // inside a comment or a string
      const node = tree.rootNode.descendantForIndex(local);
      const def = enclosingFunction(node) ?? (last !== undefined && local >= last.endIndex ? last : null);
      if (def === null) this.recover(ci, clean, local, out);
    }
  }

  /** No function node around a hit: name the function from the header text, take calls from the text. */
  private recover(ci: number, clean: string, local: number, out: FileSummary): void {
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const name = recoverFunctionName(clean, local);
    if (name === null) return;
    const bodyOpen = clean.lastIndexOf('\n{', local) + 1;
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

  private scanMacros(pattern: RegExp, out: MacroSummary[]): void {
    if (this.macros === null) this.macros = findMacros(this.text);
    this.macros.forEach((m, i) => {
      if (this.macrosDone.has(i)) return;
      pattern.lastIndex = 0;
      if (!pattern.test(m.body)) return;
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
