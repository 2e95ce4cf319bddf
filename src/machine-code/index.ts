// Machine-code evidence for explain: the shipped kernel image (and its modules) decoded at the function a
// location names. The drop call the location returns from gives the callee, the reason constants and its
// neighbourhood; all of the function's drop calls are matched to the candidate sites at once.
import { readdirSync } from 'node:fs';
import { LIMITS, readRegularText } from '../io/regular-file.ts';
import { join } from 'node:path';
import { findModuleFiles, moduleKey, loadKernelImage, loadModule, type FunctionCode, type KernelImage, type ObjectFile } from '../binary/index.ts';
import { fromKernelImage, isElfCore, openKcore, type CodeImage } from './code-image.ts';
import { sourceLines } from '../explain/source-lines.ts';
import type { Db } from '../index/open.ts';
import { allSites, functionsNamed, listApis, listReasons, type TreeRow } from '../index/read.ts';
import type { CodeEvidence, CodeSite, CodeVerdict, LocationQuery } from '../explain/explain.ts';
import type { TailCallAt } from '../explain/tail-candidates.ts';
import type { DropApi, DropSite } from '../model.ts';
import { isGenericDropApi } from '../kernel/drop-functions.ts';
import { reasonsByValue } from '../kernel/drop-reasons.ts';
import { REPORTED_INSIDE_FACTOR, sourcePosition } from '../explain/rank.ts';
import { mergedSites, softAssignWithCopies, unplacedCalls } from './assign.ts';
import { mergedKeeper } from './merged-blocks.ts';
import { normaliseStaticKeys } from './static-keys.ts';
import { ModuleFinder, treeDirOf, type ModuleHit } from './module-lookup.ts';
import { findDropCalls, tailJumps, type Callee, type DropCall, type Forward } from './calls.ts';
import { bugEntriesIn, readBugTable, readModuleBugTable, type BugEntry } from './bug-table.ts';
import { decodeFunction, register32Name, ARG_FAMILIES, type DecodedFunction, type TargetNamer } from './decode.ts';
import { ConstantScope, conditionConstants, guardHits, trivialImmediate, type SourceConstant } from './conditions.ts';
import { entryLines } from './guards.ts';
import { callArgument, clearedAfter, fieldAssignments, sourceValue, type SourceValue } from './dataflow.ts';
import { blockAround, expandCalls, normaliseCallName, readHeaderBodies, readErrnoTable, readMibTable, sourceFeatures, textFeatures, type LineReader, type SourceFeatures } from './source-features.ts';
import { pathBefore, sitePath } from './site-path.ts';
import { sourceReturn, type SourceReturn } from './return-value.ts';
import { assignedAccess, conditionAccesses, declaredStruct, elementAccess, elementDisplacement, fieldAccess, fromNetdevPriv, netdevPrivOffset, TypeInfo } from './field-offsets.ts';
import { compareArguments, comparedPositions, evaluateArguments, sourceCallTexts, type SourceCallTexts } from './call-arguments.ts';
import { afterConflict, afterEvidence, SiteAfter } from './after-drop.ts';
import { counterFactor, siteCounters, type SiteCounters } from './counters.ts';
import { pointerTargets } from './pointer-target.ts';
import { inlinedCopies, MAX_INLINED_COPIES, outOfLineHelpers, splitHelper } from './out-of-line.ts';
import { argumentAgreement, codeArguments } from './call-arguments.ts';

export { normaliseCallName } from './source-features.ts';

export interface MachineCodeOptions {
  /** The kernel's code with its symbols (an image file or kernel memory), or null for modules only. */
  image: CodeImage | null;
  /** Folder searched (recursively) for `<module>.ko*` when a location names a module. */
  modulesDir: string | null;
  /** The indexed tree's drop functions and wrappers. */
  apis: readonly DropApi[];
  /** The tree's drop reasons: enum value → name. */
  reasons: ReadonlyMap<number, string>;
  /** Lines of the indexed tree's files. */
  lines: LineReader;
  /** The indexed tree's root, for its headers' inline functions and macros (optional). */
  treeRoot?: string;
  /** Every indexed site: what a wrapper's own body frees with (a wrapper may end in several drop functions). */
  sites?: readonly DropSite[];
  /** The indexed files that define a function of this name: where a location without its module looks for the module. */
  functionFiles?: (name: string) => readonly string[];
}

/** Tuned on the even half of bench/calibration (Debian 6.12); see the README for the figures. */
const TUNING = {
  calleeMismatch: 0.02,
  reasonMismatch: 0.02,
  reasonPartialMismatch: 0.3,
  reasonUnknownAtSite: 0.4,
  constantAtSiteButVariableInCode: 0.15,
  neighbour: 2.5,
  maxNeighbours: 4,
  errno: 3,
  maxErrnos: 2,
  errnoMismatch: 0.3,
  errnoAbsent: 0.5,
  string: 6,
  maxStrings: 2,
  mib: 2.5,
  definition: 3,
  /** A candidate in a function of a source file outside the folder of the module whose code this is. */
  otherModule: 0.02,
  helperCalled: 0.05,
  inputReasonMismatch: 0.05,
  position: 0.15,
  /**
   * Among sites of one function (or of one inlined helper) gcc merged into one block, the one whose line the debug
   * info keeps (merged-blocks.ts): the first of identical blocks of the function's own that free an unassigned
   * parameter (tail merging), else the last in the source.
   */
  mergedKept: 2,
  adjacent: 2,
  debugLine: 8,
  debugLineElsewhere: 0.5,
  /** A WARN on the way into the drop whose __bug_table line is in the site's block, or elsewhere in its file. */
  warnLine: 8,
  warnLineElsewhere: 0.5,
  capacity: 1,
  /**
   * Copies of a site's code (gcc duplicated its block): the calls a one-call-per-site matching leaves over, a
   * call fitting the sites within `copyFit` of its best; a copy weighs `copyWeight` of a site's own call.
   */
  copyFit: 0.1,
  copyFloor: 0.05,
  copyWeight: 1,
  /** A call's share as a copy of a site that is worth saying in the site's evidence. */
  copyShown: 0.2,
  expandDepth: 2,
  none: 0.02,
  /** A call of a wrapper of a .c file, when the location is inside that wrapper's own code. */
  callerInsideWrapper: 0.02,
  /** A call on the branches into a `goto` label's drop block that the source calls before a `goto` there. */
  entryCall: 2,
  maxEntryCalls: 3,
  /**
   * A call on a path that joins the drop's straight line (path-calls.ts) that the source calls on the site's
   * path before it (site-path.ts pathBefore: `pathBefore` lines back, `pathLevels` blocks out), at most
   * `maxPathCalls` of them; only when one path enters the drop's straight line (with more, gcc merged the
   * blocks of several sites, or several gotos lead there, and the calls of one path say nothing of the others).
   */
  pathCall: 1.5,
  maxPathCalls: 2,
  /**
   * The constants the code loads into a matched path call's argument registers, against the constants the source's
   * call passes (call-arguments.ts): all that both give agree, or one differs.
   */
  pathArgumentMatch: 2,
  pathArgumentConflict: 0.3,
  pathMaxEdges: 1,
  pathBefore: 20,
  pathLevels: 3,
  /** The freed buffer is what a call returned, and the site's variable is assigned from that call. */
  dataflowCall: 2,
  /** The same for a freed field (`kfree_skb(info.skb2)`) and the calls the file assigns to that field. */
  dataflowField: 2,
  /** The freed buffer is what an indirect call returned, and the site's variable is assigned from a call through a pointer. */
  dataflowPointer: 2,
  /** `kfree_skb(p->skb); p->skb = NULL;` in both, or in only one of them. */
  cleared: 3,
  clearedMismatch: 0.5,
  /** The constant the code returns right after the drop, against the site's own `return` (return-value.ts). */
  returnMatch: 2,
  returnMismatch: 0.3,
  /** Lines of source before and after a site whose calls and constants count as its neighbourhood. */
  before: 10,
  after: 3,
  /** Lines before a block's condition that still count (the straight line the condition is computed in). */
  lead: 0,
  /**
   * A constant the code compares before branching into the drop (`cmp`/`test`, 8 and up or negative) that the
   * site's own condition (or its `case` label) compares, for at most two such constants; weaker when more
   * than four paths lead into that straight line (gcc merged the blocks of several sites: some path's compare).
   */
  guardConstant: 3,
  maxGuardConstants: 2,
  guardMinImmediate: 8,
  guardMaxEdges: 4,
  guardConstantMerged: 1.5,
  /**
   * The displacement the freed buffer is loaded from, against the site's freed field (`ddev->chaining_skb`, or
   * the field a freed variable was assigned from) resolved through the image's BTF (field-offsets.ts).
   */
  fieldMatch: 2,
  fieldMismatch: 0.5,
  /**
   * A field the code reads right before a conditional branch into the drop's straight line, at the displacement
   * BTF gives a field access of the site's condition (on at most `conditionFieldMaxEdges` paths into it: with
   * more, gcc merged several sites' blocks and one path's test says nothing of the others).
   */
  conditionField: 2,
  conditionFieldMaxEdges: 1,
  /** The code's memory writes right after the drop call contradict the site's next statements (after-drop.ts). */
  afterConflict: 0.4,
  /**
   * A counter the code bumps right before or after the drop call, at the BTF offset of a field this site bumps there
   * and some other candidate does not (at most `maxMatches`), or one that only other candidates bump while this
   * site's whole window bumps other fields (counters.ts).
   */
  counters: { match: 3, mismatch: 1 / 3, maxMatches: 2 },
  /**
   * The constants the code passes to the call whose result it frees, against the arguments of the site's own
   * assignment from that call (call-arguments.ts): all of them there, or none of them at some position.
   */
  argumentMatch: 2,
  argumentMismatch: 0.3,
};

interface FunctionAnalysis {
  code: FunctionCode;
  decoded: DecodedFunction;
  calls: DropCall[];
  strings: Map<bigint | string, string | null>;
  /** Cached assignment per candidate set. */
  assignments: Map<string, { w: number[][]; p: number[][]; copy: number[][]; copies: number; evidence: Map<number, string[][]>; returns: Set<number>; counted: Array<SiteCounters | null> }>;
  module: string | null;
  /** Every function the code calls directly (normalised names). */
  called: Set<string>;
  /** The same, the symbols as named (out-of-line.ts). */
  symbolsCalled: Set<string>;
  /** The image's __bug_table entries inside the function, by offset. */
  bugs: Map<number, BugEntry>;
  /** The drop functions its calls were searched for, with the out-of-line functions that tail-jump to one. */
  callees: ReadonlyMap<string, Callee>;
  /** The module the code is from, or null for the image. */
  object: ObjectFile | null;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** A site's freed field through BTF: its displacement, whether it is an array element, and past netdev_priv's offset. */
interface SiteField {
  text: string;
  disp: number;
  indexed: boolean;
  priv: number | null;
}
const shorten = (t: string): string => (t.length > 80 ? `${t.slice(0, 79)}…` : t);

/** How many out-of-line functions deep a chain of tail jumps to a drop function is followed. */
const FORWARD_DEPTH = 3;
/** Calls that are never a function's own code: tracing, stack protector, retpoline thunks, sanitizers. */
const SKIP_FORWARD = /^(__fentry__|__stack_chk_fail|__x86_|__sanitizer_|__asan_|__kasan_|__ubsan_|__tsan_|__cfi_|__warn_printk$|_printk$)/;

export class MachineCode implements CodeEvidence {
  private readonly opts: MachineCodeOptions;
  private readonly callees: Map<string, Callee>;
  private readonly calleeEvent: Map<string, 'kfree_skb' | 'consume_skb' | null>;
  private readonly apiNames: Set<string>;
  private readonly apiByName: Map<string, DropApi>;
  /** API name → the drop functions its calls can end in, and how many frees its own body holds. */
  private readonly reach = new Map<string, Set<string>>();
  private readonly bodySites = new Map<string, number>();
  private readonly errnos: Map<string, number>;
  private readonly mibTable: Map<string, number>;
  /** -errno as the unsigned 32-bit immediate → name. */
  private readonly errnoValues = new Map<number, string>();
  private bodies: Map<string, Set<string>> | null = null;
  private readonly noreturn: Set<string>;
  private readonly functions = new Map<string, FunctionAnalysis | null>();
  private readonly features = new Map<string, SourceFeatures>();
  private readonly modules = new Map<string, ObjectFile | null>();
  private moduleFiles: Map<string, string> | null = null;
  private jumpEdges: Array<[bigint, bigint]> | null = null;
  private readonly namer: TargetNamer | null;
  /** Functions decoded so far (for timing and tests). */
  decodedCount = 0;

  constructor(opts: MachineCodeOptions) {
    this.opts = opts;
    const byName = new Map(opts.apis.map((a) => [a.name, a]));
    this.callees = new Map();
    this.calleeEvent = new Map();
    for (const a of opts.apis) {
      // The calls that report at their return address: an extern drop function whose body is the
      // tracepoint-firing root (itself, or a static inline root compiled into it).
      if (a.locationAt !== 'caller' || a.linkage !== 'extern') continue;
      const root = a.role === 'root' ? a : a.forwardsTo === null ? undefined : byName.get(a.forwardsTo);
      if (root === undefined || root.role !== 'root') continue;
      this.callees.set(a.name, { name: a.name, reasonArg: a.reasonArg, skbArg: a.skbArg });
      this.calleeEvent.set(a.name, a.kinds.length === 1 && a.kinds[0] === 'consume' ? 'consume_skb' : null);
    }
    this.apiNames = new Set(opts.apis.map((a) => a.name));
    this.apiByName = byName;
    const inBody = new Map<string, DropSite[]>();
    for (const site of opts.sites ?? []) {
      if (!this.apiNames.has(site.function)) continue;
      const l = inBody.get(site.function);
      if (l === undefined) inBody.set(site.function, [site]);
      else l.push(site);
    }
    for (const [name, list] of inBody) this.bodySites.set(name, list.length);
    this.endsWithFree = new Set([...this.apiNames, ...(opts.sites ?? []).filter((s) => s.tail).map((s) => s.function)]);
    const reachOf = (name: string, seen: Set<string>): Set<string> => {
      const known = this.reach.get(name);
      if (known !== undefined) return known;
      const out = new Set<string>();
      if (seen.has(name)) return out;
      seen.add(name);
      if (this.callees.has(name)) {
        // It fires its own tracepoint: what its header fallback (another config) would call does not count.
        out.add(name);
        this.reach.set(name, out);
        return out;
      }
      const a = byName.get(name);
      if (a?.forwardsTo != null) for (const n of reachOf(a.forwardsTo, seen)) out.add(n);
      for (const site of inBody.get(name) ?? []) for (const n of [site.api, ...site.via]) for (const m of reachOf(n, seen)) out.add(m);
      this.reach.set(name, out);
      return out;
    };
    for (const a of opts.apis) reachOf(a.name, new Set());
    this.errnos = readErrnoTable(opts.lines);
    this.mibTable = readMibTable(opts.lines);
    for (const [name, v] of this.errnos) if (!this.errnoValues.has((-v) >>> 0)) this.errnoValues.set((-v) >>> 0, name);
    this.noreturn = new Set([...(opts.lines('tools/objtool/noreturns.h') ?? []).join('\n').matchAll(/NORETURN\((\w+)\)/g)].map((m) => m[1] ?? ''));
    const image = opts.image;
    this.namer = image === null ? null : {
      byAddress: (a) => {
        const r = image.resolve(a);
        return r !== null && r.offset === 0 ? r.name : null;
      },
    };
  }

  /** The names of the drop functions whose calls the code is searched for. */
  calleeNames(): string[] {
    return [...this.callees.keys()].sort();
  }

  /** With several same-named functions among the candidates: how many of the code's calls each body makes. */
  private whichDefinition(fa: FunctionAnalysis, sites: readonly CodeSite[]): { factors: number[]; note: string } | null {
    const defs = new Map<string, CodeSite['fn']>();
    for (const s of sites) defs.set(`${s.fn.file}:${s.fn.startLine}`, s.fn);
    if (defs.size < 2) return null;
    const called = new Set<string>();
    for (const x of fa.decoded.insns) {
      if ((x.flow === 'call' || x.flow === 'jmp') && x.callee !== null && !this.callees.has(x.callee) && !/^(__fentry__|__stack_chk_fail|__x86_)/.test(x.callee)) called.add(normaliseCallName(x.callee));
    }
    if (called.size === 0) return null;
    const score = new Map<string, number>();
    for (const [k, fn] of defs) {
      const f = sourceFeatures(this.opts.lines, this.errnos, this.mibTable, fn.file, fn.startLine, fn.endLine);
      expandCalls(f.calls, this.headerBodies(), TUNING.expandDepth);
      score.set(k, [...called].filter((c) => f.calls.has(c)).length);
    }
    const best = Math.max(...score.values());
    const factors = sites.map((s) => TUNING.definition ** ((score.get(`${s.fn.file}:${s.fn.startLine}`) ?? 0) - best));
    const text = [...defs].map(([k, fn]) => `${fn.file} ${score.get(k) ?? 0}`).join(', ');
    return { factors, note: `machine code: ${defs.size} functions are named ${fa.code.name.replace(/\..*$/, '')}; of the ${called.size} functions its code calls, their bodies call: ${text}` };
  }

  /**
   * Whether the code can speak for a location: it needs an offset, and inside a generic drop function the code
   * says nothing of the site (its callers are); inside a wrapper of a .c file its own frees are the sites.
   */
  private speaksFor(loc: LocationQuery): loc is LocationQuery & { offset: number } {
    return loc.offset !== null && !(this.apiNames.has(loc.function) && isGenericDropApi(this.apiByName.get(loc.function)));
  }

  /** The tree folder a module's .ko was built from (below `kernel/` of the modules folder), or null. */
  private moduleSourceDir(fa: FunctionAnalysis): string | null {
    const modules = this.opts.modulesDir;
    if (fa.module === null || modules === null) return null;
    const file = this.moduleFiles?.get(moduleKey(fa.module));
    const dir = file === undefined ? '' : treeDirOf(modules, file);
    return dir === '' ? null : dir;
  }

  weigh(loc: LocationQuery, given: readonly CodeSite[]): CodeVerdict | null {
    let sites = given;
    if (!this.speaksFor(loc)) return null;
    const fa = this.analysis(loc);
    if (fa === null) return null;
    const notes: string[] = [];
    const picked = loc.module === null ? this.symbolNotes.get(`${loc.symbol}\0${loc.offset}`) : undefined;
    if (picked !== undefined) notes.push(picked);
    const found = loc.module === null ? this.bareNotes.get(`${loc.symbol}\0${loc.offset}`) : undefined;
    if (found !== undefined) notes.push(found);
    const where = fa.module !== null ? `${fa.module}.ko` : this.opts.image?.label ?? 'the image';
    const call = fa.calls.find((c) => c.ret === loc.offset);
    if (call === undefined) {
      const near = fa.calls.map((c) => `+${hex(c.ret)}`).slice(0, 8).join(', ');
      notes.push(`machine code: ${loc.symbol}+${hex(loc.offset)} in ${where} is not the return address of a drop call (${fa.calls.length === 0 ? 'the function calls no drop function' : `its drop calls return to ${near}`}); ranked from source`);
      return { method: 'machine-code', weights: sites.map((s) => s.prior), evidence: sites.map(() => []), notes, reason: null, event: null, size: fa.code.size };
    }
    if (sites.length === 0) {
      if (call.through !== null) notes.push(this.throughNote(call));
      notes.push(`machine code: ${loc.symbol}+${hex(call.ret)} returns from a call of ${call.callee}, but no indexed site can stand for it: a missed site (a drop through a function pointer, a helper emitted from a header, or more helpers deep than the index follows)`);
      return { method: 'machine-code', weights: [], evidence: [], notes, reason: this.reasonText(call), event: this.calleeEvent.get(call.callee) ?? null, size: fa.code.size };
    }
    // Static functions share names across files: the one whose body calls what the code calls is this one.
    const fileEvidence = this.whichDefinition(fa, sites);
    if (fileEvidence !== null) {
      sites = sites.map((s, j) => ({ ...s, prior: s.prior * (fileEvidence.factors[j] ?? 1) }));
      notes.push(fileEvidence.note);
    }
    // A module is built from the sources of its folder: a same-named function of another module's file is not this code.
    const home = this.homeOf(fa, sites);
    if (home !== null) {
      sites = sites.map((s, j) => (home.outside[j] === true ? { ...s, prior: s.prior * TUNING.otherModule } : s));
      notes.push(home.note);
    }
    // A call through a pointer bound to a drop function elsewhere, where this chain passes another function (pointer-target.ts).
    const pointer = pointerTargets(sites, this.opts.lines);
    if (pointer.factors.some((x) => x !== 1)) sites = sites.map((s, j) => ({ ...s, prior: s.prior * (pointer.factors[j] ?? 1) }));
    const key = sites.map((s) => `${s.site.file}:${s.site.line}:${s.site.column}:${s.via.join('>')}:${s.prior}`).join('|');
    // Inside a wrapper of a .c file, the code's drop calls are its own frees: a call of it elsewhere is none of them.
    const inside = (s: CodeSite): number => (s.role === 'caller' && this.apiNames.has(loc.function) ? TUNING.callerInsideWrapper : 1);
    let cached = fa.assignments.get(key);
    if (cached === undefined) {
      const returns = fa.calls.some((c) => c.returns !== null) ? this.ownReturns(fa, sites) : new Set<number>();
      // The sites' counters are read only when the code bumps one next to some drop call (they weigh nothing else).
      const bumps = fa.calls.some((c) => c.bumpsBefore.length > 0 || (c.after.bumps?.length ?? 0) > 0);
      const counted = sites.map((s) => (bumps ? this.countersOf(fa, s) : null));
      const w = fa.calls.map((c) => sites.map((s, j) => this.match(fa, c, s, null, returns) * inside(s) * this.counterWeight(fa, c, counted, j, null)));
      // A call of a wrapper whose body frees in several places stands for as many drop calls.
      // A helper the function calls more than once is inlined as many times: so many copies of its sites (out-of-line.ts).
      const capacity = sites.map((s) => Math.max(TUNING.capacity, this.bodySites.get(s.site.api) ?? 0, this.helperCopies(fa, s)));
      // More calls than the sites can take one each: the extra ones are copies of a site's block.
      // Only a call some site explains (its weight without the site's prior at least copyFloor) can be a copy; the others are missed sites.
      const explained = w.map((row) => row.map((x, j) => (x >= TUNING.copyFloor * (sites[j]?.prior ?? 1) ? x : 0)));
      const copies = unplacedCalls(explained, capacity, TUNING.copyFit);
      const a = softAssignWithCopies(w, capacity, TUNING.none, copies > 0 ? { count: copies, weight: TUNING.copyWeight } : null);
      cached = { w, p: a.p, copy: a.copy, copies, evidence: new Map(), returns, counted };
      fa.assignments.set(key, cached);
    }
    const { w, p, copy, copies, returns, counted } = cached;
    const qi = fa.calls.indexOf(call);
    const row = p[qi] ?? [];
    // The evidence of one call does not depend on the input: built once per call and site set.
    const built = cached.evidence.get(qi) ?? sites.map((s) => {
      const ev: string[] = [];
      this.match(fa, call, s, ev, returns);
      this.counterWeight(fa, call, counted, sites.indexOf(s), ev);
      if (inside(s) < 1) ev.push(`machine code: ${loc.symbol}+${hex(call.ret)} is inside ${loc.function}'s own code, where its own frees are the drop calls; this call of ${loc.function} is not one of them`);
      // Explaining away: another drop call of this function that this site fits better.
      let best = -1;
      let bestP = 0;
      const j = sites.indexOf(s);
      fa.calls.forEach((_, i) => {
        if (i === qi) return;
        const pi = p[i]?.[j] ?? 0;
        if (pi > bestP) [best, bestP] = [i, pi];
      });
      const other = fa.calls[best];
      if (other !== undefined && bestP > 0.5 && bestP > (row[j] ?? 0)) ev.push(`machine code: the drop call returning to +${hex(other.ret)} fits this site better (${Math.round(bestP * 100)}% of it)`);
      const asCopy = copy[qi]?.[j] ?? 0;
      if (asCopy >= TUNING.copyShown) ev.push(`machine code: taken as a copy of this site's code for ${Math.round(asCopy * 100)}% (gcc duplicated its block: ${fa.calls.length} drop calls, of which only ${fa.calls.length - copies} find a site of their own)`);
      return ev;
    });
    cached.evidence.set(qi, built);
    const evidence = built.map((ev) => [...ev]);
    if (home !== null) {
      home.outside.forEach((out, j) => {
        if (out) evidence[j]?.push(`machine code: the code is ${fa.module ?? ''}.ko's, built from ${home.dir}/; ${sites[j]?.fn.file ?? ''} is another module's source`);
      });
    }
    pointer.evidence.forEach((e, j) => { if (e !== null) evidence[j]?.push(e); });
    sites.forEach((s, j) => {
      const n = this.helperCopies(fa, s);
      if (n > 1) evidence[j]?.push(`machine code: ${s.fn.name} calls ${s.via[0] ?? ''} ${n === MAX_INLINED_COPIES ? `${n} or more` : n} times in its source, and the code calls only ${s.via[0] ?? ''}.part (gcc split it: its head is inlined at each call): ${n} copies of this site's code, so it can stand for ${n} drop calls`);
    });
    const callText = `${call.tail ? 'jumps to' : 'calls'} ${call.callee} at +${hex(call.off)}`;
    const rt = this.reasonText(call);
    notes.push(`machine code (${where}): ${loc.symbol}+${hex(call.ret)} returns from the instruction that ${callText}${rt !== null ? `, reason ${rt}` : ''}; ${fa.calls.length} drop call${fa.calls.length === 1 ? '' : 's'} in ${fa.code.name} (${fa.code.size} bytes) matched to ${sites.length} candidate site${sites.length === 1 ? '' : 's'}`);
    if (call.through !== null) notes.push(this.throughNote(call));
    // A .BTF that could not be read (field-offsets.ts), said once: the field offsets of that image or module are not used.
    for (const p of this.types?.problems.splice(0) ?? []) notes.push(`machine code: ${p}; its struct member offsets are not used`);
    if (copies > 0) notes.push(`machine code: ${fa.code.name} has ${fa.calls.length} drop calls, and a match of one call per candidate site places only ${fa.calls.length - copies}: ${copies} ${copies === 1 ? 'is a copy' : 'are copies'} gcc made of a site's block, free to go to the site ${copies === 1 ? 'it fits' : 'they fit'}`);
    // Identical code reached from two places: gcc keeps one block, and the debug info names one of the lines.
    // (of one function, or of one inlined helper: same-named static functions of other files are other code)
    const own = sites.map((s) => (s.role === 'site' && s.tailCallOf === null ? `${s.site.api}\0${s.site.reasonText ?? ''}\0${s.fn.file}:${s.fn.startLine}\0${s.via.join('>')}` : ''));
    const merged = mergedSites(row, own, fa.calls.filter((c) => c.callee === call.callee).length);
    const keeper = mergedKeeper(merged.map((j) => ({ file: sites[j]?.site.file ?? '', line: sites[j]?.site.line ?? 0, fn: sites[j]?.fn ?? { name: '', startLine: 0, endLine: 0 }, inlined: sites[j]?.via.at(-1) ?? null })), this.opts.lines);
    const kept = keeper === null ? -1 : merged[keeper.keep] ?? -1;
    if (merged.length > 0) {
      const named = merged.map((j) => `${sites[j]?.site.file.replace(/^.*\//, '') ?? ''}:${sites[j]?.site.line ?? 0}`);
      notes.push(`machine code: ${named.join(' and ')} free the same way and ${fa.code.name} has fewer calls of ${call.callee} than such sites: gcc may have merged their code into this one block (then each path into it is there, and what tells them apart counts for all of them), and the debug info names one of them${keeper === null ? '' : keeper.first ? ', here the first in the source' : ', most often the last in the source'}`);
      if (keeper !== null) evidence[kept]?.push(keeper.evidence);
    }
    const bestRaw = Math.max(...(w[qi] ?? [0]).map((x, j) => x / Math.max(1e-9, sites[j]?.prior ?? 1)));
    if (bestRaw < 0.05) {
      notes.push(`machine code: no candidate explains this call of ${call.callee}${rt !== null ? ` with reason ${rt}` : ''}: a sign of a missed site (a drop through a function pointer, a helper emitted from a header, or more helpers deep than the index follows)`);
    }
    // What the input itself says (tracefs prints the reason): it applies to this call only.
    // Merged into one block, the sites' code is one: what told them apart (the paths each enters by) is all there.
    const mergedShare = merged.length > 1 ? merged.reduce((t, j) => t + (row[j] ?? 0), 0) / merged.length : 0;
    const weights = sites.map((s, j) => {
      let x = (merged.includes(j) ? mergedShare : row[j] ?? 0) + 1e-6 * s.prior;
      if (j === kept) x *= TUNING.mergedKept;
      // Only a tie-breaker: gcc moves cold paths out of source order.
      const d = call.ret / fa.code.size - sourcePosition(s.fn, s.anchorLine);
      x *= 1 - TUNING.position + TUNING.position * Math.exp(-(d * d) / (2 * 0.2 * 0.2));
      if (loc.reason !== null && s.site.reasons.length > 0 && !s.site.reasons.includes(loc.reason)) {
        x *= TUNING.inputReasonMismatch;
        evidence[j]?.push(`reason ${loc.reason} (from the input) cannot reach this call`);
      }
      return x;
    });
    const event = this.calleeEvent.get(call.callee) ?? (call.reasons?.complete === true && call.reasons.values.length > 0 && call.reasons.values.every((v) => this.opts.reasons.get(v) === 'CONSUMED') ? 'consume_skb' : call.reasons !== null ? 'kfree_skb' : null);
    const single = call.reasons?.complete === true && call.reasons.values.length === 1 ? this.opts.reasons.get(call.reasons.values[0] ?? -1) ?? null : null;
    const through = call.through;
    const reportedHere = sites.map((s) => through !== null && s.site.reportedIn !== null && through.path.includes(s.site.reportedIn));
    return { method: 'machine-code', weights, evidence, notes, reason: single, event, size: fa.code.size, settled: sites.map((s) => inside(s) < 1), reportedHere };
  }

  /** How many inlined copies of the first helper of a site's chain the location's function holds (out-of-line.ts), 1 for its own sites. */
  private helperCopies(fa: FunctionAnalysis, s: CodeSite): number {
    const helper = s.via[0];
    if (helper === undefined || s.role !== 'site' || s.tailCallOf !== null || s.calledAt !== null || !splitHelper(helper, fa.symbolsCalled)) return 1;
    const body = this.opts.lines(s.fn.file)?.slice(s.fn.startLine, s.fn.endLine).join('\n');
    return body === undefined ? 1 : inlinedCopies(body, helper, fa.symbolsCalled);
  }

  /** The forward path of the drop call the location returns from (a call of a function that ends with a jump to a drop function), else null. */
  tailCallAt(loc: LocationQuery): TailCallAt | null {
    if (!this.speaksFor(loc)) return null;
    const fa = this.analysis(loc);
    const path = fa?.calls.find((c) => c.ret === loc.offset)?.through?.path;
    if (fa === undefined || fa === null || path === undefined) return null;
    return { path, sourceDir: this.moduleSourceDir(fa) };
  }

  /**
   * For a module's code: which candidates are in functions of source files outside the module's folder (the
   * folder its .ko sits in below `kernel/`, as kbuild builds it from its objects' directory and below). Null
   * unless some candidates are inside it and some outside: a module built from files elsewhere is left alone.
   */
  private homeOf(fa: FunctionAnalysis, sites: readonly CodeSite[]): { dir: string; outside: boolean[]; note: string } | null {
    const dir = this.moduleSourceDir(fa);
    if (dir === null) return null;
    const outside = sites.map((s) => !s.fn.file.endsWith('.h') && !s.fn.file.startsWith(`${dir}/`));
    if (!outside.includes(true) || !outside.includes(false)) return null;
    const others = [...new Set(sites.filter((_, j) => outside[j]).map((s) => s.fn.file))];
    return { dir, outside, note: `machine code: the code is ${fa.module}.ko's, whose sources are in ${dir}/: the candidates in ${others.join(', ')} are of another module` };
  }

  /** Drop calls of the function a location names, decoded once per function. */
  analysis(loc: LocationQuery): FunctionAnalysis | null {
    const image = this.opts.image;
    if (loc.module === null && this.bare.has(loc.symbol)) {
      // Not in the image, or a same-named function of the image that the offset does not return from a drop call in.
      const inImage = image !== null && image.lookup(loc.symbol).length > 0;
      const fa = inImage && this.imageReturns(loc) ? null : this.bareAnalysis(loc, inImage);
      if (fa !== null || !inImage) return fa;
    }
    if (loc.module !== null || image === null) {
      const key = `${loc.module ?? ''}\0${loc.symbol}`;
      if (this.functions.has(key)) return this.functions.get(key) ?? null;
      const obj = loc.module !== null ? this.moduleObject(loc.module) : null;
      const code = obj?.functionCode(loc.symbol) ?? null;
      // A module not opened yet (compressed, before loadModules) is asked again later.
      if (code === null && obj === null) return null;
      return this.analyse(key, code, obj, loc.module);
    }
    // One analysis per function, whichever form (with or without the size) named it.
    const chosen = this.pickSymbol(loc);
    if (chosen === null) return null;
    return this.analyse(`\0${chosen.address}`, this.codeAt(loc.symbol, chosen), null, null);
  }

  /** Same-named symbols (static functions of different files) that a location's size or offset cannot be in, and why. */
  private readonly symbolNotes = new Map<string, string>();

  /**
   * The image symbol a location names. With several of that name (static functions of different files), the
   * one of the given size; without a size (dropwatch), the ones the offset fits in, then the ones where the
   * offset is the return address of a drop call.
   */
  private pickSymbol(loc: LocationQuery): { address: bigint; size: number } | null {
    const image = this.opts.image;
    if (image === null) return null;
    const all = image.lookup(loc.symbol);
    const sized = all.filter((s) => s.size === loc.size);
    let pool = sized.length > 0 ? sized : all;
    const offset = loc.offset;
    if (pool.length > 1 && offset !== null) {
      const whole = pool.length;
      const fits = pool.filter((s) => s.size > offset);
      if (fits.length > 0) pool = fits;
      const returns = pool.filter((s) => this.analyse(`\0${s.address}`, this.codeAt(loc.symbol, s), null, null)?.calls.some((c) => c.ret === offset) === true);
      if (returns.length > 0) pool = returns;
      const first = pool[0];
      if (first !== undefined && pool.length < whole) {
        const sizes = all.map((s) => `${s.size} bytes`).join(', ');
        this.symbolNotes.set(`${loc.symbol}\0${offset}`, `machine code: ${whole} functions of the image are named ${loc.symbol} (${sizes}); +${hex(offset)} is ${returns.length > 0 ? 'the return address of a drop call' : 'inside the function'} only in the one at ${hex(Number(first.address & 0xffffffffn))} (${first.size} bytes), so the location is in that one`);
      }
    }
    return pool[0] ?? null;
  }

  /** The code of one image symbol (a same-named one of the same size read by its address). */
  private codeAt(name: string, sym: { address: bigint; size: number }): FunctionCode | null {
    const image = this.opts.image;
    if (image === null) return null;
    const code = image.functionCode(name, { size: sym.size });
    if (code === null || code.address === sym.address) return code;
    const bytes = image.bytesAt(sym.address, sym.size);
    return bytes === null ? null : { ...code, address: sym.address, bytes };
  }

  private analyse(key: string, code: FunctionCode | null, obj: ObjectFile | null, module: string | null): FunctionAnalysis | null {
    if (this.functions.has(key)) return this.functions.get(key) ?? null;
    if (code === null) {
      this.functions.set(key, null);
      return null;
    }
    const namer: TargetNamer | null = obj !== null ? moduleNamer(obj, code) : this.namer;
    const hiddenEdges = obj === null ? this.hiddenEdges(code) : [];
    // Each static-key site read as its nop plus the table's jump, however it is patched (static-keys.ts).
    const decoded = decodeFunction(normaliseStaticKeys(code, hiddenEdges), namer);
    this.decodedCount++;
    const bugs = obj === null ? this.bugsIn(code) : this.moduleBugsIn(obj, code);
    const resumes = new Set([...bugs].filter(([, e]) => e.warning).map(([off]) => off));
    // Out-of-line functions whose own code ends with a jump to a drop function: their calls report drops here.
    let callees: ReadonlyMap<string, Callee> = this.callees;
    for (const x of decoded.insns) {
      if ((x.flow !== 'call' && x.flow !== 'jmp') || x.callee === null || this.callees.has(x.callee) || callees.has(x.callee)) continue;
      const forward = this.forwardOf(x.callee, obj, 1);
      if (forward === null) continue;
      if (callees === this.callees) callees = new Map(this.callees);
      (callees as Map<string, Callee>).set(x.callee, forward);
    }
    const calls = findDropCalls(decoded, callees, { noreturn: this.noreturn, hiddenEdges, resumes });
    const called = new Set<string>();
    const symbolsCalled = new Set<string>();
    for (const x of decoded.insns) {
      if ((x.flow !== 'call' && x.flow !== 'jmp') || x.callee === null) continue;
      called.add(normaliseCallName(x.callee));
      symbolsCalled.add(x.callee);
    }
    const fa: FunctionAnalysis = { code, decoded, calls, strings: new Map(), assignments: new Map(), module, called, symbolsCalled, bugs, callees, object: obj };
    for (const c of calls) for (const r of c.dataRefs) if (!fa.strings.has(r)) fa.strings.set(r, this.stringAt(r, obj));
    this.functions.set(key, fa);
    return fa;
  }

  private readonly forwards = new Map<string, Callee | null>();
  /** Functions whose source can end with a free: the tree's drop functions and those with a tail site. */
  private readonly endsWithFree: Set<string>;

  /**
   * A function called out of line whose own code (in the same module, else in the image) ends a path with a
   * jump to a drop function, or to another such function (up to FORWARD_DEPTH deep): as a drop callee, or null.
   */
  private forwardOf(name: string, obj: ObjectFile | null, depth: number): Callee | null {
    // Only a function the index knows ends with a free (a drop function of the tree, or one with a free as its last statement) is decoded.
    if (SKIP_FORWARD.test(name) || !this.endsWithFree.has(name.replace(/\..*$/, ''))) return null;
    const local = obj?.functionCode(name) ?? null;
    const image = this.opts.image;
    const key = `${local !== null && obj !== null ? obj.path : ''}\0${name}`;
    if (this.forwards.has(key)) return this.forwards.get(key) ?? null;
    this.forwards.set(key, null);
    let code = local;
    // A same-named static function elsewhere in the image would make the name ambiguous.
    if (code === null && image !== null && image.lookup(name).length === 1) code = image.functionCode(name);
    if (code === null) return null;
    const from = local !== null ? obj : null;
    const namer: TargetNamer | null = from !== null ? moduleNamer(from, code) : this.namer;
    const hiddenEdges = from === null ? this.hiddenEdges(code) : [];
    const decoded = decodeFunction(normaliseStaticKeys(code, hiddenEdges), namer);
    this.decodedCount++;
    const deeper = new Map<string, Callee>();
    const isTarget = (n: string): boolean => {
      if (this.callees.has(n)) return true;
      if (depth >= FORWARD_DEPTH || n === name) return false;
      const f = this.forwardOf(n, from, depth + 1);
      if (f !== null) deeper.set(n, f);
      return f !== null;
    };
    const reasonFamily = (n: string): number | undefined => {
      const c = this.callees.get(n) ?? deeper.get(n);
      return c?.reasonArg === null || c?.reasonArg === undefined ? undefined : ARG_FAMILIES[c.reasonArg];
    };
    const jumps = tailJumps(decoded, isTarget, reasonFamily, { noreturn: this.noreturn, hiddenEdges });
    if (jumps === null) return null;
    const first = jumps.targets[0] ?? '';
    const next = this.callees.get(first) ?? deeper.get(first);
    const api = this.apiByName.get(name);
    const forward: Forward = { path: [name, ...(next?.forward?.path ?? [first])], alsoInside: jumps.alsoInside || jumps.targets.some((t) => deeper.get(t)?.forward?.alsoInside === true), reasons: jumps.reasons };
    if (jumps.targets.length > 1) forward.path = [name, ...jumps.targets.slice(0, 3)];
    // Its reason is its own parameter (the index knows it for a drop function of the tree) unless its jump passes constants.
    const out: Callee = { name, reasonArg: jumps.reasons === null ? api?.reasonArg ?? null : null, skbArg: api?.skbArg ?? next?.skbArg ?? 0, forward };
    this.forwards.set(key, out);
    // The event is the jump targets' (skb_free_datagram → consume_skb fires consume_skb); forwarders deeper set theirs first.
    const events = jumps.targets.map((t) => this.calleeEvent.get(t) ?? null);
    this.calleeEvent.set(name, events.length > 0 && events.every((e) => e === 'consume_skb') ? 'consume_skb' : null);
    return out;
  }

  private throughNote(call: DropCall): string {
    const t = call.through;
    if (t === null) return '';
    return `machine code: ${t.path[0] ?? ''} ends with a jump to ${t.path.slice(1).join(' → ')} (a tail call), so its drops are reported here, at the return from its call at +${hex(call.off)}`
      + (t.alsoInside ? `; another path of ${t.path[0] ?? ''} calls a drop function and returns, so a drop may also be reported inside ${t.path[0] ?? ''} instead` : '')
      + (t.reasons !== null ? `; the reason is the constant its own jump passes` : call.reasons !== null && call.reasons.values.length > 0 ? `; the reason is what the call passes to ${t.path[0] ?? ''}` : '');
  }

  private reasonText(call: DropCall): string | null {
    const r = call.reasons;
    if (r === null) return null;
    const names = r.values.map((v) => this.opts.reasons.get(v) ?? String(v));
    if (names.length === 0) return 'not a constant';
    return names.join(' or ') + (r.complete ? '' : ' (or a value computed at run time)');
  }

  /** How well binary call `c` fits site `s`, times the site's prior; `ev` collects why when given. */
  private match(fa: FunctionAnalysis, c: DropCall, s: CodeSite, ev: string[] | null, returns: ReadonlySet<number>): number {
    let f = s.prior;
    const site = s.site;
    const chain = [site.api, ...site.via];
    // A call of a function that tail-jumps to the drop: the sites reached through that function (its tail frees).
    const throughHelper = c.through !== null && (s.via.includes(c.callee) || (s.tailCallOf !== null && c.through.path.includes(s.tailCallOf)));
    const otherCallee = !chain.includes(c.callee) && !throughHelper && !(this.reach.get(site.api)?.has(c.callee) ?? false);
    if (otherCallee) {
      ev?.push(`machine code: the code ${c.tail ? 'jumps to' : 'calls'} ${c.callee}, which ${site.api}() does not reach`);
      f *= TUNING.calleeMismatch;
    } else if (c.through !== null && site.reportedIn !== null && c.through.path.includes(site.reportedIn)) {
      // The source's guess that this call's drops are reported inside the callee: the code shows its tail call.
      f /= REPORTED_INSIDE_FACTOR;
      ev?.push(`machine code: ${c.through.path[0] ?? ''} ends with a jump to ${c.through.path.slice(1).join(' → ')} (a tail call), so its drops are reported here, at the return from its call at +${hex(c.off)}${c.through.alsoInside ? '; another path of it calls a drop function, so a drop may also be reported inside it' : ''}`);
    }
    const api = fa.callees.get(c.callee);
    if (c.reasons !== null && api?.reasonArg !== null && api?.reasonArg !== undefined) {
      const reg = `%${register32Name(ARG_FAMILIES[api.reasonArg] ?? 0)}`;
      const names = c.reasons.values.map((v) => this.opts.reasons.get(v) ?? String(v));
      const siteConstant = site.reasonText !== null && /^SKB_/.test(site.reasonText);
      if (names.length === 0) {
        if (siteConstant) {
          ev?.push(`machine code: the reason in ${reg} is computed at run time, but this site passes the constant ${site.reason ?? site.reasonText}`);
          f *= TUNING.constantAtSiteButVariableInCode;
        }
      } else if (site.reasons.length === 0) {
        ev?.push(`machine code: the code loads reason ${names.join(' or ')} into ${reg}; the reason this site passes could not be worked out`);
        f *= TUNING.reasonUnknownAtSite;
      } else {
        const common = names.filter((n) => site.reasons.includes(n));
        if (common.length > 0) ev?.push(`machine code: the code loads reason ${names.join(' or ')} into ${reg}, as this site can pass`);
        else if (c.reasons.complete) {
          ev?.push(`machine code: the code loads reason ${names.join(' or ')} into ${reg}; this site passes ${site.reasons.slice(0, 4).join(', ')}`);
          f *= TUNING.reasonMismatch;
        } else f *= TUNING.reasonPartialMismatch;
      }
    }
    // A helper on the way that the code calls by name was not inlined here: its sites are in its own symbol.
    const inlined0 = s.tailCallOf !== null ? s.via.slice(0, -1) : s.via;
    // Through a function whose tail call reports here: it and what it jumps to are out of line, as the code shows.
    const cut = c.through === null ? -1 : inlined0.findIndex((h) => c.through?.path.includes(h) === true);
    const inlined = cut >= 0 ? inlined0.slice(0, cut) : inlined0;
    const outOfLine = outOfLineHelpers(inlined, fa.symbolsCalled);
    if (outOfLine.length > 0) {
      ev?.push(`machine code: ${fa.code.name} calls ${outOfLine.join(', ')} (${outOfLine.length > 1 ? 'they have their own symbols' : 'it has its own symbol'}): not inlined here, so its drops are reported inside it`);
      f *= TUNING.helperCalled;
    }
    const sf = this.siteFeatures(s);
    // Two frees in a row (kfree_skb(skb); kfree_skb(nskb);) show as two drop calls in one straight line.
    const adjacent = this.adjacentSites(s);
    if (adjacent !== null) {
      const agree = (adjacent.before === c.dropBefore ? 1 : 0) + (adjacent.after === c.dropAfter ? 1 : 0);
      f *= TUNING.adjacent ** (agree - 1);
      if (ev !== null && (c.dropBefore || c.dropAfter) && agree === 2) ev.push(`machine code: another drop call ${c.dropBefore ? 'just before' : 'just after'} this one, as the source frees twice in a row here`);
    }
    const near = [...new Set(c.neighbours.map(normaliseCallName))].filter((n) => sf.calls.has(n));
    if (near.length > 0) {
      f *= TUNING.neighbour ** Math.min(near.length, TUNING.maxNeighbours);
      ev?.push(`machine code: calls ${near.map((n) => c.neighbours.find((x) => normaliseCallName(x) === n) ?? n).join(', ')} near the drop, as the source does around this site`);
    }
    // The branches into the drop block (a `goto drop` label): what the code calls before them.
    const entryHits: string[] = [];
    if (c.entry !== null && c.entry.calls.length > 0) {
      const guards = this.gotoFeatures(s);
      if (guards !== null) {
        const hits = [...new Set(c.entry.calls.map(normaliseCallName))].filter((n) => guards.features.calls.has(n) && !near.includes(n));
        entryHits.push(...hits);
        if (hits.length > 0) {
          f *= TUNING.entryCall ** Math.min(hits.length, TUNING.maxEntryCalls);
          ev?.push(`machine code: the branches into this drop block test what ${hits.map((n) => c.entry?.calls.find((x) => normaliseCallName(x) === n) ?? n).join(', ')} return${hits.length > 1 ? '' : 's'}, as ${guards.label === null ? 'the condition of this site\'s block does' : `a condition of the ${guards.gotos} goto ${guards.label} does`}`);
        }
      }
    }
    // The paths into a call that cannot be this site's (another drop function) say nothing of the site.
    if (!otherCallee) f *= this.pathCallFactor(fa, c, s, [...near, ...entryHits], ev);
    f *= this.guardFactor(c, s, ev);
    f *= this.dataflow(c, s, ev);
    f *= this.argumentFactor(c, s, ev);
    f *= this.fieldFactor(fa, c, s, ev);
    f *= this.conditionFieldFactor(fa, c, s, ev);
    f *= this.returnFactor(fa, c, s, ev, returns);
    f *= this.afterFactor(c, s, ev);
    const errnos = [...new Set(c.imms)].filter((v) => sf.errnos.has(v));
    // An errno the code returns here that the site's block does not, while the block returns others.
    const codeErrnos = [...new Set(c.imms)].filter((v) => v >= 0xfffff001 && v !== 0xffffffff && this.errnoValues.has(v));
    if (errnos.length === 0 && codeErrnos.length > 0 && sf.errnos.size > 0) {
      f *= TUNING.errnoMismatch;
      ev?.push(`machine code: the code near the drop holds ${codeErrnos.map((v) => `$${hex(v)} (-${this.errnoValues.get(v) ?? '?'})`).join(', ')}, but this site returns ${[...sf.errnos.values()].map((n) => `-${n}`).join(', ')}`);
    }
    if (codeErrnos.length === 0 && sf.errnos.size > 0) f *= TUNING.errnoAbsent;
    if (errnos.length > 0) {
      f *= TUNING.errno ** Math.min(errnos.length, TUNING.maxErrnos);
      ev?.push(`machine code: the constant${errnos.length > 1 ? 's' : ''} ${errnos.map((v) => `$${hex(v)} (-${sf.errnos.get(v) ?? '?'})`).join(', ')} near the drop, as in the source around this site`);
    }
    // An SNMP counter's slot: index × 8 in a per-cpu (or atomic) array of u64.
    const slots = new Set([...c.disps, ...c.gsDisps]);
    const mibs = [...sf.mibs].filter(([v]) => slots.has(v * 8));
    if (mibs.length > 0) {
      f *= TUNING.mib ** Math.min(mibs.length, 2);
      ev?.push(`machine code: a counter slot at ${mibs.map(([v, n]) => `${hex(v * 8)} (${n} = ${v})`).join(', ')} near the drop, as the source bumps around this site`);
    }
    // A dynamic-debug call site near the drop (net_dbg_ratelimited, pr_debug): its descriptor holds the
    // source file and line of that call, even in an image without debug info.
    const lines = c.dataRefs.map((r) => this.debugDescriptor(r)).filter((d): d is { file: string; line: number } => d !== null);
    if (lines.length > 0) {
      const [from, to] = this.siteBlock(s);
      const hit = lines.find((d) => site.file.endsWith(d.file) && d.line >= from - 1 && d.line <= to + 1);
      if (hit !== undefined) {
        f *= TUNING.debugLine;
        ev?.push(`machine code: the dynamic-debug call near the drop is ${hit.file}:${hit.line} (its descriptor in the image), inside this site's block`);
      } else if (lines.some((d) => site.file.endsWith(d.file))) f *= TUNING.debugLineElsewhere;
    }
    // A WARN_ON() on the way into the drop: its __bug_table entry names its own line, even without debug info.
    const warns = c.warnings.map((o) => fa.bugs.get(o)).filter((e): e is BugEntry & { file: string } => e !== undefined && e.file !== null && e.line > 0);
    if (warns.length > 0) {
      const [from, to] = this.siteBlock(s);
      const hit = warns.find((e) => site.file.endsWith(e.file) && e.line >= from - 1 && e.line <= to + 1);
      if (hit !== undefined) {
        f *= TUNING.warnLine;
        ev?.push(`machine code: the drop follows the trap of a WARN at ${hit.file}:${hit.line} (its __bug_table entry in ${fa.module !== null ? `${fa.module}.ko` : 'the image'}), inside this site's block`);
      } else if (warns.some((e) => site.file.endsWith(e.file))) f *= TUNING.warnLineElsewhere;
    }
    const strings: string[] = [];
    for (const r of c.dataRefs) {
      const text = fa.strings.get(r);
      if (text === null || text === undefined || text.length < 4) continue;
      if (sf.strings.some((t) => t === text || (t.length >= 6 && text.includes(t)) || (text.length >= 6 && t.includes(text)))) strings.push(text);
    }
    if (strings.length > 0) {
      f *= TUNING.string ** Math.min(strings.length, TUNING.maxStrings);
      ev?.push(`machine code: references the string ${strings.map((t) => JSON.stringify(t.length > 40 ? t.slice(0, 40) + '…' : t)).join(', ')}, which the source uses near this site`);
    }
    return f;
  }

  private readonly siteAfter = new SiteAfter();

  /** A counter bump or store right after the drop in the code and not at the site, or the other way round (after-drop.ts). */
  private afterFactor(c: DropCall, s: CodeSite, ev: string[] | null): number {
    const src = this.siteAfter.of(this.opts.lines, s.site.file, s.site.endLine, s.via.length === 0 && s.tailCallOf === null && s.calledAt === null, s.site.functionStartLine);
    const why = src === null ? null : afterConflict(c.after, src);
    if (why === null || src === null) return 1;
    ev?.push(afterEvidence(why, c.after, src));
    return TUNING.afterConflict;
  }

  private readonly counterCache = new Map<string, SiteCounters | null>();

  /** A site's counter bumps before and after its free, each field's offset from the BTF of the code's image or module (counters.ts). */
  private countersOf(fa: FunctionAnalysis, s: CodeSite): SiteCounters | null {
    const site = s.site;
    const own = s.via.length === 0 && s.tailCallOf === null && s.calledAt === null;
    const key = `${fa.object?.path ?? ''}\0${site.file}:${site.line}:${site.column}:${own ? 1 : 0}`;
    if (this.counterCache.has(key)) return this.counterCache.get(key) ?? null;
    const all = this.opts.lines(site.file);
    this.scope ??= new ConstantScope(this.opts.lines);
    const scope = this.scope;
    const out = all === null ? null : siteCounters(all, site, own, (name) => scope.macro(site.file, name), (access) => this.displacementAt(fa, all, site, access), (text) => this.callsApi(text));
    this.counterCache.set(key, out);
    return out;
  }

  private counterWeight(fa: FunctionAnalysis, c: DropCall, counted: ReadonlyArray<SiteCounters | null>, j: number, ev: string[] | null): number {
    const where = fa.module !== null ? `${fa.module}.ko` : 'the image';
    return counterFactor({ before: c.bumpsBefore, after: c.after.bumps ?? [] }, counted, j, TUNING.counters, where, ev);
  }

  private readonly returnCache = new Map<string, SourceReturn | null>();

  /** The constant the code returns right after the drop call against the one the site's function returns there (siteReturn). */
  private returnFactor(fa: FunctionAnalysis, c: DropCall, s: CodeSite, ev: string[] | null, returns: ReadonlySet<number>): number {
    if (c.returns === null) return 1;
    const r = this.siteReturn(fa, s);
    if (r === null) return 1;
    const shown = c.returns.map((v) => `$${hex(v)}`).join(' or ');
    if (c.returns.includes(r.value)) {
      // Only among the function's own sites that return different constants does a match say more than a helper's unknown.
      if (returns.size < 2 || c.returns.length > 1) return 1;
      ev?.push(`machine code: the code returns ${shown} right after the drop, as this site's function does (return ${r.text}) and others of its sites do not`);
      return TUNING.returnMatch;
    }
    ev?.push(`machine code: the code returns ${shown} right after the drop, but this site's function returns ${r.text} (${hex(r.value)})`);
    return TUNING.returnMismatch;
  }

  /**
   * What the function returns right after site s (return-value.ts), or null. Only for a site of the reported
   * function itself: an inlined helper's `return` is its caller's business, and an .isra clone may return nothing.
   */
  private siteReturn(fa: FunctionAnalysis, s: CodeSite): SourceReturn | null {
    if (s.via.length > 0 || s.tailCallOf !== null || s.calledAt !== null || /\.isra\./.test(fa.code.name)) return null;
    const site = s.site;
    const key = `${site.file}:${site.line}`;
    let r = this.returnCache.get(key);
    if (r === undefined) {
      const all = this.opts.lines(site.file);
      r = all === null ? null : sourceReturn(all, site.endLine, (e) => this.constantOf(site.file, e));
      this.returnCache.set(key, r);
    }
    return r;
  }

  /** The distinct constants the function's own candidate sites return right after them. */
  private ownReturns(fa: FunctionAnalysis, sites: readonly CodeSite[]): Set<number> {
    const out = new Set<number>();
    for (const s of sites) {
      const r = this.siteReturn(fa, s);
      if (r !== null) out.add(r.value);
    }
    return out;
  }

  /** The integer value of a returned expression: a literal, `-EXXX`, true/false/NULL, or an upper-case name the file defines. */
  private constantOf(file: string, expr: string): bigint | null {
    const e = expr.replace(/\s+/g, ' ').trim();
    const lit = /^(-)? ?(0[xX][0-9a-fA-F]+|\d+)[uUlL]*$/.exec(e);
    if (lit !== null) return (lit[1] !== undefined ? -1n : 1n) * BigInt(lit[2] ?? '0');
    const err = /^- ?(E[A-Z0-9]+)$/.exec(e);
    if (err !== null) {
      const v = this.errnos.get(err[1] ?? '');
      return v === undefined ? null : -BigInt(v);
    }
    if (e === 'true') return 1n;
    if (e === 'false' || e === 'NULL') return 0n;
    if (/^[A-Z_][A-Z0-9_]*$/.test(e) && /[A-Z]/.test(e)) {
      this.scope ??= new ConstantScope(this.opts.lines);
      return this.scope.value(file, e);
    }
    return null;
  }

  /** Where the freed buffer comes from in the code, against what the site frees. */
  private dataflow(c: DropCall, s: CodeSite, ev: string[] | null): number {
    if (c.skb.length === 0) return 1;
    const v = this.siteValue(s.site);
    if (c.clearsField !== v.cleared) {
      if (c.clearsField) ev?.push('machine code: the field the freed buffer was loaded from is set to NULL right after the call, which this site does not do');
      else if (v.cleared) ev?.push('machine code: this site sets the freed field to NULL after the free, which the code does not do right after this call');
      return TUNING.clearedMismatch;
    }
    if (c.clearsField && v.cleared) {
      ev?.push('machine code: the field the freed buffer was loaded from is set to NULL right after the call, as this site does');
      return TUNING.cleared;
    }
    if (v.kind === 'other') return 1;
    const calls = c.skb.filter((o): o is { kind: 'call'; name: string } => o.kind === 'call').map((o) => o.name);
    if (v.kind === 'variable' && v.assignedFrom.length > 0 && calls.length > 0) {
      const hit = calls.find((n) => v.from.has(normaliseCallName(n)));
      if (hit !== undefined) {
        ev?.push(`machine code: frees the buffer ${hit} returns, as this site frees ${v.name} = ${v.assignedFrom.join('(…) or ')}(…)`);
        return TUNING.dataflowCall;
      }
    }
    if (v.kind === 'variable' && v.fromPointer !== null && c.skb.some((o) => o.kind === 'icall')) {
      ev?.push(`machine code: frees the buffer an indirect call returns, as this site frees ${v.name} = ${v.fromPointer}(…)`);
      return TUNING.dataflowPointer;
    }
    if (v.kind === 'member' && v.field !== null && v.from.size > 0 && calls.length > 0) {
      const hit = calls.find((n) => v.from.has(normaliseCallName(n)));
      if (hit !== undefined) {
        ev?.push(`machine code: frees the buffer ${hit} returns, as this site frees the field ${v.field}, which this file assigns from ${hit.replace(/\..*$/, '')}(…)`);
        return TUNING.dataflowField;
      }
    }
    return 1;
  }

  private readonly argumentCache = new Map<string, SourceCallTexts[] | null>();

  /** The constants the code passes to the call whose result it frees, against the site's assignment from that call. */
  private argumentFactor(c: DropCall, s: CodeSite, ev: string[] | null): number {
    // Only a constant the code passes can tell sites apart: without one the source's arguments are not read.
    if (!c.skbCallArgs.some((a) => a.args.some((x) => x !== null))) return 1;
    const v = this.siteValue(s.site);
    if (v.kind !== 'variable') return 1;
    const key = `${s.site.file}:${s.site.line}:${s.site.column}`;
    let texts = this.argumentCache.get(key);
    if (texts === undefined) {
      const all = this.opts.lines(s.site.file);
      texts = all === null ? null : sourceCallTexts(all, s.site.functionStartLine, s.site.line, v.name);
      this.argumentCache.set(key, texts);
    }
    if (texts === null) return 1;
    // Only the arguments the code gives a constant to compare with are resolved.
    const src = evaluateArguments(texts, (e) => this.constantOf(s.site.file, e), comparedPositions(c.skbCallArgs));
    const verdict = compareArguments(c.skbCallArgs, src);
    const nth = (p: number): string => ['1st', '2nd', '3rd', '4th', '5th', '6th'][p] ?? `${p + 1}th`;
    const said = (x: { callee: string }): string => src.filter((a) => a.callee === x.callee).map((a) => `\`${shorten(a.text)}\``).join(', ');
    const k = verdict.conflicts[0];
    if (k !== undefined) {
      const many = src.filter((a) => a.callee === k.callee).length > 1;
      ev?.push(`machine code: frees what ${k.callee} returns when called with ${k.values.map((x) => `$${hex(x)}`).join(' or ')} as its ${nth(k.position)} argument, but this site's ${said(k)} pass${many ? '' : 'es'} ${k.site.map(String).join(' or ')}`);
      return TUNING.argumentMismatch;
    }
    const m = verdict.matches[0];
    if (m !== undefined) {
      const many = src.filter((a) => a.callee === m.callee).length > 1;
      ev?.push(`machine code: frees what ${m.callee} returns when called with ${m.values.map((x) => `$${hex(x)}`).join(' or ')} as its ${nth(m.position)} argument, as this site's ${said(m)} pass${many ? '' : 'es'}`);
      return TUNING.argumentMatch;
    }
    return 1;
  }

  private types: TypeInfo | null = null;
  private readonly freedFieldCache = new Map<string, SiteField | null>();

  /** The site's freed field as the displacement BTF gives it (field-offsets.ts), once per site and module. */
  private siteField(fa: FunctionAnalysis, site: DropSite): SiteField | null {
    const key = `${fa.object?.path ?? ''}\0${site.file}:${site.line}:${site.column}`;
    if (this.freedFieldCache.has(key)) return this.freedFieldCache.get(key) ?? null;
    let out: SiteField | null = null;
    const all = this.opts.lines(site.file);
    const api = this.apiByName.get(site.api);
    const expr = all === null || api === undefined ? null : callArgument(all.slice(site.line - 1, site.endLine).join(' '), site.api, api.skbArg);
    if (all !== null && expr !== null) {
      const plain = expr.replace(/\s+/g, '');
      const text = /^[A-Za-z_]\w*$/.test(plain) ? assignedAccess(all, site.functionStartLine, site.line, plain) : plain;
      const at = text === null ? null : this.displacementAt(fa, all, site, text);
      if (at !== null && text !== null) out = { text: `${text === plain ? '' : `${plain} = `}${text} (struct ${at.struct})`, disp: at.disp, indexed: at.indexed, priv: at.priv };
    }
    this.freedFieldCache.set(key, out);
    return out;
  }

  /**
   * A field access of the site's function (`ddev->chaining_skb`) as the displacement the image's or module's
   * BTF gives it, the struct of its base variable taken from that variable's declaration; null when either is unknown.
   */
  private displacementAt(fa: FunctionAnalysis, all: readonly string[], site: DropSite, text: string): { struct: string; disp: number; indexed: boolean; priv: number | null } | null {
    const access = fieldAccess(text) ?? elementAccess(text);
    const struct = access === null ? null : declaredStruct(all, site.functionStartLine, site.line, access.base);
    if (access === null || struct === null) return null;
    this.types ??= new TypeInfo(() => this.opts.image?.btf?.() ?? null);
    const btf = this.types.of(fa.object);
    if (btf === null) return null;
    const at = elementDisplacement(btf, struct, access.steps);
    if (at === null) return null;
    // `np = netdev_priv(dev)`: gcc may keep `dev` and fold the private area's offset into the displacement.
    const direct = access.steps.slice(1).every((x) => x.op === '.');
    const off = direct && fromNetdevPriv(all, site.functionStartLine, site.line, access.base) ? netdevPrivOffset(btf) : null;
    return { struct, disp: at.disp, indexed: at.indexed, priv: off === null ? null : at.disp + off };
  }

  private readonly conditionFieldCache = new Map<string, { text: string; accesses: Array<{ text: string; disp: number; priv: number | null }> } | null>();

  /** The field accesses of the conditions on the paths into a site, with their displacements through BTF. */
  private conditionFields(fa: FunctionAnalysis, site: DropSite): { text: string; accesses: Array<{ text: string; disp: number; priv: number | null }> } | null {
    const key = `${fa.object?.path ?? ''}\0${site.file}:${site.line}:${site.column}`;
    if (this.conditionFieldCache.has(key)) return this.conditionFieldCache.get(key) ?? null;
    let out: { text: string; accesses: Array<{ text: string; disp: number; priv: number | null }> } | null = null;
    const all = this.opts.lines(site.file);
    const e = entryLines(this.opts.lines, site.file, site.line, site.functionStartLine);
    if (all !== null && e !== null && e.lines.length > 0) {
      const text = e.lines.map((n) => (all[n - 1] ?? '').trim()).join(' ');
      const accesses: Array<{ text: string; disp: number; priv: number | null }> = [];
      for (const a of conditionAccesses(text)) {
        const at = this.displacementAt(fa, all, site, a);
        if (at !== null && at.disp > 0) accesses.push({ text: `${a} (struct ${at.struct})`, disp: at.disp, priv: at.priv });
      }
      if (accesses.length > 0) out = { text, accesses };
    }
    this.conditionFieldCache.set(key, out);
    return out;
  }

  /** A field the code tests before branching into the drop, against the field accesses of the site's condition. */
  private conditionFieldFactor(fa: FunctionAnalysis, c: DropCall, s: CodeSite, ev: string[] | null): number {
    if (c.guard.fields.length === 0 || c.guard.edges > TUNING.conditionFieldMaxEdges) return 1;
    const g = this.conditionFields(fa, s.site);
    if (g === null) return 1;
    for (const f of c.guard.fields) {
      const hit = g.accesses.find((a) => a.disp === f.disp || a.priv === f.disp);
      if (hit === undefined) continue;
      ev?.push(`machine code: the code tests the field at ${hex(f.disp)}(…)${f.imm !== null && f.imm !== 0 ? ` against $${hex(f.imm)}` : ''} before branching here, the offset of ${hit.text} in the image's BTF${hit.priv === f.disp ? ` past netdev_priv's ${hex(hit.priv - hit.disp)}` : ''}, as this site's condition \`${shorten(g.text)}\` reads it`);
      return TUNING.conditionField;
    }
    return 1;
  }

  /** The displacement the code loads the freed buffer from, against the site's freed field. */
  private fieldFactor(fa: FunctionAnalysis, c: DropCall, s: CodeSite, ev: string[] | null): number {
    if (!c.skb.some((o) => o.kind === 'load')) return 1;
    const f = this.siteField(fa, s.site);
    if (f === null) return 1;
    // An array element (`np->rx_info[i].skb`) is loaded through an index register, a plain field without one.
    const loads = c.skb.filter((o): o is { kind: 'load'; disp: number; indexed?: boolean } => o.kind === 'load' && (o.indexed === true) === f.indexed).map((o) => o.disp);
    if (loads.length === 0) return 1;
    const element = f.indexed ? ' (an array element, through an index register)' : '';
    if (loads.includes(f.disp) || (f.priv !== null && loads.includes(f.priv))) {
      const at = loads.includes(f.disp) ? f.disp : (f.priv ?? f.disp);
      ev?.push(`machine code: frees the buffer loaded from ${hex(at)}(…)${element}, the offset of this site's ${f.text} in the image's BTF${at !== f.disp ? ` past netdev_priv's ${hex(at - f.disp)}` : ''}`);
      return TUNING.fieldMatch;
    }
    if (loads.length === c.skb.length) {
      ev?.push(`machine code: frees the buffer loaded from ${[...new Set(loads)].map(hex).join(', ')}(…), but this site's ${f.text} is at ${hex(f.disp)}${f.priv !== null ? ` (${hex(f.priv)} past netdev_priv)` : ''} in the image's BTF${f.indexed ? ', an array element' : ''}`);
      return TUNING.fieldMismatch;
    }
    return 1;
  }

  private readonly descriptors = new Map<bigint | string, { file: string; line: number } | null>();

  /** struct _ddebug { modname, function, filename, format; lineno:18 … } at an image address, or null. */
  private debugDescriptor(ref: bigint | string): { file: string; line: number } | null {
    if (typeof ref !== 'bigint' || this.opts.image === null) return null;
    const known = this.descriptors.get(ref);
    if (known !== undefined) return known;
    let out: { file: string; line: number } | null = null;
    const b = this.opts.image.bytesAt(ref, 40);
    if (b !== null) {
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const filename = this.stringAt(view.getBigUint64(16, true), null);
      const line = view.getUint32(32, true) & 0x3ffff;
      if (filename !== null && /^[\w./-]+\.[ch]$/.test(filename) && line > 0) out = { file: filename.replace(/^.*?\/build_[^/]+\//, ''), line };
    }
    this.descriptors.set(ref, out);
    return out;
  }

  private siteBlock(s: CodeSite): [number, number] {
    return blockAround(this.opts.lines, s.site.file, s.site.line, s.site.endLine, s.site.functionStartLine, TUNING.before, TUNING.after, TUNING.lead);
  }

  private adjacentSites(s: CodeSite): { before: boolean; after: boolean } | null {
    const all = this.opts.lines(s.site.file);
    if (all === null) return null;
    const at = (n: number): string => all[n - 1] ?? '';
    const isFree = (n: number): boolean => this.callsApi(at(n));
    return { before: isFree(s.site.line - 1), after: isFree(s.site.endLine + 1) };
  }

  /** Whether a source line calls one of the tree's drop functions or wrappers. */
  private callsApi(text: string): boolean {
    for (const m of text.matchAll(/\b([A-Za-z_]\w*)\s*\(/g)) if (m[1] !== undefined && this.apiNames.has(m[1])) return true;
    return false;
  }

  private siteFeatures(s: CodeSite): SourceFeatures {
    const site: DropSite = s.site;
    const called = s.calledAt;
    const key = `${site.file}:${site.line}:${s.via.length > 0 ? `${s.fn.file}:${s.anchorLine}` : ''}${called !== null ? `:${called.file}:${called.line}` : ''}`;
    let f = this.features.get(key);
    if (f === undefined) {
      const own = this.pathFeatures(site.file, site.line, site.endLine, site.functionStartLine);
      f = own;
      const merge = (file: string, line: number, floor: number): void => {
        // The call line of an inlined helper keeps its plain block (its path measured no better).
        const [a, b] = blockAround(this.opts.lines, file, line, line, floor, TUNING.before, TUNING.after, TUNING.lead);
        const g = sourceFeatures(this.opts.lines, this.errnos, this.mibTable, file, a, b);
        for (const n of g.calls) own.calls.add(n);
        for (const [k, v] of g.errnos) own.errnos.set(k, v);
        own.strings.push(...g.strings);
        for (const [k, v] of g.mibs) own.mibs.set(k, v);
      };
      // An inlined helper's neighbourhood is also where it is called.
      if (s.via.length > 0) merge(s.fn.file, s.anchorLine, s.fn.startLine);
      // And an inlined wrapper's (tcp_drop_reason) is the call that reached it, which tells its calls apart.
      if (called !== null && !(called.file === s.fn.file && called.line === s.anchorLine)) merge(called.file, called.line, called.function === s.fn.name ? s.fn.startLine : 0);
      expandCalls(f.calls, this.headerBodies(), TUNING.expandDepth);
      this.features.set(key, f);
    }
    return f;
  }

  /** The features of the source on a site's path (site-path.ts). */
  private pathFeatures(file: string, line: number, endLine: number, floor: number): SourceFeatures {
    const all = this.opts.lines(file) ?? [];
    const p = sitePath(all, line, endLine, floor, { maxBefore: TUNING.before, after: TUNING.after, noreturn: this.noreturn });
    const text = [...p.lines].sort((a, b) => a[0] - b[0]).map(([, t]) => t).join('\n');
    return textFeatures(this.errnos, this.mibTable, text);
  }

  private readonly directiveless = new Map<string, string[] | null>();

  /** A file's lines with its preprocessor lines blank (`#ifdef CONFIG_X` inside a function is not a block). */
  private withoutDirectives(file: string): string[] | null {
    let out = this.directiveless.get(file);
    if (out === undefined) {
      out = this.opts.lines(file)?.map((l) => (/^\s*#/.test(l) ? '' : l)) ?? null;
      this.directiveless.set(file, out);
    }
    return out;
  }

  private readonly beforeCache = new Map<string, Map<string, { line: number; name: string }>>();
  /** The lines of each site's path before it (site-path.ts pathBefore), by line number. */
  private readonly pathLinesCache = new Map<string, ReadonlyMap<number, string>>();

  /**
   * The calls on a site's path before it (site-path.ts pathBefore), with what header inlines they expand to:
   * normalised name → the nearest source line that calls it, and the name called there. Only the site's own
   * function: the path before an inlined helper's call is the same for every site inside the helper.
   */
  private pathSource(s: CodeSite): Map<string, { line: number; name: string }> {
    const site = s.site;
    const key = `${site.file}:${site.line}`;
    let out = this.beforeCache.get(key);
    if (out === undefined) {
      out = new Map();
      const all = this.withoutDirectives(site.file);
      const lines = all === null ? new Map<number, string>() : pathBefore(all, site.line, site.functionStartLine, { maxBefore: TUNING.pathBefore, levels: TUNING.pathLevels, noreturn: this.noreturn });
      this.pathLinesCache.set(key, lines);
      for (const [n, text] of [...lines].sort((x, y) => y[0] - x[0])) {
        for (const name of textFeatures(this.errnos, this.mibTable, text).calls) {
          const names = new Set([name]);
          expandCalls(names, this.headerBodies(), TUNING.expandDepth);
          for (const x of names) if (!out.has(x)) out.set(x, { line: n, name });
        }
      }
      this.beforeCache.set(key, out);
    }
    return out;
  }

  /** The calls on the paths joining the drop's straight line (path-calls.ts) that the source makes before the site. */
  private pathCallFactor(fa: FunctionAnalysis, c: DropCall, s: CodeSite, counted: readonly string[], ev: string[] | null): number {
    if (c.pathCalls.length === 0 || c.guard.edges > TUNING.pathMaxEdges) return 1;
    const src = this.pathSource(s);
    const hits: Array<{ code: DropCall['pathCalls'][number]; at: { line: number; name: string } }> = [];
    for (const p of c.pathCalls) {
      const n = normaliseCallName(p.name);
      const at = src.get(n);
      // One source call is one hit, whatever it expands to (net_dbg_ratelimited: net_ratelimit and the print).
      if (at === undefined || counted.includes(n) || hits.some((h) => normaliseCallName(h.code.name) === n || h.at.line === at.line)) continue;
      hits.push({ code: p, at });
    }
    if (hits.length === 0) return 1;
    ev?.push(`machine code: ${hits.map((h) => `${h.code.name} (called at +${hex(h.code.off)}, ${h.code.joins} join${h.code.joins > 1 ? 's' : ''} back)`).join(', ')} on the path into this drop, as the source calls ${hits.map((h) => `${h.at.name}() at line ${h.at.line}`).join(', ')} before this site`);
    return TUNING.pathCall ** Math.min(hits.length, TUNING.maxPathCalls) * this.pathArgumentFactor(fa, c, s, hits, ev);
  }

  /** The constants the code passes to the path calls matched to the site's source calls, against the source's arguments (call-arguments.ts). */
  private pathArgumentFactor(fa: FunctionAnalysis, c: DropCall, s: CodeSite, hits: ReadonlyArray<{ code: DropCall['pathCalls'][number]; at: { line: number; name: string } }>, ev: string[] | null): number {
    const all = this.opts.lines(s.site.file);
    const path = this.pathLinesCache.get(`${s.site.file}:${s.site.line}`);
    if (all === null || path === undefined) return 1;
    let f = 1;
    for (const h of hits) {
      // The same function only (a macro or a `__` variant of it may take its arguments in another order).
      if (h.code.name.replace(/\..*$/, '') !== h.at.name) continue;
      const i = fa.decoded.at.get(h.code.off);
      // The call that made the freed buffer has its constants weighed already (argumentFactor): the same fact once.
      if (i === undefined || c.skb.some((o) => o.kind === 'call' && o.at === i)) continue;
      const code = codeArguments(fa.decoded.insns, i);
      if (code.size === 0) continue;
      // Every call of that name on the site's path after the last drop before it (the code's paths end at a drop call), nearest first: one that agrees is this call.
      const call = new RegExp(`\\b${h.at.name}\\s*\\(`);
      const drops = [...path.keys()].filter((n) => [...textFeatures(this.errnos, this.mibTable, path.get(n) ?? '').calls].some((x) => this.apiNames.has(x)));
      const floor = Math.max(0, ...drops);
      const lines = [...path.keys()].filter((n) => n > floor && call.test(path.get(n) ?? '')).sort((x, y) => y - x);
      const seen = lines.map((n) => ({ n, a: argumentAgreement(code, all.slice(n - 1, n + 3).join(' '), h.at.name, (e) => this.constantOf(s.site.file, e)) }));
      const agree = seen.find((x) => x.a.same.length > 0 && x.a.differ.length === 0);
      const told = seen.filter((x) => x.a.same.length + x.a.differ.length > 0);
      if (agree !== undefined) {
        f *= TUNING.pathArgumentMatch;
        ev?.push(`machine code: the code passes ${agree.a.same.map((d) => `$${hex(d.value)} as argument ${d.arg + 1}`).join(', ')} to ${h.code.name} at +${hex(h.code.off)}, as the source's call at line ${agree.n} passes ${agree.a.same.map((d) => d.text).join(', ')}`);
      } else if (told.length > 0 && told.every((x) => x.a.differ.length > 0)) {
        f *= TUNING.pathArgumentConflict;
        const d = told[0]?.a.differ ?? [];
        ev?.push(`machine code: the code passes ${d.map((x) => `$${hex(x.code)} as argument ${x.arg + 1}`).join(', ')} to ${h.code.name} at +${hex(h.code.off)}, but the source's call${told.length > 1 ? 's' : ''} on the path into this site (line${told.length > 1 ? 's' : ''} ${told.map((x) => x.n).join(', ')}) pass${told.length > 1 ? '' : 'es'} ${d.map((x) => `${x.text} (${x.source})`).join(', ')}${told.length > 1 ? ' and others' : ''}`);
      }
    }
    return f;
  }

  private readonly fieldCache = new Map<string, string[]>();

  /** The calls a file assigns to a struct field (dataflow.ts), once per file and field. */
  private fieldCalls(file: string, all: readonly string[], field: string): string[] {
    const key = `${file}\0${field}`;
    let out = this.fieldCache.get(key);
    if (out === undefined) {
      out = fieldAssignments(all, field);
      this.fieldCache.set(key, out);
    }
    return out;
  }

  private readonly valueCache = new Map<string, SourceValue & { cleared: boolean; from: Set<string> }>();

  /** What a site frees: a field, or a variable (assigned from calls, or a parameter). */
  private siteValue(site: DropSite): SourceValue & { cleared: boolean; from: Set<string> } {
    const key = `${site.file}:${site.line}:${site.column}`;
    let v = this.valueCache.get(key);
    if (v === undefined) {
      v = { kind: 'other', cleared: false, from: new Set() };
      const all = this.opts.lines(site.file);
      const api = this.apiByName.get(site.api);
      if (all !== null && api !== undefined) {
        const text = all.slice(site.line - 1, site.endLine).join(' ');
        const expr = callArgument(text, site.api, api.skbArg);
        if (expr !== null) {
          const sv = sourceValue(all, site.functionStartLine, site.line, expr);
          // The calls the freed variable (or field, anywhere in the file) is assigned from, with what header inlines they expand to.
          const assigned = sv.kind === 'variable' ? sv.assignedFrom : sv.kind === 'member' && sv.field !== null ? this.fieldCalls(site.file, all, sv.field) : [];
          const from = new Set(assigned.map(normaliseCallName));
          expandCalls(from, this.headerBodies(), TUNING.expandDepth);
          v = { ...sv, cleared: clearedAfter(all, site.endLine, expr, 2, site.functionStartLine), from };
        }
      }
      this.valueCache.set(key, v);
    }
    return v;
  }

  private readonly gotoCache = new Map<string, { label: string | null; gotos: number; features: SourceFeatures } | null>();

  /** The source conditions on the paths into a site (see guards.ts), as features. */
  private gotoFeatures(s: CodeSite): { label: string | null; gotos: number; features: SourceFeatures } | null {
    const site = s.site;
    const key = `${site.file}:${site.line}`;
    if (this.gotoCache.has(key)) return this.gotoCache.get(key) ?? null;
    const e = entryLines(this.opts.lines, site.file, site.line, site.functionStartLine);
    let out: { label: string | null; gotos: number; features: SourceFeatures } | null = null;
    if (e !== null && e.lines.length > 0) {
      const features: SourceFeatures = { calls: new Set(), errnos: new Map(), strings: [], mibs: new Map() };
      for (const n of e.lines) {
        const x = sourceFeatures(this.opts.lines, this.errnos, this.mibTable, site.file, n, n);
        for (const c of x.calls) features.calls.add(c);
      }
      expandCalls(features.calls, this.headerBodies(), TUNING.expandDepth);
      out = { label: e.label, gotos: e.gotos, features };
    }
    this.gotoCache.set(key, out);
    return out;
  }

  private scope: ConstantScope | null = null;
  private readonly guardCache = new Map<string, { text: string; constants: Map<number, SourceConstant> } | null>();

  /** The constants of the source conditions and `case` labels on the paths into a site (guards.ts, conditions.ts). */
  private guardConstants(s: CodeSite): { text: string; constants: Map<number, SourceConstant> } | null {
    const site = s.site;
    const key = `${site.file}:${site.line}`;
    if (this.guardCache.has(key)) return this.guardCache.get(key) ?? null;
    let out: { text: string; constants: Map<number, SourceConstant> } | null = null;
    const e = entryLines(this.opts.lines, site.file, site.line, site.functionStartLine, true);
    const all = this.opts.lines(site.file);
    if (e !== null && e.lines.length > 0 && all !== null) {
      this.scope ??= new ConstantScope(this.opts.lines);
      const text = e.lines.map((n) => (all[n - 1] ?? '').trim()).join(' ');
      const constants = conditionConstants(text, site.file, this.scope, this.errnos);
      if (constants.size > 0) out = { text, constants };
    }
    this.guardCache.set(key, out);
    return out;
  }

  /** The constants the code compares before branching into the drop call, against those of the site's condition. */
  private guardFactor(c: DropCall, s: CodeSite, ev: string[] | null): number {
    const code = c.guard.compared.filter((v) => !trivialImmediate(v) && (v >= TUNING.guardMinImmediate || v >= 0xfffff000));
    if (code.length === 0) return 1;
    const g = this.guardConstants(s);
    if (g === null) return 1;
    const hits = guardHits(code, g.constants);
    if (hits.length === 0) return 1;
    const merged = c.guard.edges > TUNING.guardMaxEdges;
    ev?.push(`machine code: the code compares ${hits.map((h) => `$${hex(h.value)}`).join(', ')} before branching here${merged ? ` (one of ${c.guard.edges} paths into this drop)` : ''}, as this site's condition \`${shorten(g.text)}\` (${hits.map((h) => h.constant.text).join(', ')})`);
    return (merged ? TUNING.guardConstantMerged : TUNING.guardConstant) ** Math.min(hits.length, TUNING.maxGuardConstants);
  }

  private headerBodies(): Map<string, Set<string>> {
    if (this.bodies === null) {
      const root = this.opts.treeRoot;
      this.bodies = root === undefined ? new Map() : readHeaderBodies(root, listHeaders, (f) => {
        try {
          return readRegularText(f, LIMITS.source, f);
        } catch {
          return null;
        }
      });
    }
    return this.bodies;
  }

  private stringAt(ref: bigint | string, obj: ObjectFile | null): string | null {
    let bytes: Uint8Array | null = null;
    if (typeof ref === 'bigint') {
      bytes = this.opts.image?.bytesAt(ref, 160) ?? null;
    } else if (obj !== null) {
      const m = /^(.+)\+0x([0-9a-f]+)$/.exec(ref);
      const sec = m?.[1] === undefined ? undefined : obj.elf.section(m[1]);
      if (sec !== undefined && m?.[2] !== undefined) {
        const all = obj.elf.sectionBytes(sec);
        const at = parseInt(m[2], 16);
        bytes = all.subarray(at, Math.min(all.length, at + 160));
      }
    }
    if (bytes === null) return null;
    let end = 0;
    while (end < bytes.length && bytes[end] !== 0) {
      const b = bytes[end] ?? 0;
      if ((b < 0x20 || b > 0x7e) && b !== 0x0a && b !== 0x09) return null;
      end++;
    }
    if (end === bytes.length || end < 4) return null;
    // printk strings start with a KERN_<LEVEL> marker (\001 + digit) — already excluded above unless absent
    return Buffer.from(bytes.subarray(0, end)).toString('latin1');
  }

  private bugTable: BugEntry[] | null | undefined;

  /** The image's BUG and WARN traps inside a function (bug-table.ts), by offset. */
  private bugsIn(code: FunctionCode): Map<number, BugEntry> {
    const image = this.opts.image;
    if (image === null) return new Map();
    if (this.bugTable === undefined) {
      const t = image.bugTable();
      this.bugTable = t === null ? null : readBugTable(t, (a, l) => image.bytesAt(a, l));
    }
    return this.bugTable === null ? new Map() : bugEntriesIn(this.bugTable, code.address, code.address + BigInt(code.size));
  }

  private readonly moduleBugs = new Map<ObjectFile, Map<string, Map<number, BugEntry>>>();

  /** A module's BUG and WARN traps inside a function (its __bug_table's relocations), by offset. */
  private moduleBugsIn(obj: ObjectFile, code: FunctionCode): Map<number, BugEntry> {
    let table = this.moduleBugs.get(obj);
    if (table === undefined) {
      table = readModuleBugTable(obj.elf);
      this.moduleBugs.set(obj, table);
    }
    const out = new Map<number, BugEntry>();
    const start = Number(code.address);
    for (const [off, e] of table.get(code.section ?? '') ?? []) if (off >= start && off < start + code.size) out.set(off - start, e);
    return out;
  }

  /** Static-key jumps (`__jump_table`: code, target, key; s32 relative each) into this function, as offsets. */
  private hiddenEdges(code: FunctionCode): Array<[number, number]> {
    const image = this.opts.image;
    if (image === null) return [];
    if (this.jumpEdges === null) {
      const edges: Array<[bigint, bigint]> = [];
      const table = image.jumpTable();
      if (table !== null) {
        const b = table.bytes;
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        for (let off = 0; off + 16 <= b.length; off += 16) {
          const base = table.address + BigInt(off);
          edges.push([base + BigInt(view.getInt32(off, true)), base + 4n + BigInt(view.getInt32(off + 4, true))]);
        }
      }
      edges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this.jumpEdges = edges;
    }
    const start = code.address;
    const end = code.address + BigInt(code.size);
    const out: Array<[number, number]> = [];
    let lo = 0;
    let hi = this.jumpEdges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.jumpEdges[mid]?.[0] ?? 0n) < start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.jumpEdges.length; i++) {
      const e = this.jumpEdges[i];
      if (e === undefined || e[0] >= end) break;
      if (e[1] >= start && e[1] < end) out.push([Number(e[0] - start), Number(e[1] - start)]);
    }
    return out;
  }

  /** Locations without a module whose function is not in the image: the modules found to define it (findModules). */
  private readonly bare = new Map<string, { hits: ModuleHit[]; sources: readonly string[]; opened: number; rejected: string[] }>();
  private readonly bareNotes = new Map<string, string>();
  private finder: ModuleFinder | null = null;
  private readonly findProblems: string[] = [];

  /** The module a location without one is in: of the modules that define the function, the one its offset fits and returns from a drop call in. */
  private bareAnalysis(loc: LocationQuery, inImage: boolean): FunctionAnalysis | null {
    const found = this.bare.get(loc.symbol);
    const offset = loc.offset;
    if (found === undefined || found.hits.length === 0 || offset === null) return null;
    const analysed = found.hits.map((h) => ({ h, fa: this.analyse(`${h.module}\0${loc.symbol}`, h.obj.functionCode(loc.symbol), h.obj, h.module) }))
      .filter((x): x is { h: ModuleHit; fa: FunctionAnalysis } => x.fa !== null);
    let pool = analysed.filter((x) => x.fa.code.size > offset);
    if (pool.length === 0) pool = analysed;
    const returns = pool.filter((x) => x.fa.calls.some((c) => c.ret === offset));
    if (returns.length > 0) pool = returns;
    // The image has a function of that name too: a module is used only where the offset returns from its drop call.
    else if (inImage) return null;
    const first = pool[0];
    if (first === undefined) return null;
    const dir = this.opts.modulesDir ?? '';
    const path = (h: ModuleHit): string => `${treeDirOf(dir, h.file)}/${h.file.slice(h.file.lastIndexOf('/') + 1)}`.replace(/^\//, '');
    const of = (h: ModuleHit): string => `${path(h)} (the module of ${h.source.slice(h.source.lastIndexOf('/') + 1)})`;
    const notIn = inImage ? `+${hex(offset)} is not the return address of a drop call in the image's ${loc.symbol}` : this.opts.image === null ? 'no kernel image was given' : `${loc.symbol} is not in the image`;
    let note = `machine code: ${notIn}, and the location names no module: ${loc.symbol} found in ${of(first.h)}`;
    if (analysed.length > 1) {
      const why = returns.length > 0 ? `+${hex(offset)} is the return address of a drop call` : `+${hex(offset)} fits inside the function`;
      note += pool.length < analysed.length
        ? `; ${analysed.length} modules define it (${analysed.map((x) => path(x.h)).join(', ')}), and only in this one ${why}`
        : `; ${analysed.length} modules define it (${analysed.map((x) => path(x.h)).join(', ')}) and in ${pool.length === analysed.length ? 'each' : `${pool.length} of them`} ${why}: the first is used`;
    }
    this.bareNotes.set(`${loc.symbol}\0${offset}`, note);
    return first.fa;
  }

  /**
   * For locations without a module (dropwatch) whose function is not in the image: find and open (decompress) the
   * modules under --modules that define it, before weighing. Returns problems to print (none when nothing is found:
   * remarks() says so in the answer).
   */
  async findModules(queries: Iterable<LocationQuery>): Promise<string[]> {
    const dir = this.opts.modulesDir;
    const filesOf = this.opts.functionFiles;
    if (dir === null || filesOf === undefined) return [];
    const image = this.opts.image;
    for (const q of queries) {
      if (q.module !== null || q.offset === null || this.bare.has(q.symbol)) continue;
      if (image !== null && image.lookup(q.symbol).length > 0 && this.imageReturns(q)) continue;
      const sources = [...new Set(filesOf(q.function))];
      if (sources.length === 0) continue;
      this.moduleFiles ??= findModuleFiles(dir);
      this.finder ??= new ModuleFinder(dir, this.moduleFiles.values(), async (file) => {
        const known = this.loaded.get(file);
        if (known !== undefined) return known;
        try {
          return await loadModule(file);
        } catch (err) {
          this.findProblems.push(err instanceof Error ? err.message : String(err));
          return null;
        }
      }, (d) => this.opts.lines(`${d}/Makefile`));
      const r = await this.finder.find(q.symbol, sources);
      for (const h of r.hits) this.loaded.set(h.file, h.obj);
      this.bare.set(q.symbol, { hits: r.hits, sources, opened: r.opened, rejected: [] });
    }
    return this.findProblems.splice(0);
  }

  /** Whether a same-named function of the image holds the offset as the return address of a drop call. */
  private imageReturns(loc: LocationQuery): boolean {
    const image = this.opts.image;
    const offset = loc.offset;
    if (image === null || offset === null) return false;
    return image.lookup(loc.symbol).some((s) => s.size > offset && this.analyse(`\0${s.address}`, this.codeAt(loc.symbol, s), null, null)?.calls.some((c) => c.ret === offset) === true);
  }

  /** The modules findModules opened for locations without one. */
  foundModules(): Array<{ module: string; file: string }> {
    return [...this.bare.values()].flatMap((b) => b.hits.map((h) => ({ module: h.module, file: h.file })));
  }

  /** What findModules found for a symbol (null: not looked up), and how many module files it has opened in all. */
  modulesFound(symbol: string): string[] | null {
    return this.bare.get(symbol)?.hits.map((h) => h.module) ?? null;
  }

  moduleFilesOpened(): number {
    return this.finder?.openedCount() ?? 0;
  }

  /** Forget a module findModules found (watch: not the loaded module's build); its locations rank from source. */
  rejectFound(file: string): void {
    for (const b of this.bare.values()) {
      if (!b.hits.some((h) => h.file === file)) continue;
      b.hits = b.hits.filter((h) => h.file !== file);
      b.rejected.push(file);
    }
  }

  /** Said when the machine code has nothing on a location (it ranks from source): why no module was used. */
  remarks(loc: LocationQuery): string[] {
    if (loc.module !== null) return [];
    const found = this.bare.get(loc.symbol);
    if (found === undefined || found.hits.length > 0) return [];
    if (found.rejected.length > 0) return [`machine code: the location names no module; ${found.rejected.join(', ')} define${found.rejected.length === 1 ? 's' : ''} ${loc.symbol} but ${found.rejected.length === 1 ? 'is' : 'are'} not the loaded module's build: ranked from source`];
    const dirs = [...new Set(found.sources.map((s) => s.slice(0, Math.max(0, s.lastIndexOf('/')))))].join(', ');
    return [`machine code: ${this.opts.image === null ? 'no kernel image was given' : `${loc.symbol} is not in the image (or not with a drop call at this offset)`}, and the location names no module; no module under ${this.opts.modulesDir ?? '--modules'} in the directories of its source (${dirs}) or their parents defines it (${found.opened} opened): ranked from source`];
  }

  private moduleObject(name: string): ObjectFile | null {
    if (this.modules.has(name)) return this.modules.get(name) ?? null;
    const dir = this.opts.modulesDir;
    if (dir === null) return null;
    this.moduleFiles ??= findModuleFiles(dir);
    const file = this.moduleFiles.get(moduleKey(name));
    this.modules.set(name, null);
    return file === undefined ? null : this.pendingModule(name, file);
  }

  /** Modules are opened synchronously when uncompressed; compressed ones must be preloaded (loadModules). */
  private pendingModule(name: string, file: string): ObjectFile | null {
    return this.loaded.get(file) ?? (this.modules.get(name) ?? null);
  }

  private readonly loaded = new Map<string, ObjectFile>();

  /** Open the modules the given locations name (decompressing .ko.xz and friends), before weighing them. */
  async loadModules(names: Iterable<string>): Promise<string[]> {
    const problems: string[] = [];
    for (const n of new Set(names)) {
      this.moduleObject(n);
      const file = this.moduleFiles?.get(moduleKey(n));
      if (file === undefined) {
        if (this.opts.modulesDir !== null) problems.push(`module ${n}: no ${n}.ko under ${this.opts.modulesDir}`);
        continue;
      }
      if (this.loaded.has(file)) continue;
      try {
        const obj = await loadModule(file);
        this.loaded.set(file, obj);
        this.modules.set(n, obj);
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    return problems;
  }
}

/** In a module, a call without a relocation targets its own section: name it by the function starting there. */
function moduleNamer(obj: ObjectFile, code: FunctionCode): TargetNamer {
  const starts = new Map<bigint, string>();
  for (const f of obj.functions()) if (f.section === code.section) starts.set(BigInt(f.value), f.name);
  return { byAddress: (a) => starts.get(a) ?? null };
}

function listHeaders(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.h')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Opening modules before weighing: those the locations name, and those found for locations that name none. */
export interface ModuleLoading {
  loadModules(names: Iterable<string>): Promise<string[]>;
  findModules(queries: Iterable<LocationQuery>): Promise<string[]>;
}

export interface OpenMachineCodeOptions {
  kernel: string | null;
  modules: string | null;
  /** Text of the running kernel's /proc/kallsyms (or System.map): its symbols and KASLR slide replace the image's. */
  kallsyms: string | null;
  /** Modules the locations name, opened (and decompressed) up front. */
  moduleNames: readonly string[];
  /** `kernel` already loaded (watch loads it first, to check its build-id against the running kernel's). */
  loaded?: KernelImage;
}

/** The machine-code evidence for an indexed tree: the image loaded, the tree's drop functions and reasons read. */
export async function openMachineCode(db: Db, tree: TreeRow, opts: OpenMachineCodeOptions): Promise<{ code: MachineCode; problems: string[] }> {
  let image: CodeImage | null = null;
  if (opts.kernel !== null) {
    // /proc/kcore (or a copy of it): the running kernel's memory, named by its kallsyms.
    if (isElfCore(opts.kernel)) image = openKcore(opts.kernel, opts.kallsyms ?? '');
    else image = fromKernelImage(opts.loaded ?? await loadKernelImage(opts.kernel, { what: '--kernel', ...(opts.kallsyms !== null ? { kallsyms: opts.kallsyms } : {}) }));
  }
  const reasons = reasonsByValue(listReasons(db, tree.id));
  const functionFiles = (name: string): string[] => functionsNamed(db, tree.id, name).map((f) => f.file);
  const code = new MachineCode({ image, modulesDir: opts.modules, apis: listApis(db, tree.id), reasons, lines: sourceLines(tree.root), treeRoot: tree.root, sites: allSites(db, tree.id), functionFiles });
  const problems = await code.loadModules(opts.moduleNames);
  // Debian's banner names the package version (…Debian 6.1.192-2…), its release string does not (6.1.0-56-amd64).
  if (image !== null && tree.version !== null && image.banner !== null && !new RegExp(`(^|[^0-9.])${tree.version.replace(/\./g, '\\.')}([^0-9.]|$)`).test(image.banner.replace(/^Linux version /, ' '))) {
    problems.push(`--kernel ${opts.kernel} is ${image.banner.split(' ').slice(0, 3).join(' ')} but the index is of Linux ${tree.version}: its code may not match the indexed sites`);
  }
  return { code, problems };
}
