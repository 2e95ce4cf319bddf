// Text-level reading for what tree-sitter does not parse: `#define` bodies (kept as raw text by the
// grammar) and functions whose definition the parser could not recover. Pure string functions.

function stripArg(text: string): string {
  let t = text.trim();
  // (struct sk_buff *)x, (x)
  for (;;) {
    const cast = /^\(\s*(?:const\s+)?(?:struct\s+)?\w+\s*\*?\s*\)\s*(.+)$/s.exec(t);
    if (cast?.[1] !== undefined && !t.startsWith('((')) {
      t = cast[1].trim();
      continue;
    }
    if (t.startsWith('(') && t.endsWith(')') && balanced(t.slice(1, -1))) {
      t = t.slice(1, -1).trim();
      continue;
    }
    return t;
  }
}

export function balanced(text: string): boolean {
  let depth = 0;
  for (const ch of text) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

/** Normalised argument text: casts and outer parentheses removed, whitespace collapsed. */
export function normaliseArg(text: string): string {
  return stripArg(text).replace(/\s+/g, ' ');
}

/** Arguments of the call whose `(` is at `open`, split at top-level commas; null when unbalanced. */
export function splitArgs(text: string, open: number): { args: string[]; end: number } | null {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  const limit = Math.min(text.length, open + 4000);
  for (let i = open; i < limit; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 40 /* ( */ || ch === 91 /* [ */ || ch === 123 /* { */) depth++;
    else if (ch === 41 || ch === 93 || ch === 125) {
      depth--;
      if (depth === 0) {
        const last = text.slice(start, i);
        if (last.trim() !== '' || args.length > 0) args.push(normaliseArg(last));
        return { args, end: i + 1 };
      }
    } else if (ch === 44 /* , */ && depth === 1) {
      args.push(normaliseArg(text.slice(start, i)));
      start = i + 1;
    } else if (ch === 34 /* " */) {
      const close = text.indexOf('"', i + 1);
      if (close < 0) return null;
      i = close;
    }
  }
  return null;
}

export interface RawMacro {
  name: string;
  /** 1-based line of the `#define`. */
  line: number;
  params: string[];
  body: string;
}

const DEFINE = /^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)\(([^)]*)\)/gm;

/** Function-like macros of a file, with continuation lines joined. */
export function findMacros(text: string): RawMacro[] {
  const out: RawMacro[] = [];
  let line = 1;
  let lineScan = 0;
  for (const m of text.matchAll(DEFINE)) {
    const at = m.index;
    for (let i = text.indexOf('\n', lineScan); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) {
      line++;
      lineScan = i + 1;
    }
    let end = at + m[0].length;
    for (;;) {
      const eol = text.indexOf('\n', end);
      if (eol < 0) { end = text.length; break; }
      const lineEnd = text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol;
      if (text.charCodeAt(lineEnd - 1) !== 92 /* \ */) { end = eol; break; }
      end = eol + 1;
    }
    const body = text.slice(at + m[0].length, end).replace(/\\\r?\n/g, ' ');
    const params = (m[2] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    out.push({ name: m[1] ?? '', line, params, body });
  }
  return out;
}

/** Replace comments and string literals by spaces, keeping every index and newline in place. */
export function blankCommentsAndStrings(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g,
    (s) => s.replace(/[^\n]/g, ' '));
}

/**
 * Macros that define a function named by their first argument: `BPF_CALL_3(bpf_clone_redirect, ...)`
 * defines `bpf_clone_redirect` (its body becomes the inlined `____bpf_clone_redirect`).
 */
export const DEFINING_MACRO = /^(?:BPF_CALL_\d|BPF_CALL_x|INDIRECT_CALLABLE_DECLARE)$/;

const ANNOTATION = /^(?:__attribute__|__releases|__acquires|__must_hold|__printf|__aligned|__section|__cond_lock|__diag\w*)$/;

/**
 * The name of the function whose header precedes `offset` in a top-level chunk (comments and strings
 * blanked), read from the text: the first `name(` of the last header that is followed by a line
 * opening with `{`.
 */
export function recoverFunctionName(clean: string, offset: number): string | null {
  if (offset < 2) return null;
  const brace = clean.lastIndexOf('\n{', offset - 2);
  if (brace < 0) return null;
  const headerStart = Math.max(clean.lastIndexOf(';', brace), clean.lastIndexOf('}', brace),
    clean.lastIndexOf('\n#', brace)) + 1;
  const header = clean.slice(headerStart, brace);
  for (const m of header.matchAll(/([A-Za-z_]\w*)\s*\(/g)) {
    const name = m[1] ?? '';
    if (DEFINING_MACRO.test(name)) {
      const first = /^\s*([A-Za-z_]\w*)\s*[,)]/.exec(header.slice((m.index ?? 0) + m[0].length))?.[1];
      if (first !== undefined) return first;
    }
    if (!ANNOTATION.test(name)) return name;
  }
  return null;
}
