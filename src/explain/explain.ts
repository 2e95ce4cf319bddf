// From a drop location to ranked candidates: the library entry point behind `dropsite explain`.
import type { Db } from '../index/open.ts';
import { edgesNearLine, functionAt, functionNames, listApis, listReasons, sitesAtLine, sitesOfFunction, type TreeRow } from '../index/read.ts';
import { DEFERRED_REPORTER, isGenericDropApi } from '../kernel/drop-functions.ts';
import { reasonsByValue } from '../kernel/drop-reasons.ts';
import { moduleKey, modulesOfSource } from '../kernel/kbuild.ts';
import type { CallPlace, Candidate, DropApi, DropLocation, DropSite, Explanation, FunctionRecord } from '../model.ts';
import { changedSinceIndexed } from '../index/freshness.ts';
import { CandidateSource } from './candidates.ts';
import type { Frame } from './debuginfo.ts';
import { NameIndex } from './nearest-names.ts';
import { sourceLines } from './source-lines.ts';
import { findTwins } from './twin-blocks.ts';
import { rankByWeights, rankCandidates, structuralFactor, type RawCandidate } from './rank.ts';
import { TailCandidates, type TailCallAt } from './tail-candidates.ts';

export { isGenericDropApi } from '../kernel/drop-functions.ts';

/** What explain reads of a location: everything but the raw address (resolved before explain). */
export type LocationQuery = Omit<DropLocation, 'address'>;

export interface ExplainOptions {
  /** Candidates kept per location (the rest are summarised in a note). */
  maxCandidates?: number;
  /** Another source of evidence that weighs the candidates (the machine code of the image). */
  code?: CodeEvidence;
}

/** A candidate as another evidence source sees it: the site, how it is reached, and the weight of that path. */
export interface CodeSite {
  site: DropSite;
  via: readonly string[];
  role: RawCandidate['role'];
  /** The function the location names, as indexed. */
  fn: FunctionRecord;
  /** The line in fn where the site or its first helper is called. */
  anchorLine: number;
  /** What the call graph alone says (reported elsewhere, behind helpers that must be inlined, …), relative. */
  prior: number;
  /** Reached through a call of this extern function that ends with the free (a tail call), else null. */
  tailCallOf: string | null;
  /** The site is the free inside an inlined wrapper of a .c file: where that wrapper is called, else null. */
  calledAt: CallPlace | null;
  /** Reached through a function passed to this macro or inline function (RawCandidate.passedTo). */
  passedTo?: string | null;
}

export interface CodeVerdict {
  method: 'machine-code';
  /** One weight per site, in the order given (relative; 0 rules a site out), and the evidence behind each. */
  weights: number[];
  evidence: string[][];
  notes: string[];
  /** What the code says of the location itself when the input did not: the reason, the event, the size. */
  reason: string | null;
  event: 'kfree_skb' | 'consume_skb' | null;
  size: number | null;
  /**
   * Per site: the code settled what the source could only guess for it (a call of the wrapper the location is in is
   * none of the wrapper's own frees), so the source's word on it is left out of its evidence.
   */
  settled?: boolean[];
  /** Per site: the code shows that the function the site's drops are said to be reported in tail-calls the drop, so it is reported here. */
  reportedHere?: boolean[];
}

export interface CodeEvidence {
  /** Weigh the sites for one location, or null when the code cannot say anything (then source ranking applies). */
  weigh(loc: LocationQuery, sites: readonly CodeSite[]): CodeVerdict | null;
  /** When weigh says nothing: why, for the answer's notes (a module function whose module was not found). */
  remarks?(loc: LocationQuery): string[];
  /** The drop call at the location is of a function whose code ends with a jump to a drop function: that path (tail-candidates.ts). */
  tailCallAt?(loc: LocationQuery): TailCallAt | null;
}

/** How to get an offset, for a location that names a function only. */
export const OFFSET_HINT = 'print symdata(l) instead of symname(l) in dropwatch.stp, or record with dropwatch -l kas, or with perf record -e skb:kfree_skb and perf script';

/**
 * A location with a function and no offset (SystemTap's symname(), a bare name on the command line): the function's
 * sites are all it can stand for, and only the event, the reason and the kind of each site rank them.
 */
function noOffsetNote(fnName: string, raw: readonly RawCandidate[]): string {
  const only = raw[0];
  if (raw.length === 1 && only !== undefined && only.role === 'site' && only.via.length === 0) {
    return `no offset in the input, but ${fnName} holds a single drop site in the source and reaches no other through helpers, so from source that call is the line (a different kernel version or a module outside the tree could still differ)`;
  }
  return `no offset in the input (a function name only, as SystemTap's symname() prints it): which of the ${raw.length} drop sites ${fnName} reaches freed the packet cannot be told from it, so the candidates are only ranked by the event, the reason and the kind of each site. `
    + `For the line, get the offset: ${OFFSET_HINT}; with an offset, --vmlinux gives the exact line, and with --vmlinux alone a function whose machine code holds a single drop call is exact`;
}

export class Explainer {
  private readonly source: CandidateSource;
  private readonly apis: Map<string, DropApi>;
  private names: NameIndex | null = null;
  private readonly db: Db;
  readonly tree: TreeRow;

  /** The files among `files` that changed since the tree was indexed (index/freshness.ts). */
  changedSinceIndexed(files: Iterable<string>): string[] {
    return changedSinceIndexed(this.db, this.tree, files);
  }

  constructor(db: Db, tree: TreeRow) {
    this.db = db;
    this.tree = tree;
    this.source = new CandidateSource(db, tree.id);
    this.apis = new Map(listApis(db, tree.id).map((a) => [a.name, a]));
  }

  /** The tree's files, read on demand: its kbuild Makefiles and the source around sites. */
  private linesOfTree: ((file: string) => string[] | null) | null = null;

  private lines(): (file: string) => string[] | null {
    this.linesOfTree ??= sourceLines(this.tree.root);
    return this.linesOfTree;
  }

  /**
   * Of same-named functions, those the tree's kbuild Makefiles build into `module` (a `.c` whose object the
   * nearest Makefile links into it; header functions are kept). Null unless that leaves some and drops some.
   */
  private builtInto(records: readonly FunctionRecord[], module: string): FunctionRecord[] | null {
    const read = this.lines();
    const want = moduleKey(module);
    const kept = records.filter((r) => !r.file.endsWith('.c') || modulesOfSource(r.file, (d) => read(`${d}/Makefile`)).some((m) => moduleKey(m) === want));
    return kept.length > 0 && kept.length < records.length ? kept : null;
  }

  private tails: TailCandidates | null = null;

  private tailCandidates(): TailCandidates {
    this.tails ??= new TailCandidates({
      functions: (n) => this.source.functions(n), sitesIn: (fn) => this.source.sitesIn(fn), isApi: (n) => this.apis.has(n), lines: this.lines(), root: this.tree.root,
    });
    return this.tails;
  }

  private nearest(name: string): string[] {
    this.names ??= new NameIndex(functionNames(this.db, this.tree.id));
    return this.names.nearest(name);
  }

  /** The tree's reasons by value, read on demand. */
  private reasonNames: Map<number, string> | null = null;

  /** A reason given as its number (tracefs prints one it has no name for, `0x30001`) → the tree's name for it. */
  private namedReason(reason: string | null): string | null {
    if (reason === null || !/^(?:0x[0-9a-f]{1,8}|[0-9]{1,10})$/i.test(reason)) return reason;
    this.reasonNames ??= reasonsByValue(listReasons(this.db, this.tree.id));
    return this.reasonNames.get(Number(reason)) ?? reason;
  }

  explain(given: LocationQuery, opts: ExplainOptions = {}): Explanation {
    const reason = this.namedReason(given.reason);
    const loc = reason === given.reason ? given : { ...given, reason };
    const notes: string[] = [];
    const event = loc.event ?? 'kfree_skb';
    const input = { offset: loc.offset, size: loc.size, reason: loc.reason, event, eventGiven: loc.event !== null, isCold: loc.isCold };
    const fnName = loc.function;
    let records = this.source.functions(fnName);
    const api = this.apis.get(fnName);
    let raw: RawCandidate[] = [];
    const inModule = records.length > 1 && loc.module !== null ? this.builtInto(records, loc.module) : null;
    if (inModule !== null) {
      notes.push(`${records.length} functions are named ${fnName}; the location is in module ${loc.module ?? ''}, and the tree's kbuild Makefiles build only ${inModule.map((r) => r.file).join(', ')} into it: the others are left out`);
      records = inModule;
    } else if (records.length > 1) {
      notes.push(`${records.length} functions are named ${fnName} (${records.map((r) => r.file).join(', ')}): static functions share names, so candidates from all of them are ranked`);
    }
    for (const r of records) raw.push(...this.source.sitesFor(r));
    // A location inside a drop function (called out of line), or at the function that fires for
    // deferred frees (net_tx_action): the drop happened at a call of it, which only a stack names.
    // Calls inside other wrappers' bodies are not places a packet is dropped from: their callers are.
    const callers = this.source.callersOf(fnName, records[0] ?? null).filter((c) => !this.apis.has(c.site.function));
    const reportsHere = api !== undefined && (api.role === 'root' || api.role === 'seed' || (api.locationAt === 'inside' && api.reportedIn === fnName));
    if (reportsHere || (callers.length > 0 && callers.some((c) => c.site.reportedIn === fnName))) {
      const deferred = callers.some((c) => c.site.api !== fnName && c.site.reportedIn === fnName && api === undefined);
      notes.push(deferred
        ? `${fnName} reports frees deferred to the NET_TX softirq (dev_kfree_skb_irq and friends): the skb was freed by one of the ${callers.length} calls below, which no location can tell apart`
        : api !== undefined && !isGenericDropApi(api)
          ? `${fnName} frees the packet it is given (${api.file}): the drop is decided inside it, so its own free is the line; which call of it (or which function pointer, such as an ->output or .ndo_start_xmit) led there only a stack trace (perf -g, bpftrace kstack) names`
          : `${fnName} is a drop function: a location inside it means it was called out of line, so the drop happened at one of its call sites; a stack trace (perf -g, bpftrace kstack) names which`);
      raw.push(...callers);
    }
    // The code shows the drop call is of a function that ends with a free: its tail frees, wherever the index records its callers.
    const tail = opts.code?.tailCallAt?.(loc) ?? null;
    if (tail !== null) raw.push(...this.tailCandidates().candidates(fnName, records, tail, raw));
    if (fnName === DEFERRED_REPORTER && raw.length === 0) {
      notes.push(`${fnName} frees skbs that drivers queued from interrupt context (dev_kfree_skb_irq(), dev_consume_skb_irq(), or dev_kfree_skb_any() with interrupts off): the location cannot say which driver; look at the TX completion of the device that drops`);
    } else if (records.length === 0 && api === undefined && raw.length === 0) {
      const near = this.nearest(fnName);
      notes.push(`${fnName} has no drop site in the indexed tree (${this.tree.root}, Linux ${this.tree.version ?? '?'}). Likely: a different kernel version (the function is new, renamed or frees differently there), a module or driver outside this tree, or a typo`
        + (near.length > 0 ? `; nearest names: ${near.join(', ')}` : ''));
      if (loc.module !== null) notes.push(`the location is in module ${loc.module}: index the tree that module was built from`);
    }
    if (loc.offset !== null && loc.size === null && records.length > 0 && opts.code === undefined) {
      notes.push('no function size in the input, so the offset is not used; the reason (reason: NAME, as tracefs prints it) ranks best, and --vmlinux gives the exact line');
    }
    if (loc.offset === null && loc.symbol !== '' && raw.length > 0) notes.push(noOffsetNote(fnName, raw));
    let verdict: CodeVerdict | null = null;
    if (opts.code !== undefined) {
      const sites = raw.map((c) => ({ site: c.site, via: c.via, role: c.role, fn: c.fn, anchorLine: c.anchorLine, prior: structuralFactor(c, fnName, []), tailCallOf: c.tailCallOf, calledAt: c.calledAt, passedTo: c.passedTo }));
      verdict = opts.code.weigh(loc, sites);
      if (verdict === null) notes.push(...opts.code.remarks?.(loc) ?? []);
    }
    let candidates: Candidate[];
    if (verdict !== null) {
      const tails = this.tails;
      const structural = raw.map((c, i) => { const ev: string[] = [...(tails?.evidence.get(c) ?? [])]; structuralFactor(c, fnName, ev, verdict?.settled?.[i] === true, verdict?.reportedHere?.[i] === true); return ev; });
      candidates = rankByWeights(raw, verdict.weights, verdict.evidence.map((ev, i) => [...ev, ...(structural[i] ?? [])]));
      notes.push(...verdict.notes);
    } else {
      // Twins count among the sites of the location's function and of the helpers inlined into it (a tail call's frees are code of another function).
      const group = (c: RawCandidate): string | null => (c.role === 'site' && c.tailCallOf === null ? `${c.fn.file}:${c.fn.startLine}` : null);
      const twins = findTwins(raw.map((c) => ({ site: c.site, group: group(c) })), this.lines());
      candidates = raw.length === 0 ? [] : rankCandidates(input, raw, fnName, twins);
    }
    const max = opts.maxCandidates ?? 10;
    if (candidates.length > max) {
      notes.push(`${candidates.length - max} more candidates with lower scores are not shown`);
      candidates = candidates.slice(0, max);
    }
    if (records.length > 0 && raw.length === 0) notes.push(`${fnName} is indexed but holds no drop site and reaches none through helpers`);
    if (verdict !== null) {
      return {
        input: loc.input, symbol: loc.symbol, function: fnName, offset: loc.offset, size: loc.size ?? verdict.size,
        reason: loc.reason ?? verdict.reason, event: loc.event ?? verdict.event ?? event, exact: false, method: 'machine-code', verified: 'none', candidates, notes,
      };
    }
    return {
      input: loc.input, symbol: loc.symbol, function: fnName, offset: loc.offset, size: loc.size, reason: loc.reason, event,
      exact: false, method: 'source', verified: 'none', candidates, notes,
    };
  }

  /**
   * Exact mode: the debug info's inline chain (innermost first) for `address - 1` names the line;
   * the first frame outside the drop functions and wrappers is the drop site.
   */
  explainExact(loc: LocationQuery, chain: readonly Frame[], extraNotes: readonly string[]): Explanation {
    const event = loc.event ?? 'kfree_skb';
    const base = { input: loc.input, symbol: loc.symbol, function: loc.function, offset: loc.offset, size: loc.size, reason: loc.reason, event, exact: true, method: 'debuginfo' as const, verified: 'none' as const };
    const notes = [...extraNotes];
    // The site is the innermost frame outside the generic drop functions: a local helper that frees
    // (dst_discard, a qdisc's drop function) decides the drop, so its own free is the answer.
    const frame = chain.find((f) => !this.isGenericDropFunction(f.function));
    if (frame === undefined) {
      notes.push(chain.length === 0 ? 'the debug info has no line for this address' : `every frame is inside a drop function (${chain.map((f) => f.function).join(' ← ')})`);
      return { ...base, candidates: [], notes };
    }
    const chainText = chain.map((f) => `${f.function} (${f.file}:${f.line})`).join(' ← ');
    // Helpers from the symbol's own function (the outermost frame) down to the site's function.
    const via = chain.slice(chain.indexOf(frame), -1).map((f) => f.function).reverse();
    /** Sites the debug info points at, equally likely; the reason can only cast doubt on one. */
    const fromDebugInfo = (found: ReadonlyArray<{ site: DropSite; via: string[]; why: string[] }>): Candidate[] => found.map(({ site, via: v, why }) => ({
      file: site.file, line: site.line, endLine: site.endLine, function: site.function, api: site.api, reason: site.reason, reasons: site.reasons,
      kind: site.kind, via: v, role: 'site' as const, score: Math.round(1000 / found.length) / 1000,
      evidence: [`debug info: ${chainText}`, ...why,
        ...(loc.reason !== null && site.reasons.length > 0 && !site.reasons.includes(loc.reason) ? [`but reason ${loc.reason} is not among those this call passes (${site.reasons.join(', ')})`] : [])],
    }));
    const sites = sitesAtLine(this.db, this.tree.id, frame.file, frame.line);
    if (sites.length > 0) return { ...base, notes, candidates: fromDebugInfo(sites.map((site) => ({ site, via, why: [] }))) };

    const tail = this.tailSitesCalledAt(frame.file, frame.line);
    if (tail.length > 0) {
      // Several final frees behind one call: the event and the reason pick among them.
      const fit = (c: Candidate): number => Number(c.kind === (event === 'consume_skb' ? 'consume' : 'drop'))
        + Number(loc.reason !== null && c.reasons.includes(loc.reason));
      const found = tail.map(({ site, callee }) => ({
        site, via: [...via, callee], why: [`that line calls ${callee}, which ends with this free: compiled as a jump, it reports the drop at this call`],
      }));
      return { ...base, notes, candidates: fromDebugInfo(found).sort((a, b) => fit(b) - fit(a)) };
    }
    notes.push(`the debug info names ${frame.file}:${frame.line}, where the index has no drop site (an indirect call, or a tree that differs from the vmlinux)`);
    return {
      ...base, notes,
      candidates: [{ file: frame.file, line: frame.line, endLine: frame.line, function: frame.function, api: chain[chain.indexOf(frame) - 1]?.function ?? '?', reason: null, reasons: [], kind: 'drop', via, role: 'debuginfo', score: 1, evidence: [`debug info: ${chainText}`] }],
    };
  }

  /** See isGenericDropApi. */
  isGenericDropFunction(name: string): boolean {
    return isGenericDropApi(this.apis.get(name));
  }

  /** The final frees of the functions called at a line: where a tail call reports them. */
  private tailSitesCalledAt(file: string, line: number): Array<{ site: DropSite; callee: string }> {
    const out: Array<{ site: DropSite; callee: string }> = [];
    for (const e of edgesNearLine(this.db, this.tree.id, file, line, 3)) {
      const callee = functionAt(this.db, this.tree.id, e.calleeFile, e.callee);
      if (callee === null) continue;
      for (const site of sitesOfFunction(this.db, this.tree.id, callee.file, callee.startLine)) if (site.tail) out.push({ site, callee: callee.name });
    }
    return out;
  }

  /**
   * The drop functions that fire `event` themselves with their caller's address as the location: a call of one of
   * them in machine code is a place a location can point at (calls of wrappers report inside the wrapper).
   */
  callReportedApis(event: 'kfree_skb' | 'consume_skb'): Set<string> {
    const kind = event === 'consume_skb' ? 'consume' : 'drop';
    const names = new Set<string>();
    for (const a of this.apis.values()) {
      if ((a.role === 'root' || a.role === 'seed') && a.locationAt === 'caller' && a.kinds.includes(kind)) names.add(a.name);
    }
    return names;
  }

  /** A drop function or wrapper of the tree: a debug-info frame inside one is not the drop site. */
  isDropApi(name: string): boolean {
    return this.apis.has(name);
  }

  /** For large batches: answer from the whole index held in memory instead of per-location queries. */
  preload(): void {
    this.source.preload();
  }

  functionRecords(name: string): FunctionRecord[] {
    return this.source.functions(name);
  }
}
