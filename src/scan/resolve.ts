// From function and macro summaries to drop APIs (roots and wrappers, to a fixed point), drop sites,
// the helpers that reach them, and the names the scanner must still look for. Pure: it reads the
// summaries through a CallIndex (call-index.ts), which the scan loop keeps from round to round.
import { DEFERRED_FREES, DEFERRED_REPORTER, SEED_APIS, TRACEPOINT_CALLS, isGenericDropApi } from '../kernel/drop-functions.ts';
import type { CallEdge, DropApi, DropKind, DropSite, FunctionRecord } from '../model.ts';
import { inPassOrder, type CallIndex, type CallRef, type Def } from './call-index.ts';
import { reasonConstants } from './extract.ts';
import { forwardsCallersFree } from './forwarder.ts';
import type { CallSummary, FreeFormula, FunctionSummary, MacroSummary } from './summary.ts';
import { compareText } from '../text-order.ts';

export type { FileUnits } from './call-index.ts';

/** What the scanner must still look for after a round, and the whole resolution when asked. */
export interface RoundResolution {
  globalNames: Set<string>;
  localNames: Map<string, Set<string>>;
  sourceNames: Set<string>;
  /**
   * Where the search may have to read files that do not mention skbs: the file of each extern function
   * that ends by freeing (its callers, in the same directory, need not mention skbs: fs/quota/dquot.c
   * calling quota_send_warning), and per file the functions it hands a function to that no parsed file
   * defines (ptr_ring_cleanup, in a header that only sees `void *`).
   */
  tailFiles: Map<string, string>;
  handOffCallees: Map<string, Set<string>>;
  /**
   * The sites, functions and edges of this round's summaries, built only for the round that ends the
   * search: call it before more summaries are added to the index.
   */
  complete(): Resolution;
}

export interface Resolution {
  apis: DropApi[];
  /** True when the tree had no root and the built-in seed list was used. */
  usedSeeds: boolean;
  sites: DropSite[];
  functions: FunctionRecord[];
  edges: CallEdge[];
  /** Names every candidate file must be searched for, and names only one file must be. */
  globalNames: Set<string>;
  localNames: Map<string, Set<string>>;
  /** Names only .c files must be searched for: the extern functions that end by freeing (their callers). */
  sourceNames: Set<string>;
}

interface ApiEntry {
  api: DropApi;
  /** Static, inline or a macro: its code lands in its callers. */
  transparent: boolean;
  /** `noinline`/`__fix_address`: stays out of line even for callers in its own file. */
  noinline: boolean;
}

/**
 * Whether the compiler puts an API's code into a caller in `file`: always for inline functions and
 * macros; for other functions of the same file unless they are marked noinline (6.12's
 * `__sk_skb_reason_drop` is inlined into `sk_skb_reason_drop`, which is `__fix_address`).
 */
const inlinedInto = (e: ApiEntry, file: string): boolean => e.transparent || (e.api.file === file && !e.noinline);

const isHeader = (file: string): boolean => file.endsWith('.h');
const TRACE_NAMES = new Set(Object.keys(TRACEPOINT_CALLS));
/**
 * How many levels of inlined helpers a location may hide a site behind. Two levels cover a static
 * helper calling a header inline (the common case); the third reaches chains such as `__bpf_redirect` →
 * `__bpf_redirect_no_mac` → `__bpf_rx_skb_no_mac` → `____dev_forward_skb`, at the cost of more search
 * rounds and parsed pieces (README). Deeper would multiply what must be parsed.
 */
const MAX_HELPER_DEPTH = 3;
/** How many inline functions a function pointer may be handed through before it is called. */
const MAX_POINTER_HOPS = 4;
const RETURN_ADDRESS = /^__builtin_return_address\s*\(\s*0\s*\)$/;

/** One round of the search: what the summaries gathered so far in `index` make of the tree. */
export function resolveRound(index: CallIndex): RoundResolution {
  const { files, localFns, fileOf, callersOf, macroUsers } = index;
  /** A callee the compiler can inline here: a function of the same file, or one defined in a header. */
  const inlineable = (file: string, name: string): Def | null => index.inlineable(file, name);

  const globalApis = new Map<string, ApiEntry>();
  const localApis = new Map<string, Map<string, ApiEntry>>();
  const lookupApi = (file: string, name: string): ApiEntry | undefined =>
    localApis.get(file)?.get(name) ?? globalApis.get(name);
  const addApi = (file: string, scopeLocal: boolean, entry: ApiEntry): void => {
    if (scopeLocal) {
      let m = localApis.get(file);
      if (m === undefined) localApis.set(file, (m = new Map()));
      if (!m.has(entry.api.name)) m.set(entry.api.name, entry);
    } else if (!globalApis.has(entry.api.name)) {
      globalApis.set(entry.api.name, entry);
    }
  };
  const linkage = (fn: FunctionSummary): DropApi['linkage'] =>
    fn.isStatic ? (fn.isInline ? 'static inline' : 'static') : 'extern';

  // 1. Roots: functions that fire the skb tracepoints themselves.
  const tracing = new Set<FunctionSummary>();
  for (const { file, fn } of inPassOrder([...TRACE_NAMES].map((n) => callersOf.get(n)))) {
    if (tracing.has(fn)) continue;
    tracing.add(fn);
    const traces = fn.calls.filter((c) => TRACE_NAMES.has(c.callee));
    if (traces.length === 0) continue;
    const first = traces[0];
    if (first === undefined) continue;
    const skbArg = fn.params.indexOf(first.args[0] ?? '');
    if (skbArg < 0) continue; // net_tx_action: frees a queued skb, reported at its own address
    const kinds = [...new Set(traces.map((c) => TRACEPOINT_CALLS[c.callee as keyof typeof TRACEPOINT_CALLS]))].sort();
    const dropTrace = traces.find((c) => c.callee === 'trace_kfree_skb');
    const reasonText = dropTrace?.args[2];
    let reasonArg: number | null = reasonText === undefined ? null : fn.params.indexOf(reasonText);
    if (reasonArg === -1) reasonArg = fn.reasonParams[0] ?? null;
    const reportsCaller = traces.every((c) => c.args.length < 2 || RETURN_ADDRESS.test(c.args[1] ?? ''));
    addApi(file, !isHeader(file) && fn.isStatic, {
      api: {
        name: fn.name, role: 'root', locationAt: reportsCaller ? 'caller' : 'inside', reportedIn: reportsCaller ? null : fn.name,
        kinds, skbArg, reasonArg, impliedReason: reasonArg === null && reasonText !== undefined ? reasonConstants(reasonText)[0] ?? null : null,
        ownReasons: [], forwardsTo: null, file, line: fn.startLine, linkage: linkage(fn), forwarder: false,
      },
      transparent: fn.isStatic || fn.isInline,
      noinline: fn.isNoinline,
    });
  }
  const usedSeeds = globalApis.size === 0 && [...localApis.values()].every((m) => m.size === 0);
  if (usedSeeds) {
    for (const s of SEED_APIS) {
      addApi('', false, {
        api: { ...s, kinds: [...s.kinds], role: 'seed', locationAt: 'caller', reportedIn: null, ownReasons: [], forwardsTo: null, file: '', line: 0, linkage: 'extern', forwarder: false },
        transparent: false,
        noinline: true,
      });
    }
  }
  for (const name of DEFERRED_FREES) {
    const def = [...files].find(([, u]) => u.functions.some((f) => f.name === name && !f.isStatic));
    if (def === undefined) continue;
    const fn = def[1].functions.find((f) => f.name === name);
    if (fn === undefined) continue;
    addApi(def[0], false, {
      api: {
        name, role: 'seed', locationAt: 'fixed', reportedIn: DEFERRED_REPORTER, kinds: ['consume', 'drop'], skbArg: 0,
        reasonArg: fn.params.length > 1 ? 1 : null, impliedReason: null, ownReasons: [], forwardsTo: null,
        file: def[0], line: fn.startLine, linkage: linkage(fn), forwarder: false,
      },
      transparent: false,
      noinline: true,
    });
  }

  // 2. Wrappers, to a fixed point: functions that free a parameter on every path, and macros that
  // pass a parameter on to a drop API.
  const freesParam = (file: string, fn: FunctionSummary, f: FreeFormula, p: string): CallSummary | null => {
    switch (f.t) {
      case 'call': {
        const c = fn.calls[f.i];
        if (c === undefined) return null;
        const a = lookupApi(file, c.callee);
        return a !== undefined && a.api.name !== fn.name && c.args[a.api.skbArg] === p ? c : null;
      }
      case 'all': {
        // Every branch frees; name the branch that frees at once over one that defers (dev_kfree_skb_any).
        let best: CallSummary | null = null;
        for (const g of f.of) {
          const c = freesParam(file, fn, g, p);
          if (c === null) return null;
          if (best === null || lookupApi(file, best.callee)?.api.locationAt === 'fixed') best = c;
        }
        return best;
      }
      case 'seq':
        for (const item of f.of) {
          const c = freesParam(file, fn, item.f, p);
          if (c !== null) return c;
          if (item.stop !== null && item.stop !== p) return null;
        }
        return null;
      case 'loop':
        return f.v === p ? freesParam(file, fn, f.body, p) : null;
      case 'never':
        return null;
    }
  };
  const wrapperApi = (
    file: string, name: string, line: number, params: string[], call: { callee: string; args: string[] }, skbArg: number,
    link: DropApi['linkage'], transparent: boolean, noinline: boolean, ownReasons: string[],
  ): ApiEntry | null => {
    const d = lookupApi(file, call.callee);
    if (d === undefined) return null;
    const reasonText = d.api.reasonArg === null ? null : call.args[d.api.reasonArg] ?? null;
    const reasonParam = reasonText === null ? -1 : params.indexOf(reasonText);
    const implied = d.api.reasonArg === null ? d.api.impliedReason
      : reasonParam >= 0 ? null : reasonConstants(reasonText ?? '')[0] ?? null;
    let kinds: DropKind[] = d.api.kinds;
    if (implied === 'CONSUMED') kinds = ['consume'];
    else if (implied !== null && kinds.includes('drop')) kinds = ['drop'];
    // Provisional: settled for the whole chain once every wrapper is known (settleLocations).
    const locationAt = d.api.locationAt === 'fixed' ? 'fixed' : 'caller';
    const reportedIn = d.api.locationAt === 'fixed' ? d.api.reportedIn : null;
    return {
      api: {
        name, role: 'wrapper', locationAt, reportedIn, kinds, skbArg,
        reasonArg: reasonParam >= 0 ? reasonParam : null, impliedReason: implied,
        ownReasons: reasonParam < 0 && implied === null ? ownReasons : [],
        forwardsTo: d.api.name, file, line, linkage: link, forwarder: false,
      },
      transparent,
      noinline,
    };
  };
  // Who calls what, by name (index.callersOf, index.macroUsers): the fixed points below revisit only the callers of what changed.
  // Static functions passed as an argument to a function-like macro or an inline function (NF_HOOK's
  // okfn, INDIRECT_CALL_2's candidates): once the callee is inlined, gcc inlines the call through the
  // pointer too, so their sites can carry the caller's symbol. Only names of the same file count.
  // The packet must travel with the pointer (NF_HOOK(..., skb, ..., okfn)): INIT_WORK(&w, fn) only stores it.
  const callsThrough = (file: string, call: CallSummary): boolean =>
    (/^[A-Z][A-Z0-9_]*$/.test(call.callee) || inlineable(file, call.callee)?.fn.isInline === true)
    && call.args.some((a) => /\bskb\b/.test(a));
  // A function-like macro that calls one of its parameters (`#define CALL_RXH(rxh) do { res = rxh(rx); … } while (0)`,
  // often defined inside the function that uses it): a name passed there is called directly, packet or not.
  const headerMacros = new Map<string, MacroSummary>();
  for (const [file, units] of files) if (isHeader(file)) for (const m of units.macros) if (!headerMacros.has(m.name)) headerMacros.set(m.name, m);
  const macroCalledParams = (file: string, name: string): Set<number> | null => {
    if (!/^[A-Za-z_]\w*$/.test(name)) return null;
    const m = files.get(file)?.macros.find((x) => x.name === name) ?? headerMacros.get(name);
    if (m === undefined) return null;
    const called = new Set<number>();
    for (const c of m.calls) {
      const k = m.params.indexOf(c.callee);
      if (k >= 0) called.add(k);
    }
    return called.size > 0 ? called : null;
  };
  /** By the name passed: every call that passes it. Read by the helper search and, once, for the edges. */
  const argUsers = new Map<string, Array<{ file: string; fn: FunctionSummary; call: CallSummary; target: FunctionSummary }>>();
  const passingStatics: Array<readonly CallRef[] | undefined> = [];
  for (const [file, passed] of index.passedIn) {
    const fns = localFns.get(file);
    if (isHeader(file) || fns === undefined) continue;
    const fewer = passed.size < fns.size;
    for (const name of fewer ? passed.keys() : fns.keys()) if (fns.get(name)?.isStatic === true) passingStatics.push(passed.get(name));
  }
  for (const { file, fn, call } of inPassOrder(passingStatics)) {
    const through = callsThrough(file, call);
    const called = through ? null : macroCalledParams(file, call.callee);
    if (!through && called === null) continue;
    for (const arg of new Set(call.args.filter((_a, k) => through || called?.has(k) === true))) {
      const target = localFns.get(file)?.get(arg);
      if (target === undefined || target === fn || !target.isStatic) continue;
      let list = argUsers.get(arg);
      if (list === undefined) argUsers.set(arg, (list = []));
      list.push({ file, fn, call, target });
    }
  }
  const tryFunction = (file: string, fn: FunctionSummary): string | null => {
    const scopeLocal = !isHeader(file) && fn.isStatic;
    if (scopeLocal ? localApis.get(file)?.has(fn.name) : globalApis.has(fn.name)) return null;
    for (let j = 0; j < fn.params.length; j++) {
      const p = fn.params[j];
      if (p === undefined || p === '') continue;
      const call = freesParam(file, fn, fn.formula, p);
      if (call === null) continue;
      const own = reasonsOfVariable(fn, call, lookupApi(file, call.callee)?.api.reasonArg ?? null);
      const entry = wrapperApi(file, fn.name, fn.startLine, fn.params, call, j, linkage(fn), fn.isStatic || fn.isInline, fn.isNoinline, own);
      if (entry === null) return null;
      // Branches may free differently (consume on success, drop on error): the wrapper can do both.
      const kinds = new Set(entry.api.kinds);
      for (const c of fn.calls) {
        const a = lookupApi(file, c.callee);
        if (a !== undefined && a.api.name !== fn.name && c.args[a.api.skbArg] === p) for (const k of callKinds(a.api, c)) kinds.add(k);
      }
      entry.api.kinds = [...kinds].sort();
      entry.api.forwarder = forwardsCallersFree(fn, file, j, (c) => {
        const a = lookupApi(file, c.callee)?.api;
        return a === undefined || a.name === fn.name ? undefined : a;
      });
      addApi(file, scopeLocal, entry);
      return fn.name;
    }
    return null;
  };
  const tryMacro = (file: string, m: MacroSummary): string | null => {
    const scopeLocal = !isHeader(file);
    if (scopeLocal ? localApis.get(file)?.has(m.name) : globalApis.has(m.name)) return null;
    for (const call of m.calls) {
      const d = lookupApi(file, call.callee);
      if (d === undefined || d.api.name === m.name) continue;
      const skbArg = m.params.indexOf(call.args[d.api.skbArg] ?? '');
      if (skbArg < 0) continue;
      const entry = wrapperApi(file, m.name, m.line, m.params, call, skbArg, 'macro', true, false, []);
      if (entry === null) return null;
      addApi(file, scopeLocal, entry);
      return m.name;
    }
    return null;
  };
  const work = [...globalApis.keys(), ...[...localApis.values()].flatMap((m) => [...m.keys()])];
  for (let name = work.pop(); name !== undefined; name = work.pop()) {
    for (const c of callersOf.get(name) ?? []) {
      const added = tryFunction(c.file, c.fn);
      if (added !== null) work.push(added);
    }
    for (const u of macroUsers.get(name) ?? []) {
      const added = tryMacro(u.file, u.macro);
      if (added !== null) work.push(added);
    }
  }

  // Where the location lands for a call of each API: follow the chain down to the root, opening a
  // new frame at every call the compiler does not inline. The root's __builtin_return_address(0)
  // points into the frame above the one that fires; when that frame is the API's caller, the location
  // is the call itself.
  const settle = (file: string, e: ApiEntry): void => {
    if (e.api.role !== 'wrapper') return;
    const frames: string[] = [e.transparent ? '' : e.api.name];
    let cur = e;
    for (let hops = 0; cur.api.forwardsTo !== null && hops < 20; hops++) {
      const next = lookupApi(cur.api.file || file, cur.api.forwardsTo);
      if (next === undefined) break;
      if (!inlinedInto(next, cur.api.file || file)) frames.push(next.api.name);
      cur = next;
    }
    if (cur.api.locationAt === 'fixed') {
      e.api.locationAt = 'fixed';
      e.api.reportedIn = cur.api.reportedIn;
      return;
    }
    const above = frames.length >= 2 ? frames[frames.length - 2] ?? '' : '';
    e.api.locationAt = above === '' ? 'caller' : 'inside';
    e.api.reportedIn = above === '' ? null : above;
  };
  for (const e of globalApis.values()) settle(e.api.file, e);
  for (const [file, m] of localApis) for (const e of m.values()) settle(file, e);

  // 3. Sites: every call of an API; then the reasons that reach each one.
  const returnReasons = (file: string, name: string): string[] => inlineable(file, name)?.fn.returnReasons ?? [];
  const reasonsOf = (file: string, fn: FunctionSummary, text: string, depth: number, call?: CallSummary): string[] => {
    const constants = reasonConstants(text);
    if (constants.length > 0 || !/^[A-Za-z_]\w*$/.test(text)) return constants;
    const out = new Set<string>();
    const j = fn.params.indexOf(text);
    const fromCallers = (): void => {
      if (j < 0 || depth >= 4) return;
      for (const caller of callersOf.get(fn.name) ?? []) {
        if (caller.file !== file && !isHeader(file) && fn.isStatic) continue;
        const arg = caller.call.args[j];
        if (arg !== undefined) for (const r of reasonsOf(caller.file, caller.fn, arg, depth + 1, caller.call)) out.add(r);
      }
    };
    // Flow-sensitive when the scanner traced the variable to this call; else every value it is given.
    const reaching = call?.reaching?.[text];
    if (reaching !== undefined) {
      for (const r of reaching) {
        if (r === '?') fromCallers();
        else if (r.startsWith('=')) for (const x of returnReasons(file, r.slice(1))) out.add(x);
        else out.add(r);
      }
      if (out.size > 0) return [...out].sort();
    }
    for (const a of fn.assigns) {
      if (a.variable !== text) continue;
      for (const r of a.reasons) out.add(r);
      if (a.fromCall !== null) for (const r of returnReasons(file, a.fromCall)) out.add(r);
    }
    fromCallers();
    return [...out].sort();
  };
  const viaOf = (file: string, api: DropApi): string[] => {
    const via: string[] = [];
    let cur: ApiEntry | undefined = { api, transparent: false, noinline: false };
    let curFile = file;
    while (cur?.api.forwardsTo != null && via.length < 10) {
      via.push(cur.api.forwardsTo);
      curFile = cur.api.file || curFile;
      cur = lookupApi(curFile, cur.api.forwardsTo);
    }
    return via;
  };
  /** The calls that are sites, in the order found: their records are built only when the round completes. */
  const siteCalls: Array<{ file: string; fn: FunctionSummary; call: CallSummary; entry: ApiEntry; tail: boolean }> = [];
  const siteFns = new Set<FunctionSummary>();
  /** Extern functions that end by freeing: a caller in another file reports their tail-call drops. */
  const tailFns = new Map<string, Def>();
  /** Calls of a non-generic wrapper whose body lands in the caller: the wrapper's own free is the site there. */
  const wrapperCalls = new Map<FunctionSummary, Array<{ call: CallSummary; wrapper: Def }>>();
  const siteRecord = ({ file, fn, call, entry, tail }: (typeof siteCalls)[number]): DropSite => {
    const api = entry.api;
    const reasonText = api.reasonArg === null ? null : call.args[api.reasonArg] ?? null;
    let reasons: string[];
    if (reasonText !== null) reasons = reasonsOf(file, fn, reasonText, 0, call);
    else if (api.impliedReason !== null) reasons = [api.impliedReason];
    else reasons = [...api.ownReasons];
    const consumeOnly = api.kinds.length === 1 && api.kinds[0] === 'consume';
    const kind: DropKind = consumeOnly || (reasons.length > 0 && reasons.every((r) => r === 'CONSUMED')) ? 'consume' : 'drop';
    if (consumeOnly) reasons = [];
    return {
      file, line: call.line, endLine: Math.max(call.line, call.stmtEndLine), column: call.column,
      function: fn.name, functionStartLine: fn.startLine, api: api.name, reasonText,
      reason: reasons.length === 1 ? reasons[0] ?? null : null, reasons, kind,
      via: viaOf(file, api), reportedIn: api.locationAt === 'caller' ? null : api.reportedIn, tail,
    };
  };
  const addSite = (file: string, fn: FunctionSummary, call: CallSummary, entry: ApiEntry, viaPointer: boolean): void => {
    const api = entry.api;
    // The function's last statement, and the location is at the call: a jump, reported at its caller.
    const tail = !viaPointer && call.tail === true && api.locationAt === 'caller';
    siteCalls.push({ file, fn, call, entry, tail });
    siteFns.add(fn);
    if (tail && !fn.isStatic && !fn.isInline && !isHeader(file)) tailFns.set(fn.name, { file, fn });
    // A wrapper of a .c file decides the drop (isGenericDropApi): where gcc inlines it, the location's
    // line is its own free, reached through this call. A header function calling an extern wrapper is
    // compiled out of line in that wrapper's file (dst_discard in net/core/dst.c), which inlines it.
    const def = api.file === '' ? undefined : localFns.get(api.file)?.get(api.name);
    if (def !== undefined && def !== fn && !isGenericDropApi(api) && (inlinedInto(entry, file) || (isHeader(file) && !entry.noinline))) {
      let list = wrapperCalls.get(fn);
      if (list === undefined) wrapperCalls.set(fn, (list = []));
      list.push({ call, wrapper: { file: api.file, fn: def } });
    }
  };
  const apiNames = new Set<string>([...globalApis.keys(), ...[...localApis.values()].flatMap((m) => [...m.keys()])]);
  for (const { file, fn, call } of inPassOrder([...apiNames].map((n) => callersOf.get(n)))) {
    const entry = lookupApi(file, call.callee);
    if (entry !== undefined) addSite(file, fn, call, entry, false);
  }

  // 3b. Function pointers handed to inline code: a function that calls one of its parameters
  // (`destroy(ptr)`), itself or through the inline functions it passes the parameter on to, makes a
  // direct call once inlined into a caller that passes a function by name. A drop API passed so
  // (ptr_ring_cleanup(r, __skb_array_destroy_skb)) makes that call a site; a static function of the
  // caller's file that drops (a qdisc's drop_func given to codel_dequeue) is a helper behind it.
  interface PointerCall { file: string; fn: FunctionSummary; call: CallSummary }
  const pointerCalls = new Map<FunctionSummary, Map<number, PointerCall[]>>();
  const addPointerCall = (fn: FunctionSummary, j: number, pc: PointerCall): boolean => {
    let m = pointerCalls.get(fn);
    if (m === undefined) pointerCalls.set(fn, (m = new Map()));
    let list = m.get(j);
    if (list === undefined) m.set(j, (list = []));
    if (list.some((x) => x.call === pc.call)) return false;
    list.push(pc);
    return true;
  };
  for (const { file, fn, call, param } of index.paramCalls) addPointerCall(fn, param, { file, fn, call });
  // Only the calls of functions that call a parameter: found through callersOf, not by a pass over every call.
  const handOffs = (visit: (file: string, fn: FunctionSummary, call: CallSummary, callee: FunctionSummary, inner: Map<number, PointerCall[]>) => void): void => {
    for (const [callee, inner] of [...pointerCalls]) {
      for (const c of callersOf.get(callee.name) ?? []) {
        if (c.fn === callee || inlineable(c.file, callee.name)?.fn !== callee) continue;
        visit(c.file, c.fn, c.call, callee, inner);
      }
    }
  };
  for (let round = 0, grew = true; grew && round < MAX_POINTER_HOPS; round++) {
    grew = false;
    handOffs((_file, fn, call, _callee, inner) => {
      for (const [k, list] of inner) {
        const j = fn.params.indexOf(call.args[k] ?? '');
        if (j >= 0) for (const pc of list) if (addPointerCall(fn, j, pc)) grew = true;
      }
    });
  }
  const boundSites = new Set<string>();
  handOffs((file, fn, call, _callee, inner) => {
    for (const [k, list] of inner) {
      const name = call.args[k] ?? '';
      if (!/^[A-Za-z_]\w*$/.test(name) || fn.params.includes(name)) continue;
      const entry = lookupApi(file, name);
      if (entry !== undefined && isGenericDropApi(entry.api)) {
        for (const pc of list) {
          const key = `${pc.file}:${pc.call.line}:${pc.call.column}:${name}`;
          if (boundSites.has(key)) continue;
          boundSites.add(key);
          addSite(pc.file, pc.fn, { ...pc.call, callee: name }, entry, true);
        }
        continue;
      }
      // Static or not: gcc may inline a function of the same file into the direct call the inlined code makes of it
      // (an exported `tun_ptr_free` given to `ptr_ring_resize_multiple_bh`).
      const target = localFns.get(file)?.get(name);
      if (target === undefined || target === fn) continue;
      let users = argUsers.get(name);
      if (users === undefined) argUsers.set(name, (users = []));
      if (!users.some((u) => u.call === call && u.target === target)) users.push({ file, fn, call, target });
    }
  });

  // The inline code a function is handed to must be parsed to see that it calls it: look for the callees
  // of calls that pass a drop API or a static function that drops, and for the callees such a callee
  // passes its parameters on to.
  const isFunctionName = (file: string, a: string): boolean => {
    if (!/^[a-z_]\w*$/.test(a)) return false;
    if (lookupApi(file, a) !== undefined) return true;
    const local = localFns.get(file)?.get(a);
    return local !== undefined && local.isStatic && siteFns.has(local);
  };
  const handOffNames = new Set<string>();
  const handOffCallees = new Map<string, Set<string>>();
  /** Per function: the parameters some caller passes a function in. */
  const received = new Map<FunctionSummary, Set<number>>();
  const receivedWork: FunctionSummary[] = [];
  const handOff = (file: string, fn: FunctionSummary, call: CallSummary, passed: (a: string) => boolean): void => {
    // A forwarding macro hands its arguments to its function (call-index.ts macroTargets).
    const callee = index.macroTargets.get(call.callee) ?? call.callee;
    if (!/^[a-z_]\w*$/.test(callee) || lookupApi(file, callee) !== undefined) return;
    let def: Def | null | undefined;
    call.args.forEach((a, k) => {
      if (!passed(a)) return;
      def ??= inlineable(file, callee);
      if (def === null) {
        // Only where the code may run the pointer on a packet at once: a drop API passed, or the packet
        // passed with it (request_irq(irq, handler, …) and call_rcu(head, fn) only store it).
        if (lookupApi(file, a) !== undefined || fn.params.includes(a) || call.args.some((x) => /\bskb\b/.test(x))) {
          handOffNames.add(callee);
          let set = handOffCallees.get(file);
          if (set === undefined) handOffCallees.set(file, (set = new Set()));
          set.add(callee);
        }
        return;
      }
      let set = received.get(def.fn);
      if (set === undefined) received.set(def.fn, (set = new Set()));
      if (!set.has(k)) {
        set.add(k);
        receivedWork.push(def.fn);
      }
    });
  };
  // First the calls that pass the name of a drop API or of a static function that holds a site (index.passedBy).
  const functionNames = new Set<string>(apiNames);
  for (const fn of siteFns) if (fn.isStatic) functionNames.add(fn.name);
  for (const { file, fn, call } of inPassOrder([...functionNames].map((n) => index.passedBy.get(n)))) {
    handOff(file, fn, call, (a) => functionNames.has(a) && isFunctionName(file, a) && !fn.params.includes(a));
  }
  // Then what the receivers pass on of the parameters they were given, a bounded number of times.
  for (let i = 0; i < receivedWork.length && i < 10_000; i++) {
    const fn = receivedWork[i];
    if (fn === undefined) continue;
    const file = fileOf.get(fn);
    const mine = received.get(fn);
    if (file === undefined || mine === undefined) continue;
    for (const call of fn.calls) handOff(file, fn, call, (a) => mine.has(fn.params.indexOf(a)));
  }

  // 4. Helpers: functions the compiler may inline into their callers and that reach a site.
  // Depth 0: holds a site; depth n: calls, and may inline, a helper of depth n - 1.
  const depth = new Map<FunctionSummary, number>();
  const reachWork: Array<{ file: string; fn: FunctionSummary }> = [];
  for (const [file, units] of files) {
    for (const fn of units.functions) {
      if (siteFns.has(fn)) {
        depth.set(fn, 0);
        reachWork.push({ file, fn });
      }
    }
  }
  // Callers in other files of extern functions that end by freeing (`tcp_rcv_established` from
  // tcp_v4_do_rcv): gcc turns the final call into a jump, so the drop is reported at that caller.
  const tailEdges = new Map<FunctionSummary, Array<{ call: CallSummary; callee: Def }>>();
  for (const [name, def] of tailFns) {
    for (const c of callersOf.get(name) ?? []) {
      if (c.file === def.file || lookupApi(c.file, name) !== undefined || inlineable(c.file, name) !== null) continue;
      let list = tailEdges.get(c.fn);
      if (list === undefined) tailEdges.set(c.fn, (list = []));
      list.push({ call: c.call, callee: def });
    }
  }
  // A function that tail-calls such a callee is one step from a site: its own callers may inline it.
  for (const [file, units] of files) {
    for (const fn of units.functions) {
      if (tailEdges.has(fn) && !depth.has(fn)) {
        depth.set(fn, 1);
        reachWork.push({ file, fn });
      }
    }
  }
  for (let i = 0; i < reachWork.length; i++) {
    const h = reachWork[i];
    if (h === undefined) continue;
    const d = depth.get(h.fn) ?? 0;
    // A call of a generic drop API is a site of its own: the API's body is not a helper of its callers.
    if (isGenericDropApi(lookupApi(h.file, h.fn.name)?.api)) continue;
    for (const users of [callersOf.get(h.fn.name), argUsers.get(h.fn.name)]) {
      for (const c of users ?? []) {
        if (depth.has(c.fn) || c.fn === h.fn || inlineable(c.file, h.fn.name)?.fn !== h.fn) continue;
        // A header inline that only calls the helper is no level deeper: its callers are as near the site.
        const cd = headerForwarder(c.file, c.fn) === h.fn.name ? d : d + 1;
        if (cd > MAX_HELPER_DEPTH) continue;
        depth.set(c.fn, cd);
        reachWork.push({ file: c.file, fn: c.fn });
      }
    }
  }
  const reach = new Set<FunctionSummary>(depth.keys());
  const globalNames = new Set<string>();
  const localNames = new Map<string, Set<string>>();
  const addLocal = (file: string, name: string): void => {
    let s = localNames.get(file);
    if (s === undefined) localNames.set(file, (s = new Set()));
    s.add(name);
  };
  for (const [file, units] of files) {
    for (const fn of units.functions) {
      // Callers of a helper are searched for only while they stay within the depth we record.
      if ((depth.get(fn) ?? MAX_HELPER_DEPTH) >= MAX_HELPER_DEPTH) continue;
      if (isHeader(file)) globalNames.add(fn.name);
      else addLocal(file, fn.name);
    }
  }
  // Their callers live in .c files; a header would only declare them, and its chunks are costly to parse.
  const sourceNames = new Set(tailFns.keys());
  for (const n of handOffNames) globalNames.add(n);
  // The callers of a forwarding macro are its function's: searched for as that function is.
  for (const [m, target] of index.macroTargets) if (globalNames.has(target)) globalNames.add(m);
  const apis: DropApi[] = [];
  for (const e of globalApis.values()) {
    apis.push(e.api);
    globalNames.add(e.api.name);
  }
  for (const [file, m] of localApis) {
    for (const e of m.values()) {
      apis.push(e.api);
      addLocal(file, e.api.name);
    }
  }
  apis.sort((a, b) => compareText(a.file, b.file) || a.line - b.line || compareText(a.name, b.name));

  // The records of the index, for the round that ends the search (before more summaries are added).
  const complete = (): Resolution => {
    const functions: FunctionRecord[] = [];
    const edges: CallEdge[] = [];
    for (const [file, units] of files) {
      for (const fn of units.functions) {
        if (!reach.has(fn)) continue;
        functions.push({
          file, name: fn.name, startLine: fn.startLine, endLine: fn.endLine, startByte: fn.startByte, endByte: fn.endByte,
          isStatic: fn.isStatic, isInline: fn.isInline, isMacro: false,
        });
        for (const c of fn.calls) {
          // A forwarding macro's call is its function's (call-index.ts macroTargets).
          const callee = index.macroTargets.get(c.callee) ?? c.callee;
          const h = inlineable(file, callee);
          if (h === null || h.fn === fn || !reach.has(h.fn) || lookupApi(file, callee) !== undefined) continue;
          const kind = headerForwarder(file, fn) === callee ? 'forward' : 'inline';
          edges.push({ file, caller: fn.name, callerStartLine: fn.startLine, callee, calleeFile: h.file, line: c.line, args: c.args, kind, through: null });
        }
        for (const w of wrapperCalls.get(fn) ?? []) {
          edges.push({ file, caller: fn.name, callerStartLine: fn.startLine, callee: w.wrapper.fn.name, calleeFile: w.wrapper.file, line: w.call.line, args: w.call.args, kind: 'wrapper', through: null });
        }
        for (const t of tailEdges.get(fn) ?? []) {
          edges.push({ file, caller: fn.name, callerStartLine: fn.startLine, callee: t.callee.fn.name, calleeFile: t.callee.file, line: t.call.line, args: t.call.args, kind: 'tail', through: null });
        }
      }
    }
    for (const [arg, users] of argUsers) {
      for (const u of users) {
        if (!reach.has(u.fn) || !reach.has(u.target) || isGenericDropApi(lookupApi(u.file, arg)?.api)) continue;
        edges.push({ file: u.file, caller: u.fn.name, callerStartLine: u.fn.startLine, callee: arg, calleeFile: u.file, line: u.call.line, args: u.call.args, kind: 'callback', through: u.call.callee });
      }
    }
    const sites = siteCalls.map(siteRecord);
    sites.sort((a, b) => compareText(a.file, b.file) || a.line - b.line || a.column - b.column);
    return { apis, usedSeeds, sites, functions, edges, globalNames, localNames, sourceNames };
  };
  const tailFiles = new Map<string, string>();
  for (const [name, def] of tailFns) tailFiles.set(name, def.file);
  return { globalNames, localNames, sourceNames, tailFiles, handOffCallees, complete };
}

/**
 * The helper a header inline only forwards to, or null: its body is one call (forwarder.ts forwardShape) whose
 * arguments are its parameters and constants (`__skb_queue_purge(list)` is
 * `__skb_queue_purge_reason(list, SKB_DROP_REASON_QUEUE_PURGE)`). Always inlined and adding no code of its
 * own, it is no level of helpers deeper (MAX_HELPER_DEPTH): a driver's static helper calling it reaches the
 * site as a call of the helper itself would.
 */
function headerForwarder(file: string, fn: FunctionSummary): string | null {
  const shape = fn.forward;
  if (!isHeader(file) || !fn.isInline || shape === undefined || shape.frees.length !== 1 || shape.tests.length > 0) return null;
  const call = fn.calls[shape.frees[0] ?? -1];
  if (call === undefined) return null;
  const params = new Set(fn.params.filter((p) => p !== ''));
  const passed = (a: string): boolean => params.has(a) || /^[A-Z_][A-Z0-9_]*$/.test(a) || /^(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*$/.test(a);
  return call.args.every((a) => passed(a.trim())) ? call.callee : null;
}

/** What one call of an API can do: a constant reason argument settles drop or consume. */
function callKinds(api: DropApi, call: CallSummary): DropKind[] {
  const r = api.reasonArg === null ? api.impliedReason : reasonConstants(call.args[api.reasonArg] ?? '')[0] ?? null;
  if (r === null) return api.kinds;
  return r === 'CONSUMED' ? ['consume'] : api.kinds.includes('drop') ? ['drop'] : api.kinds;
}

/** Reasons a function picks for the reason argument of one of its calls, from its own assignments. */
function reasonsOfVariable(fn: FunctionSummary, call: CallSummary, reasonArg: number | null): string[] {
  if (reasonArg === null) return [];
  const text = call.args[reasonArg] ?? '';
  const constants = reasonConstants(text);
  if (constants.length > 0) return constants;
  const out = new Set<string>();
  for (const a of fn.assigns) if (a.variable === text) for (const r of a.reasons) out.add(r);
  return [...out].sort();
}
