// What the source says around a drop site, in the terms the machine code can confirm: the functions called
// near it, the errno values returned near it, and its string literals.

/** Lines of a file of the indexed tree (index 0 is line 1), or null. */
export type LineReader = (file: string) => string[] | null;

export interface SourceFeatures {
  /** Called names, normalised (see normaliseCallName). */
  calls: Set<string>;
  /** Errno values returned or assigned as -EXXX, as the unsigned 32-bit immediates the code holds. */
  errnos: Map<number, string>;
  strings: string[];
}

const KEYWORDS = new Set(['if', 'for', 'while', 'switch', 'return', 'sizeof', 'do', 'else', 'case', 'typeof', '__typeof__', 'defined', 'likely', 'unlikely', 'READ_ONCE', 'WRITE_ONCE', 'offsetof', 'container_of', 'ARRAY_SIZE']);

/**
 * One spelling for a function the source calls and the symbol the code calls: compiler suffixes
 * (.isra.0, .constprop.0, .part.0, .cold) and leading underscores go, and the spinlock layer's `raw_`
 * (spin_unlock is _raw_spin_unlock in the image, icmp_send is __icmp_send).
 */
export function normaliseCallName(name: string): string {
  let n = name.replace(/\..*$/, '').replace(/^_+/, '');
  while (n.startsWith('raw_')) n = n.slice(4).replace(/^_+/, '');
  return n;
}

/** errno names → values from the tree's own uapi headers (asm-generic, which x86 uses). */
export function readErrnoTable(lines: LineReader): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of ['include/uapi/asm-generic/errno-base.h', 'include/uapi/asm-generic/errno.h', 'include/linux/errno.h']) {
    for (const l of lines(f) ?? []) {
      const m = /^#define\s+(E[A-Z0-9]+)\s+(\d+|E[A-Z0-9]+)\b/.exec(l);
      if (m?.[1] === undefined || m[2] === undefined) continue;
      const v = /^\d+$/.test(m[2]) ? Number(m[2]) : out.get(m[2]);
      if (v !== undefined && !out.has(m[1])) out.set(m[1], v);
    }
  }
  return out;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

/** Features of the lines [from, to] (1-based, inclusive) of `file`. */
export function sourceFeatures(lines: LineReader, errnoTable: ReadonlyMap<string, number>, file: string, from: number, to: number): SourceFeatures {
  const all = lines(file) ?? [];
  const text = stripComments(all.slice(Math.max(0, from - 1), Math.max(0, to)).join('\n'));
  const calls = new Set<string>();
  for (const m of text.matchAll(/\b([A-Za-z_]\w*)\s*\(/g)) {
    const name = m[1];
    if (name !== undefined && !KEYWORDS.has(name)) calls.add(normaliseCallName(name));
  }
  const errnos = new Map<number, string>();
  for (const m of text.matchAll(/-\s*(E[A-Z0-9]+)\b/g)) {
    const v = m[1] === undefined ? undefined : errnoTable.get(m[1]);
    if (v !== undefined && m[1] !== undefined) errnos.set((-v) >>> 0, m[1]);
  }
  const strings: string[] = [];
  for (const m of text.matchAll(/"((?:[^"\\\n]|\\.)*)"/g)) {
    const s = (m[1] ?? '').replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\(.)/g, '$1');
    if (s.replace(/%[-+ #0-9.]*[a-zA-Z]+/g, '').trim().length >= 4) strings.push(s);
  }
  return { calls, errnos, strings };
}
