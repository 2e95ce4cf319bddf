// The source conditions on the paths into a drop site, in the terms the code's branches can confirm. A site
// inside `if (cond) { … }` is entered through `cond`; a site after a label (`drop: kfree_skb(skb);`) through
// every `goto label;` of its function, each under its own condition. A condition that tests a value
// assigned just before it (`nskb = skb_clone(…); if (!nskb)`) brings that statement along: gcc tests the
// call's result right before the branch.
import { indent, type LineReader } from './source-features.ts';

const LABEL = /^\s*([A-Za-z_]\w*)\s*:\s*(?:\/\*.*\*\/\s*)?$/;
/** Statements of the label's block read back from the site (a label may sit a few statements above it). */
const MAX_BACK = 6;
/** Lines read back from a statement to the condition that opens its block. */
const MAX_OPEN = 12;

/** The label a site follows in its block, or null when it does not follow one. */
export function labelAbove(all: readonly string[], line: number, floor: number): { label: string; line: number } | null {
  for (let n = line - 1, k = 0; n > floor && k < MAX_BACK; n--, k++) {
    const text = all[n - 1] ?? '';
    const m = LABEL.exec(text);
    if (m?.[1] !== undefined && m[1] !== 'default') return { label: m[1], line: n };
    const t = text.trim();
    // A block boundary or a jump away: the site is not in the label's straight line.
    if (t.endsWith('{') || t.endsWith('}') || /^(return|goto|break|continue)\b/.test(t) || /^case\b/.test(t)) return null;
  }
  return null;
}

/**
 * The lines of `goto label;` statements of the function that starts at `floor` and holds `line`
 * (from its first line to the closing brace at column 0 after the site).
 */
export function gotoLines(all: readonly string[], line: number, floor: number): { label: string; gotos: number[] } | null {
  const found = labelAbove(all, line, floor);
  if (found === null) return null;
  const re = new RegExp(`\\bgoto\\s+${found.label}\\s*;`);
  const gotos: number[] = [];
  for (let n = floor; n <= all.length; n++) {
    const text = all[n - 1] ?? '';
    if (n > line && /^}/.test(text)) break;
    if (re.test(text)) gotos.push(n);
  }
  return { label: found.label, gotos };
}

const ELSE = /^\s*(?:\}\s*)?else\s*(?:\{\s*)?(?:\/\*.*\*\/\s*)?$/;
const IF_OPEN = /^\s*(?:\}\s*else\s+)?if\s*\(/;

/**
 * The first line of the `if` whose `else` is at line `n`: back over that if's body (deeper lines, and a lone
 * closing brace at the else's depth) to the line at the else's depth that opens it; -1 when there is none.
 */
function ifOfElse(all: readonly string[], n: number, floor: number): number {
  const depth = indent(all[n - 1] ?? '');
  for (let m = n - 1; m > floor && n - m <= MAX_OPEN * 3; m--) {
    const t = all[m - 1] ?? '';
    if (t.trim() === '' || indent(t) > depth) continue;
    if (indent(t) < depth) return -1;
    if (IF_OPEN.test(t)) return m;
    if (t.trim() === '}' || ELSE.test(t)) continue;
    // A statement at the else's own depth that is not the if's closing brace: the else's if is not where we looked.
    if (!/^\s*\}/.test(t)) return -1;
  }
  return -1;
}

/**
 * The lines of the `if` condition a statement is under (the statement's own line for `if (c) goto x;`; for a
 * statement under `else`, its `if`'s condition), and the assignment just before the condition when the condition reads what it assigns; empty when the
 * statement is not under an `if` within a few lines.
 */
export function conditionLines(all: readonly string[], line: number, floor: number): number[] {
  const at = (n: number): string => all[n - 1] ?? '';
  let open = -1;
  if (IF_OPEN.test(at(line))) open = line;
  else {
    const depth = indent(at(line));
    for (let n = line - 1; n > floor && line - n <= MAX_OPEN; n--) {
      const t = at(n);
      if (t.trim() === '' || indent(t) >= depth) continue;
      // The opener: back over the lines it continues (a condition over several lines).
      let first = n;
      while (first - 1 > floor && n - (first - 1) < 6 && !/[;{}:]\s*$/.test(at(first - 1).trim()) && at(first - 1).trim() !== '') first--;
      if (IF_OPEN.test(at(first))) open = first;
      // `} else {` / `else`: the code reaches the branch through the same test as its `if`, taken the other way.
      else if (ELSE.test(at(n))) open = ifOfElse(all, n, floor);
      break;
    }
  }
  if (open < 0) return [];
  const out: number[] = [];
  let end = open;
  while (end < line && end - open < 6) {
    const t = at(end).trim();
    if (t.endsWith('{') || t.endsWith(')') || /\bgoto\b/.test(t)) break;
    end++;
  }
  const cond = [];
  for (let n = open; n <= end; n++) {
    out.push(n);
    cond.push(at(n));
  }
  // The statement before the condition, when it assigns a name the condition reads.
  let prev = open - 1;
  while (prev > floor && at(prev).trim() === '') prev--;
  let first = prev;
  while (first - 1 > floor && open - first < 6 && !/[;{}:]\s*$/.test(at(first - 1).trim()) && at(first - 1).trim() !== '') first--;
  const m = /^\s*(?:[A-Za-z_][\w\s*]*\s+\**)?([A-Za-z_]\w*(?:(?:->|\.)\w+)*)\s*=[^=]/.exec(at(first));
  if (prev > floor && m?.[1] !== undefined && /;\s*$/.test(at(prev)) && new RegExp(`\\b${m[1].replace(/[.>-]/g, '\\$&')}\\b`).test(cond.join(' '))) {
    for (let n = first; n <= prev; n++) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Every line of source on the paths into the site at `line`: the conditions over it, or over each goto to its
 * label; with `cases`, also the `case` labels they are under (caseLines).
 */
export function entryLines(lines: LineReader, file: string, line: number, floor: number, cases = false): { label: string | null; gotos: number; lines: number[] } | null {
  const all = lines(file);
  if (all === null) return null;
  const g = gotoLines(all, line, floor);
  const out = new Set<number>();
  for (const n of g === null ? [line] : g.gotos) {
    for (const k of conditionLines(all, n, floor)) out.add(k);
    if (cases) for (const k of caseLines(all, n, floor)) out.add(k);
  }
  return { label: g?.label ?? null, gotos: g?.gotos.length ?? 0, lines: [...out].sort((a, b) => a - b) };
}

const CASE = /^\s*case\b[^:]*:|^\s*default\s*:/;
/** Lines read back from a statement to the `case` label of its block, and from `default:` to its `switch`. */
const MAX_CASE = 12;
const MAX_SWITCH = 120;

/**
 * The `case` labels a statement of a switch is under: the labels of its own case block (`case A: case B:`),
 * or, under `default:`, every `case` label of that switch (the code compares them all before it gets there).
 * Empty when the statement is not in a case block within a few lines.
 */
export function caseLines(all: readonly string[], line: number, floor: number): number[] {
  const at = (n: number): string => all[n - 1] ?? '';
  const depth = indent(at(line));
  let label = -1;
  for (let n = line; n > floor && line - n <= MAX_CASE; n--) {
    const t = at(n);
    if (t.trim() === '') continue;
    if (CASE.test(t) && indent(t) <= depth) {
      label = n;
      break;
    }
    if (n !== line && indent(t) < depth) return [];
  }
  if (label < 0) return [];
  const out: number[] = [];
  const labelDepth = indent(at(label));
  if (!/^\s*default\s*:/.test(at(label))) {
    // this block's labels: the case lines right above one another
    for (let n = label; n > floor && CASE.test(at(n)) && !/^\s*default\s*:/.test(at(n)); n--) out.push(n);
    return out.sort((a, b) => a - b);
  }
  // default: every case of the switch, back to its `switch (` line and forward to its closing brace
  for (let n = label - 1; n > floor && label - n <= MAX_SWITCH; n--) {
    const t = at(n);
    if (t.trim() === '') continue;
    if (indent(t) < labelDepth) break;
    if (indent(t) === labelDepth && /^\s*case\b/.test(t)) out.push(n);
  }
  for (let n = label + 1; n <= all.length && n - label <= MAX_SWITCH; n++) {
    const t = at(n);
    if (t.trim() === '') continue;
    if (indent(t) < labelDepth) break;
    if (indent(t) === labelDepth && /^\s*case\b/.test(t)) out.push(n);
  }
  return out.sort((a, b) => a - b);
}
