// The constants of the source conditions that lead to a drop site (`if (len > ETH_DATA_LEN)`, `if (err !=
// -EMSGSIZE)`, `if (hdr->type == HCI_EV_LE_META)`), as the immediates the code compares on its branches into
// the drop call (`cmp $0x5dc,%eax; ja …`). Names are resolved through the object-like `#define`s and enum
// constants of the site's file and of the headers it includes (a few levels deep), each header read once.
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { evaluate } from '../kernel/c-constant.ts';
import type { LineReader } from './source-features.ts';

/** How many levels of `#include` are followed from a source file, and how many headers at most. */
const INCLUDE_DEPTH = 3;
const MAX_HEADERS = 400;
/** Recursion bound when a macro's value names another macro. */
const EVAL_DEPTH = 8;

/** One file's own definitions: name → its expression text, and the headers it includes (tree paths). */
interface FileDefs {
  defs: Map<string, string>;
  includes: string[];
  /** Function-like `#define`s: name → parameters and body (counters.ts expands them). */
  macros: Map<string, MacroDef>;
}

/** A function-like macro: `#define DEV_STATS_INC(DEV, FIELD) atomic_long_inc(&(DEV)->stats.__##FIELD)`. */
export interface MacroDef {
  params: string[];
  body: string;
}

/** An immediate too common to tell one condition from another (0, 1, -1 as the code holds them). */
export function trivialImmediate(v: number): boolean {
  return v <= 1 || v === 0xffffffff;
}

/** A value as the unsigned 32-bit immediate of a `cmp`/`test` (the low 32 bits). */
export function u32(v: number | bigint): number {
  return Number(BigInt.asUintN(32, typeof v === 'bigint' ? v : BigInt(Math.trunc(v))));
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

/** The object-like `#define`s, enum constants and `#include`s of one file's text. */
export function fileDefinitions(file: string, lines: readonly string[]): FileDefs {
  const defs = new Map<string, string>();
  const includes: string[] = [];
  const macros = new Map<string, MacroDef>();
  const joined: string[] = [];
  for (let n = 0; n < lines.length; n++) {
    let l = lines[n] ?? '';
    while (l.endsWith('\\') && n + 1 < lines.length) l = l.slice(0, -1) + ' ' + (lines[++n] ?? '');
    joined.push(l);
  }
  for (const l of joined) {
    const inc = /^\s*#\s*include\s*([<"])([\w./+-]+)[>"]/.exec(l);
    if (inc?.[2] !== undefined) {
      const name = inc[2];
      const paths = inc[1] === '"' ? [join(dirname(file), name)]
        : name.startsWith('asm/') ? [`arch/x86/include/${name}`, `arch/x86/include/generated/${name}`, `include/asm-generic/${name.slice(4)}`, `arch/x86/include/uapi/${name}`]
          : [`include/${name}`, `include/uapi/${name}`];
      // Never a path out of the tree (`#include "../../../x.h"` past its root).
      for (const p of paths.map((x) => normalize(x))) if (!p.startsWith('..') && !isAbsolute(p)) includes.push(p);
      continue;
    }
    const fm = /^\s*#\s*define\s+([A-Za-z_]\w*)\(([\w\s,.]*)\)\s*(.*)$/.exec(l);
    if (fm?.[1] !== undefined && !macros.has(fm[1])) macros.set(fm[1], { params: (fm[2] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== ''), body: stripComments(fm[3] ?? '').trim() });
    const d = /^\s*#\s*define\s+([A-Za-z_]\w*)(?!\()\s+(.+)$/.exec(l);
    const value = d?.[2] === undefined ? '' : stripComments(d[2]).trim();
    // `#define IPPROTO_UDP IPPROTO_UDP` after the enum item: the item is the value.
    if (d?.[1] !== undefined && value !== '' && value !== d[1] && !defs.has(d[1])) defs.set(d[1], value);
  }
  // enum constants: each item's expression, or the previous item plus one.
  const text = stripComments(joined.filter((l) => !/^\s*#/.test(l)).join('\n'));
  for (const body of text.matchAll(/\benum\b\s*\w*\s*\{([^{}]*)\}/g)) {
    let prev: string | null = null;
    for (const item of (body[1] ?? '').split(',')) {
      const m = /^\s*([A-Za-z_]\w*)\s*(?:=\s*([^]*?))?\s*$/.exec(item);
      if (m?.[1] === undefined) continue;
      const expr = m[2] !== undefined && m[2] !== '' ? m[2] : prev === null ? '0' : `(${prev}) + 1`;
      if (!defs.has(m[1])) defs.set(m[1], expr);
      prev = m[1];
    }
  }
  return { defs, includes, macros };
}

/** Name → value in the scope of each source file: its own definitions, then its includes' (breadth first). */
export class ConstantScope {
  private readonly lines: LineReader;
  private readonly files = new Map<string, FileDefs | null>();
  private readonly scopes = new Map<string, { order: string[]; queue: Array<[string, number]>; seen: Set<string> }>();
  private readonly values = new Map<string, Map<string, bigint | null>>();
  /** `macro`'s answers by file and name (most names asked are functions, found in no header). */
  private readonly macros = new Map<string, MacroDef | null>();

  constructor(lines: LineReader) {
    this.lines = lines;
  }

  private defsOf(file: string): FileDefs | null {
    let d = this.files.get(file);
    if (d === undefined) {
      const all = this.lines(file);
      d = all === null ? null : fileDefinitions(file, all);
      this.files.set(file, d);
    }
    return d;
  }

  /**
   * The definition of `name` that `file` sees: its own first, then its headers breadth first, each level of
   * includes read only when the name is not found before it.
   */
  private definition(file: string, name: string): string | null {
    return this.find(file, (d) => d.defs.get(name));
  }

  /** The function-like macro `name` as `file` sees it (its own, then its headers'), or null. */
  macro(file: string, name: string): MacroDef | null {
    const key = `${file}\0${name}`;
    let m = this.macros.get(key);
    if (m === undefined) {
      m = this.find(file, (d) => d.macros.get(name));
      this.macros.set(key, m);
    }
    return m;
  }

  private find<T>(file: string, pick: (d: FileDefs) => T | undefined): T | null {
    let st = this.scopes.get(file);
    if (st === undefined) {
      st = { order: [], queue: [[file, 0]], seen: new Set([file]) };
      this.scopes.set(file, st);
    }
    for (const f of st.order) {
      const d = this.defsOf(f);
      const expr = d === null ? undefined : pick(d);
      if (expr !== undefined) return expr;
    }
    while (st.queue.length > 0 && st.order.length < MAX_HEADERS) {
      const [f, depth] = st.queue.shift() ?? [file, 0];
      const d = this.defsOf(f);
      if (d === null) continue;
      st.order.push(f);
      if (depth < INCLUDE_DEPTH) for (const h of d.includes) if (!st.seen.has(h)) {
        st.seen.add(h);
        st.queue.push([h, depth + 1]);
      }
      const expr = pick(d);
      if (expr !== undefined) return expr;
    }
    return null;
  }

  /** The value of `name` as `file` sees it, or null when it is no integer constant there. */
  value(file: string, name: string, depth = 0): bigint | null {
    let memo = this.values.get(file);
    if (memo === undefined) {
      memo = new Map();
      this.values.set(file, memo);
    }
    if (memo.has(name)) return memo.get(name) ?? null;
    if (depth > EVAL_DEPTH) return null;
    memo.set(name, null); // a definition that names itself resolves to nothing
    const expr = this.definition(file, name);
    const out = expr === null ? null : evaluate(expr, (n) => this.value(file, n, depth + 1));
    memo.set(name, out);
    return out;
  }
}

/** A constant of a condition: its spelling in the source, and how the immediate shows it (`ETH_DATA_LEN (1500) - 1`). */
export interface SourceConstant {
  source: string;
  text: string;
}

/**
 * The immediates of `code` that the condition constants `site` hold, at most one for each source constant
 * (a constant matches as N or as N-1, not twice).
 */
export function guardHits(code: readonly number[], site: ReadonlyMap<number, SourceConstant>): Array<{ value: number; constant: SourceConstant }> {
  const out: Array<{ value: number; constant: SourceConstant }> = [];
  const used = new Set<string>();
  for (const v of code) {
    const c = site.get(v);
    if (c === undefined || used.has(c.source) || trivialImmediate(v)) continue;
    used.add(c.source);
    out.push({ value: v, constant: c });
  }
  return out;
}

/**
 * The constants a condition's text compares: integer literals, `-EXXX`, and the upper-case names the file's
 * scope defines as integers; each as the u32 immediates the code can compare it as (N, and next to a relational
 * operator N-1 too: gcc compares `x >= N` and `x < N` with N-1). Trivial values (0, 1, -1) are left out.
 */
export function conditionConstants(text: string, file: string, scope: ConstantScope, errnos: ReadonlyMap<string, number>): Map<number, SourceConstant> {
  const out = new Map<number, SourceConstant>();
  const add = (v: bigint, spelling: string, relational: boolean): void => {
    const text = spelling === v.toString() ? spelling : `${spelling} (${v.toString()})`;
    const forms: Array<[number, string]> = [[u32(v), text]];
    if (relational) forms.push([u32(v - 1n), `${text} - 1`]);
    for (const [k, d] of forms) if (!trivialImmediate(k) && !out.has(k)) out.set(k, { source: spelling, text: d });
  };
  const body = stripComments(text).replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of body.matchAll(/(-\s*)?\b([A-Za-z_]\w*|0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)\b(\s*\()?/g)) {
    const neg = m[1] !== undefined;
    const tok = m[2] ?? '';
    if (m[3] !== undefined) continue; // a call or a function-like macro
    let v: bigint | null = null;
    if (/^\d/.test(tok)) v = evaluate(tok, () => null);
    else if (neg && errnos.has(tok)) v = BigInt(errnos.get(tok) ?? 0);
    else if (/^[A-Z_][A-Z0-9_]*$/.test(tok) && /[A-Z]/.test(tok)) v = scope.value(file, tok);
    if (v === null) continue;
    // `x >= N` and `x < N` are compared with N-1 (`cmp $N-1; ja`): only next to a relational operator.
    const before = body.slice(0, m.index).trimEnd();
    const after = body.slice((m.index ?? 0) + m[0].length).trimStart();
    const relational = /(?:^|[^<>-])[<>]=?$/.test(before) || /^[<>]=?(?:[^<>=]|$)/.test(after);
    if (neg) add(-v, `-${tok}`, relational);
    if (!neg || /^\d/.test(tok)) add(v, tok, relational);
  }
  return out;
}
