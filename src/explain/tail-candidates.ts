// Drops the machine code shows are reported at the return from a call of a function that ends with a
// free (`nl80211_radar_notify` ends with `nlmsg_free(msg)`, compiled as `jmp sk_skb_reason_drop`): the
// free's line is the site, and the call of that function in the location's own function is where the
// drop shows up. The index records such calls only for callers in files it parsed (files that mention
// skbs); this finds the rest from the code's word and the tree's text.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CallPlace, DropSite, FunctionRecord } from '../model.ts';
import type { RawCandidate } from './rank.ts';

/** What the code says of the drop call a location returns from, when that call is of a function that ends with a jump to a drop function. */
export interface TailCallAt {
  /** The functions on the way, the one called first, the drop function jumped to last (calls.ts Forward.path). */
  path: readonly string[];
  /** The tree folder of the module's sources, when the location is in a module (from where its .ko sits), else null. */
  sourceDir: string | null;
}

/** The index and the tree as this module reads them. */
export interface TailLookups {
  functions(name: string): FunctionRecord[];
  sitesIn(fn: FunctionRecord): DropSite[];
  /** A drop function or wrapper of the tree: a call of it is a site of its own, not a function that ends with a free. */
  isApi(name: string): boolean;
  lines(file: string): string[] | null;
  /** The root of the indexed tree, for listing a folder's files. */
  root: string;
}

/** Where a function is defined in one .c file: the line of its name, its opening and its closing brace. */
interface Definition { file: string; nameLine: number; open: number; close: number }

const DEFINITION_START = /^(?:[A-Za-z_][\w\s*]*?[\s*])?([A-Za-z_]\w*)\s*\(/;
const NOT_DEFINITIONS = new Set(['if', 'for', 'while', 'switch', 'return', 'sizeof', 'typeof', '__attribute__']);
/** A call found in a caller's body, at most this many per caller (a function called everywhere is no hint). */
const MAX_CALL_LINES = 8;

export class TailCandidates {
  private readonly at: TailLookups;
  /** Per folder: the functions its .c files define (kernel style: the name at the start of a line, `{` alone on a later one). */
  private readonly byDir = new Map<string, Map<string, Definition[]>>();
  /** Evidence of each candidate built here, for the caller to add to its evidence. */
  readonly evidence = new WeakMap<RawCandidate, string[]>();

  constructor(at: TailLookups) {
    this.at = at;
  }

  /**
   * The tail frees of the functions on `tail.path` as candidates of a location in `fnName` (whose index records are
   * `records`, maybe none), each with the line in fnName that calls the path's first function when the tree shows it.
   * Sites already among `existing` with the same tail call are left out.
   */
  candidates(fnName: string, records: readonly FunctionRecord[], given: TailCallAt, existing: readonly RawCandidate[]): RawCandidate[] {
    // gcc's clones (`.isra.0`, `.constprop.0`, `.part.0`) are the source's function.
    const tail = { ...given, path: given.path.map((n) => n.replace(/\..*$/, '')) };
    const first = tail.path[0];
    if (first === undefined) return [];
    const chain = tail.path.filter((n, i) => i < tail.path.length - 1 && !this.at.isApi(n));
    if (chain.length === 0) return [];
    const callers = this.callerDefinitions(fnName, records, tail, chain);
    const out: RawCandidate[] = [];
    const have = new Set(existing.map((c) => `${c.site.file}:${c.site.line}:${c.tailCallOf ?? ''}`));
    chain.forEach((name, k) => {
      for (const fn of this.definitionsOf(name, callers, tail)) {
        for (const site of this.at.sitesIn(fn)) {
          if (!site.tail || have.has(`${site.file}:${site.line}:${name}`)) continue;
          have.add(`${site.file}:${site.line}:${name}`);
          // Only the function that holds the free is on the way: the ones before it are out of line too (they jump to it).
          const via = [name];
          const through = chain.slice(0, k + 1);
          const places = callers.length > 0 ? callers : [{ fn: placeholder(fnName), calls: [] as number[] }];
          for (const { fn: caller, calls } of places) {
            for (const line of calls.length > 0 ? calls : [null]) {
              const calledAt: CallPlace | null = line === null ? null : { file: caller.file, line, function: caller.name };
              const c: RawCandidate = {
                site, fn: caller, via, anchorLine: line ?? caller.startLine, helperMayStayOutOfLine: false, helpersCalledOnce: true, outOfLine: null, headerChain: null,
                role: 'site', tailCallOf: name, passedTo: null, calledAt, wrappers: 0,
              };
              const hops = through.length > 1 ? ` (reached through ${through.join(' → ')}, each ending with a jump to the next)` : '';
              const where = calledAt !== null ? ` at ${calledAt.file}:${calledAt.line}` : '';
              const unseen = calledAt !== null ? '' : caller.file === '' ? `, whose source was not found in the tree` : ` (the call is not written in its body at ${caller.file}:${caller.startLine}: a macro or an inlined helper makes it)`;
              this.evidence.set(c, [`${name} ends with this free${hops}; the machine code shows it is jumped to, so the drop is reported at the return from the call of ${first}${where} in ${fnName}${unseen}`]);
              out.push(c);
            }
          }
        }
      }
    });
    return out;
  }

  /** The definitions of a function on the path: a static one is in its caller's file, or in the module's sources. */
  private definitionsOf(name: string, callers: ReadonlyArray<{ fn: FunctionRecord }>, tail: TailCallAt): FunctionRecord[] {
    const all = this.at.functions(name);
    if (all.length < 2) return all;
    const files = new Set(callers.map((c) => c.fn.file));
    const sameFile = all.filter((f) => f.isStatic && files.has(f.file));
    if (sameFile.length > 0) return sameFile;
    const dir = tail.sourceDir;
    const home = dir === null ? [] : all.filter((f) => f.file.startsWith(`${dir}/`));
    return home.length > 0 ? home : all.filter((f) => !f.isStatic);
  }

  /**
   * The location's function as the tree defines it, with the lines of its body that call the path's first function:
   * from the index when it records it, else from the .c files of the module's folder and of the path's functions.
   */
  private callerDefinitions(fnName: string, records: readonly FunctionRecord[], tail: TailCallAt, chain: readonly string[]): Array<{ fn: FunctionRecord; calls: number[] }> {
    const first = tail.path[0] ?? '';
    let defs: FunctionRecord[] = [...records];
    if (defs.length === 0) {
      const dirs = new Set<string>();
      if (tail.sourceDir !== null) dirs.add(tail.sourceDir);
      for (const n of chain) for (const f of this.at.functions(n)) dirs.add(f.file.slice(0, Math.max(0, f.file.lastIndexOf('/'))));
      for (const d of dirs) {
        for (const def of this.definitionsIn(d).get(fnName) ?? []) {
          defs.push({ file: def.file, name: fnName, startLine: def.nameLine, endLine: def.close, startByte: 0, endByte: 0, isStatic: false, isInline: false, isMacro: false });
        }
      }
    }
    if (defs.length > 1 && tail.sourceDir !== null) {
      const home = defs.filter((d) => d.file.startsWith(`${tail.sourceDir ?? ''}/`));
      if (home.length > 0) defs = home;
    }
    const call = new RegExp(`\\b${first}\\s*\\(`);
    return defs.map((fn) => {
      const lines = this.at.lines(fn.file) ?? [];
      const calls: number[] = [];
      for (let i = fn.startLine; i <= fn.endLine && i <= lines.length && calls.length < MAX_CALL_LINES; i++) {
        const text = lines[i - 1] ?? '';
        if (call.test(text) && !/^\s*(\*|\/\/|\/\*)/.test(text)) calls.push(i);
      }
      return { fn, calls };
    });
  }

  private definitionsIn(dir: string): Map<string, Definition[]> {
    let m = this.byDir.get(dir);
    if (m !== undefined) return m;
    m = new Map();
    this.byDir.set(dir, m);
    let names: string[];
    try {
      names = readdirSync(join(this.at.root, dir)).filter((n) => n.endsWith('.c')).sort();
    } catch {
      return m;
    }
    for (const n of names) {
      const file = dir === '' ? n : `${dir}/${n}`;
      const lines = this.at.lines(file);
      if (lines === null) continue;
      for (let i = 0; i < lines.length; i++) {
        const def = DEFINITION_START.exec(lines[i] ?? '');
        const name = def?.[1];
        if (name === undefined || NOT_DEFINITIONS.has(name)) continue;
        const d = bodyOf(lines, i);
        if (d === null) continue;
        const list = m.get(name);
        const rec = { file, nameLine: i + 1, open: d[0], close: d[1] };
        if (list === undefined) m.set(name, [rec]);
        else list.push(rec);
        i = d[1] - 1;
      }
    }
    return m;
  }
}

/** The body of a definition whose name is on line index `i`: the 1-based lines of its `{` and `}` alone at the start of a line. */
function bodyOf(lines: readonly string[], i: number): [number, number] | null {
  let open = -1;
  for (let k = i; k < lines.length && k < i + 12; k++) {
    const t = lines[k] ?? '';
    if (t.startsWith('{')) {
      open = k;
      break;
    }
    if (/;\s*$/.test(t) || (k > i && /^[A-Za-z_#}]/.test(t))) return null;
  }
  if (open < 0) return null;
  for (let k = open + 1; k < lines.length; k++) if ((lines[k] ?? '').startsWith('}')) return [open + 1, k + 1];
  return null;
}

const placeholder = (name: string): FunctionRecord => ({ file: '', name, startLine: 0, endLine: 0, startByte: 0, endByte: 0, isStatic: false, isInline: false, isMacro: false });
