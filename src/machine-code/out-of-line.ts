// Which inlined helpers of a candidate's chain the code calls by their own symbol, so that their drops are
// reported inside those symbols and not in this function. A call of `helper` or of a clone gcc made of all of it
// (`helper.constprop.0`, `helper.isra.0`) is the helper out of line. A call of `helper.part.0` is not: gcc's
// partial inlining (ipa-split) inlines the helper's head at each call and calls only its tail out of line, so the
// early returns of its head (`if (…) { dev_kfree_skb(skb); return; }`) are in the caller's code; what it calls
// further (the next helper of the chain) is most often in the tail, so a site behind it is still out of line.
// Names are compared as they are: `__foo` and `foo` are two functions.

/** The symbol's base name and whether it is a clone of the whole function (not an ipa-split part of it). */
function cloneOf(symbol: string): { base: string; whole: boolean } {
  const [base = symbol, ...suffix] = symbol.split('.');
  return { base, whole: !suffix.includes('part') };
}

/** The called symbols' base names, split into whole clones and ipa-split parts: once per set of symbols. */
const splitCache = new WeakMap<ReadonlySet<string>, { whole: Set<string>; part: Set<string> }>();

function calledBases(called: ReadonlySet<string>): { whole: Set<string>; part: Set<string> } {
  let out = splitCache.get(called);
  if (out === undefined) {
    out = { whole: new Set<string>(), part: new Set<string>() };
    for (const c of called) {
      const k = cloneOf(c);
      (k.whole ? out.whole : out.part).add(k.base);
    }
    splitCache.set(called, out);
  }
  return out;
}

/**
 * The helpers among `inlined` (a candidate's chain, outermost first) that the code calls out of line, given the
 * symbols it calls (call or jump): a whole clone anywhere in the chain, an ipa-split part before its last helper.
 */
export function outOfLineHelpers(inlined: readonly string[], called: ReadonlySet<string>): string[] {
  const { whole, part } = calledBases(called);
  return inlined.filter((h, i) => whole.has(h) || (part.has(h) && i < inlined.length - 1));
}

/** Whether the code calls only an ipa-split part of `helper` (`helper.part.N`), never the whole of it. */
export function splitHelper(helper: string, called: ReadonlySet<string>): boolean {
  const { whole, part } = calledBases(called);
  return part.has(helper) && !whole.has(helper);
}

/** Copies of a helper's code counted at most (a loop of calls says nothing more). */
export const MAX_INLINED_COPIES = 4;

/**
 * How many copies of `helper`'s head the function whose source is `body` holds when gcc split the helper (the code
 * calls `helper.part.N`, the out-of-line tail, and never the whole helper): each call of it there inlined the head,
 * with its own drop calls. 1 when the helper is not split so: a helper inlined whole at several calls is as often
 * merged back into one block, and counting it twice cost right answers elsewhere. At most MAX_INLINED_COPIES.
 */
export function inlinedCopies(body: string, helper: string, called: ReadonlySet<string>): number {
  if (!splitHelper(helper, called)) return 1;
  const calls = body.match(new RegExp(`(?<![\\w$.>])${helper.replace(/[$]/g, '\\$')}\\s*\\(`, 'g'))?.length ?? 0;
  return Math.min(MAX_INLINED_COPIES, Math.max(1, calls));
}
