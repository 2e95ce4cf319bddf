// Scoring candidates for one location from source alone. Pure: every input is a plain record, and
// every factor leaves an evidence string so that a user can see why a line ranks where it does.
import type { CallPlace, Candidate, DropSite, FunctionRecord } from '../model.ts';
import { compareText } from '../text-order.ts';
import type { Twins } from './twin-blocks.ts';

export interface RankInput {
  offset: number | null;
  size: number | null;
  reason: string | null;
  event: 'kfree_skb' | 'consume_skb';
  /** True when the event was named by the input rather than assumed. */
  eventGiven: boolean;
  isCold: boolean;
}

export interface RawCandidate {
  site: DropSite;
  /** The function the location names (its record in the index). */
  fn: FunctionRecord;
  /** Helpers from fn to the site's function. */
  via: string[];
  /** The line in fn where the site or the first helper is called: what the offset can be compared with. */
  anchorLine: number;
  /** Helpers that are neither static nor inline may stay out of line. */
  helperMayStayOutOfLine: boolean;
  /** Every helper on the way is static with a single call site: certainly inlined. */
  helpersCalledOnce: boolean;
  role: 'site' | 'caller';
  /** Reached through a call of this extern function, whose last statement frees (a tail call). */
  tailCallOf: string | null;
  /** Reached through a function passed to this macro or inline function (NF_HOOK's okfn). */
  passedTo: string | null;
  /** The function of the chain passed to `passedTo` (absent when `passedTo` is null). */
  passed?: string | null;
  /** The site is the free inside an inlined wrapper of a .c file: the call of the (outermost) wrapper. */
  calledAt: CallPlace | null;
  /** How many entries at the end of `via` are such wrappers (they are inlined: settled when indexed). */
  wrappers: number;
  /** The longest helper on the way that gcc inlines only by its own judgement (candidates.ts), else null. */
  outOfLine: OutOfLineHelper | null;
  /** The inline functions of headers on the way when every other helper is static and called once, else null. */
  headerChain: string[] | null;
}

/** A static helper of a .c file, not declared inline, called from several places: gcc inlines it only when it is short. */
export interface OutOfLineHelper { name: string; lines: number; calls: number }

/** Source-only weights of the mechanisms below, tuned on the tune halves of Debian 6.12 (bench/calibration). */
export const SOURCE_TUNING = {
  /** Such a helper by its length: up to `staticShort` lines (no factor), then up to `staticMedium`, then longer. */
  staticShort: 10, staticMedium: 20, staticMediumFactor: 0.6, staticLongFactor: 0.3,
  /**
   * Sites inside inline functions of headers, every other helper on the way static and called once, at any depth
   * (other helper chains: 0.7 one level deep, 0.6 deeper). 0.7 and 0.8 gave the same tune-half figures, 0.9 fewer.
   */
  headerChainFactor: 0.8,
};

/**
 * A helper that gcc inlines only by its own judgement: it weighs the body's size against the calls, so a long one
 * called from several places mostly stays out of line, and its drops are reported in its own symbol. On the tune
 * halves of Debian 6.12 such static helpers of 20 lines or more held a drop call of their caller 6 times in 475.
 */
function outOfLineFactor(c: RawCandidate, ev: string[]): number {
  const h = c.outOfLine;
  if (h === null || c.role !== 'site') return 1;
  const t = SOURCE_TUNING;
  const f = h.lines > t.staticMedium ? t.staticLongFactor : h.lines > t.staticShort ? t.staticMediumFactor : 1;
  if (f === 1) return 1;
  ev.push(`${h.name} is a static function called from ${h.calls} places, ${h.lines} lines long and not declared inline: gcc inlines such a function only when it is short, so its drops are most often reported in its own code`);
  return f;
}

const SIGMA = 0.2;
/** A free at the end of an extern callee, reported at this call through a tail call. */
// Tuned on bench/calibration (Debian 6.12): 0.8 keeps the function's own sites first on a tie. At 1.0
// tail-called drops rank better (top-1 80% against 73%) and plain locations worse (75.3% against 76.7%);
// over both sets, 0.6 to 1.0 all give 76 %.
const TAIL_CALL_FACTOR = 0.8;
/** A site in a function passed to a macro or inline function, which gcc inlined with it. */
const CALLBACK_FACTOR = 0.5;

const shortFile = (f: string): string => f.slice(f.lastIndexOf('/') + 1);
const pct = (x: number): string => `${Math.round(x * 100)}%`;

/** Relative position (0–1) of a line in a function's source. */
export function sourcePosition(fn: FunctionRecord, line: number): number {
  const span = Math.max(1, fn.endLine - fn.startLine);
  return Math.min(1, Math.max(0, (line - fn.startLine) / span));
}

function positionFactor(input: RankInput, c: RawCandidate, ev: string[]): number {
  if (input.offset === null || input.size === null || input.size <= 0) return 1;
  if (input.isCold) {
    ev.push('cold part of the function (an unlikely path): the offset is not compared');
    return 1;
  }
  const srcPos = sourcePosition(c.fn, c.anchorLine);
  const binPos = Math.min(1, input.offset / input.size);
  ev.push(`offset at ${pct(binPos)} of the function; ${c.via.length > 0 ? 'helper call' : 'site'} at ${pct(srcPos)} of its source`);
  // Weak on purpose: on Debian 6.12 (bench/calibration) gcc -O2 moves drop paths out of source order;
  // for pairs of sites in one function, binary order agreed with source order only 134 times in 277.
  const d = binPos - srcPos;
  return 0.85 + 0.15 * Math.exp(-(d * d) / (2 * SIGMA * SIGMA));
}

function reasonFactor(input: RankInput, s: DropSite, ev: string[]): number {
  if (input.reason === null) return 1;
  if (s.kind === 'consume' && s.reasons.length === 0) return 1; // judged by the event instead
  if (s.reasons.includes(input.reason)) {
    ev.push(s.reasons.length === 1 ? `reason ${input.reason} matches` : `reason ${input.reason} is one of the ${s.reasons.length} this call can pass`);
    return s.reasons.length === 1 ? 1 : 0.9;
  }
  if (s.reasons.length === 0) {
    ev.push(`the reason passed here (${s.reasonText ?? '?'}) could not be worked out`);
    return 0.3;
  }
  ev.push(`reason ${input.reason} cannot reach this call (it passes ${s.reasons.slice(0, 4).join(', ')}${s.reasons.length > 4 ? ', …' : ''})`);
  return 0.02;
}

function eventFactor(input: RankInput, s: DropSite, ev: string[]): number {
  const consumes = s.kind === 'consume' || s.reasons.includes('CONSUMED');
  if (input.event === 'consume_skb') {
    if (consumes) return 1;
    ev.push('a drop, but the event is consume_skb');
    return 0.05;
  }
  if (s.kind === 'consume' && !s.reasons.some((r) => r !== 'CONSUMED')) {
    ev.push(input.eventGiven ? 'a consume (consume_skb event), but the event is kfree_skb' : 'a consume: it fires consume_skb, not the kfree_skb event assumed here');
    return input.eventGiven ? 0.03 : 0.15;
  }
  return 1;
}

/** A call of a drop function whose drops the call graph says are reported inside another function. */
export const REPORTED_INSIDE_FACTOR = 0.05;

/**
 * What the candidate's place in the call graph says, whatever the location: reported elsewhere, behind a
 * tail call, inside helpers that must have been inlined, a call of the drop function named by the location.
 */
export function structuralFactor(c: RawCandidate, locationFunction: string, ev: string[], callerSettled = false, reportedHere = false, sourceOnly = false): number {
  const s = c.site;
  let f = 1;
  // The machine code may have shown that the function it is reported in ends with a tail call: then it is reported here.
  if (s.reportedIn !== null && s.reportedIn !== locationFunction && c.role === 'site' && !reportedHere) {
    ev.push(`calls ${s.api}, whose drops are reported inside ${s.reportedIn}, not here`);
    f *= REPORTED_INSIDE_FACTOR;
  }
  // Helpers between the symbol's function and the site (before the tail-called function, if any):
  // their code lands in this symbol only if gcc inlined them.
  const helpers = c.via.slice(0, c.via.length - c.wrappers);
  const inlined = c.tailCallOf !== null ? helpers.slice(0, -1) : helpers;
  if (c.wrappers > 0 && c.calledAt !== null) {
    const w = c.via.slice(c.via.length - c.wrappers);
    ev.push(`${w.join(' → ')} frees the packet it is given and is inlined where it is called (${shortFile(c.calledAt.file)}:${c.calledAt.line} in ${c.calledAt.function}): the drop is at its own line`);
  }
  if (c.tailCallOf !== null) {
    // The calling line, when known and not a wrapper's own call inside the tail-called function.
    const at = c.calledAt !== null && c.wrappers === 0 ? ` at ${c.calledAt.file}:${c.calledAt.line}` : inlined.length > 0 ? ` in ${inlined[inlined.length - 1] ?? ''}` : '';
    ev.push(`${c.tailCallOf} is not inlined here and ends with this free: gcc compiles that last call as a jump, so the drop is reported at the return from the call of ${c.tailCallOf}${at}`);
    f *= TAIL_CALL_FACTOR;
  }
  if (inlined.length > 0) {
    ev.push(`inside ${inlined.join(' → ')}, inlined into ${c.fn.name}`);
    if (c.passedTo !== null) {
      ev.push(`${c.passed ?? inlined[0] ?? ''} is passed as a function to ${c.passedTo}(): inlined only when that call is, and the call through the pointer with it`);
      f *= CALLBACK_FACTOR;
    }
    if (c.helpersCalledOnce) ev.push(`${inlined.join(', ')} ${inlined.length > 1 ? 'are' : 'is'} static and called once: always inlined`);
    // Source only: with the machine code (which sees whether a helper has a symbol of its own) it lowered the 6.12
    // modules report half, so that prior keeps the plain depth factor.
    else if (sourceOnly && c.headerChain !== null && c.headerChain.length > 0) {
      // Header inlines (through helpers surely inlined): on the tune halves of Debian 6.12, a site one header inline deep
      // was a call of the binary 63 % of the time and two deep 90 %, against 90 % for the function's own sites.
      const h = c.headerChain;
      ev.push(`${h.join(', ')} ${h.length > 1 ? 'are inline functions' : 'is an inline function'} of a header: inlined wherever called unless gcc finds it too long`);
      f *= SOURCE_TUNING.headerChainFactor;
    } else f *= inlined.length === 1 ? 0.7 : 0.6;
    if (c.helperMayStayOutOfLine) {
      ev.push(`${inlined[0] ?? ''} is not static: the compiler may keep it out of line`);
      f *= 0.5;
    }
  }
  if (c.role === 'caller') {
    // The machine code may have shown that this call is none of the location's drop calls: then this guess is not said.
    if (!callerSettled) ev.push(`a call of ${s.api}, whose drops show up as ${locationFunction}: one of these calls is the real drop site`);
    f *= 0.5;
  }
  return f;
}

/**
 * A site whose code is the same as a better-scored site's of the same function, its own or an inlined helper's
 * (twin-blocks.ts): gcc usually keeps one copy of such twins, so the first three candidates are better spent on
 * other code. Only the twins after the best of their group weigh less, so the first candidate does not change.
 */
// Twins across inlined helpers (tune halves of Debian 6.12, source-only top-3): vmlinux 96.8 % either way, modules
// 94.9 -> 95.1 %; without the equal-score exception for twins in two functions, vmlinux 96.8 -> 96.5 %.
// Tuned on the tune halves of Debian 6.12 (bench/calibration): vmlinux source-only top-3 95.6% -> 96.8%, modules
// 94.2% -> 94.6%; 0.7 to 0.9 all help, and only 0.85 lowers no other figure (0.5 and below cost top-1 in the report halves).
export const TWIN_FACTOR = 0.85;

function demoteTwins(scored: ReadonlyArray<{ c: RawCandidate; f: number; ev: string[] }>, twins: ReadonlyArray<Twins | null>): void {
  const best = new Map<string, { c: RawCandidate; f: number }>();
  scored.forEach((x, i) => {
    const t = twins[i];
    if (t === null || t === undefined) return;
    const y = best.get(t.key);
    // The same order as finishRanking's: the higher score, then the later line.
    if (y === undefined || x.f > y.f || (x.f === y.f && x.c.site.line > y.c.site.line)) best.set(t.key, x);
  });
  scored.forEach((x, i) => {
    const t = twins[i];
    const b = t === null || t === undefined ? undefined : best.get(t.key);
    if (t === null || t === undefined || b === undefined || b === x) return;
    const otherFunction = b.c.site.file !== x.c.site.file || b.c.site.functionStartLine !== x.c.site.functionStartLine;
    // Twins in two inlined functions scored the same: no source order says which copy gcc keeps, so neither weighs less.
    if (otherFunction && b.f === x.f) return;
    x.f *= TWIN_FACTOR;
    const where = otherFunction ? ` (in ${b.c.site.function}, inlined into the same function)` : '';
    x.ev.push(`the same code (${t.text}) as ${shortFile(b.c.site.file)}:${b.c.site.line}${where}${t.lines.length > 2 ? ` and ${t.lines.length - 2} more` : ''}: gcc usually merges such twins into one call, listed there`);
  });
}

/**
 * A free that is the last thing its function does (`tail` in the index), as a site of the location's own function:
 * gcc usually compiles it as a jump, whose drops are reported in the caller, so a call here is less likely.
 */
// On the tune halves of Debian 6.12 (bench/calibration) such sites are calls of the binary 69 % (vmlinux) and 33 %
// (modules) of the time, other sites 89 % and 86 %. Weight tuned there: 0.9 raises the modules' source-only top-1
// 75.1 -> 75.4 % and vmlinux's dropwatch form 74.5 -> 75.1 % and lowers nothing; 0.7 and below cost vmlinux top-1.
export const LAST_CALL_FACTOR = 0.9;

function lastCallFactor(c: RawCandidate, ev: string[]): number {
  if (!c.site.tail || c.role !== 'site' || c.tailCallOf !== null || c.via.length > 0) return 1;
  ev.push(`the last thing ${c.site.function} does: gcc often compiles it as a jump, and the drop is then reported in the caller`);
  return LAST_CALL_FACTOR;
}

/** `twins`: per candidate, the sites of the same function with the same code (twin-blocks.ts findTwins), or null. */
export function rankCandidates(input: RankInput, raw: readonly RawCandidate[], locationFunction: string, twins: ReadonlyArray<Twins | null> = []): Candidate[] {
  const scored = raw.map((c) => {
    const ev: string[] = [];
    const s = c.site;
    let f = reasonFactor(input, s, ev) * eventFactor(input, s, ev);
    if (c.role === 'site') f *= positionFactor(input, c, ev);
    f *= structuralFactor(c, locationFunction, ev, false, false, true);
    f *= outOfLineFactor(c, ev);
    f *= lastCallFactor(c, ev);
    return { c, f, ev };
  });
  demoteTwins(scored, twins);
  return finishRanking(scored);
}

/** Candidates with weights decided elsewhere (the machine code), in the same shape and order. */
export function rankByWeights(raw: readonly RawCandidate[], weights: readonly number[], evidence: ReadonlyArray<readonly string[]>): Candidate[] {
  return finishRanking(raw.map((c, i) => ({ c, f: weights[i] ?? 0, ev: [...(evidence[i] ?? [])] })));
}

function finishRanking(scored: ReadonlyArray<{ c: RawCandidate; f: number; ev: string[] }>): Candidate[] {
  const total = scored.reduce((a, x) => a + x.f, 0) || 1;
  return scored
    .map(({ c, f, ev }) => ({
      file: c.site.file, line: c.site.line, endLine: c.site.endLine, function: c.site.function, api: c.site.api,
      reason: c.site.reason, reasons: c.site.reasons, kind: c.site.kind, via: c.via, role: c.role,
      ...(c.calledAt !== null ? { calledAt: c.calledAt } : {}),
      score: Math.round((f / total) * 1000) / 1000, evidence: ev,
    }))
    // Ties: the later site first. Error paths converge on exit labels near a function's end (`drop:`,
    // `discard:`), and on Debian 6.12 this order ranked the true line first 1 point more often.
    .sort((a, b) => b.score - a.score || compareText(a.file, b.file) || b.line - a.line);
}
