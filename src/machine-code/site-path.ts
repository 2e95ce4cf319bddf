// The source lines on the path into and out of a drop site, for its machine-code features. Walking back from
// the site over the statements of its block, a preceding `if` whose body cannot fall through into the site
// (it ends in `return`, `goto`, `break`, `continue` or a call that never returns), nested at any depth, is
// not on the site's path: its body goes (and does not count against the window), its condition stays (the
// code evaluates it on the way). Forward, the statement that ends the site's path (`return -EINVAL;`,
// `goto out;`) and the next statement count even past a blank line.
import { indent } from './source-features.ts';

export interface PathOptions {
  /** Lines back from the site that count (the window of source-features' blockAround). */
  maxBefore: number;
  /** Lines after the site that count, within its block, up to a blank line. */
  after: number;
  /** Calls that never return (objtool's list): a body ending in one cannot fall through. */
  noreturn?: ReadonlySet<string>;
  /** Lines a preceding statement may reach back beyond the window to find its `if` (default 60). */
  reach?: number;
}

export interface SitePath {
  /** Line number → the text of it on the path (a dropped body's part of a line is blanked). */
  lines: Map<number, string>;
  /** The statement that ends the site's path forward, when found: its first line and what it does. */
  end: PathEnd | null;
  /** Bodies left out, as [first line, last line], for evidence. */
  dropped: Array<[number, number]>;
}

export interface PathEnd {
  line: number;
  kind: 'return' | 'goto' | 'break' | 'continue' | 'other';
  /** `return X;`: X as written (trimmed), else null; `goto L;`: L. */
  value: string | null;
}

const JUMP = /^(return|goto|break|continue)\b/;
const NEVER_RETURN = /^(BUG|panic|do_exit|__noreturn_\w+)$/;

/** One line's text with comments, string and character literals blanked (same length): what the structure is read from. */
function masked(lines: readonly string[]): string[] {
  let inComment = false;
  return lines.map((l) => {
    let out = '';
    for (let i = 0; i < l.length; i++) {
      const ch = l[i] ?? '';
      if (inComment) {
        if (ch === '*' && l[i + 1] === '/') {
          inComment = false;
          out += '  ';
          i++;
        } else out += ' ';
        continue;
      }
      if (ch === '/' && l[i + 1] === '*') {
        inComment = true;
        out += '  ';
        i++;
        continue;
      }
      if (ch === '/' && l[i + 1] === '/') {
        out += ' '.repeat(l.length - i);
        break;
      }
      if (ch === '"' || ch === '\'') {
        out += ch;
        let j = i + 1;
        while (j < l.length && l[j] !== ch) {
          out += ' ';
          if (l[j] === '\\' && j + 1 < l.length) {
            out += ' ';
            j++;
          }
          j++;
        }
        if (j < l.length) out += ch;
        i = j;
        continue;
      }
      out += ch;
    }
    return out;
  });
}

/** A position in a group of lines: [index of the line in the group, column]. */
type Pos = [number, number];

interface Branch {
  /** The condition (the `if (…)` with its keyword), or null for a final `else`. */
  cond: [Pos, Pos] | null;
  body: [Pos, Pos];
  fallsThrough: boolean;
}

/** A cursor over masked group text. */
class Cursor {
  private readonly text: readonly string[];
  p: Pos = [0, 0];
  constructor(text: readonly string[]) {
    this.text = text;
  }
  peek(): string {
    return this.text[this.p[0]]?.[this.p[1]] ?? '';
  }
  atEnd(): boolean {
    return this.p[0] >= this.text.length;
  }
  next(): string {
    const ch = this.peek();
    const line = this.text[this.p[0]] ?? '';
    if (this.p[1] + 1 < line.length) this.p = [this.p[0], this.p[1] + 1];
    else {
      let k = this.p[0] + 1;
      while (k < this.text.length && (this.text[k] ?? '').length === 0) k++;
      this.p = [k, 0];
    }
    return ch;
  }
  skipSpace(): void {
    while (!this.atEnd() && /\s/.test(this.peek())) this.next();
  }
  /** The rest of the text from here, on one line, for keyword tests. */
  rest(): string {
    return (this.text[this.p[0]] ?? '').slice(this.p[1]);
  }
}

/** Past a balanced (…) or {…} starting at the cursor's opening character; false when unbalanced. */
function skipBalanced(c: Cursor): boolean {
  const open = c.peek();
  const close = open === '(' ? ')' : '}';
  let depth = 0;
  while (!c.atEnd()) {
    const ch = c.next();
    if (ch === open) depth++;
    else if (ch === close) {
      depth--;
      if (depth === 0) return true;
    }
  }
  return false;
}

/** Past one statement (a braced block, a nested if/else, or up to its `;`); false when it runs out. */
function skipStatement(c: Cursor): boolean {
  c.skipSpace();
  if (c.peek() === '{') return skipBalanced(c);
  const r = c.rest();
  if (/^(if|while|for|switch)\s*\(/.test(r)) {
    const isIf = r.startsWith('if');
    while (c.peek() !== '(' && !c.atEnd()) c.next();
    if (!skipBalanced(c) || !skipStatement(c)) return false;
    if (isIf) {
      const save = c.p;
      c.skipSpace();
      if (/^else\b/.test(c.rest())) {
        for (let k = 0; k < 4; k++) c.next();
        return skipStatement(c);
      }
      c.p = save;
    }
    return true;
  }
  let depth = 0;
  while (!c.atEnd()) {
    const ch = c.next();
    if (ch === '(' || ch === '{' || ch === '[') depth++;
    else if (ch === ')' || ch === '}' || ch === ']') depth--;
    else if (ch === ';' && depth <= 0) return true;
  }
  return false;
}

/** The text between two positions, on one line per group line. */
function slice(text: readonly string[], from: Pos, to: Pos): string {
  const out: string[] = [];
  for (let k = from[0]; k <= to[0] && k < text.length; k++) {
    const l = text[k] ?? '';
    out.push(l.slice(k === from[0] ? from[1] : 0, k === to[0] ? to[1] : l.length));
  }
  return out.join('\n');
}

/** Whether a statement (or block) cannot fall through to what follows it: its last statement jumps away or never returns. */
export function endsInJump(body: string, noreturn: ReadonlySet<string> = new Set()): boolean {
  let t = body.trim();
  while (t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1).trim();
  if (t === '') return false;
  // The last top-level statement: after the last `;` or `}` at depth 0 before the final one.
  let depth = 0;
  let start = 0;
  for (let i = 0; i < t.length; i++) {
    const ch = t[i];
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      if (depth === 0 && i < t.length - 1 && !/^\s*else\b/.test(t.slice(i + 1))) start = i + 1;
    } else if (ch === ';' && depth === 0 && i < t.length - 1) start = i + 1;
  }
  const last = t.slice(start).trim();
  if (JUMP.test(last)) return true;
  const call = /^([A-Za-z_]\w*)\s*\(/.exec(last);
  if (call?.[1] !== undefined && (NEVER_RETURN.test(call[1]) || noreturn.has(call[1]))) return true;
  // A last `if (…) … else …` whose every branch jumps away.
  if (/^if\s*\(/.test(last)) {
    const branches = ifChain(last.split('\n'), noreturn);
    return branches !== null && branches.some((b) => b.cond === null) && branches.every((b) => !b.fallsThrough);
  }
  return false;
}

/** The branches of an `if … else if … else …` chain that starts at the beginning of `text` (masked); null when it does not parse. */
function ifChain(text: readonly string[], noreturn: ReadonlySet<string>): Branch[] | null {
  return ifChainAt(new Cursor(text), text, noreturn);
}

/** The same from the cursor (at the `if`); the cursor ends after the chain. */
function ifChainAt(c: Cursor, text: readonly string[], noreturn: ReadonlySet<string>): Branch[] | null {
  const out: Branch[] = [];
  for (;;) {
    c.skipSpace();
    const condStart: Pos = c.p;
    let cond: [Pos, Pos] | null = null;
    if (/^if\s*\(/.test(c.rest())) {
      while (c.peek() !== '(' && !c.atEnd()) c.next();
      if (!skipBalanced(c)) return null;
      cond = [condStart, c.p];
    } else if (out.length === 0) return null;
    c.skipSpace();
    const bodyStart: Pos = c.p;
    if (!skipStatement(c)) return null;
    const body: [Pos, Pos] = [bodyStart, c.p];
    out.push({ cond, body, fallsThrough: !endsInJump(slice(text, bodyStart, c.p), noreturn) });
    if (cond === null) return out;
    const save = c.p;
    c.skipSpace();
    if (!/^else\b/.test(c.rest())) {
      c.p = save;
      return out;
    }
    for (let k = 0; k < 4; k++) c.next();
  }
}

const before = (a: Pos, b: Pos): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * The statements in [from, to) of a group: every `if` body that cannot fall through is blanked in `texts`
 * (and listed in `dropped`, as group line indexes); the bodies that can are read the same way, nested.
 * Loop and switch bodies are left as they are (a `break` there leads out to what follows).
 */
function prune(head: readonly string[], texts: string[], from: Pos, to: Pos, noreturn: ReadonlySet<string>, dropped: Array<[number, number]>): void {
  const c = new Cursor(head);
  c.p = from;
  for (let guard = 0; guard < 400; guard++) {
    c.skipSpace();
    if (c.atEnd() || !before(c.p, to)) return;
    const r = c.rest();
    if (c.peek() === '{') {
      const start: Pos = c.p;
      if (!skipBalanced(c)) return;
      prune(head, texts, [start[0], start[1] + 1], c.p, noreturn, dropped);
      continue;
    }
    if (/^if\s*\(/.test(r)) {
      const branches = ifChainAt(c, head, noreturn);
      if (branches === null) return;
      for (const b of branches) {
        if (!b.fallsThrough) {
          blank(texts, b.body[0], b.body[1]);
          dropped.push([b.body[0][0], b.body[1][1] === 0 ? b.body[1][0] - 1 : b.body[1][0]]);
        } else prune(head, texts, b.body[0], b.body[1], noreturn, dropped);
      }
      continue;
    }
    if (!skipStatement(c)) return;
  }
}

/** Blank the characters of `text` (the original line texts of a group) in [from, to). */
function blank(text: string[], from: Pos, to: Pos): void {
  for (let k = from[0]; k <= to[0] && k < text.length; k++) {
    const l = text[k] ?? '';
    const a = k === from[0] ? from[1] : 0;
    const b = k === to[0] ? to[1] : l.length;
    text[k] = l.slice(0, a) + ' '.repeat(Math.max(0, b - a)) + l.slice(b);
  }
}

/**
 * The lines on a site's path: its own lines, the statements before it in its block (bodies that cannot fall
 * through into it left out), the condition that opens its block, and forward the rest of its block up to
 * `after` lines plus the statement that ends its path.
 */
export function sitePath(all: readonly string[], line: number, endLine: number, floor: number, opts: PathOptions): SitePath {
  const at = (n: number): string => all[n - 1] ?? '';
  const isBlank = (n: number): boolean => at(n).trim() === '';
  const depth = indent(at(line));
  const out = new Map<number, string>();
  const dropped: Array<[number, number]> = [];
  for (let n = line; n <= endLine; n++) out.set(n, at(n));
  const reach = opts.reach ?? 60;
  // Lines of bodies left out do not count against the window.
  let skipped = 0;
  const inWindow = (n: number): boolean => line - n - skipped <= opts.maxBefore;
  let n = line - 1;
  while (n > floor && inWindow(n)) {
    if (isBlank(n)) {
      n--;
      continue;
    }
    if (indent(at(n)) < depth) {
      // The opening condition, and the lines it continues from.
      let from = n;
      while (from - 1 > floor && inWindow(from - 1) && !/[;{}:]\s*$/.test(at(from - 1).trim()) && !isBlank(from - 1)) from--;
      for (let k = from; k <= n; k++) out.set(k, at(k));
      break;
    }
    // The statement that ends at line n: back to its first line at the site's depth.
    let h = n;
    while (h > floor && line - h <= opts.maxBefore + reach && (isBlank(h) || indent(at(h)) > depth || (indent(at(h)) === depth && /^\s*(\}|else\b)/.test(at(h))))) h--;
    if (h <= floor || indent(at(h)) !== depth || line - h > opts.maxBefore + reach) {
      // Not a statement this reads (a label, a preprocessor line, or too long): the lines as they are.
      out.set(n, at(n));
      n--;
      continue;
    }
    const group = all.slice(h - 1, n);
    const texts = [...group];
    const head = masked(group);
    const cut: Array<[number, number]> = [];
    prune(head, texts, [0, 0], [head.length, 0], opts.noreturn ?? new Set(), cut);
    for (const [a, b] of cut) dropped.push([h + a, h + b]);
    for (let k = n; k >= h; k--) {
      const t = texts[k - h] ?? '';
      if (t.trim() === '' && !isBlank(k)) skipped++;
      else if (inWindow(k)) out.set(k, t);
    }
    n = h - 1;
  }
  // Forward: the rest of the block, up to `after` lines and a blank line.
  let to = endLine;
  while (to + 1 <= all.length && to - endLine < opts.after && !isBlank(to + 1) && indent(at(to + 1)) >= depth) {
    to++;
    out.set(to, at(to));
  }
  const end = pathEnd(all, endLine, depth);
  if (end !== null) for (let k = end.line; k <= end.last; k++) out.set(k, at(k));
  if (end?.next !== undefined) for (let k = end.next[0]; k <= end.next[1]; k++) out.set(k, at(k));
  return { lines: out, end: end === null ? null : { line: end.line, kind: end.kind, value: end.value }, dropped };
}

/** Lines after a site searched for the jump that ends its path. */
const END_WINDOW = 12;

/**
 * The statement that ends a site's path: the first jump (`return`, `goto`, `break`, `continue`) after it in
 * its straight line (its block, or right after the block closes), with the first statement after the site
 * when the path goes on before that jump; without a jump, that first statement alone (kind `other`).
 */
function pathEnd(all: readonly string[], endLine: number, depth: number): (PathEnd & { last: number; next: [number, number] | undefined }) | null {
  const at = (n: number): string => all[n - 1] ?? '';
  const m = masked(all.slice(endLine, Math.min(all.length, endLine + END_WINDOW + 8)));
  const text = (n: number): string => (m[n - endLine - 1] ?? '').trim();
  let level = depth;
  let outside = false;
  // The first statement after the site, when the path goes on before it ends.
  let next: [number, number] | undefined;
  const onlyNext = (): (PathEnd & { last: number; next: [number, number] | undefined }) | null => (next === undefined ? null : { line: next[0], last: next[1], kind: 'other', value: null, next: undefined });
  for (let n = endLine + 1; n <= endLine + END_WINDOW && n <= all.length; n++) {
    const t = text(n);
    if (t === '' || t.startsWith('#')) continue;
    const ind = indent(at(n));
    // A nested block between the site and a jump: the path forks there.
    if (ind > level) return onlyNext();
    if (ind < level) {
      // The site's block closes: the path goes on after it (not into an `else`, a label or another case).
      if (/^(else\b|\}\s*else\b)/.test(t)) return onlyNext();
      level = ind;
      outside = true;
      if (t === '}' || t === '};') continue;
    }
    if (t.startsWith('}') || /^(case\b|default\s*:)/.test(t) || /^[A-Za-z_]\w*\s*:(?!:)/.test(t)) return onlyNext();
    let last = n;
    while (last - n < 6 && last < all.length && !/[;{}]\s*$/.test(text(last))) last++;
    const stmt = all.slice(n - 1, last).join(' ').trim();
    const jump = JUMP.exec(stmt);
    if (jump?.[1] === undefined) {
      next ??= [n, last];
      // Past the site's block only a jump counts (another statement there measured worse); at a compound
      // statement the path forks.
      if (outside) return null;
      if (/^(if|for|while|switch|do)\b/.test(t) || /\{\s*$/.test(text(last))) return onlyNext();
      n = last;
      continue;
    }
    const kind = jump[1] as PathEnd['kind'];
    const value = kind === 'return' ? stmt.replace(/^return\b/, '').replace(/;.*$/, '').trim() || null : kind === 'goto' ? stmt.replace(/^goto\s+/, '').replace(/\s*;.*$/, '') : null;
    return { line: n, last, kind, value, next };
  }
  return next === undefined ? null : { line: next[0], last: next[1], kind: 'other', value: null, next: undefined };
}

export interface BeforeOptions {
  /** Lines back from the site that count, over every level (bodies left out do not count). */
  maxBefore: number;
  /** Blocks climbed out of at most: the site's own block is level 1, the block around its `if` level 2. */
  levels: number;
  noreturn?: ReadonlySet<string>;
}

/**
 * The lines before a site on its path, climbing out of the blocks it is in: the statements before it in its
 * block (bodies that cannot fall through left out), the condition that opens the block, then the same from
 * that condition in the block around it. An `else` branch climbs to the first `if` of its chain (the other
 * bodies are not on the path), a `case` to its `switch`; a label or anything else ends the climb (the paths
 * into a label are its gotos).
 */
export function pathBefore(all: readonly string[], line: number, floor: number, opts: BeforeOptions): Map<number, string> {
  const at = (n: number): string => all[n - 1] ?? '';
  const out = new Map<number, string>();
  let cur = line;
  for (let level = 0; level < opts.levels && cur > floor; level++) {
    const left = opts.maxBefore - (line - cur);
    if (left <= 0) break;
    const depth = indent(at(cur));
    const p = sitePath(all, cur, cur, floor, { maxBefore: left, after: 0, ...(opts.noreturn === undefined ? {} : { noreturn: opts.noreturn }) });
    let open = -1;
    for (const [n, t] of p.lines) {
      if (n >= cur) continue;
      out.set(n, t);
      if (n > open && at(n).trim() !== '' && indent(at(n)) < depth) open = n;
    }
    if (open < 0) break;
    const text = at(open).trim();
    // The first line of the opening statement (a condition continued over lines).
    let from = open;
    while (from - 1 > floor && !/[;{}:]\s*$/.test(at(from - 1).trim()) && at(from - 1).trim() !== '') from--;
    const first = at(from).trim();
    if (/^\}?\s*else\b/.test(first)) {
      // Up to the `if` that starts the chain, past the bodies of the branches before this one.
      const d = indent(at(from));
      let h = from - 1;
      while (h > floor && !(indent(at(h)) === d && /^if\b/.test(at(h).trim()))) {
        if (at(h).trim() !== '' && indent(at(h)) < d) h = floor;
        else h--;
      }
      if (h <= floor) break;
      out.set(h, at(h));
      cur = h;
    } else if (/^(case\b|default\s*:)/.test(first)) {
      const d = indent(at(from));
      let h = from - 1;
      while (h > floor && !(indent(at(h)) <= d && /^switch\b/.test(at(h).trim()))) {
        if (at(h).trim() !== '' && indent(at(h)) < d) h = floor;
        else h--;
      }
      if (h <= floor) break;
      out.set(h, at(h));
      cur = h;
    } else if (/^(if|for|while|do|switch)\b|^\{$/.test(first)) {
      cur = from;
    } else if (/^(if|for|while|switch)\b/.test(text)) {
      // A condition whose line before does not end a statement (a comment, a directive): from the condition itself.
      cur = open;
    } else break;
  }
  return out;
}
