// From a parsed chunk to function summaries. Pure: takes the tree and text, never a path.
import type { SyntaxNode } from './parse.ts';
import { DEFINING_MACRO, balanced, splitArgs } from './text-calls.ts';
import { forwardShape } from './forwarder.ts';
import type { CallSummary, FreeFormula, FunctionSummary, ReasonAssign } from './summary.ts';

// SKB_REASON_DROPPED / SKB_REASON_CONSUMED: `enum skb_free_reason` of dev_kfree_skb_*() before 6.3.
const REASON_CONST = /\bSKB_(?:DROP_REASON_([A-Z0-9_]+)|CONSUMED|NOT_DROPPED_YET|REASON_CONSUMED|REASON_DROPPED)\b/g;

const FIXED_REASONS: Record<string, string> = {
  SKB_CONSUMED: 'CONSUMED', SKB_NOT_DROPPED_YET: 'NOT_DROPPED_YET', SKB_REASON_CONSUMED: 'CONSUMED', SKB_REASON_DROPPED: 'NOT_SPECIFIED',
};

/** Reason names (without `SKB_DROP_REASON_`) named in a piece of code. */
export function reasonConstants(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(REASON_CONST)) {
    const name = m[1] ?? FIXED_REASONS[m[0]] ?? m[0];
    // SKB_DROP_REASON_MAX / _SUBSYS_* are bounds, not reasons.
    if (name === 'MAX' || name.startsWith('SUBSYS_')) continue;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * The outermost function_definition holding `node`. Kernel iterator macros followed by a block
 * (`for_each_possible_cpu(cpu) { ... }`) look like nested definitions to the grammar; the real
 * function is the outermost one.
 */
export function enclosingFunction(node: SyntaxNode): SyntaxNode | null {
  let found: SyntaxNode | null = null;
  for (let n: SyntaxNode | null = node; n !== null; n = n.parent) {
    if (n.type === 'function_definition') found = n;
  }
  return found;
}

/** Definitions that are not inside another definition (see enclosingFunction). */
export function topLevelFunctions(root: SyntaxNode): SyntaxNode[] {
  return root.descendantsOfType('function_definition').filter((d) => enclosingFunction(d) === d);
}

function functionDeclarator(def: SyntaxNode): SyntaxNode | null {
  let d = def.childForFieldName('declarator');
  while (d !== null && d.type !== 'function_declarator') {
    d = d.childForFieldName('declarator');
  }
  return d;
}


export function functionName(def: SyntaxNode): string | null {
  const fd = functionDeclarator(def);
  const id = fd?.childForFieldName('declarator');
  if (id === null || id === undefined) return null;
  if (id.type === 'identifier' && DEFINING_MACRO.test(id.text)) {
    const first = fd?.childForFieldName('parameters')?.namedChildren[0]?.text.trim();
    if (first !== undefined && /^[A-Za-z_]\w*$/.test(first)) return first;
  }
  if (id.type === 'identifier') return id.text;
  // `(*name)` and similar: take the first identifier.
  const m = /[A-Za-z_]\w*/.exec(id.text);
  return m === null ? null : m[0];
}

const CALL = /\b([A-Za-z_]\w*)\s*\(/g;
/** Words followed by `(` that are not function calls. */
export const NOT_CALLS = new Set(['if', 'while', 'for', 'switch', 'return', 'sizeof', 'do', 'typeof', '__typeof__', 'defined',
  'case', 'else', '__attribute__', 'asm', '__asm__', 'volatile', '__volatile__', '_Static_assert', 'offsetof', 'alignof', '__alignof__']);

/** Position of a chunk-local index in the file: 1-based line and column. */
export type PositionOf = (chunkIndex: number) => { line: number; column: number };

/**
 * Direct calls in a function body, read from its text with comments and strings blanked: much cheaper
 * than asking tree-sitter for every call node, and it also sees calls inside ERROR nodes.
 * Member calls (`ops->fn(`, `x.fn(`) are left out: they are indirect.
 */
export function textCallsIn(clean: string, from: number, to: number, positionOf: PositionOf): { calls: CallSummary[]; ranges: Array<{ start: number; end: number }> } {
  const calls: CallSummary[] = [];
  const ranges: Array<{ start: number; end: number }> = [];
  CALL.lastIndex = from;
  for (let m = CALL.exec(clean); m !== null && m.index < to; m = CALL.exec(clean)) {
    const callee = m[1] ?? '';
    CALL.lastIndex = m.index + callee.length;
    if (NOT_CALLS.has(callee)) continue;
    let k = m.index - 1;
    while (k >= 0 && (clean[k] === ' ' || clean[k] === '\t')) k--;
    if (clean[k] === '.' || (clean[k] === '>' && clean[k - 1] === '-')) continue;
    const open = m.index + m[0].length - 1;
    const split = splitArgs(clean, open);
    const end = split?.end ?? open + 1;
    let semi = end;
    for (let depth = 0; semi < to; semi++) {
      const ch = clean.charCodeAt(semi);
      if (ch === 40) depth++;
      else if (ch === 41) depth--;
      else if ((ch === 59 /* ; */ && depth <= 0) || ch === 123 || ch === 125) break;
    }
    const at = positionOf(m.index);
    calls.push({
      callee, line: at.line, column: at.column, stmtLine: at.line, stmtEndLine: positionOf(Math.min(semi, to)).line,
      args: split?.args ?? [],
    });
    ranges.push({ start: m.index, end });
  }
  return { calls, ranges };
}

const same = (a: SyntaxNode, b: SyntaxNode): boolean => a.startIndex === b.startIndex && a.endIndex === b.endIndex && a.type === b.type;
const isBareReturn = (n: SyntaxNode): boolean => n.type === 'return_statement' && n.namedChildren.every((c) => c.type === 'comment');

/**
 * A cheap text test before the tree walk of inTailPosition: after the call's statement comes a closing
 * brace or a bare `return;`. Most calls fail it, which keeps the walk (node by node through the native
 * tree) off all but a few calls.
 */
const ENDS_BLOCK = /\s*;\s*(?:\}|return\s*;)/y;

function endsBlock(clean: string, end: number): boolean {
  ENDS_BLOCK.lastIndex = end;
  return ENDS_BLOCK.test(clean);
}

/**
 * Whether the call whose name starts at `index` is the last thing its function does: a statement of
 * its own (or `return call(...)`), followed by nothing but `return;` up to the end of the body, through
 * branches of ifs and labels but not loops or switches. gcc compiles such a call as a jump, so the
 * return address the tracepoint reports is in the caller of this function, not in it.
 */
function inTailPosition(body: SyntaxNode, index: number): boolean {
  let n: SyntaxNode | null = body.descendantForIndex(index);
  while (n !== null && n.type !== 'call_expression') {
    if (n.type.endsWith('statement') || same(n, body)) return false;
    n = n.parent;
  }
  if (n === null || n.childForFieldName('function')?.startIndex !== index) return false;
  let cur: SyntaxNode | null = n.parent;
  if (cur === null || (cur.type !== 'expression_statement' && cur.type !== 'return_statement')) return false;
  while (!same(cur, body)) {
    const parent: SyntaxNode | null = cur.parent;
    if (parent === null) return false;
    if (parent.type === 'compound_statement') {
      const stmts = parent.namedChildren.filter((c) => c.type !== 'comment');
      const i = stmts.findIndex((c) => same(c, cur as SyntaxNode));
      const rest = stmts.slice(i + 1);
      if (rest.length === 1 && rest[0] !== undefined && isBareReturn(rest[0])) return true;
      if (rest.length > 0) return false;
    } else if (parent.type === 'case_statement') {
      // `default: kfree_skb(skb); return;` inside a switch: a jump only when the case returns right after.
      const stmts = parent.namedChildren.filter((c) => c.type !== 'comment');
      const i = stmts.findIndex((c) => same(c, cur as SyntaxNode));
      const rest = stmts.slice(i + 1);
      return i >= 0 && rest.length === 1 && rest[0] !== undefined && isBareReturn(rest[0]);
    } else if (parent.type !== 'if_statement' && parent.type !== 'else_clause' && parent.type !== 'labeled_statement') {
      return false;
    }
    cur = parent;
  }
  return true;
}

/** `!x`, `x == NULL`, `unlikely(!x)`: the variable a guard tests for NULL, else null. */
function nullGuardVariable(cond: SyntaxNode | null): string | null {
  if (cond === null) return null;
  let t = cond.text.replace(/\s+/g, '');
  for (;;) {
    const inner = /^\((.*)\)$/.exec(t) ?? /^(?:unlikely|likely)\((.*)\)$/.exec(t);
    if (inner?.[1] === undefined || !balanced(inner[1])) break;
    t = inner[1];
  }
  const m = /^!([A-Za-z_]\w*)$/.exec(t) ?? /^([A-Za-z_]\w*)==NULL$/.exec(t) ?? /^NULL==([A-Za-z_]\w*)$/.exec(t);
  return m?.[1] ?? null;
}

function escapes(node: SyntaxNode): boolean {
  return /\b(?:return|goto)\b/.test(node.text);
}

interface Walk {
  calls: CallSummary[];
  /** Call index by the call node's start index. */
  callIndex: Map<number, number>;
  /** Start/end of every call, in call order, for range lookups. */
  callRanges: Array<{ start: number; end: number }>;
}

function formulaOf(node: SyntaxNode | null, w: Walk): FreeFormula {
  if (node === null) return { t: 'never' };
  switch (node.type) {
    case 'compound_statement': {
      const of: Array<{ f: FreeFormula; stop: string | null }> = [];
      for (const s of node.namedChildren) {
        if (s.type === 'comment' || s.type === 'declaration') {
          if (s.type === 'declaration') of.push({ f: callsIn(s, w), stop: null });
          continue;
        }
        let stop: string | null = null;
        if (escapes(s)) {
          const guard = s.type === 'if_statement' && s.childForFieldName('alternative') === null
            ? nullGuardVariable(s.childForFieldName('condition')) : null;
          stop = guard ?? '*';
        }
        of.push({ f: formulaOf(s, w), stop });
      }
      return { t: 'seq', of };
    }
    case 'expression_statement':
    case 'return_statement':
      return callsIn(node, w);
    case 'labeled_statement':
      return formulaOf(node.namedChildren[node.namedChildren.length - 1] ?? null, w);
    case 'if_statement': {
      // The condition always runs (`if (__sk_skb_reason_drop(sk, skb, reason))`); the branches only both.
      const cond = node.childForFieldName('condition');
      const alt = node.childForFieldName('alternative');
      const altBody = alt === null ? null : alt.type === 'else_clause' ? alt.namedChildren[0] ?? null : alt;
      const branches: FreeFormula = altBody === null ? { t: 'never' }
        : { t: 'all', of: [formulaOf(node.childForFieldName('consequence'), w), formulaOf(altBody, w)] };
      return cond === null ? branches : { t: 'seq', of: [{ f: callsIn(cond, w), stop: null }, { f: branches, stop: null }] };
    }
    case 'while_statement':
    case 'for_statement': {
      const cond = node.childForFieldName('condition');
      const v = cond === null ? null : /^\(?\s*([A-Za-z_]\w*)\s*\)?$/.exec(cond.text)?.[1] ?? null;
      if (v === null) return { t: 'never' };
      return { t: 'loop', v, body: formulaOf(node.childForFieldName('body'), w) };
    }
    case 'do_statement':
      return formulaOf(node.childForFieldName('body'), w);
    default:
      return { t: 'never' };
  }
}

/**
 * The first call that starts at or after `index`: calls are in text order, so the calls inside a node
 * are found by a binary search and a walk to its end, not by a pass over every call of the function
 * (which made a function of many calls quadratic: 64,000 calls on one line took 40 s).
 */
function firstCallFrom(ranges: ReadonlyArray<{ start: number }>, index: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ranges[mid]?.start ?? Infinity) < index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Calls made unconditionally by a statement (not inside `?:`, or right of `&&` / `||`). */
function callsIn(node: SyntaxNode, w: Walk): FreeFormula {
  const lo = node.startIndex;
  const hi = node.endIndex;
  let excluded: Array<{ start: number; end: number }> = [];
  const text = node.text;
  if (text.includes('?') || text.includes('&&') || text.includes('||')) {
    for (const c of node.descendantsOfType('conditional_expression')) excluded.push({ start: c.startIndex, end: c.endIndex });
    for (const b of node.descendantsOfType('binary_expression')) {
      const op = b.childForFieldName('operator')?.type;
      const right = b.childForFieldName('right');
      if ((op === '&&' || op === '||') && right !== null) excluded.push({ start: right.startIndex, end: right.endIndex });
    }
  }
  const of: Array<{ f: FreeFormula; stop: string | null }> = [];
  for (let i = firstCallFrom(w.callRanges, lo); i < w.callRanges.length; i++) {
    const r = w.callRanges[i];
    if (r === undefined || r.start >= hi) break;
    if (r.end > hi) continue;
    if (excluded.some((e) => e.start <= r.start && r.end <= e.end)) continue;
    of.push({ f: { t: 'call', i }, stop: null });
  }
  excluded = [];
  return of.length === 0 ? { t: 'never' } : { t: 'seq', of };
}

function paramsOf(def: SyntaxNode): { params: string[]; reasonParams: number[] } {
  const list = functionDeclarator(def)?.childForFieldName('parameters');
  const params: string[] = [];
  const reasonParams: number[] = [];
  if (list === null || list === undefined) return { params, reasonParams };
  for (const p of list.namedChildren) {
    if (p.type !== 'parameter_declaration') continue;
    const ids = [...p.text.matchAll(/[A-Za-z_]\w*/g)].map((m) => m[0]);
    // A function pointer, `void (*destroy)(void *)`: its name is the one in the first parentheses.
    const name = /\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\(/.exec(p.text)?.[1] ?? ids[ids.length - 1] ?? '';
    if (/\benum\s+skb_drop_reason\b/.test(p.text)) reasonParams.push(params.length);
    params.push(name === 'void' && ids.length === 1 ? '' : name);
  }
  return { params: params.filter((p, i) => p !== '' || i < params.length - 1), reasonParams };
}

function reasonAssignments(body: SyntaxNode): { assigns: ReasonAssign[]; returnReasons: string[] } {
  const assigns: ReasonAssign[] = [];
  const returnReasons: string[] = [];
  const fromValue = (variable: string, value: SyntaxNode): void => {
    const reasons = reasonConstants(value.text);
    let fromCall: string | null = null;
    if (value.type === 'call_expression') {
      const fn = value.childForFieldName('function');
      if (fn?.type === 'identifier') fromCall = fn.text;
    }
    if (reasons.length > 0 || fromCall !== null) assigns.push({ variable, reasons, fromCall });
  };
  for (const n of body.descendantsOfType(['assignment_expression', 'init_declarator', 'call_expression', 'return_statement'])) {
    switch (n.type) {
      case 'assignment_expression': {
        const left = n.childForFieldName('left');
        const right = n.childForFieldName('right');
        if (left?.type === 'identifier' && right !== null) fromValue(left.text, right);
        break;
      }
      case 'init_declarator': {
        const d = n.childForFieldName('declarator');
        const v = n.childForFieldName('value');
        if (d?.type === 'identifier' && v !== null) fromValue(d.text, v);
        break;
      }
      case 'call_expression': {
        // SKB_DR(name) declares NOT_SPECIFIED; SKB_DR_SET/SKB_DR_OR/SKB_DR_INIT(name, REASON) paste the prefix.
        const fn = n.childForFieldName('function')?.text;
        if (fn === undefined || !/^SKB_DR(?:_SET|_OR|_INIT)?$/.test(fn)) break;
        const args = n.childForFieldName('arguments')?.namedChildren ?? [];
        const v = args[0];
        if (v?.type !== 'identifier') break;
        const r = fn === 'SKB_DR' ? 'NOT_SPECIFIED' : args[1]?.text.trim();
        if (r !== undefined && /^[A-Z0-9_]+$/.test(r)) {
          assigns.push({ variable: v.text, reasons: [r.replace(/^SKB_DROP_REASON_/, '')], fromCall: null });
        }
        break;
      }
      default:
        for (const r of reasonConstants(n.text)) if (!returnReasons.includes(r)) returnReasons.push(r);
        break;
    }
  }
  return { assigns, returnReasons };
}

/** Summarise one function definition; `lineBase`/`indexBase` place the chunk in its file. */
/**
 * Summarise one function definition. `clean` is the chunk's text with comments and strings blanked;
 * `positionOf` places chunk-local indices in the file.
 */
type ReasonState = Map<string, Set<string>>;

const cloneState = (s: ReasonState): ReasonState => new Map([...s].map(([k, v]) => [k, new Set(v)]));

function mergeState(a: ReasonState | null, b: ReasonState | null): ReasonState | null {
  if (a === null) return b === null ? null : cloneState(b);
  if (b === null) return cloneState(a);
  const out = cloneState(a);
  for (const [k, v] of b) {
    const cur = out.get(k);
    if (cur === undefined) out.set(k, new Set(v));
    else for (const x of v) cur.add(x);
  }
  return out;
}

/**
 * Which reason constants reach each call, per reason variable: a forward walk over the body's
 * statements that follows branches, loops (once or not at all) and forward `goto`s to their labels.
 * Values are reason names, `?` (unknown: a parameter or an untracked value) or `=fn` (what fn returns).
 * The result is stored on the calls (`CallSummary.reaching`) for the arguments that are reason variables.
 */
function reasonFlow(body: SyntaxNode, vars: ReadonlySet<string>, w: Walk): void {
  const pending = new Map<string, ReasonState>();
  const recorded = new Set<number>();
  const record = (node: SyntaxNode, state: ReasonState): void => {
    for (let i = firstCallFrom(w.callRanges, node.startIndex); i < w.callRanges.length; i++) {
      const r = w.callRanges[i];
      if (r === undefined || r.start >= node.endIndex) break;
      if (recorded.has(i) || r.end > node.endIndex) continue;
      recorded.add(i);
      const call = w.calls[i];
      if (call === undefined) continue;
      for (const a of call.args) {
        const v = state.get(a);
        if (v === undefined || !vars.has(a)) continue;
        const reaching = (call.reaching ??= {});
        reaching[a] = [...new Set([...(reaching[a] ?? []), ...v])].sort();
      }
    }
  };
  const assign = (state: ReasonState, name: string, value: SyntaxNode | null, text: string): void => {
    if (!vars.has(name)) return;
    const consts = reasonConstants(text);
    const fn = value?.type === 'call_expression' ? value.childForFieldName('function') : null;
    state.set(name, new Set(consts.length > 0 ? consts : fn?.type === 'identifier' ? [`=${fn.text}`] : ['?']));
  };
  const effects = (node: SyntaxNode, state: ReasonState): void => {
    record(node, state);
    for (const n of node.descendantsOfType(['assignment_expression', 'init_declarator', 'call_expression'])) {
      if (n.type === 'assignment_expression') {
        const left = n.childForFieldName('left');
        const right = n.childForFieldName('right');
        if (left?.type === 'identifier' && right !== null && n.childForFieldName('operator')?.text === '=') assign(state, left.text, right, right.text);
      } else if (n.type === 'init_declarator') {
        const d = n.childForFieldName('declarator');
        const v = n.childForFieldName('value');
        if (d?.type === 'identifier' && v !== null) assign(state, d.text, v, v.text);
      } else {
        const fn = n.childForFieldName('function')?.text;
        const args = n.childForFieldName('arguments')?.namedChildren ?? [];
        const v = args[0]?.text.trim();
        if (v === undefined || !vars.has(v)) continue;
        const r = (args[1]?.text.trim() ?? '').replace(/^SKB_DROP_REASON_/, '');
        if (fn === 'SKB_DR') state.set(v, new Set(['NOT_SPECIFIED']));
        else if ((fn === 'SKB_DR_SET' || fn === 'SKB_DR_INIT') && /^[A-Z0-9_]+$/.test(r)) state.set(v, new Set([r]));
        else if (fn === 'SKB_DR_OR' && /^[A-Z0-9_]+$/.test(r)) {
          const cur = state.get(v) ?? new Set<string>(['?']);
          // SKB_DR_OR sets the reason only when none was set yet.
          if (cur.has('NOT_SPECIFIED') || cur.has('NOT_DROPPED_YET') || cur.has('?')) {
            cur.delete('NOT_SPECIFIED');
            cur.delete('NOT_DROPPED_YET');
            cur.add(r);
          }
          state.set(v, cur);
        }
      }
    }
  };
  const walk = (node: SyntaxNode | null, state: ReasonState | null): ReasonState | null => {
    if (node === null) return state;
    switch (node.type) {
      case 'compound_statement': {
        let cur = state;
        for (const c of node.namedChildren) cur = walk(c, cur);
        return cur;
      }
      case 'labeled_statement': {
        const label = node.childForFieldName('label')?.text ?? '';
        const merged = mergeState(state, pending.get(label) ?? null);
        return walk(node.namedChildren[node.namedChildren.length - 1] ?? null, merged);
      }
      case 'if_statement': {
        if (state === null) return null;
        const cond = node.childForFieldName('condition');
        if (cond !== null) effects(cond, state);
        const alt = node.childForFieldName('alternative');
        const altBody = alt === null ? null : alt.type === 'else_clause' ? alt.namedChildren[0] ?? null : alt;
        const thenState = walk(node.childForFieldName('consequence'), cloneState(state));
        const elseState = altBody === null ? state : walk(altBody, cloneState(state));
        return mergeState(thenState, elseState);
      }
      case 'while_statement':
      case 'for_statement':
      case 'do_statement':
      case 'switch_statement': {
        if (state === null) return null;
        for (const f of ['condition', 'initializer', 'update']) {
          const part = node.childForFieldName(f);
          if (part !== null) effects(part, state);
        }
        return mergeState(state, walk(node.childForFieldName('body'), cloneState(state)));
      }
      case 'case_statement': {
        let cur = state;
        for (const c of node.namedChildren.slice(1)) cur = walk(c, cur);
        return cur;
      }
      case 'goto_statement': {
        if (state === null) return null;
        const label = node.childForFieldName('label')?.text ?? '';
        pending.set(label, mergeState(pending.get(label) ?? null, state) ?? new Map());
        return null;
      }
      case 'return_statement':
        if (state !== null) effects(node, state);
        return null;
      case 'comment':
        return state;
      default:
        if (state !== null) effects(node, state);
        return state;
    }
  };
  // Twice: the second walk carries the states of backward gotos (`csum_err: ...; goto discard;`) to
  // labels placed before them.
  for (let pass = 0; pass < 2; pass++) {
    recorded.clear();
    const initial: ReasonState = new Map();
    for (const v of vars) initial.set(v, new Set(['?']));
    walk(body, initial);
  }
}

interface Header {
  name: string;
  /** Chunk-local index of the name. */
  nameIndex: number;
  params: string[];
  reasonParams: number[];
}

const HEADER_NOISE = /^(?:__attribute__|__releases|__acquires|__must_hold|__printf|__aligned|__section|__cond_lock|__diag\w*)$/;

/**
 * Name and parameters of a definition. Usually from its function_declarator; when an annotation the
 * grammar does not know (`void __exit name(void)`) splits the header, from the header's text instead.
 */
/**
 * Where a definition's header really starts. A function header holds no blank line and no
 * preprocessor line; when the grammar folds the lines before it into the header (macro
 * invocations without a semicolon, such as `DEV_CORE_STATS_INC(rx_dropped)` before
 * `____dev_forward_skb` in netdevice.h), the header starts after the last such line.
 */
function headerStart(def: SyntaxNode, clean: string): number {
  const body = def.childForFieldName('body');
  if (body === null) return def.startIndex;
  // Blank lines between the parameter list and the body's `{` (drivers/net/ppp/pppoe.c) are not before the header.
  const header = clean.slice(def.startIndex, body.startIndex).replace(/\s+$/, '');
  let cut = -1;
  for (const m of header.matchAll(/\n[ \t]*(?:#[^\n]*)?(?=\n)/g)) cut = m.index + m[0].length + 1;
  return cut < 0 ? def.startIndex : def.startIndex + cut;
}

function headerOf(def: SyntaxNode, clean: string, start: number): Header | null {
  const fd = functionDeclarator(def);
  const name = functionName(def);
  if (fd !== null && name !== null && fd.startIndex >= start) {
    const { params, reasonParams } = paramsOf(def);
    return { name, nameIndex: fd.startIndex, params, reasonParams };
  }
  const body = def.childForFieldName('body');
  const header = clean.slice(start, body?.startIndex ?? def.endIndex);
  for (const m of header.matchAll(/([A-Za-z_]\w*)\s*\(/g)) {
    const id = m[1] ?? '';
    if (HEADER_NOISE.test(id) || NOT_CALLS.has(id)) continue;
    const open = start + m.index + m[0].length - 1;
    const params = (splitArgs(clean, open)?.args ?? []).map((p) => /([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?$/.exec(p)?.[1] ?? '');
    const reasonParams = (splitArgs(clean, open)?.args ?? []).flatMap((p, i) => (/\benum\s+skb_drop_reason\b/.test(p) ? [i] : []));
    return { name: id, nameIndex: start + m.index, params: params.length === 1 && params[0] === 'void' ? [] : params, reasonParams };
  }
  return null;
}

/**
 * Summarise one function definition. `clean` is the chunk's text with comments and strings blanked;
 * `end` is where its text ends (past the node when the grammar ended it early); `positionOf` places
 * chunk-local indices in the file.
 */
export function summariseFunction(def: SyntaxNode, clean: string, end: number, positionOf: PositionOf, indexBase: number): FunctionSummary | null {
  const start = headerStart(def, clean);
  const header = headerOf(def, clean, start);
  if (header === null) return null;
  const body = def.childForFieldName('body');
  // Storage class and inline-ness: from the start of the header's line, which also covers a split header.
  const lineStart = clean.lastIndexOf('\n', start) + 1;
  const prefix = clean.slice(Math.min(lineStart, start), header.nameIndex);
  const w: Walk = { calls: [], callIndex: new Map(), callRanges: [] };
  if (body !== null) {
    const { calls, ranges } = textCallsIn(clean, body.startIndex, Math.max(end, body.endIndex), positionOf);
    w.calls = calls;
    w.callRanges = ranges;
    ranges.forEach((r, i) => {
      w.callIndex.set(r.start, i);
      const call = calls[i];
      if (call !== undefined && r.start < body.endIndex && endsBlock(clean, r.end) && inTailPosition(body, r.start)) call.tail = true;
    });
  }
  const bodyText = body === null ? '' : clean.slice(body.startIndex, body.endIndex);
  const { assigns, returnReasons } = body === null || !/SKB_|reason/.test(bodyText)
    ? { assigns: [], returnReasons: [] } : reasonAssignments(body);
  const reasonVars = new Set(assigns.filter((a) => a.reasons.length > 0).map((a) => a.variable));
  if (body !== null && reasonVars.size > 0) reasonFlow(body, reasonVars, w);
  const forward = body === null ? null : forwardShape(body, (at) => w.callIndex.get(at));
  return {
    name: header.name,
    startLine: positionOf(Math.min(lineStart, start)).line,
    endLine: positionOf(Math.max(end, def.endIndex)).line,
    startByte: start + indexBase,
    endByte: Math.max(end, def.endIndex) + indexBase,
    isStatic: /\bstatic\b/.test(prefix),
    isInline: /\binline\b|__always_inline/.test(prefix),
    isNoinline: /\b(?:noinline|__fix_address|noinline_for_stack|noinline_for_tracing|__noinline)\b/.test(prefix),
    params: header.params,
    reasonParams: header.reasonParams,
    calls: w.calls,
    assigns,
    returnReasons,
    formula: formulaOf(body, w),
    ...(forward === null ? {} : { forward }),
    recovered: false,
  };
}
