// Which line the debug info names when gcc merged the identical drop blocks of several sites of one function into
// one call. Two passes merge such blocks, and they keep different copies:
// - tail merging on GIMPLE (-ftree-tail-merge) merges blocks whose statements are the same down to their values.
//   It keeps the first block of the set unless the blocks use a value computed inside the function (then the
//   later block, whose last dependency is no earlier, replaces it). A block that frees a parameter the function
//   never assigns, with the same statements as the others, uses no such value: the first site is kept.
// - cross-jumping on RTL (after register allocation) merges any blocks whose instructions match, the same
//   statements or not: it keeps the block that falls through into their shared exit, else the one numbered last,
//   which in both cases is most often the last in the source.
// Inside an inlined helper the parameters are the caller's values, computed in the function, so the last is kept there too.
// Measured on the tune halves of the 6.12 sets with their debug info (bench/calibration/merged-cases.ts): of 47
// merged blocks of sites of one function or of one inlined helper, this rule names the kept site for 39, the last in
// the source for 32.
import type { LineReader } from './source-features.ts';

export interface MergedSite {
  file: string;
  line: number;
  /** The function the location names (the sites are in it, or in a helper inlined into it): its first line (the declarator) and its last. */
  fn: { name: string; startLine: number; endLine: number };
  /** The inlined helper the site is in, or null for a site of fn itself. */
  inlined?: string | null;
}

export interface MergedKeeper {
  /** Index into the sites given. */
  keep: number;
  /** Kept as the first of identical blocks (tail merging), else as the last in the source (cross-jumping). */
  first: boolean;
  evidence: string;
}

const JUMP = /^(return|goto|break|continue)\b/;
const LABEL = /^[A-Za-z_]\w*:\s*$/;
const COND_OPEN = /^(\}\s*)?(else\s+)?if\b.*\)$/;

/** A source line without its comments and with its blanks collapsed. */
function normalise(t: string): string {
  return t.replace(/\/\*.*?\*\//g, '').replace(/\/\/.*$/, '').replace(/\s+/g, ' ').trim();
}

/**
 * The statements of the straight line a site is in: back to the `{` or label that opens it (or the jump or
 * condition before it), forward to the jump or `}` that ends it.
 */
export function siteBlock(all: readonly string[], line: number): string[] {
  let j = line - 2;
  for (; j >= 0; j--) {
    const t = normalise(all[j] ?? '');
    if (t.endsWith('{') || t === '}' || LABEL.test(t) || (t.endsWith(';') && JUMP.test(t)) || COND_OPEN.test(t)) break;
  }
  let k = line - 1;
  for (; k < all.length; k++) {
    const t = normalise(all[k] ?? '');
    if (JUMP.test(t) || t.startsWith('}')) break;
  }
  const out: string[] = [];
  for (let n = j + 1; n <= Math.min(k, all.length - 1); n++) {
    const t = normalise(all[n] ?? '');
    if (t !== '' && !t.startsWith('*') && !t.startsWith('/*')) out.push(t);
  }
  return out;
}

/** The parameter names of the function whose declarator starts at `startLine`. */
export function parameterNames(all: readonly string[], fn: MergedSite['fn']): string[] {
  const head = all.slice(fn.startLine - 1, fn.startLine + 7).join(' ');
  const at = head.indexOf(`${fn.name}(`);
  if (at < 0) return [];
  let depth = 0;
  let cur = '';
  const parts: string[] = [];
  for (const ch of head.slice(at + fn.name.length + 1)) {
    if (ch === '(') depth++;
    if (ch === ')') {
      if (depth === 0) break;
      depth--;
    }
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.flatMap((p) => {
    const m = /([A-Za-z_]\w*)\s*(\[[^\]]*\])*\s*$/.exec(p.trim());
    return m?.[1] !== undefined ? [m[1]] : [];
  });
}

/** The variable a site's free is applied to: the first name inside its call's parentheses (`kfree_skb(p->skb2)` gives p). */
function freedName(text: string): string | null {
  return /\(\s*\(?\s*([A-Za-z_]\w*)/.exec(text)?.[1] ?? null;
}

/** Whether `name` is assigned anywhere in the function's body (`name = …`, not `x.name =` or `name ==`). */
function assignedIn(all: readonly string[], fn: MergedSite['fn'], name: string): boolean {
  const re = new RegExp(`(^|[^.>\\w])${name}\\s*(=[^=]|\\+\\+|--)|(\\+\\+|--)${name}\\b`);
  for (let n = fn.startLine + 1; n <= fn.endLine; n++) if (re.test(all[n - 1] ?? '')) return true;
  return false;
}

/**
 * The site whose line the debug info keeps for a block gcc merged from several sites of one function (in
 * `sites`, all of one function and file): the first in the source when their blocks read the same and free a
 * parameter the function never assigns, else the last in the source. Null when the sites are not of one function.
 */
export function mergedKeeper(sites: readonly MergedSite[], lines: LineReader): MergedKeeper | null {
  if (sites.length < 2) return null;
  const s0 = sites[0];
  if (s0 === undefined || sites.some((s) => s.file !== s0.file || s.fn.startLine !== s0.fn.startLine || (s.inlined ?? null) !== (s0.inlined ?? null))) return null;
  const order = sites.map((s, i) => ({ s, i })).sort((a, b) => a.s.line - b.s.line);
  const first = order[0];
  const last = order[order.length - 1];
  if (first === undefined || last === undefined) return null;
  const named = order.map((x) => `${x.s.file.replace(/^.*\//, '')}:${x.s.line}`).join(', ');
  const all = lines(s0.file);
  const lastOne = (why: string): MergedKeeper => ({
    keep: last.i,
    first: false,
    evidence: `machine code: the last in the source of the sites gcc may have merged here (${named}): gcc's cross-jumping keeps the block that falls through into their shared exit, usually this one${why}`,
  });
  if (all === null) return lastOne('');
  // An inlined helper's parameter is its caller's value, computed in the function: tail merging keeps the later block too.
  if (s0.inlined != null) return lastOne(` (inside the inlined ${s0.inlined}, whose parameters are its caller's values, so tail merging too keeps the later block)`);
  const blocks = order.map((x) => siteBlock(all, x.s.line).join('\n'));
  if (blocks.some((b) => b !== blocks[0])) return lastOne(' (their blocks do not read the same, so tail merging, which keeps the first, did not merge them)');
  const name = freedName(all[first.s.line - 1] ?? '');
  if (name === null || !parameterNames(all, s0.fn).includes(name)) return lastOne(` (their blocks read the same, but free ${name ?? 'what'} ${s0.fn.name} computes itself, so tail merging keeps the later block)`);
  if (assignedIn(all, s0.fn, name)) return lastOne(` (their blocks read the same, but ${s0.fn.name} assigns its parameter ${name}, so tail merging keeps the later block)`);
  return {
    keep: first.i,
    first: true,
    evidence: `machine code: the first in the source of the sites gcc may have merged here (${named}): their blocks read the same and free the parameter ${name}, which ${s0.fn.name} never assigns, so gcc's tail merging keeps the first block, and the debug info names its line`,
  };
}
