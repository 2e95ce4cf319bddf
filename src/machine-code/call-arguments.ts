// The constant arguments of calls, in the code and in the source. Sites whose blocks read alike often differ only
// in what a call before their free is given: `skb = create_monitor_event(hdev, HCI_DEV_REG); … kfree_skb(skb);`
// and, a few lines on, the same with HCI_DEV_OPEN. gcc sets each argument register right before the call
// (`mov $0x1,%esi; mov %rbx,%rdi; call create_monitor_event`), so the constants a call receives say which of the
// source's calls it is. Two uses: the call whose result is the freed buffer (`originArguments`, over every
// path back, against the site's own assignment) and a call on the straight line into the drop
// (`codeArguments`, against the source's call on the site's path).
import { ARG_FAMILIES, type Insn } from './decode.ts';
import { callArgument, type Origin } from './dataflow.ts';
import { u32 } from './conditions.ts';
import { indent } from './source-features.ts';

/** One call instruction whose result reaches the freed buffer: its callee and each argument's constants (null: not a known constant). */
export interface CodeCallArguments {
  name: string;
  args: Array<number[] | null>;
}

/** One assignment of the freed variable from a call on the site's path: the callee and each argument's value (null: not a constant). */
export interface SourceCallArguments {
  line: number;
  callee: string;
  args: Array<bigint | null>;
  text: string;
}

/**
 * The constants each argument register holds at every call whose result is the freed buffer (dataflow.ts
 * origins with their instruction), over every path back; an argument some path leaves unknown is null.
 */
export function originArguments(origins: readonly Origin[], constants: (at: number, family: number) => { values: number[]; complete: boolean }): CodeCallArguments[] {
  const out: CodeCallArguments[] = [];
  for (const o of origins) {
    if (o.kind !== 'call' || o.at === undefined) continue;
    const at = o.at;
    const args = ARG_FAMILIES.map((f) => {
      const r = constants(at, f);
      return r.complete && r.values.length > 0 ? r.values : null;
    });
    out.push({ name: o.name, args });
  }
  return out;
}

const HEADER = /^\s*(?:\}\s*)?(?:else\b|if\s*\(|for\s*\(|while\s*\()/;

/**
 * The assignments of `variable` that reach the statement at `line`, walking back from it: the nearest one,
 * with the other arms of its `if`/`else` chain when it sits under one (`if (a) skb = f(x, A); else if (b)
 * skb = f(x, B); else skb = NULL;`); an assignment that is not under a brace-less `if`/`else` ends the walk.
 * Each is the statement's text, joined over the lines it continues on.
 */
export function reachingAssignments(all: readonly string[], floor: number, line: number, variable: string): Array<{ line: number; text: string }> {
  const re = new RegExp(`(?:^|[^\\w.>=!<])${variable}\\s*=[^=]`);
  const out: Array<{ line: number; text: string }> = [];
  let depth = -1;
  for (let n = line - 1; n > floor; n--) {
    const t = all[n - 1] ?? '';
    if (t.trim() === '') continue;
    if (depth >= 0 && indent(t) < depth && !/^\s*(?:\}\s*)?else\b/.test(t)) break;
    if (!re.test(t)) continue;
    let text = t.trim();
    for (let k = n + 1; k < line && !/;\s*$/.test(text) && k - n < 4; k++) text += ` ${(all[k - 1] ?? '').trim()}`;
    out.push({ line: n, text });
    // Under a brace-less `if`/`else` of a chain: the chain's other arms reach the site too.
    let p = n - 1;
    while (p > floor && (all[p - 1] ?? '').trim() === '') p--;
    const prev = (all[p - 1] ?? '').trim();
    const conditional = HEADER.test(prev) && !/[;{}]\s*$/.test(prev);
    if (!conditional) break;
    depth = indent(t);
  }
  return out.reverse();
}

/** The assignment `variable = callee(args…);` as its callee and argument texts, or null for anything else. */
export function assignedCall(text: string, variable: string): { callee: string; args: string[] } | null {
  const m = new RegExp(`(?:^|[^\\w.>=!<])${variable}\\s*=\\s*([A-Za-z_]\\w*)\\s*\\(`).exec(text);
  if (m?.[1] === undefined) return null;
  const args: string[] = [];
  for (let k = 0; k < ARG_FAMILIES.length; k++) {
    const a = callArgument(text, m[1], k);
    if (a === null) break;
    if (a !== '') args.push(a);
  }
  return { callee: m[1], args };
}

/** One assignment of the freed variable from a call on the site's path, its arguments as written. */
export interface SourceCallTexts {
  line: number;
  callee: string;
  args: string[];
  text: string;
}

/** The site's reaching assignments from calls (`sourceCallArguments` before any argument is evaluated), or null when none is a call. */
export function sourceCallTexts(all: readonly string[], floor: number, line: number, variable: string): SourceCallTexts[] | null {
  const out: SourceCallTexts[] = [];
  for (const a of reachingAssignments(all, floor, line, variable)) {
    const c = assignedCall(a.text, variable);
    if (c === null) continue;
    out.push({ line: a.line, callee: c.callee, args: c.args, text: a.text.replace(/\s+/g, ' ') });
  }
  return out.length > 0 ? out : null;
}

/**
 * The site's reaching assignments from calls, with each argument as a constant when `value` resolves it.
 * Assignments of no call (`skb = NULL;`) are left out; null when none of them is a call.
 */
export function sourceCallArguments(all: readonly string[], floor: number, line: number, variable: string, value: (expr: string) => bigint | null): SourceCallArguments[] | null {
  const texts = sourceCallTexts(all, floor, line, variable);
  return texts === null ? null : evaluateArguments(texts, value);
}

/**
 * `texts` with their arguments resolved by `value` where `wanted` (callee, position) holds, null elsewhere:
 * resolving a name may read many headers, so only what the code gives a constant to compare with is resolved.
 */
export function evaluateArguments(texts: readonly SourceCallTexts[], value: (expr: string) => bigint | null, wanted: (callee: string, position: number) => boolean = () => true): SourceCallArguments[] {
  return texts.map((t) => ({ line: t.line, callee: t.callee, args: t.args.map((x, p) => (wanted(t.callee, p) ? value(x) : null)), text: t.text }));
}

/** Callee and position pairs where every code call of that callee passes a known constant (what `compareArguments` reads). */
export function comparedPositions(code: readonly CodeCallArguments[]): (callee: string, position: number) => boolean {
  return (callee, position) => {
    const theirs = code.filter((c) => c.name === callee);
    return theirs.length > 0 && theirs.every((c) => c.args[position] !== null && c.args[position] !== undefined);
  };
}

/** What the code's constant arguments say of a site: positions that agree, and positions where no assignment passes the code's value. */
export interface ArgumentVerdict {
  matches: Array<{ callee: string; position: number; values: number[] }>;
  conflicts: Array<{ callee: string; position: number; values: number[]; site: bigint[] }>;
}

/**
 * Compare the code's constant arguments with the site's assignments, callee by callee (the same name: a
 * `.constprop` or `.isra` copy has other parameters) and position by position: where every code call of that
 * callee passes known constants and every assignment of the site passes a constant there, all of the code's
 * values among the site's is a match, none of them a conflict.
 */
export function compareArguments(code: readonly CodeCallArguments[], site: readonly SourceCallArguments[]): ArgumentVerdict {
  const out: ArgumentVerdict = { matches: [], conflicts: [] };
  for (const callee of new Set(code.map((c) => c.name))) {
    const mine = site.filter((s) => s.callee === callee);
    if (mine.length === 0) continue;
    const theirs = code.filter((c) => c.name === callee);
    const positions = Math.min(...mine.map((s) => s.args.length));
    for (let p = 0; p < positions; p++) {
      const sv = mine.map((s) => s.args[p]);
      if (sv.some((v) => v === null || v === undefined)) continue;
      const cv = theirs.map((c) => c.args[p]);
      if (cv.some((v) => v === null || v === undefined)) continue;
      const values = [...new Set(cv.flatMap((v) => v ?? []))].sort((a, b) => a - b);
      const siteValues = new Set((sv as bigint[]).map(u32));
      const hits = values.filter((v) => siteValues.has(v));
      if (hits.length === values.length) out.matches.push({ callee, position: p, values });
      else if (hits.length === 0) out.conflicts.push({ callee, position: p, values, site: [...new Set(sv as bigint[])] });
    }
  }
  return out;
}

// A call on the straight line into the drop.

/** Instructions read back from a call for the constants of its argument registers (its straight line only). */
const WINDOW = 10;

/**
 * The constants the argument registers hold at the call at instruction index `i`, by argument position, read back
 * through the straight line before it: a register written by `mov $imm` or `xor %r,%r` last holds that constant; one
 * written otherwise, or not written within the line (a branch, a call or WINDOW instructions back), is left out.
 */
export function codeArguments(insns: readonly Insn[], i: number): Map<number, number> {
  const out = new Map<number, number>();
  const done = new Set<number>();
  for (let k = i - 1; k >= 0 && k >= i - WINDOW && done.size < ARG_FAMILIES.length; k--) {
    const x = insns[k];
    if (x === undefined || x.flow !== 'next') break;
    ARG_FAMILIES.forEach((family, arg) => {
      if (done.has(arg) || (x.writes & (1 << family)) === 0) return;
      done.add(arg);
      if (x.loads !== null && x.loads[0] === family) out.set(arg, x.loads[1] >>> 0);
    });
  }
  return out;
}

export interface ArgumentAgreement {
  /** Arguments whose constant is the same in both, with the source's spelling. */
  same: Array<{ arg: number; value: number; text: string }>;
  /** Arguments the code and the source give different constants. */
  differ: Array<{ arg: number; code: number; source: number; text: string }>;
}

/**
 * The call of `name` in `text` (a source line and the next few, for a call spread over lines) against the
 * constants the code passes (codeArguments): each argument the source writes as a constant (`constant` resolves a
 * literal, `-EXXX` or a name the file defines; null for anything else) that the code loads too.
 */
export function argumentAgreement(code: ReadonlyMap<number, number>, text: string, name: string, constant: (expr: string) => bigint | null): ArgumentAgreement {
  const out: ArgumentAgreement = { same: [], differ: [] };
  for (const [arg, value] of code) {
    const expr = callArgument(text, name, arg);
    if (expr === null) continue;
    const v = constant(expr);
    if (v === null) continue;
    const source = u32(v);
    if (source === value) out.same.push({ arg, value, text: expr });
    else out.differ.push({ arg, code: value, source, text: expr });
  }
  return out;
}
