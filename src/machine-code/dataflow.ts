// Where the packet a drop call frees comes from, in the code and in the source: the result of a call
// (`nskb = skb_clone(…)`), a parameter of the function, or a field loaded from memory (`info.skb2`). Two
// sites with the same code around them often free different buffers.
import { ARG_FAMILIES, type Insn } from './decode.ts';

/** A call's result carries the call's instruction index (`at`): the same function called twice is two origins. */
export type Origin = { kind: 'call'; name: string; at?: number } | { kind: 'icall' } | { kind: 'param'; index: number } | { kind: 'load'; disp: number; indexed?: boolean } | { kind: 'other' };

const RSP = 4;
const MAX_STEPS = 400;

/**
 * Where the value register `family` holds just before instruction `at` was made, over every path back:
 * followed through 64-bit register copies and stack-slot spills (`mov %rdi,(%rsp)` … `mov (%rsp),%rdi`).
 */
export function valueOrigins(insns: readonly Insn[], predecessors: (i: number) => number[], at: number, family: number): Origin[] {
  type State = { reg: number } | { slot: number };
  const out = new Map<string, Origin>();
  const add = (o: Origin): void => {
    const k = o.kind === 'call' ? `c:${o.name}:${o.at ?? ''}` : o.kind === 'param' ? `p:${o.index}` : o.kind === 'load' ? `l:${o.disp}${o.indexed === true ? 'i' : ''}` : o.kind === 'icall' ? 'i' : 'o';
    if (!out.has(k)) out.set(k, o);
  };
  const seen = new Set<string>();
  const work: Array<[number, State]> = [[at, { reg: family }]];
  let steps = 0;
  while (work.length > 0) {
    const item = work.pop();
    if (item === undefined) break;
    const [i, st] = item;
    const key = `${i}:${'reg' in st ? `r${st.reg}` : `s${st.slot}`}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (++steps > MAX_STEPS) {
      add({ kind: 'other' });
      break;
    }
    const from = predecessors(i);
    if (from.length === 0) {
      const n = 'reg' in st ? ARG_FAMILIES.indexOf(st.reg as (typeof ARG_FAMILIES)[number]) : -1;
      add(n >= 0 ? { kind: 'param', index: n } : { kind: 'other' });
      continue;
    }
    for (const q of from) {
      const x = insns[q];
      if (x === undefined) continue;
      if ('reg' in st) {
        const bit = 1 << st.reg;
        if (x.copy !== null && x.copy[0] === st.reg) work.push([q, { reg: x.copy[1] }]);
        else if (x.load !== null && x.load.dst === st.reg) {
          if (x.load.index !== null) add({ kind: 'load', disp: x.load.disp, indexed: true });
          else if (x.load.base === RSP) work.push([q, { slot: x.load.disp }]);
          else add({ kind: 'load', disp: x.load.disp });
        } else if ((x.flow === 'call' || x.flow === 'icall') && st.reg === 0) add(x.flow === 'icall' ? { kind: 'icall' } : x.callee !== null ? { kind: 'call', name: x.callee, at: q } : { kind: 'other' });
        else if ((x.writes & bit) !== 0) add({ kind: 'other' });
        else work.push([q, st]);
      } else {
        if (x.store !== null && x.store.base === RSP && x.store.disp === st.slot) work.push([q, { reg: x.store.src }]);
        else if ((x.writes & (1 << RSP)) !== 0 && x.flow !== 'call' && x.flow !== 'icall') add({ kind: 'other' }); // push, pop, sub: the slot moved
        else work.push([q, st]);
      }
    }
  }
  return [...out.values()];
}

/** The text of argument `index` of the call of `name` on a source line (null when the call is not there whole). */
export function callArgument(text: string, name: string, index: number): string | null {
  const m = new RegExp(`\\b${name}\\s*\\(`).exec(text);
  if (m === null) return null;
  let depth = 0;
  let arg = 0;
  let start = m.index + m[0].length;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if ((ch === ')' || ch === ']' || ch === '}') && depth > 0) depth--;
    else if ((ch === ',' && depth === 0) || ch === ')') {
      if (arg === index) return text.slice(start, i).trim();
      if (ch === ')') return null;
      arg++;
      start = i + 1;
    }
  }
  return null;
}

/** What the source says of a freed buffer: a field, or a variable with the calls assigned to it and whether it is a parameter. */
export type SourceValue = { kind: 'member'; field: string | null } | { kind: 'variable'; name: string; assignedFrom: string[]; param: boolean; fromPointer: string | null } | { kind: 'other' };

/**
 * Classify the expression `expr` freed at line `line` of the function whose text starts at `floor`: a
 * member access, or a plain variable (its assignments from calls before the site, and whether the
 * function's parameter list names it).
 */
export function sourceValue(all: readonly string[], floor: number, line: number, expr: string): SourceValue {
  const e = expr.replace(/^\(\s*struct\s+\w+\s*\*\s*\)\s*/, '').trim();
  if (/^[A-Za-z_]\w*\s*(->|\.)/.test(e) || /^\*/.test(e)) return { kind: 'member', field: /(?:->|\.)\s*([A-Za-z_]\w*)\s*$/.exec(e)?.[1] ?? null };
  if (!/^[A-Za-z_]\w*$/.test(e)) return { kind: 'other' };
  let sig = '';
  for (let n = floor; n <= line && n < floor + 8; n++) {
    const t = all[n - 1] ?? '';
    sig += ` ${t}`;
    if (t.includes('{') || t.includes(')')) break;
  }
  const param = new RegExp(`\\b${e}\\s*[,)]`).test(sig.replace(/^[^(]*\(/, '('));
  const assignedFrom: string[] = [];
  const re = new RegExp(`(?:^|[^\\w.>=!<])${e}\\s*=\\s*(?:\\([^()]*\\)\\s*)?([A-Za-z_]\\w*)\\s*\\(`);
  // `skb = dev->ops->rcv(dev, skb)`: a call through a function pointer, an indirect call in the code.
  const viaPointer = new RegExp(`(?:^|[^\\w.>=!<])${e}\\s*=\\s*(?:\\([^()]*\\)\\s*)?([A-Za-z_]\\w*(?:\\s*(?:->|\\.)\\s*[A-Za-z_]\\w*)+)\\s*\\(`);
  let fromPointer: string | null = null;
  for (let n = floor + 1; n < line; n++) {
    const text = all[n - 1] ?? '';
    const m = re.exec(text);
    if (m?.[1] !== undefined) assignedFrom.push(m[1]);
    const p = viaPointer.exec(text);
    if (p?.[1] !== undefined) fromPointer = p[1].replace(/\s+/g, '');
  }
  return { kind: 'variable', name: e, assignedFrom, param, fromPointer };
}

/**
 * Whether the lines after a free set the freed expression to NULL (`kfree_skb(p->skb); p->skb = NULL;`), or,
 * for a local variable, the memory it was loaded from or stored to since `floor` (`skb = *pskb = f(…);` …
 * `kfree_skb(skb); *pskb = NULL;`): the code frees the value it loaded from there and clears that slot.
 */
export function clearedAfter(all: readonly string[], endLine: number, expr: string, lines = 2, floor?: number): boolean {
  const e = expr.replace(/\s+/g, '');
  const isMember = /(->|\.)/.test(e);
  if (!isMember && (floor === undefined || !/^[A-Za-z_]\w*$/.test(e))) return false;
  for (let n = endLine + 1; n <= endLine + lines; n++) {
    const m = /^\s*(.+?)\s*=\s*NULL\s*;/.exec(all[n - 1] ?? '');
    if (m?.[1] === undefined || /[=!<]$/.test(m[1])) continue;
    const lhs = m[1].replace(/\s+/g, '');
    if (lhs === e) return isMember;
    // The memory may be an array element (`np->tx_info[i].skb`), as the code's indexed load and clear are.
    if (!isMember && floor !== undefined && /^(?:\*[A-Za-z_]\w*|[A-Za-z_]\w*(?:(?:->|\.)\w+(?:\[\w+\])?)+)$/.test(lhs) && aliases(all, floor, endLine, e, lhs)) return true;
  }
  return false;
}

/** Whether variable `v` is assigned from memory `slot` or stored into it between `floor` and `to` (`v = *slot`, `slot = v`, `v = slot = …`). */
function aliases(all: readonly string[], floor: number, to: number, v: string, slot: string): boolean {
  const s = slot.replace(/[*.>[\]-]/g, (c) => `\\${c}`).replace(/\\\*/, '\\*\\s*');
  const from = new RegExp(`(?:^|[^\\w.>])${v}\\s*=\\s*${s}(?:\\s*[;=])`);
  const into = new RegExp(`(?:^|[^\\w.>])${s}\\s*=\\s*${v}\\s*;`);
  for (let n = floor + 1; n < to; n++) {
    const text = all[n - 1] ?? '';
    if (from.test(text) || into.test(text)) return true;
  }
  return false;
}

/**
 * The calls a struct field is assigned from anywhere in a file (`p->skb2 = skb_clone(…)`, `info.skb2 =
 * skb_get(…)`): what a site that frees that field (`kfree_skb(info.skb2)`) may free, whichever inlined helper
 * filled it.
 */
export function fieldAssignments(all: readonly string[], field: string): string[] {
  const re = new RegExp(`(?:->|\\.)\\s*${field}\\s*=\\s*(?:\\([^()]*\\)\\s*)?([A-Za-z_]\\w*)\\s*\\(`);
  const out = new Set<string>();
  for (const text of all) {
    const m = re.exec(text);
    if (m?.[1] !== undefined) out.add(m[1]);
  }
  return [...out];
}
