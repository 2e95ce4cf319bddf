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
  /** SNMP counters bumped (`__IP6_INC_STATS(net, idev, IPSTATS_MIB_INHDRERRORS)`): enum value → name. */
  mibs: Map<number, string>;
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

/** SNMP counter names → their index in the MIB arrays, from the tree's include/uapi/linux/snmp.h enums. */
export function readMibTable(lines: LineReader): Map<string, number> {
  const out = new Map<string, number>();
  const text = stripComments((lines('include/uapi/linux/snmp.h') ?? []).join('\n'));
  for (const body of text.matchAll(/enum\s*\{([^}]*)\}/g)) {
    let next = 0;
    for (const item of (body[1] ?? '').split(',')) {
      const m = /^\s*([A-Z0-9_]+)\s*(?:=\s*(\d+))?\s*$/.exec(item);
      if (m?.[1] === undefined) continue;
      const v = m[2] !== undefined ? Number(m[2]) : next;
      out.set(m[1], v);
      next = v + 1;
    }
  }
  return out;
}

/** A line's indentation in columns (a tab counts 8, as kernel style has it). */
export const indent = (l: string): number => {
  let n = 0;
  for (const ch of l) {
    if (ch === ' ') n++;
    else if (ch === '\t') n += 8;
    else break;
  }
  return n;
};

/**
 * The source block of a line: back over the lines indented at least as deep (the statements before it in
 * its block), then the condition that opens the block (with its continuation lines); forward to the end of
 * the block, at most `after` lines. Bounded by `floor` (the function's first line) and `maxBefore` lines.
 */
export function blockAround(lines: LineReader, file: string, line: number, endLine: number, floor: number, maxBefore: number, after: number, lead = 0): [number, number] {
  const all = lines(file) ?? [];
  const at = (n: number): string => all[n - 1] ?? '';
  const depth = indent(at(line));
  let from = line;
  while (from - 1 > floor && line - (from - 1) <= maxBefore) {
    const prev = at(from - 1);
    if (prev.trim() === '') { from--; continue; }
    if (indent(prev) < depth) {
      // the opening condition, and the lines it continues from
      from--;
      while (from - 1 > floor && line - (from - 1) <= maxBefore && !/[;{}:]\s*$/.test(at(from - 1).trim()) && at(from - 1).trim() !== '') from--;
      // and the statements just before the condition, which the compiler puts in the same straight line
      const condDepth = indent(at(from));
      for (let k = 0; k < lead && from - 1 > floor; k++) {
        const q = at(from - 1);
        if (q.trim() === '' || indent(q) < condDepth || /}\s*$/.test(q.trim())) break;
        from--;
      }
      break;
    }
    from--;
  }
  let to = endLine;
  while (to + 1 <= all.length && to - endLine < after && at(to + 1).trim() !== '' && indent(at(to + 1)) >= depth) to++;
  return [from, to];
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

/** Features of the lines [from, to] (1-based, inclusive) of `file`. */
export function sourceFeatures(lines: LineReader, errnoTable: ReadonlyMap<string, number>, mibTable: ReadonlyMap<string, number>, file: string, from: number, to: number): SourceFeatures {
  const all = lines(file) ?? [];
  return textFeatures(errnoTable, mibTable, all.slice(Math.max(0, from - 1), Math.max(0, to)).join('\n'));
}

/** Features of a piece of source text (lines joined with newlines). */
export function textFeatures(errnoTable: ReadonlyMap<string, number>, mibTable: ReadonlyMap<string, number>, source: string): SourceFeatures {
  const text = stripComments(source);
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
  const mibs = new Map<number, string>();
  for (const m of text.matchAll(/\b[A-Z0-9]+_MIB_[A-Z0-9_]+\b/g)) {
    const v = mibTable.get(m[0]);
    if (v !== undefined && v > 0) mibs.set(v, m[0]);
  }
  return { calls, errnos, strings, mibs };
}

/**
 * What header inlines and function-like macros call, so that a source call can meet the code's calls
 * (`icmpv6_send` is an inline that calls `icmp6_send`; `__IP6_INC_STATS` a macro). Built once from the
 * headers of the tree: static inline functions and #defines with parameters, name → names they call.
 */
export function readHeaderBodies(root: string, list: (dir: string) => string[], read: (file: string) => string | null): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (name: string, body: string): void => {
    const called = new Set<string>();
    for (const m of body.matchAll(/\b([A-Za-z_]\w*)\s*\(/g)) {
      const n = m[1];
      if (n !== undefined && !KEYWORDS.has(n) && n !== name) called.add(normaliseCallName(n));
    }
    if (called.size === 0) return;
    const key = normaliseCallName(name);
    const prev = out.get(key);
    if (prev === undefined) out.set(key, called);
    else for (const c of called) prev.add(c);
  };
  for (const dir of ['include/linux', 'include/net', 'arch/x86/include/asm']) {
    for (const file of list(`${root}/${dir}`)) {
      const raw = read(file);
      if (raw === null || (!raw.includes('inline') && !raw.includes('#define'))) continue;
      const text = stripComments(raw);
      for (const m of text.matchAll(/^#define\s+([A-Za-z_]\w*)\(([^)]*)\)((?:[^\n]*\\\n)*[^\n]*)/gm)) {
        if (m[1] !== undefined && m[3] !== undefined) add(m[1], m[3]);
      }
      for (const m of text.matchAll(/^static\s+(?:inline|__always_inline|__inline__|__inline)\b[^;{(]*?\b([A-Za-z_]\w*)\s*\([^;{]*\)\s*\{/gm)) {
        const name = m[1];
        if (name === undefined) continue;
        let depth = 1;
        let i = (m.index ?? 0) + m[0].length;
        const start = i;
        while (i < text.length && depth > 0) {
          const ch = text[i];
          if (ch === '{') depth++;
          else if (ch === '}') depth--;
          i++;
        }
        if (i - start < 4000) add(name, text.slice(start, i));
      }
    }
  }
  return out;
}

/** Add to `calls` what they expand to through header bodies, `depth` levels down. */
export function expandCalls(calls: Set<string>, bodies: ReadonlyMap<string, ReadonlySet<string>>, depth: number): void {
  let frontier = [...calls];
  for (let d = 0; d < depth && frontier.length > 0; d++) {
    const next: string[] = [];
    for (const c of frontier) {
      for (const n of bodies.get(c) ?? []) {
        if (!calls.has(n)) {
          calls.add(n);
          next.push(n);
        }
      }
    }
    frontier = next;
  }
}
