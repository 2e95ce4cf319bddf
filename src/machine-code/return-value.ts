// What a function returns right after a drop, in the code and in the source. Two sites whose blocks look
// alike (`kfree_skb(skb); return 0;` and `kfree_skb(skb); return NET_RX_DROP;`) often differ only there: the
// code after the drop call loads the value into %eax on its way to the return (`xor %eax,%eax`, `mov $1,%eax`,
// or `mov %ebx,%eax` with %ebx set before the call), and the source says it in the site's `return` statement.
import type { Insn } from './decode.ts';

const RAX = 0;
/** Instructions followed after the drop call before giving up. */
const MAX_STEPS = 32;
/** Unconditional jumps followed (to a shared exit). */
const MAX_JUMPS = 3;
/** rbx, rbp, r12-r15: what a call keeps. */
const CALLEE_SAVED = (1 << 3) | (1 << 5) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

type Value = { k: 'const'; v: number } | { k: 'before'; family: number } | { k: 'unknown' };

/**
 * The constants (unsigned 32-bit) %eax can hold where the straight path after the drop call at `index` returns
 * from the function (several when it was set before the call on paths that join there), or null: a conditional
 * branch, another call whose result reaches %eax, or a value not known.
 * `reaching` gives the constants a register can hold just before an instruction (over every path back).
 */
export function codeReturn(insns: readonly Insn[], at: ReadonlyMap<number, number>, index: number, reaching: (i: number, family: number) => { values: number[]; complete: boolean }): number[] | null {
  // After the drop call: the caller-saved registers are the call's, the callee-saved ones what they held before it.
  const regs = new Map<number, Value>();
  for (let f = 0; f < 16; f++) regs.set(f, (CALLEE_SAVED & (1 << f)) !== 0 ? { k: 'before', family: f } : { k: 'unknown' });
  let i = index + 1;
  let jumps = 0;
  for (let n = 0; n < MAX_STEPS; n++) {
    const x = insns[i];
    if (x === undefined) return null;
    if (x.flow === 'ret') {
      const v = regs.get(RAX) ?? { k: 'unknown' };
      if (v.k === 'const') return [v.v];
      if (v.k === 'before') {
        const r = reaching(index, v.family);
        return r.complete && r.values.length > 0 ? r.values.map((x) => x >>> 0) : null;
      }
      return null;
    }
    // The stack protector's check (`sub %gs:0x28,%rax; jne` to a call of __stack_chk_fail) never returns there.
    if (x.flow === 'jcc' && x.local !== null && failsOnly(insns[at.get(x.local) ?? -1])) {
      i++;
      continue;
    }
    if (x.flow === 'jcc' || x.flow === 'ijmp' || x.flow === 'stop' || x.flow === 'icall') return null;
    if (x.flow === 'jmp') {
      // A jump out of the function is a tail call: its result is the return value.
      if (x.local === null || ++jumps > MAX_JUMPS) return null;
      const t = at.get(x.local);
      if (t === undefined) return null;
      i = t;
      continue;
    }
    if (x.flow === 'call') {
      for (let f = 0; f < 16; f++) if ((x.writes & (1 << f)) !== 0) regs.set(f, { k: 'unknown' });
    } else if (x.loads !== null) regs.set(x.loads[0], { k: 'const', v: x.loads[1] >>> 0 });
    else if (x.copy32 !== null) regs.set(x.copy32[0], regs.get(x.copy32[1]) ?? { k: 'unknown' });
    else if (x.copy !== null) regs.set(x.copy[0], regs.get(x.copy[1]) ?? { k: 'unknown' });
    else for (let f = 0; f < 16; f++) if ((x.writes & (1 << f)) !== 0 && f !== 4) regs.set(f, { k: 'unknown' });
    i++;
  }
  return null;
}

/** A branch target that only fails: a call of __stack_chk_fail or a trap. */
function failsOnly(x: Insn | undefined): boolean {
  return x !== undefined && ((x.flow === 'call' && x.callee === '__stack_chk_fail') || (x.flow === 'stop'));
}

/** What the source returns after a site: the expression's text and its value as the code holds it (u32). */
export interface SourceReturn {
  text: string;
  value: number;
}

/** Statements after the site read for its `return` (a counter bump, `skb = NULL;` may come first). */
const MAX_STATEMENTS = 4;

/**
 * The constant the function returns right after the site that ends on `endLine` (1-based) in `all`: the first
 * `return EXPR;` among the next few statements of its block, or after the label a `goto` there names;
 * `return v;` takes the constant assigned to v on the way (`ret = 0; goto out;`). `resolve` gives an
 * expression's integer value (a literal, `-EINVAL`, `NET_RX_DROP`, `true`), or null. Null when the block
 * ends first, loops on (`break`, `continue`) or returns what is not a known constant.
 */
export function sourceReturn(all: readonly string[], endLine: number, resolve: (expr: string) => bigint | null): SourceReturn | null {
  const assigned = new Map<string, string>();
  let line = endLine + 1;
  let hops = 0;
  let statements = 0;
  const seen = new Set<number>();
  while (line <= all.length && statements < MAX_STATEMENTS + 4) {
    if (seen.has(line)) return null;
    seen.add(line);
    const raw = all[line - 1] ?? '';
    const t = raw.replace(/\/\*.*?\*\/|\/\/.*$/g, '').trim();
    line++;
    if (t === '' || /^\w+:$/.test(t)) continue;
    if (t.startsWith('#')) return null;
    if (/^}/.test(t)) {
      // The end of the site's `if` block (or of an `else` after it): on after the whole if-else statement.
      const opener = openerOf(all, line - 1);
      if (opener === null || !/^(}\s*)?(if|else)\b/.test(opener)) return null;
      const rest = t.slice(1).trim();
      if (rest === '') continue;
      if (!/^else\b.*\{$/.test(rest)) return null;
      const close = closeOf(all, line - 1);
      if (close === null) return null;
      line = close;
      continue;
    }
    if (/^(break|continue)\s*;/.test(t) || /^(if|else|for|while|do|switch|case|default)\b/.test(t) || /[{]$/.test(t)) return null;
    const g = /^goto\s+(\w+)\s*;$/.exec(t);
    if (g !== null) {
      if (++hops > 1) return null;
      const label = g[1] ?? '';
      const to = labelLine(all, endLine, label);
      if (to === null) return null;
      line = to + 1;
      continue;
    }
    const r = /^return\b\s*(.*?)\s*;$/.exec(t);
    if (r !== null) {
      let expr = (r[1] ?? '').replace(/^\((.*)\)$/, '$1').trim();
      if (expr === '') return null;
      const via = /^[a-z_]\w*$/.test(expr) ? assigned.get(expr) : undefined;
      if (via !== undefined) expr = via;
      const v = resolve(expr);
      return v === null ? null : { text: via !== undefined ? `${r[1] ?? ''} (= ${via})` : expr, value: Number(BigInt.asUintN(32, v)) };
    }
    // A statement on the way: `ret = 0;` is remembered, others only counted (they must end on this line).
    if (!t.endsWith(';')) return null;
    const a = /^([a-z_]\w*)\s*=\s*([^=].*?)\s*;$/.exec(t);
    if (a !== null) assigned.set(a[1] ?? '', a[2] ?? '');
    if (++statements > MAX_STATEMENTS) return null;
  }
  return null;
}

/** Braces of a line, without its strings, characters and comments. */
function braces(text: string): string {
  return text.replace(/\/\*.*?\*\/|\/\/.*$/g, '').replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '').replace(/[^{}]/g, '');
}

/** The text of the line that opens the block the `}` starting line `n` closes (the line before a lone `{`). */
export function openerOf(all: readonly string[], n: number): string | null {
  let depth = 1;
  for (let k = n - 1, steps = 0; k >= 1 && steps < 400; k--, steps++) {
    const b = braces(all[k - 1] ?? '');
    for (let j = b.length - 1; j >= 0; j--) {
      depth += b[j] === '}' ? 1 : -1;
      if (depth === 0) {
        const t = (all[k - 1] ?? '').trim();
        return t === '{' ? (all[k - 2] ?? '').trim() : t;
      }
    }
  }
  return null;
}

/** The line of the `}` that closes the block opened at the end of line `n` (`} else {`). */
export function closeOf(all: readonly string[], n: number): number | null {
  let depth = 0;
  for (let k = n, steps = 0; k <= all.length && steps < 400; k++, steps++) {
    const b = braces(all[k - 1] ?? '');
    for (let j = k === n ? 1 : 0; j < b.length; j++) {
      depth += b[j] === '{' ? 1 : -1;
      if (depth === 0 && b[j] === '}') return k;
    }
  }
  return null;
}

/** The line of `label:` in the function around `from`: searched forward to the function's closing brace. */
export function labelLine(all: readonly string[], from: number, label: string): number | null {
  const re = new RegExp(`^\\s*${label}\\s*:(?!:)`);
  for (let n = from; n <= all.length; n++) {
    const t = all[n - 1] ?? '';
    if (re.test(t)) return n;
    if (/^}/.test(t)) return null;
  }
  return null;
}
