// Which statistics counter the code bumps next to a drop, against the counters each candidate site bumps. Two
// sites whose blocks read alike often differ only in the counter they count the drop in:
// `dev_kfree_skb(skb); DEV_STATS_INC(dev, tx_dropped); return NETDEV_TX_OK;` against a later
// `dev_kfree_skb(skb); … DEV_STATS_INC(dev, tx_errors); return NETDEV_TX_OK;`. A counter bump is a write to
// memory, which cannot move across the call, so the bumps on the code's straight line into the call and on
// its straight path after it (decode.ts `bump`: `lock incq 0x270(%r14)`, `addq $1,0x1a8(%rbx)`,
// `incq %gs:0x10(%rax)`) are the site's own, each at its field's offset. The source side is read here: the
// counter bumps of a site's block before the free and of the statements after it up to its function's return
// (`DEV_STATS_INC(dev, x)` through the tree's own macro, `dev->stats.x++`, `stats->x += n`,
// `u64_stats_inc(&s->x)`, `this_cpu_inc(p->x)`, `atomic_long_inc(&p->x)`), each as a field access; index.ts
// resolves those to displacements through BTF (field-offsets.ts) and weighs them with `counterFactor`.
import type { MacroDef } from './conditions.ts';
import { closeOf, labelLine, openerOf } from './return-value.ts';

/** A counter the source bumps: the field access (`dev->stats.__tx_dropped`), its line and statement. */
export interface SourceCounter {
  access: string;
  line: number;
  text: string;
}

/** The counters of one side of a site, and whether the window is whole (its start, or its function's return, was reached). */
export interface CounterWindow {
  counters: SourceCounter[];
  /** Counter statements whose field could not be named (`stats[i]++`, a call through a pointer). */
  unnamed: number;
  closed: boolean;
}

/** The macro a name stands for in the site's file (conditions.ts ConstantScope.macro), or null. */
export type MacroLookup = (name: string) => MacroDef | null;

/** A call that bumps the memory its (first `&`) argument names: `atomic_long_inc`, `u64_stats_add`, `this_cpu_inc`, `local_inc`. */
const BUMP_CALL = /^(?:__)?(?:atomic(?:64|_long)?|u64_stats|local(?:64)?|this_cpu|raw_cpu|__this_cpu)_(?:inc|add)$/;
/** A call worth expanding as a macro: upper-case or named for an increment (`DEV_STATS_INC`, `IPVS_STAT_INC`). */
const MACRO_CANDIDATE = /^[A-Z0-9_]*[A-Z][A-Z0-9_]*$|(?:^|_)(?:inc|add)(?:_|$)/;
const MAX_EXPANSION = 3;
/**
 * Calls whose code is a static branch (a tracepoint, dynamic debug, a rate limit): another path joins the code's
 * straight line after them, so a counter bumped before them is not on the straight line into the drop call.
 */
const JOINS_AFTER = /^(?:trace_\w+|\w+_dbg|pr_debug|\w+_ratelimited|net_ratelimit)\s*\(/;
const MAX_AFTER_LINES = 30;
const MAX_BEFORE_LINES = 20;

const strip = (l: string): string => l.replace(/\/\*.*?\*\/|\/\/.*$/g, '').trim();

/** Top-level comma-separated arguments of `(…)` text without its parentheses. */
function splitArgs(inner: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of inner) {
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '' || out.length > 0) out.push(cur.trim());
  return out;
}

/** A macro's body with its parameters replaced by the arguments, `##` pasted. */
export function substitute(def: MacroDef, args: readonly string[]): string {
  let body = def.body;
  def.params.forEach((p, k) => {
    if (p === '...') return;
    body = body.replace(new RegExp(`\\b${p}\\b`, 'g'), args[k] ?? '');
  });
  return body.replace(/\s*##\s*/g, '');
}

/** An lvalue as a plain field access (`(dev)->stats.x` → `dev->stats.x`), or null. */
function plainAccess(expr: string): string | null {
  const chain = /^\(([A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)*)\)/;
  let e = expr.replace(/\s+/g, '').replace(chain, '$1');
  // `((dev)->stats.x)`: the parentheses a macro puts around its expansion.
  for (let k = 0; k < 3 && /^\(.*\)$/.test(e) && !chain.test(e); k++) e = e.slice(1, -1).replace(chain, '$1');
  return /^[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)+$/.test(e) && e.includes('->') ? e : null;
}

/**
 * The counters one statement (or expression) bumps: a bump call's `&field` argument, `field++`, `++field`,
 * `field += …`, and the same inside the tree's macros (`DEV_STATS_INC(dev, tx_dropped)` is
 * `atomic_long_inc(&(dev)->stats.__tx_dropped)` in 6.1 and 6.12), a few expansions deep. `null` entries are
 * counter statements whose field is no plain access.
 */
export function statementCounters(stmt: string, macro: MacroLookup, depth = 0): Array<string | null> {
  const t = stmt.trim().replace(/;\s*$/, '').trim();
  const call = /^([A-Za-z_]\w*)\s*\(([\s\S]*)\)$/.exec(t);
  if (call?.[1] !== undefined && call[2] !== undefined) {
    const name = call[1];
    const args = splitArgs(call[2]);
    if (BUMP_CALL.test(name)) {
      const ref = args.find((a) => a.startsWith('&'));
      const target = ref !== undefined ? ref.slice(1) : /this_cpu|raw_cpu/.test(name) ? args[0] ?? '' : '';
      return [plainAccess(target)];
    }
    if (depth < MAX_EXPANSION && MACRO_CANDIDATE.test(name)) {
      const def = macro(name);
      if (def !== null && def.params.length === args.length) {
        // A macro body may be a `do { … } while (0)` or a list of statements.
        const body = substitute(def, args).replace(/^do\s*\{([\s\S]*)\}\s*while\s*\(\s*0\s*\)$/, '$1');
        return body.split(';').map((x) => x.trim()).filter((x) => x !== '').flatMap((x) => statementCounters(x, macro, depth + 1));
      }
    }
    return [];
  }
  const bump = /^(?:(?:\+\+)\s*(.+?)|(.+?)\s*\+\+)$/.exec(t) ?? /^(.+?)\s*\+=\s*[^=].*$/.exec(t);
  if (bump !== null) {
    const lv = (bump[1] ?? bump[2] ?? '').trim();
    if (/->|\.|\[/.test(lv)) return [plainAccess(lv)];
  }
  return [];
}

/** The statement that starts at line n (1-based): its lines joined until a `;` with balanced parentheses, or null. */
function statementAt(all: readonly string[], n: number, limit: number): { text: string; end: number } | null {
  let text = '';
  for (let k = n; k <= Math.min(all.length, n + 4, limit); k++) {
    text += (text === '' ? '' : ' ') + strip(all[k - 1] ?? '');
    const open = (text.match(/\(/g) ?? []).length - (text.match(/\)/g) ?? []).length;
    if (open <= 0 && text.endsWith(';')) return { text, end: k };
    if (open <= 0 && /[{}]$/.test(text)) return null;
  }
  return null;
}

/** What follows the condition of a control head at line n (`if (…)`, `else if (…)`, `else`), and the line its condition ends on. */
function headRest(all: readonly string[], n: number, t: string): { rest: string; end: number } | null {
  if (!/^(?:else\s+)?if\b/.test(t)) return { rest: t.replace(/^else\b/, '').trim(), end: n };
  let text = t;
  for (let k = n; k < n + 5; k++) {
    const i = text.indexOf('(');
    let d = 0;
    for (let p = i; i >= 0 && p < text.length; p++) {
      if (text[p] === '(') d++;
      else if (text[p] === ')' && --d === 0) return { rest: text.slice(p + 1).trim(), end: k };
    }
    if (k + 1 > all.length) return null;
    text += ' ' + strip(all[k] ?? '');
  }
  return null;
}

/**
 * The counters bumped after the site that ends on `endLine`: its next statements, those of the `if` bodies on
 * the way (each one path the code may take), past the end of its block (an `else` it is not in skipped), through
 * one `goto` to its label, up to a `return` of its block or the function's end. Closed when such an end is reached
 * with no path leaving the window on the way, and `own` (the site is in the reported function: an inlined
 * helper's caller goes on after its return).
 */
export function countersAfter(all: readonly string[], endLine: number, own: boolean, macro: MacroLookup): CounterWindow {
  const counters: SourceCounter[] = [];
  let unnamed = 0;
  let depth = 0;
  let open = true;
  let hops = 0;
  /** The next statement is the body of a braceless `if`/`else`. */
  let braceless = false;
  /** The statement before was the body of an `if` at the site's level: an `else` now is its other branch. */
  let elseOk = false;
  const seen = new Set<number>();
  let line = endLine + 1;
  const take = (text: string, n: number): void => {
    for (const a of statementCounters(text, macro)) {
      if (a === null) unnamed++;
      else counters.push({ access: a, line: n, text });
    }
  };
  const stop = (whole: boolean): CounterWindow => ({ counters, unnamed, closed: whole && open });
  /** Into a branch body: `{` opens a block, nothing makes the next statement its body, a statement is the body. */
  const enter = (rest: string, n: number): boolean => {
    if (rest === '') braceless = true;
    else if (rest === '{') depth++;
    else if (rest.endsWith(';') && !rest.includes('{')) {
      if (/^(goto|break|continue)\b/.test(rest)) open = false;
      else if (!/^return\b/.test(rest)) take(rest, n);
      if (depth === 0) elseOk = true;
    } else return false;
    return true;
  };
  for (let steps = 0; steps < MAX_AFTER_LINES && line <= all.length; steps++) {
    if (seen.has(line)) return stop(false);
    seen.add(line);
    const raw = all[line - 1] ?? '';
    const t = strip(raw);
    const n = line;
    line++;
    if (t === '' || t.startsWith('*') || t.startsWith('/*') || /^\w+:$/.test(t)) continue;
    if (t.startsWith('#')) return stop(false);
    // The function's end.
    if (/^}/.test(raw)) return stop(own);
    if (t.startsWith('}')) {
      const rest = t.slice(1).trim();
      if (depth > 0) {
        depth--;
        if (/^else\b/.test(rest)) {
          const h = headRest(all, n, rest);
          if (h === null || !enter(h.rest, n)) return stop(false);
          line = h.end + 1;
        } else if (depth === 0) elseOk = true;
        continue;
      }
      const opener = openerOf(all, n);
      if (opener === null || /^(}\s*)?(for|while|do|switch)\b/.test(opener)) return stop(false);
      if (/^else\b/.test(rest)) {
        // The site is in the `if` part: its `else` is another path.
        const close = closeOf(all, n);
        if (close === null) return stop(false);
        line = close;
        seen.delete(close);
      }
      elseOk = false;
      continue;
    }
    const body = braceless;
    braceless = false;
    if (/^else\b/.test(t) && !elseOk && !body && depth === 0) {
      // The `else` of the braceless `if` the site is the body of: another path, skipped.
      const h = headRest(all, n, t);
      if (h === null) return stop(false);
      if (h.rest === '{' || h.rest.endsWith('{')) {
        const close = closeOf(all, h.end);
        if (close === null) return stop(false);
        line = close + 1;
      } else if (h.rest === '') {
        const st = statementAt(all, h.end + 1, all.length);
        if (st === null) return stop(false);
        line = st.end + 1;
      } else line = h.end + 1;
      continue;
    }
    if (/^(if|else)\b/.test(t)) {
      const h = headRest(all, n, t);
      if (h === null || !enter(h.rest, n)) return stop(false);
      line = h.end + 1;
      continue;
    }
    const inner = depth > 0 || body;
    if (body && depth === 0) elseOk = true;
    else if (depth === 0) elseOk = false;
    if (/^(for|while|do|switch|case|default)\b/.test(t)) return stop(false);
    if (/^return\b/.test(t)) {
      if (inner) continue;
      if (/\w\s*\(/.test(t.slice(6))) open = false;
      return stop(own);
    }
    if (/^(break|continue)\s*;/.test(t)) {
      if (inner) {
        open = false;
        continue;
      }
      return stop(false);
    }
    const g = /^goto\s+(\w+)\s*;$/.exec(t);
    if (g !== null) {
      if (inner) {
        open = false;
        continue;
      }
      const to = ++hops > 1 ? null : labelLine(all, endLine, g[1] ?? '');
      if (to === null) return stop(false);
      line = to + 1;
      continue;
    }
    const st = statementAt(all, n, all.length);
    if (st === null) return stop(false);
    line = st.end + 1;
    take(st.text, n);
  }
  return stop(false);
}

/**
 * The counters bumped in the site's block before the free that starts on `line`: the statements back to the
 * block's opening (`{`, a braceless `if`, a `case` or a label) or to the end of an inner block or `if` before it,
 * where another path joins (the code's straight line into the call starts there too). Closed when that start is
 * reached within the window, or another free (`isFree`).
 */
export function countersBefore(all: readonly string[], line: number, floor: number, macro: MacroLookup, isFree: (statement: string) => boolean = () => false): CounterWindow {
  const counters: SourceCounter[] = [];
  let unnamed = 0;
  let text = '';
  let n = line - 1;
  for (let steps = 0; steps < MAX_BEFORE_LINES && n > floor; steps++, n--) {
    const t = strip(all[n - 1] ?? '');
    if (t === '' || t.startsWith('*') || t.startsWith('/*')) continue;
    if (t.startsWith('#')) return { counters, unnamed, closed: false };
    if (text === '') {
      // An opening `{`, the end of an inner block, a label or `case`, or a braceless head whose body the site is.
      if (!t.endsWith(';') || t.startsWith('}')) return { counters, unnamed, closed: true };
      text = t;
    } else text = `${t} ${text}`;
    const prev = strip(all[n - 2] ?? '');
    if (n - 1 <= floor || prev === '' || /[;{}:]$/.test(prev) || prev.startsWith('#')) {
      // A one-line `if (c) x++;` before the site, or a static branch: a join after it.
      // Another free: the code's straight line into this call starts after that call too.
      if (/^(if|else|for|while|do|switch)\b/.test(text) || JOINS_AFTER.test(text) || isFree(text)) return { counters, unnamed, closed: true };
      for (const a of statementCounters(text, macro)) {
        if (a === null) unnamed++;
        else counters.push({ access: a, line: n, text });
      }
      text = '';
    }
  }
  return { counters, unnamed, closed: n <= floor };
}

/** A site's counters resolved to displacements (through BTF), or null for a site whose source could not be read. */
export interface SiteCounters {
  /** The site's identity (file:line), so that a candidate listed twice is not its own other site. */
  key: string;
  /** The site's short name for evidence (`geneve.c:1025`). */
  name: string;
  before: ResolvedWindow;
  after: ResolvedWindow;
}

export interface ResolvedWindow {
  /** Displacement → what the source bumps there (`net_device.stats.__tx_dropped`, line 1026). */
  at: Map<number, { field: string; line: number }>;
  /** Every counter of the window was resolved, and the window is whole: an absent displacement is not bumped there. */
  complete: boolean;
  /** The window holds at least one counter. */
  any: boolean;
}

/** A field access's displacement through BTF (index.ts displacementAt), with the struct its base is declared as. */
export type Resolve = (access: string) => { struct: string; disp: number } | null;

function resolveWindow(w: CounterWindow, resolve: Resolve): ResolvedWindow {
  const at = new Map<number, { field: string; line: number }>();
  let complete = w.closed && w.unnamed === 0;
  for (const c of w.counters) {
    const d = resolve(c.access);
    if (d === null) {
      complete = false;
      continue;
    }
    const steps = c.access.slice(c.access.indexOf('->') + 2);
    const field = steps.includes('->') ? `${c.access} (struct ${d.struct})` : `${d.struct}.${steps}`;
    if (!at.has(d.disp)) at.set(d.disp, { field, line: c.line });
  }
  return { at, complete, any: w.counters.length + w.unnamed > 0 };
}

/**
 * Both windows of a site (its statements before the free on `site.line`, and after it), resolved. `own`: the site
 * is in the reported function itself (a helper's window after its free is never whole: its caller goes on).
 */
export function siteCounters(all: readonly string[], site: { file: string; line: number; endLine: number; functionStartLine: number }, own: boolean, macro: MacroLookup, resolve: Resolve, isFree?: (statement: string) => boolean): SiteCounters {
  return {
    key: `${site.file}:${site.line}`,
    name: `${site.file.replace(/^.*\//, '')}:${site.line}`,
    before: resolveWindow(countersBefore(all, site.line, site.functionStartLine, macro, isFree), resolve),
    after: resolveWindow(countersAfter(all, site.endLine, own, macro), resolve),
  };
}

const hex = (n: number): string => `0x${n.toString(16)}`;

export interface CounterWeights {
  match: number;
  mismatch: number;
  maxMatches: number;
}

/**
 * The factor for site `j` from the code's counter bumps before and after the drop call (offsets of the call's
 * function; `where` names the image or module whose BTF gave the offsets). A bumped displacement that site j's
 * window holds and some other candidate's does not is a match; one that only other candidates' windows hold,
 * while site j's whole window bumps other counters, a contradiction. Evidence lines say which field.
 */
export function counterFactor(code: { before: ReadonlyArray<{ off: number; disp: number }>; after: ReadonlyArray<{ off: number; disp: number }> }, sites: ReadonlyArray<SiteCounters | null>, j: number, weights: CounterWeights, where: string, ev: string[] | null): number {
  const me = sites[j];
  if (me === null || me === undefined) return 1;
  const others = sites.filter((s): s is SiteCounters => s !== null && s !== undefined && s.key !== me.key);
  if (others.length === 0) return 1;
  let f = 1;
  let matches = 0;
  for (const side of ['before', 'after'] as const) {
    const mine = me[side];
    const said = new Set<number>();
    for (const b of code[side]) {
      if (said.has(b.disp)) continue;
      said.add(b.disp);
      const when = side === 'before' ? 'right before the call' : 'right after the call';
      const hit = mine.at.get(b.disp);
      if (hit !== undefined) {
        const without = others.filter((o) => !o[side].at.has(b.disp));
        if (without.length === 0 || matches >= weights.maxMatches) continue;
        matches++;
        f *= weights.match;
        ev?.push(`machine code: the code bumps the counter at ${hex(b.disp)}(…) ${when} (at +${hex(b.off)}), the offset of ${hit.field} in ${where}'s BTF, as this site does ${side} its free (line ${hit.line}) and ${without.slice(0, 2).map((o) => o.name).join(', ')} ${without.length === 1 ? 'does' : 'do'} not`);
        continue;
      }
      if (!mine.complete || !mine.any) continue;
      const holders = others.filter((o) => o[side].at.has(b.disp));
      const held = holders[0]?.[side].at.get(b.disp);
      if (held === undefined) continue;
      f *= weights.mismatch;
      const own = [...mine.at.values()].map((x) => x.field).slice(0, 2).join(', ');
      ev?.push(`machine code: the code bumps the counter at ${hex(b.disp)}(…) ${when} (at +${hex(b.off)}), the offset of ${held.field} in ${where}'s BTF, which ${holders.slice(0, 2).map((o) => o.name).join(', ')} bump${holders.length === 1 ? 's' : ''} ${side} ${holders.length === 1 ? 'its' : 'their'} free; this site bumps ${own} there instead`);
      return f;
    }
  }
  return f;
}
