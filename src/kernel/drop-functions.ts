// Kernel facts about the functions that free skbs. The index derives the real set from each tree
// (roots fire the tracepoints; wrappers are found to a fixed point); these lists only name the
// tracepoints and what no tree can tell us by itself.
import type { DropApi } from '../model.ts';

/** The skb tracepoints (include/trace/events/skb.h). A function calling one of these is a root. */
export const TRACEPOINT_CALLS = { trace_kfree_skb: 'drop', trace_consume_skb: 'consume' } as const;

/**
 * Frees that are deferred to the NET_TX softirq: the skb is queued on the per-CPU completion queue
 * and `net_tx_action` fires the tracepoint with its own address as the location
 * (net/core/dev.c, `trace_kfree_skb(skb, net_tx_action, ...)`). Nothing in the source ties the queue
 * to the tracepoint, so these are named here.
 */
export const DEFERRED_FREES = ['__dev_kfree_skb_irq', 'dev_kfree_skb_irq_reason'] as const;
export const DEFERRED_REPORTER = 'net_tx_action';

/**
 * A fallback for partial trees that do not contain net/core/skbuff.c: the drop functions of
 * 5.17–6.12 kernels. Used only when the tree itself yields no root, and reported as such.
 */
export const SEED_APIS: ReadonlyArray<Pick<DropApi, 'name' | 'kinds' | 'skbArg' | 'reasonArg' | 'impliedReason'>> = [
  { name: 'kfree_skb_reason', kinds: ['drop'], skbArg: 0, reasonArg: 1, impliedReason: null },
  { name: 'sk_skb_reason_drop', kinds: ['drop'], skbArg: 1, reasonArg: 2, impliedReason: null },
  { name: 'kfree_skb', kinds: ['drop'], skbArg: 0, reasonArg: null, impliedReason: 'NOT_SPECIFIED' },
  { name: 'consume_skb', kinds: ['consume'], skbArg: 0, reasonArg: null, impliedReason: null },
  { name: 'napi_consume_skb', kinds: ['consume'], skbArg: 0, reasonArg: null, impliedReason: null },
  { name: 'kfree_skb_list_reason', kinds: ['drop'], skbArg: 0, reasonArg: 1, impliedReason: null },
  { name: 'kfree_skb_list', kinds: ['drop'], skbArg: 0, reasonArg: null, impliedReason: 'NOT_SPECIFIED' },
];

/** Names to look for before anything is known about a tree. */
export const INITIAL_NAMES: readonly string[] = [...Object.keys(TRACEPOINT_CALLS), ...DEFERRED_FREES, DEFERRED_REPORTER];

/** The skb core: every drop function defined here is a generic one. */
const GENERIC_DROP_FILES: readonly string[] = ['net/core/skbuff.c'];

/**
 * The generic drop functions: those that fire the tracepoints (kfree_skb_reason, consume_skb, …), the
 * skb core's own (net/core/skbuff.c), the header inlines and macros that only forward to them
 * (kfree_skb, dev_kfree_skb_any, nlmsg_free), and the extern functions of a .c file whose body only
 * forwards its caller's free (`forwarder`: dev_kfree_skb_any_reason, 6.1's __dev_kfree_skb_any). A
 * helper defined in a .c file that frees otherwise (netlink_unicast_kernel, a qdisc's drop function,
 * dst_discard_out) is not one: it is where the drop is decided.
 */
export function isGenericDropApi(api: DropApi | undefined): boolean {
  if (api === undefined) return false;
  return api.role !== 'wrapper' || api.file.endsWith('.h') || api.linkage === 'macro' || GENERIC_DROP_FILES.includes(api.file) || api.forwarder;
}
