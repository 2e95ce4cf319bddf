// Types shared by every module. No logic lives here.

/** The skb tracepoint an event came from. */
export type DropEvent = 'kfree_skb' | 'consume_skb';

/** A parsed drop location: what every input format (a location, a trace line, a recording) boils down to. */
export interface DropLocation {
  /** The text the location was parsed from, trimmed. */
  input: string;
  /** Full symbol as given, e.g. `ip_rcv_finish_core.isra.0`; empty when only an address is known. */
  symbol: string;
  /** C function name: compiler suffixes (`.isra.0`, `.constprop.0`, `.part.0`, `.cold`, `.llvm.N`) stripped. */
  function: string;
  isCold: boolean;
  offset: number | null;
  size: number | null;
  module: string | null;
  address: bigint | null;
  /** Reason without the `SKB_DROP_REASON_` prefix (`NO_SOCKET`), or the raw `0x10002` tracefs prints for subsystem reasons. */
  reason: string | null;
  event: DropEvent | null;
}

/** `drop` frees on a drop path (the kfree_skb tracepoint), `consume` on a normal path (consume_skb). */
export type DropKind = 'drop' | 'consume';

/**
 * A drop API: a function or function-like macro whose call frees an skb through a tracepoint.
 * `root`: fires `trace_kfree_skb`/`trace_consume_skb` itself; `wrapper`: always forwards its skb to one.
 */
export interface DropApi {
  name: string;
  role: 'root' | 'wrapper' | 'seed';
  /** Where the tracepoint's location points when this API is called: at the call (`caller`),
   * inside this API's own out-of-line code (`inside`), or at a fixed function (`fixed`, e.g. net_tx_action). */
  locationAt: 'caller' | 'inside' | 'fixed';
  /** For `inside`/`fixed`: the function whose symbol the location carries. */
  reportedIn: string | null;
  kinds: DropKind[];
  skbArg: number;
  reasonArg: number | null;
  /** The reason this API fixes when it has no reason argument (`kfree_skb` → NOT_SPECIFIED). */
  impliedReason: string | null;
  /** Reasons the API's own body can give when it chooses them itself. */
  ownReasons: string[];
  /** The next API down the chain (null for roots). */
  forwardsTo: string | null;
  file: string;
  line: number;
  linkage: 'static' | 'static inline' | 'extern' | 'macro';
  /**
   * An extern wrapper of a .c file whose body only forwards its caller's free: a parameter other than
   * the skb chooses the free or is its reason (6.12's dev_kfree_skb_any_reason). Its caller decides the
   * drop, as for a header inline (isGenericDropApi; scan/forwarder.ts).
   */
  forwarder: boolean;
}

export interface FunctionRecord {
  file: string;
  name: string;
  startLine: number;
  endLine: number;
  startByte: number;
  endByte: number;
  isStatic: boolean;
  isInline: boolean;
  isMacro: boolean;
}

export interface DropSite {
  file: string;
  line: number;
  endLine: number;
  column: number;
  function: string;
  functionStartLine: number;
  api: string;
  /** Reason argument as written (`SKB_DROP_REASON_NO_SOCKET`, `drop_reason`), or null when the API has none. */
  reasonText: string | null;
  /** A single reason when the argument is a constant or the API implies one. */
  reason: string | null;
  /** Every reason that can reach the call (constants assigned to the variable, reasons passed by callers). */
  reasons: string[];
  kind: DropKind;
  /** Chain of APIs from the callee down to the function that fires the tracepoint. */
  via: string[];
  /** When the location is not reported at this call: the function whose symbol carries it. */
  reportedIn: string | null;
  /** The last thing its function does: gcc may compile it as a jump, and then the location is in the caller. */
  tail: boolean;
}

/** A call from a function to a helper (same file, or a static inline in a header) that reaches a site. */
export interface CallEdge {
  file: string;
  caller: string;
  callerStartLine: number;
  callee: string;
  calleeFile: string;
  line: number;
  args: string[];
  /**
   * inline: the callee's code may be inlined here; tail: an extern callee that ends by freeing;
   * callback: a static function passed to a macro or inline function (NF_HOOK's okfn), inlined with it;
   * wrapper: a call of a drop wrapper of a .c file (isGenericDropApi) inlined here, whose own free is the site;
   * forward: the only statement of a header inline (`__skb_queue_purge` calling `__skb_queue_purge_reason` with a
   * reason of its own), inlined like `inline` but no level of helpers deeper (scan/resolve.ts headerForwarder).
   */
  kind: 'inline' | 'tail' | 'callback' | 'wrapper' | 'forward';
  /** callback: the macro or inline function the callee is passed to. */
  through: string | null;
}

export interface DropReason {
  name: string;
  value: number;
  /** Which enum it comes from: `skb_drop_reason`, or a subsystem enum. */
  enumName: string;
  file: string;
  line: number;
  description: string;
}

export interface TreeInfo {
  root: string;
  version: string | null;
  indexedAt: string;
  gitHead: string | null;
}

/** A call in the source: where a wrapper whose own free is the site was called from. */
export interface CallPlace {
  file: string;
  line: number;
  function: string;
}

/** A site ranked for a drop location. */
export interface Candidate {
  file: string;
  line: number;
  endLine: number;
  function: string;
  api: string;
  reason: string | null;
  reasons: string[];
  kind: DropKind;
  /** Helpers from the location's function down to the site's function (empty: the site is in it). */
  via: string[];
  /** `site`: a drop site of the function or its helpers; `caller`: a call of the drop function named
   * by the location; `debuginfo`: the line the debug info names, when no indexed site matches it. */
  role: 'site' | 'caller' | 'debuginfo';
  /**
   * When the site is the free inside a wrapper of a .c file (tcp_drop_reason) that gcc inlined: the call of
   * that wrapper in the location's code, which tells this candidate from the other calls of the same wrapper.
   */
  calledAt?: CallPlace;
  score: number;
  evidence: string[];
}

export interface Explanation {
  input: string;
  symbol: string;
  function: string;
  offset: number | null;
  size: number | null;
  reason: string | null;
  event: 'kfree_skb' | 'consume_skb';
  exact: boolean;
  /**
   * Where the line came from: the source alone (ranked), a debug vmlinux, objects rebuilt from the tree, or the
   * source ranking weighed by the shipped image's machine code.
   */
  method: 'source' | 'debuginfo' | 'rebuilt' | 'machine-code';
  /**
   * For `rebuilt`: what was checked against the shipped kernel: its instructions (`code`, relocated
   * operands masked), its size (`size`), or nothing (`none`: no size was given, or the check failed).
   */
  verified: 'code' | 'size' | 'none';
  candidates: Candidate[];
  notes: string[];
}
