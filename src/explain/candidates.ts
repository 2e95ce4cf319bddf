// The sites a location can stand for, read from the index: the function's own sites, the sites of
// the static and inline helpers it reaches (their code carries the caller's symbol once inlined),
// and, when the location is inside a drop function itself, the calls of that drop function.
import type { Db } from '../index/open.ts';
import { allEdges, allFunctions, allSites, edgesFrom, functionAt, functionsNamed, helperCallSites, sitesOfFunction, sitesReportedIn } from '../index/read.ts';
import type { CallEdge, CallPlace, DropSite, FunctionRecord } from '../model.ts';
import type { OutOfLineHelper, RawCandidate } from './rank.ts';
import { compareText } from '../text-order.ts';

/** How many helper levels to follow (scan/resolve.ts MAX_HELPER_DEPTH). */
const MAX_DEPTH = 3;
/**
 * One level deeper below helpers that are all static and called once: gcc always inlines those, so the helpers they
 * call are inlined into the same code as theirs (the index records the calls of every function that reaches a site).
 * Below other helpers a fourth level only adds guesses (on Debian 6.12 it cost the vmlinux set a top-3 location).
 */
const MAX_SURE_DEPTH = 4;
/** How many wrappers of .c files may call one another before the innermost one frees. */
const MAX_WRAPPERS = 3;

/**
 * A site of a function, or of the inlined wrappers it calls: `via` the wrappers, `calledAt` the call of the first,
 * `outer` the function's own call (the wrapper's call, or the site itself).
 */
interface OwnSite { site: DropSite; via: string[]; calledAt: CallPlace | null; outer: DropSite }

/**
 * A wrapper's own free as reached through one call of it: the reasons and the kind are the call's when the
 * wrapper passes on the reason it is given (tcp_drop_reason(sk, skb, SKB_DROP_REASON_TCP_OFO_DROP)).
 */
function passReason(inner: DropSite, call: DropSite): DropSite {
  const forwarded = inner.reasonText !== null && reasonConstantsIn(inner.reasonText) === 0 && call.reasonText !== null;
  return forwarded ? { ...inner, reasonText: call.reasonText, reason: call.reason, reasons: call.reasons, kind: call.kind } : inner;
}

const reasonConstantsIn = (text: string): number => (text.match(/\bSKB_(?:DROP_REASON|CONSUMED)\w*/g) ?? []).length;

/** The index as lookups; backed by queries, or by whole tables in memory for large batches. */
interface Lookups {
  functionsNamed(name: string): FunctionRecord[];
  functionAt(file: string, name: string): FunctionRecord | null;
  sitesOf(file: string, startLine: number): DropSite[];
  edgesFrom(file: string, startLine: number): CallEdge[];
  reportedIn(name: string): DropSite[];
  /** How many calls of a helper the index records (from functions that reach a site). */
  callSites(file: string, name: string): number;
}

function queryLookups(db: Db, treeId: number): Lookups {
  return {
    functionsNamed: (name) => functionsNamed(db, treeId, name),
    functionAt: (file, name) => functionAt(db, treeId, file, name),
    sitesOf: (file, line) => sitesOfFunction(db, treeId, file, line),
    edgesFrom: (file, line) => edgesFrom(db, treeId, file, line),
    reportedIn: (name) => sitesReportedIn(db, treeId, name),
    callSites: (file, name) => helperCallSites(db, treeId, file, name),
  };
}

function group<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list === undefined) m.set(k, [it]);
    else list.push(it);
  }
  return m;
}

function memoryLookups(db: Db, treeId: number): Lookups {
  const fns = allFunctions(db, treeId);
  const sites = allSites(db, treeId);
  const byName = group(fns, (f) => f.name);
  const byFileName = group(fns, (f) => `${f.file}\0${f.name}`);
  const sitesByDef = group(sites, (s) => `${s.file}\0${s.functionStartLine}`);
  const sitesByApi = group(sites, (s) => s.api);
  const sitesByReport = group(sites.filter((s) => s.reportedIn !== null), (s) => s.reportedIn ?? '');
  const allE = allEdges(db, treeId);
  const edges = group(allE, (e) => `${e.file}\0${e.callerStartLine}`);
  const callCount = new Map<string, number>();
  for (const e of allE) callCount.set(`${e.calleeFile}\0${e.callee}`, (callCount.get(`${e.calleeFile}\0${e.callee}`) ?? 0) + 1);
  return {
    functionsNamed: (name) => byName.get(name) ?? [],
    functionAt: (file, name) => byFileName.get(`${file}\0${name}`)?.[0] ?? null,
    sitesOf: (file, line) => sitesByDef.get(`${file}\0${line}`) ?? [],
    edgesFrom: (file, line) => edges.get(`${file}\0${line}`) ?? [],
    reportedIn: (name) => [...new Set([...(sitesByApi.get(name) ?? []), ...(sitesByReport.get(name) ?? [])])]
      .sort((a, b) => compareText(a.file, b.file) || a.line - b.line || a.column - b.column),
    callSites: (file, name) => callCount.get(`${file}\0${name}`) ?? 0,
  };
}

export class CandidateSource {
  private readonly db: Db;
  private readonly treeId: number;
  private lookups: Lookups;
  private readonly byName = new Map<string, FunctionRecord[]>();
  private readonly rawByFn = new Map<string, RawCandidate[]>();
  private readonly ownByFn = new Map<string, OwnSite[]>();
  private readonly callers = new Map<string, RawCandidate[]>();

  constructor(db: Db, treeId: number) {
    this.db = db;
    this.treeId = treeId;
    this.lookups = queryLookups(db, treeId);
  }

  /** Read the whole tree's index into memory: worth it from a few hundred locations on. */
  preload(): void {
    this.lookups = memoryLookups(this.db, this.treeId);
  }

  functions(name: string): FunctionRecord[] {
    let list = this.byName.get(name);
    if (list === undefined) {
      list = this.lookups.functionsNamed(name);
      this.byName.set(name, list);
    }
    return list;
  }

  /**
   * The sites of one function, each call of an inlined wrapper of a .c file (a `wrapper` edge) replaced by
   * that wrapper's own sites: the drop is decided there, and the call is only how it was reached.
   */
  private ownSites(fn: FunctionRecord, depth: number, seen: ReadonlySet<string>): OwnSite[] {
    const key = `${fn.file}:${fn.startLine}`;
    const cached = depth === 0 ? this.ownByFn.get(key) : undefined;
    if (cached !== undefined) return cached;
    const wrappers = depth >= MAX_WRAPPERS ? [] : this.lookups.edgesFrom(fn.file, fn.startLine).filter((e) => e.kind === 'wrapper');
    const out: OwnSite[] = [];
    for (const site of this.lookups.sitesOf(fn.file, fn.startLine)) {
      const calls = wrappers.filter((e) => e.line === site.line && e.callee === site.api);
      const expanded: OwnSite[] = [];
      for (const e of calls) {
        const w = this.lookups.functionAt(e.calleeFile, e.callee);
        const wk = w === null ? '' : `${w.file}:${w.startLine}`;
        if (w === null || seen.has(wk)) continue;
        for (const inner of this.ownSites(w, depth + 1, new Set([...seen, key, wk]))) {
          expanded.push({ site: passReason(inner.site, site), via: [w.name, ...inner.via], calledAt: { file: fn.file, line: e.line, function: fn.name }, outer: site });
        }
      }
      if (expanded.length > 0) out.push(...expanded);
      else out.push({ site, via: [], calledAt: null, outer: site });
    }
    if (depth === 0) this.ownByFn.set(key, out);
    return out;
  }

  /** The sites of one indexed function, as the index records them (tail-candidates.ts takes their tail frees). */
  sitesIn(fn: FunctionRecord): DropSite[] {
    return this.lookups.sitesOf(fn.file, fn.startLine);
  }

  /** The candidate for one of the sites of `fn` or of a helper it reaches (`chain`). */
  private pushOwn(out: RawCandidate[], fn: FunctionRecord, own: OwnSite, chain: string[], c: Omit<RawCandidate, 'site' | 'fn' | 'via' | 'calledAt' | 'wrappers' | 'tailCallOf' | 'outOfLine' | 'headerChain'> & { outOfLine?: OutOfLineHelper | null; headerChain?: string[] | null }): void {
    out.push({ ...c, outOfLine: c.outOfLine ?? null, headerChain: c.headerChain ?? null, site: own.site, fn, via: [...chain, ...own.via], tailCallOf: null, calledAt: own.calledAt, wrappers: own.via.length });
  }

  /**
   * A helper gcc inlines only on its own judgement (neither declared inline nor in a header, nor called once): a static
   * function of a .c file called from more than one place, with its length in lines. (An extern one may stay out of line
   * whatever its size: rank.ts weighs that already.)
   */
  private judgedHelper(helper: FunctionRecord, calls: number): OutOfLineHelper | null {
    if (calls <= 1 || !helper.isStatic || helper.isInline || helper.isMacro || !helper.file.endsWith('.c')) return null;
    return { name: helper.name, lines: helper.endLine - helper.startLine + 1, calls };
  }

  /** Sites in `fn` and in the helpers it reaches. */
  sitesFor(fn: FunctionRecord): RawCandidate[] {
    const key = `${fn.file}:${fn.startLine}`;
    const cached = this.rawByFn.get(key);
    if (cached !== undefined) return cached;
    const out: RawCandidate[] = [];
    for (const own of this.ownSites(fn, 0, new Set())) {
      this.pushOwn(out, fn, own, [], { anchorLine: own.calledAt?.line ?? own.site.line, helperMayStayOutOfLine: false, helpersCalledOnce: false, role: 'site', passedTo: null });
    }
    // Breadth first, so that each helper is reached by its shortest chain: a helper that is also
    // called by another helper must not be cut off at the depth limit of the longer chain.
    const seen = new Set<string>([key]);
    interface Step { from: FunctionRecord; via: string[]; anchor: number | null; mayStay: boolean; surely: boolean; passedTo: string | null; passed: string | null; outOfLine: OutOfLineHelper | null; headerChain: string[] | null }
    let level: Step[] = [{ from: fn, via: [], anchor: null, mayStay: false, surely: true, passedTo: null, passed: null, outOfLine: null, headerChain: [] }];
    /** A helper reached from `st` through `e`: its sites, and its step in `into` (the next level). */
    const reach = (st: Step, e: CallEdge, helper: FunctionRecord, into: Step[]): void => {
      const hk = `${helper.file}:${helper.startLine}`;
      if (seen.has(hk)) return;
      seen.add(hk);
      const chain = [...st.via, helper.name];
      const anchorLine = st.anchor ?? e.line;
      const stays = st.mayStay || (!helper.isStatic && !helper.isInline && helper.file.endsWith('.c'));
      const passedTo = st.passedTo ?? (e.kind === 'callback' ? e.through ?? '?' : null);
      const passed = st.passedTo !== null ? st.passed : passedTo !== null ? helper.name : null;
      // gcc inlines a static function with a single call site whatever its size (-finline-functions-called-once);
      // one passed as a function is inlined only with the call it is passed to.
      const calls = this.lookups.callSites(helper.file, helper.name);
      const surely = passedTo === null && st.surely && helper.isStatic && calls === 1;
      // The longest helper on the way that gcc inlines only by its own judgement: the one least likely inlined.
      const judged = passedTo === null ? this.judgedHelper(helper, calls) : null;
      const outOfLine = judged !== null && (st.outOfLine === null || judged.lines > st.outOfLine.lines) ? judged : st.outOfLine;
      // The header inlines on the way while every other helper is static and called once, else null.
      const headerInline = helper.isInline && !helper.file.endsWith('.c');
      const headerChain = st.headerChain === null || passedTo !== null || !(headerInline || (helper.isStatic && calls === 1)) ? null
        : headerInline ? [...st.headerChain, helper.name] : st.headerChain;
      for (const own of this.ownSites(helper, 0, new Set())) {
        this.pushOwn(out, fn, own, chain, { anchorLine, helperMayStayOutOfLine: stays, helpersCalledOnce: surely, role: 'site', passedTo, passed, outOfLine, headerChain });
      }
      const step: Step = { from: helper, via: chain, anchor: anchorLine, mayStay: stays, surely, passedTo, passed, outOfLine, headerChain };
      into.push(step);
      // A header inline whose only statement calls another helper (a `forward` edge) is no level deeper: that helper is
      // reached with it (`__skb_queue_purge` and its `__skb_queue_purge_reason`).
      for (const f of this.lookups.edgesFrom(helper.file, helper.startLine)) {
        if (f.kind !== 'forward') continue;
        const target = this.lookups.functionAt(f.calleeFile, f.callee);
        if (target !== null) reach(step, f, target, into);
      }
    };
    // A level is a call deeper (a forward edge is none): MAX_DEPTH levels, one more below helpers surely inlined.
    for (let depth = 0; level.length > 0 && depth < MAX_SURE_DEPTH; depth++) {
      const next: Step[] = [];
      for (const st of level) {
        if (depth >= MAX_DEPTH && !st.surely) continue;
        for (const e of this.lookups.edgesFrom(st.from.file, st.from.startLine)) {
          if (e.kind === 'wrapper') continue; // followed with the sites of the function (ownSites)
          // A helper's forward edges were followed when it was reached.
          if (e.kind === 'forward' && st.via.length > 0) continue;
          const helper = this.lookups.functionAt(e.calleeFile, e.callee);
          if (helper === null) continue;
          if (e.kind === 'tail') {
            // Not inlined (another file): only its final frees show up here, as the return address of this call.
            // A last call of a wrapper inlined there (tcp_drop_reason at the end of tcp_rcv_established): its own free.
            for (const own of this.ownSites(helper, 0, new Set())) {
              if (!own.outer.tail) continue;
              // The drop shows up at the return from this call: the calling line is where the user looks. Named only when the
              // call is in fn itself (a call inside an inlined helper would add that helper's neighbourhood to the code's match);
              // a wrapper's own free keeps the line that calls the wrapper.
              const calledAt = own.calledAt ?? (st.via.length === 0 ? { file: e.file, line: e.line, function: fn.name } : null);
              out.push({ site: own.site, fn, via: [...st.via, helper.name, ...own.via], anchorLine: st.anchor ?? e.line, helperMayStayOutOfLine: st.mayStay, helpersCalledOnce: st.via.length === 0 || st.surely, role: 'site', tailCallOf: helper.name, passedTo: st.passedTo, passed: st.passed, calledAt, wrappers: own.via.length, outOfLine: st.outOfLine, headerChain: null });
            }
            continue;
          }
          reach(st, e, helper, next);
        }
      }
      level = next;
    }
    this.rawByFn.set(key, out);
    return out;
  }

  /** Calls of a drop function whose drops are reported inside it. */
  callersOf(apiName: string, fnForAnchor: FunctionRecord | null): RawCandidate[] {
    const cached = this.callers.get(apiName);
    if (cached !== undefined) return cached;
    const sites = this.lookups.reportedIn(apiName);
    const fn: FunctionRecord = fnForAnchor ?? { file: '', name: apiName, startLine: 0, endLine: 0, startByte: 0, endByte: 0, isStatic: false, isInline: false, isMacro: false };
    const out = sites.map((site) => ({ site, fn, via: [], anchorLine: site.line, helperMayStayOutOfLine: false, helpersCalledOnce: false, role: 'caller' as const, tailCallOf: null, passedTo: null, calledAt: null, wrappers: 0, outOfLine: null, headerChain: null }));
    this.callers.set(apiName, out);
    return out;
  }
}
