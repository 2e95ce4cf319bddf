// What the code does right after a drop call, against what the source does right after a site. Two sites whose
// blocks read alike often differ only there: `kfree_skb(skb); DEV_STATS_INC(dev, tx_errors); return …;` and
// `DEV_STATS_INC(dev, tx_errors); kfree_skb(skb); return …;`. A write to memory the callee could read (a counter
// bump, a field store) cannot move across the call, so the first memory writes after the call are the source's
// first statements after the site: a counter bump (`lock incq 0x260(%r14)`, `addq $1,…`) where the site goes on
// to return without one, or a return where the site bumps a counter, tells the sites apart; so does a call the
// code makes right after the drop where the site's function returns at once (`kfree_skb(skb); return 0;`).
import type { Insn } from './decode.ts';
import { closeOf, openerOf, labelLine } from './return-value.ts';

/** What follows: the kinds of memory writes before the first boundary, and that boundary. */
export interface After {
  /** `count`: a counter bump (`x->n++`, `+= …`, `atomic_inc`, `DEV_STATS_INC`); `write`: another store to memory. */
  writes: Set<'count' | 'write'>;
  /** `ret`: the function returns; `call`, `branch`, `loop`: another call, a condition, a loop goes on; `unknown`. */
  end: 'ret' | 'call' | 'branch' | 'loop' | 'unknown';
  /** The code wrote its stack on the way (a spill, a local's slot): a store to a local struct may be among them. */
  stack?: boolean;
  /** The source's first counter bump is a call of a lower-case `…_inc` function, which may be out of line. */
  countByCall?: boolean;
  /** Where the first write is (code offset, or source line), for evidence. */
  at: number | null;
  text?: string;
  /** The code's counter bumps on that path with the displacement each adds to (decode.ts `bump`), for counters.ts. */
  bumps?: Array<{ off: number; disp: number }>;
}

/** Instructions followed after the drop call, and unconditional jumps on the way. */
const MAX_STEPS = 24;
const MAX_JUMPS = 3;

/**
 * The memory writes on the straight path after the drop call at `index`, through unconditional jumps (a shared
 * exit) and past the stack protector's check, up to a return, a call, a conditional branch or an indirect jump.
 * A drop that is a tail jump returns at once. Stores of 0 (an unlock, a cleared pointer) are left out.
 */
export function codeAfter(insns: readonly Insn[], at: ReadonlyMap<number, number>, index: number): After {
  const writes = new Set<'count' | 'write'>();
  let first: number | null = null;
  let stack = false;
  const bumps: Array<{ off: number; disp: number }> = [];
  const done = (end: After['end']): After => ({ writes, end, stack, at: first, bumps });
  if (insns[index]?.flow === 'jmp') return done('ret');
  let i = index + 1;
  let jumps = 0;
  for (let n = 0; n < MAX_STEPS; n++) {
    const x = insns[i];
    if (x === undefined) return done('unknown');
    if (x.memWrite === 'count' || x.memWrite === 'write') {
      writes.add(x.memWrite);
      first ??= x.off;
      if (x.bump !== null) bumps.push({ off: x.off, disp: x.bump });
    } else if (x.memWrite === 'stack') stack = true;
    if (x.flow === 'ret') return done('ret');
    if (x.flow === 'call' || x.flow === 'icall') return done('call');
    if (x.flow === 'jcc') {
      const t = x.local === null ? undefined : insns[at.get(x.local) ?? -1];
      // The stack protector's check (`jne` to a call of __stack_chk_fail) never goes on there.
      if (t !== undefined && ((t.flow === 'call' && t.callee === '__stack_chk_fail') || t.flow === 'stop')) {
        i++;
        continue;
      }
      return done('branch');
    }
    if (x.flow === 'jmp') {
      if (x.local === null) return done('call');
      // Forward to a shared exit, or back to one laid out earlier (a loop's latch ends in a conditional branch).
      const t = at.get(x.local);
      if (t === undefined || ++jumps > MAX_JUMPS) return done('unknown');
      i = t;
      continue;
    }
    if (x.flow === 'ijmp' || x.flow === 'stop') return done('unknown');
    i++;
  }
  return done('unknown');
}

/** Statements read after a site (local assignments on the way are skipped: they live in registers). */
const MAX_STATEMENTS = 6;
/** A call that bumps a counter: `atomic_inc`, `DEV_STATS_INC`, `this_cpu_inc`, `u64_stats_inc`, `__IP_INC_STATS`. */
const COUNT_CALL = /^\w*?(?:(?:^|_)(?:inc|dec)(?:_\w*)?|(?:INC|DEC)(?:_\w*)?)$/;
const CLEANUP = /\b(guard|scoped_guard|scoped_cond_guard|__free|__cleanup)\s*\(/;
/** An lvalue in memory: through a pointer, a member or an index (a plain name is a local in a register). */
const IN_MEMORY = /->|\.|\[|^\*|^\(/;

/**
 * What the source does right after the site that ends on `endLine` (1-based) in `all`: its next statements on
 * the way out of its `if` (past an `else`), through one `goto` to its label; a counter bump (`x->n++`, `x->n +=
 * …`, a call named `…_inc`/`…INC…`) or a store to memory (`x->state = …`; not `= NULL`/`= 0`), up to a
 * `return` (or the function's end), a call, a condition or a loop statement. `own`: the site is in the reported
 * function itself, so a `return` there is the code's (for an inlined helper's, the caller goes on: unknown);
 * `floor`: the function's first line, searched for scope-based cleanup.
 */
export function sourceAfter(all: readonly string[], endLine: number, own: boolean, floor = 0): After {
  // Scope-based cleanup (`guard(mutex)(…)`, `__free(kfree)`) runs calls at the return that the source does not show.
  let ownReturn = own;
  for (let n = Math.max(1, floor); own && n <= endLine; n++) if (CLEANUP.test(all[n - 1] ?? '')) ownReturn = false;
  const writes = new Set<'count' | 'write'>();
  let first: number | null = null;
  let text: string | undefined;
  let countByCall = false;
  const done = (end: After['end']): After => ({ writes, end, at: first, ...(text !== undefined ? { text } : {}), ...(countByCall ? { countByCall } : {}) });
  const note = (kind: 'count' | 'write', n: number, t: string, byCall = false): void => {
    if (kind === 'count' && !writes.has('count')) {
      countByCall = byCall;
      [first, text] = [n, t];
    } else if (first === null) [first, text] = [n, t];
    writes.add(kind);
  };
  // The body of a `while`/`for` without braces: the loop goes on after it.
  const from = statementStart(all, endLine);
  const head = all[from - 1] ?? '';
  const above = (all[from - 2] ?? '').replace(/\/\*.*?\*\/|\/\/.*$/g, '').trim();
  if (/^\s*(for|while)\s*\(/.test(head) || (/^(for|while)\s*\(/.test(above) && !/[;{]$/.test(above))) return done('loop');
  // The site's own statement may be a return (`return NF_DROP_REASON(skb, …);`).
  if (/^\s*return\b/.test(all[from - 1] ?? '')) return done(ownReturn ? 'ret' : 'unknown');
  let line = endLine + 1;
  let hops = 0;
  let statements = 0;
  const seen = new Set<number>();
  while (line <= all.length && statements <= MAX_STATEMENTS) {
    if (seen.has(line)) return done('unknown');
    seen.add(line);
    const raw = all[line - 1] ?? '';
    const t = raw.replace(/\/\*.*?\*\/|\/\/.*$/g, '').trim();
    const n = line;
    line++;
    if (t === '' || /^\w+:$/.test(t) || t.startsWith('*') || t.startsWith('/*')) continue;
    if (t.startsWith('#')) return done('unknown');
    if (/^}/.test(raw)) return done(ownReturn ? 'ret' : 'unknown');
    if (/^}/.test(t)) {
      const opener = openerOf(all, n);
      if (opener === null) return done('unknown');
      if (/^(}\s*)?(for|while|do)\b/.test(opener)) return done('loop');
      if (!/^(}\s*)?(if|else)\b/.test(opener)) return done('unknown');
      const rest = t.slice(1).trim();
      if (rest === '') continue;
      if (!/^else\b.*\{$/.test(rest)) return done('unknown');
      const close = closeOf(all, n);
      if (close === null) return done('unknown');
      line = close;
      seen.delete(close);
      continue;
    }
    if (/^(break|continue)\s*;/.test(t)) return done('loop');
    if (/^(if|else|for|while|do|switch|case|default)\b/.test(t) || /[{]$/.test(t)) return done('branch');
    const g = /^goto\s+(\w+)\s*;$/.exec(t);
    if (g !== null) {
      if (++hops > 1) return done('unknown');
      const to = labelLine(all, endLine, g[1] ?? '');
      if (to === null) return done('unknown');
      line = to + 1;
      continue;
    }
    // `return foo(…);` may call or be an inline of no code: unknown.
    if (/^return\b/.test(t)) return done(ownReturn && !/\w\s*\(/.test(t.slice(6)) ? 'ret' : 'unknown');
    // The statement must end on this line.
    if (!t.endsWith(';')) return done('unknown');
    statements++;
    const call = /^([A-Za-z_]\w*)\s*\(/.exec(t);
    if (call !== null) {
      if (COUNT_CALL.test(call[1] ?? '')) {
        note('count', n, t, /[a-z]/.test(call[1] ?? ''));
        continue;
      }
      return done('call');
    }
    const bump = /^(?:(?:\+\+|--)\s*(.+?)|(.+?)\s*(?:\+\+|--))\s*;$/.exec(t) ?? /^(.+?)\s*[-+]=\s*[^=].*;$/.exec(t);
    if (bump !== null) {
      const lv = (bump[1] ?? bump[2] ?? '').trim();
      if (IN_MEMORY.test(lv) && !/\(/.test(lv.replace(/^\(\*?\w+\)/, ''))) note('count', n, t);
      continue;
    }
    const store = /^(.+?)\s*(?:[|&^]|<<|>>)?=\s*([^=].*?)\s*;$/.exec(t);
    if (store !== null) {
      const lv = (store[1] ?? '').trim();
      const rhs = (store[2] ?? '').trim();
      if (/\w\s*\(/.test(rhs)) return done('call');
      if (IN_MEMORY.test(lv) && !/^(NULL|0|false)$/.test(rhs)) note('write', n, t);
      continue;
    }
    return done('unknown');
  }
  return done('unknown');
}

/** The first line of the statement that ends on line `n`: back to the line after the previous `;`, `{` or `}`. */
function statementStart(all: readonly string[], n: number): number {
  let k = n;
  while (k > 1 && k > n - 6) {
    const prev = (all[k - 2] ?? '').replace(/\/\*.*?\*\/|\/\/.*$/g, '').trim();
    if (prev === '' || /[;{}:]$/.test(prev) || prev.startsWith('#')) break;
    k--;
  }
  return k;
}

/**
 * Whether the two disagree where neither can be wrong: the source bumps a counter right after the site and the
 * code writes no counter before it returns (or writes something else), or the code bumps one and the site
 * returns without; the same for other stores to memory, where the code did not write its stack on the way; or
 * the code calls a function (or tail-calls one) before any write while the site's function returns at once.
 * Null when they agree or either says too little.
 */
export function afterConflict(code: After, src: After): string | null {
  const codeSeen = code.end === 'ret' || code.writes.size > 0;
  const srcSeen = src.end === 'ret' || src.writes.size > 0;
  if (src.writes.has('count') && !code.writes.has('count') && codeSeen && !(src.countByCall === true && code.end === 'call')) return 'count-missing';
  if (code.writes.has('count') && !src.writes.has('count') && src.end === 'ret') return 'count-extra';
  if (src.writes.has('write') && !code.writes.has('write') && code.end === 'ret' && code.stack !== true && srcSeen) return 'write-missing';
  if (code.writes.has('write') && !src.writes.has('write') && src.writes.size === 0 && src.end === 'ret' && codeSeen) return 'write-extra';
  // A call after the drop where the site's function returns at once.
  if (code.end === 'call' && code.writes.size === 0 && src.end === 'ret' && src.writes.size === 0) return 'call-extra';
  return null;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The evidence line of a conflict (afterConflict). */
export function afterEvidence(why: string, code: After, src: After): string {
  const at = src.at !== null ? ` (line ${src.at}: \`${(src.text ?? '').slice(0, 60)}\`)` : '';
  const goes = code.end === 'ret' ? 'returns' : 'goes on';
  if (why === 'count-missing') return `machine code: the code ${goes} after the drop without bumping a counter${code.at !== null ? ` (it writes memory at +${hex(code.at)})` : ''}, but this site bumps one right after it${at}`;
  if (why === 'count-extra') return `machine code: the code bumps a counter right after the drop (at +${hex(code.at ?? 0)}), but this site's function returns without one`;
  if (why === 'write-missing') return `machine code: the code returns after the drop without a store to memory, but this site stores right after it${at}`;
  if (why === 'call-extra') return `machine code: the code calls another function right after the drop, but this site's function returns at once`;
  return `machine code: the code stores to memory right after the drop (at +${hex(code.at ?? 0)}), but this site's function returns without one`;
}

/** The source side per site, read once (sourceAfter). */
export class SiteAfter {
  private readonly cache = new Map<string, After | null>();

  of(lines: (file: string) => readonly string[] | null, file: string, endLine: number, own: boolean, floor: number): After | null {
    const key = `${file}:${endLine}:${own ? 1 : 0}`;
    let r = this.cache.get(key);
    if (r === undefined) {
      const all = lines(file);
      r = all === null ? null : sourceAfter(all, endLine, own, floor);
      this.cache.set(key, r);
    }
    return r;
  }
}
