// Accuracy of `explain` against the ground truth of bench/calibration/build-truth.ts: for every real
// drop location of a Debian kernel, is the line its debug info names the first candidate (top-1) or
// among the first three (top-3)? Source-only in two input forms (perf/tracefs with size and reason;
// dropwatch with neither), and exact mode with the vmlinux.
import { readFileSync } from 'node:fs';
import { Explainer, isGenericDropApi, type CodeEvidence, type LocationQuery } from '../../src/explain/explain.ts';
import { openForRead } from '../../src/index/open.ts';
import { allEdges, allSites, listApis, listReasons, pickTree } from '../../src/index/read.ts';
import { sourceLines } from '../../src/explain/source-lines.ts';
import { loadKernelImage } from '../../src/binary/index.ts';
import { MachineCode, openMachineCode } from '../../src/machine-code/index.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { fromKernelImage } from '../../src/machine-code/code-image.ts';
import { createHash } from 'node:crypto';
import { functionOfSymbol } from '../../src/locate/location.ts';
import { explainExact } from '../../src/explain/exact.ts';

interface Frame { function: string; file: string; line: number }
interface Truth {
  symbol: string; offset: number; size: number; kind: string; tail: boolean; reason: string | null;
  event: 'kfree_skb' | 'consume_skb'; location: string; chain: Frame[];
  /** Module truth (build-module-truth.ts): the module, and for via-tail records the calling line's own chain. */
  module?: string; callChain?: Frame[];
}

export interface Accuracy { n: number; top1: number; top3: number }

/**
 * Locations whose true site is the free inside an inlined wrapper of a .c file (the index has a `wrapper`
 * edge to the site's function): how often the first candidate is the site, and how often it is the site
 * with its `calledAt` line equal to the calling frame of the truth (the next frame of another function).
 * Only locations where the wrapper is inlined into a caller count (not the wrapper's own out-of-line copy).
 */
export interface CalledAtAccuracy { n: number; siteRight: number; bothRight: number }

/** The frame that calls the site's function in an inline chain (innermost first): the next frame of another function. */
export function callingFrame(chain: readonly Frame[], site: Frame): Frame | null {
  const i = chain.indexOf(site);
  if (i < 0) return null;
  return chain.slice(i + 1).find((f) => f.function !== site.function) ?? null;
}

/** Is the first candidate the site, and is the call it names (calledAt) the calling frame's line? */
export function scoreCalledAt(acc: CalledAtAccuracy, first: { file: string; line: number; endLine: number; calledAt?: { file: string; line: number } } | undefined, site: Frame, caller: Frame | null): void {
  acc.n++;
  if (first === undefined || first.file !== site.file || site.line < first.line || site.line > first.endLine) return;
  acc.siteRight++;
  if (caller !== null && first.calledAt !== undefined && first.calledAt.file === caller.file && first.calledAt.line === caller.line) acc.bothRight++;
}

export interface EvaluationResult {
  truthFile: string;
  exact: Accuracy | null;
  /** Exact mode on the tail-called drops: the debug info names the call, the index the callee's final free. */
  exactViaTail: Accuracy | null;
  locations: number;
  excludedTailCalls: number;
  perf: Accuracy;
  /** Source-only perf form by half of the functions (the split of the machine-code figures). */
  perfHalves: Record<'tune' | 'report', Accuracy>;
  /** Source-only perf form on the locations whose true site is inside an inlined wrapper of a .c file. */
  calledAt: CalledAtAccuracy;
  dropwatch: Accuracy;
  /** Drops at the end of an extern function, compiled as a jump: reported at a call of that function (perf form). */
  viaTail: Accuracy;
  /** The truth names modules (build-module-truth.ts). */
  moduleSet: boolean;
  /** Via-tail records scored against the calling line instead of the tail call's line (callChain). */
  viaCallingLine: Accuracy;
  /** Machine-code mode on the via-tail records, against the tail call's line (both sets) and against the calling line (module set). */
  mcViaTail: Accuracy | null;
  mcViaCallingLine: Accuracy | null;
  /** The same against the calling line, where a candidate whose calledAt is that line also counts (source-only, machine code). */
  viaCallingLineAt: Accuracy;
  mcViaCallingLineAt: Accuracy | null;
  /** Via-tail records whose tail-calling function is not a drop function of the tree (its free is the line a user wants), source-only and machine code. */
  viaTailOwn: Accuracy;
  mcViaTailOwn: Accuracy | null;
  /**
   * The perf form without the size (so without the offset term): how often the truth is among the
   * best-scored candidates, and the top-1 expected when such ties are broken at random.
   */
  ties: { n: number; truthAmongBest: number; expectedTop1: number };
  /** Source-only perf form: among first candidates scored at least 0.9, how many are right. */
  confident: { n: number; right: number };
  /** Machine-code mode (--kernel), by half of the functions: tune (even hash) and report (odd hash). */
  machine: null | {
    image: string;
    /** --modules: the folder the module locations' code is read from (openMachineCode, as the CLI does). */
    modules: string | null;
    loadMs: number;
    explainMs: number;
    decoded: number;
    halves: Record<'tune' | 'report', { perf: Accuracy; dropwatch: Accuracy; confident: { n: number; right: number }; missedSiteNotes: number; noCall: number; calledAt: CalledAtAccuracy; merged: { n: number; truthNamed: number; top1Wrong: number; confirmed: number; earliest: number; latest: number } }>;
  };
  misses: string[];
}

/** The calibration split: a function's half from a hash of its name (even: tune, odd: report). */
export function halfOf(fn: string): 'tune' | 'report' {
  return (createHash('sha1').update(fn).digest()[0] ?? 0) % 2 === 0 ? 'tune' : 'report';
}

/** The first frame, innermost first, that is not inside a generic drop function: the drop site (a helper that frees is one). */
export function trueSite(chain: readonly Frame[], apis: ReadonlySet<string>): Frame | null {
  return chain.find((f) => !apis.has(f.function)) ?? null;
}

const blankCalledAt = (): CalledAtAccuracy => ({ n: 0, siteRight: 0, bothRight: 0 });
type Half = NonNullable<EvaluationResult['machine']>['halves']['tune'];
const blankHalf = (): Half =>
  ({ perf: { n: 0, top1: 0, top3: 0 }, dropwatch: { n: 0, top1: 0, top3: 0 }, confident: { n: 0, right: 0 }, missedSiteNotes: 0, noCall: 0, calledAt: blankCalledAt(), merged: { n: 0, truthNamed: 0, top1Wrong: 0, confirmed: 0, earliest: 0, latest: 0 } });

export async function evaluate(db: string, tree: string | undefined, truthFile: string, vmlinux?: string, kernel?: string, modules?: string, missLimit = 400): Promise<EvaluationResult> {
  const handle = openForRead(db);
  const t = pickTree(handle, tree, db);
  const explainer = new Explainer(handle, t);
  const apis = new Set(listApis(handle, t.id).filter(isGenericDropApi).map((a) => a.name));
  const truths = readFileSync(truthFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Truth);
  const perf: Accuracy = { n: 0, top1: 0, top3: 0 };
  const perfHalves: Record<'tune' | 'report', Accuracy> = { tune: { n: 0, top1: 0, top3: 0 }, report: { n: 0, top1: 0, top3: 0 } };
  const calledAt = blankCalledAt();
  const wrapperFns = new Set(allEdges(handle, t.id).filter((e) => e.kind === 'wrapper').map((e) => `${e.calleeFile}\0${e.callee}`));
  const dw: Accuracy = { n: 0, top1: 0, top3: 0 };
  const viaTail: Accuracy = { n: 0, top1: 0, top3: 0 };
  const viaCallingLine: Accuracy = { n: 0, top1: 0, top3: 0 };
  const mcViaTail: Accuracy = { n: 0, top1: 0, top3: 0 };
  const mcViaCallingLine: Accuracy = { n: 0, top1: 0, top3: 0 };
  const viaCallingLineAt: Accuracy = { n: 0, top1: 0, top3: 0 };
  const mcViaCallingLineAt: Accuracy = { n: 0, top1: 0, top3: 0 };
  const viaTailOwn: Accuracy = { n: 0, top1: 0, top3: 0 };
  const mcViaTailOwn: Accuracy = { n: 0, top1: 0, top3: 0 };
  const ties = { n: 0, truthAmongBest: 0, expectedTop1: 0 };
  const confident = { n: 0, right: 0 };
  let code: MachineCode | null = null;
  let machine: EvaluationResult['machine'] = null;
  if (modules !== undefined) {
    // The library call `dropsite explain --kernel --modules` makes, with every module the truth names opened up front.
    const t0 = performance.now();
    const moduleNames = [...new Set(truths.flatMap((tr) => (tr.module === undefined ? [] : [tr.module])))];
    const opened = await openMachineCode(handle, t, { kernel: kernel ?? null, modules, kallsyms: null, moduleNames });
    for (const p of opened.problems) console.error(`evaluate: ${p}`);
    code = opened.code;
    // The dropwatch form names no module: the CLI finds the modules of those functions before weighing (findModules).
    const t1 = performance.now();
    const bare = truths.filter((tr) => tr.module !== undefined).map((tr) => {
      const { function: fn, isCold } = functionOfSymbol(tr.symbol);
      return { input: tr.symbol, symbol: tr.symbol, function: fn, isCold, offset: tr.offset, size: null, module: null, reason: null, event: null };
    });
    for (const p of await opened.code.findModules(bare)) console.error(`evaluate: ${p}`);
    if (bare.length > 0) console.error(`evaluate: modules of ${new Set(bare.map((q) => q.symbol)).size} functions named without their module found in ${((performance.now() - t1) / 1000).toFixed(2)} s`);
    machine = { image: kernel ?? '(none)', modules, loadMs: performance.now() - t0, explainMs: 0, decoded: 0, halves: { tune: blankHalf(), report: blankHalf() } };
  } else if (kernel !== undefined) {
    const t0 = performance.now();
    const image = await loadKernelImage(kernel);
    const loadMs = performance.now() - t0;
    const reasons = new Map(listReasons(handle, t.id).filter((r) => r.enumName === 'skb_drop_reason').map((r) => [r.value, r.name]));
    code = new MachineCode({ image: fromKernelImage(image), modulesDir: null, apis: listApis(handle, t.id), reasons, lines: sourceLines(t.root), treeRoot: t.root, sites: allSites(handle, t.id) });
    machine = { image: kernel, modules: null, loadMs, explainMs: 0, decoded: 0, halves: { tune: blankHalf(), report: blankHalf() } };
  }
  const misses: string[] = [];
  // Every line each symbol's drop calls pass through (file name:line): a line named by a merged-block note
  // that no drop call of the symbol passes through has no call of its own (its code was merged).
  const linesOf = new Map<string, Set<string>>();
  for (const tr of truths) {
    const set = linesOf.get(tr.symbol) ?? new Set<string>();
    for (const f of tr.chain) set.add(`${f.file.replace(/^.*\//, '')}:${f.line}`);
    linesOf.set(tr.symbol, set);
  }
  let excluded = 0;
  const exactQueries: Array<{ q: LocationQuery; site: Frame; viaTail: boolean }> = [];
  for (const tr of truths) {
    if (tr.kind !== 'call' && tr.kind !== 'via-tail') {
      excluded++;
      continue;
    }
    // A call of a drop function that ends in a tail call (a driver's dev_kfree_skb_any): the tail call's chain
    // is all drop functions, so the site is the calling line (callChain, recorded by both truth builders).
    const chainSite = trueSite(tr.chain, apis);
    const callSite = tr.kind === 'via-tail' && tr.callChain !== undefined ? trueSite(tr.callChain, apis) : null;
    const site = chainSite ?? callSite;
    if (site === null) continue;
    let base: LocationQuery;
    if (tr.module !== undefined) {
      // A module location as a trace prints it (`sym+0xoff/0xsize [module]`), read by the CLI's parser.
      const l = parseLocation(tr.location);
      base = { input: l.input, symbol: l.symbol, function: l.function, isCold: l.isCold, offset: l.offset, size: l.size, module: l.module, reason: tr.reason, event: tr.event };
    } else {
      const { function: fn, isCold } = functionOfSymbol(tr.symbol);
      const m = /\/0x([0-9a-f]+)$/.exec(tr.location);
      const size = m?.[1] !== undefined ? parseInt(m[1], 16) : tr.size;
      base = { input: tr.location, symbol: tr.symbol, function: fn, isCold, offset: tr.offset, size, module: null, reason: tr.reason, event: tr.event };
    }
    const fn = base.function;
    // What dropwatch prints: `sym+hex`, no size, no reason, and no module name even for a module's function.
    const dropwatchForm: LocationQuery = { ...base, input: `${base.symbol}+${(base.offset ?? 0).toString(16)}`, size: null, module: null, reason: null, event: null };
    const caller = callingFrame(tr.chain, site);
    // Reached through a call: the wrapper inlined into a caller (not the wrapper's own out-of-line copy).
    const throughWrapper = caller !== null && wrapperFns.has(`${site.file}\0${site.function}`);
    const hit = (q: LocationQuery, acc: Accuracy, label: string, withCode?: CodeEvidence, conf?: { n: number; right: number }, onNotes?: (notes: string[], firstRight: boolean) => void, wrapped?: CalledAtAccuracy, half?: Accuracy, truth: Frame = site): void => {
      const e = explainer.explain(q, withCode === undefined ? { maxCandidates: 3 } : { maxCandidates: 3, code: withCode });
      const f0 = e.candidates[0];
      onNotes?.(e.notes, f0 !== undefined && f0.file === truth.file && f0.line <= truth.line && truth.line <= f0.endLine);
      if (wrapped !== undefined && throughWrapper) {
        const before = wrapped.siteRight - wrapped.bothRight;
        scoreCalledAt(wrapped, e.candidates[0], truth, caller);
        const c = e.candidates[0];
        if (wrapped.siteRight - wrapped.bothRight > before && misses.length < missLimit) misses.push(`calledAt-${label} ${q.input}: truth called at ${caller === null ? 'nothing' : `${caller.file}:${caller.line}`}; got ${c?.calledAt === undefined ? 'no calledAt' : `${c.calledAt.file}:${c.calledAt.line}`}`);
      }
      // Against the calling line of a tail-called drop (label …-at), a candidate also counts when the call it names (calledAt) is that line.
      const atCall = label.endsWith('-at');
      const ok = (i: number): boolean => {
        const c = e.candidates[i];
        return c !== undefined && ((c.file === truth.file && c.line <= truth.line && truth.line <= c.endLine)
          || (atCall && c.calledAt !== undefined && c.calledAt.file === truth.file && c.calledAt.line === truth.line));
      };
      acc.n++;
      const first = e.candidates[0];
      if (conf !== undefined && first !== undefined && first.score >= 0.9) {
        conf.n++;
        if (ok(0)) conf.right++;
      }
      if (half !== undefined) half.n++;
      if (ok(0)) {
        acc.top1++;
        if (half !== undefined) half.top1++;
      }
      if (ok(0) || ok(1) || ok(2)) {
        acc.top3++;
        if (half !== undefined) half.top3++;
        if (!ok(0) && label.startsWith('mc-') && misses.length < missLimit) misses.push(`top1-${label} ${q.input}: truth ${truth.file}:${truth.line} (${truth.function}); got ${e.candidates.slice(0, 3).map((c) => `${c.file}:${c.line} ${c.score}`).join(', ')}`);
      } else if (misses.length < missLimit) misses.push(`${label} ${q.input} ${q.reason ?? ''}: truth ${truth.file}:${truth.line} (${truth.function}); got ${e.candidates.slice(0, 3).map((c) => `${c.file}:${c.line}`).join(', ') || 'nothing'}`);
    };
    if (tr.kind === 'via-tail') {
      // The location cannot tell a callee's tail calls apart; the reason can, so only the perf form is scored.
      // Module truth: also scored against the calling line (the site of the call of the tail-calling function).
      if (callSite !== null) {
        hit(base, viaCallingLine, 'via-calling-line', undefined, undefined, undefined, undefined, undefined, callSite);
        if (code !== null) hit(base, mcViaCallingLine, 'mc-via-calling-line', code, undefined, undefined, undefined, undefined, callSite);
        hit(base, viaCallingLineAt, 'via-calling-line-at', undefined, undefined, undefined, undefined, undefined, callSite);
        if (code !== null) hit(base, mcViaCallingLineAt, 'mc-via-calling-line-at', code, undefined, undefined, undefined, undefined, callSite);
      }
      if (chainSite === null) continue;
      hit(base, viaTail, 'via-tail');
      if (code !== null) hit(base, mcViaTail, 'mc-via-tail', code);
      // A tail call inside a drop function of the tree (dev_kfree_skb_any_reason): its line is no answer a user wants; the calling line is.
      if (!explainer.isDropApi(chainSite.function)) {
        hit(base, viaTailOwn, 'via-tail-own');
        if (code !== null) hit(base, mcViaTailOwn, 'mc-via-tail-own', code);
      }
      exactQueries.push({ q: base, site, viaTail: true });
      continue;
    }
    hit(base, perf, `perf(${halfOf(fn)})`, undefined, confident, undefined, calledAt, perfHalves[halfOf(fn)]);
    if (code !== null && machine !== null) {
      const h = machine.halves[halfOf(fn)];
      const s0 = performance.now();
      const count = (notes: string[], firstRight: boolean): void => {
        const merged = notes.find((n) => n.includes('may have merged their code'));
        if (merged !== undefined) {
          h.merged.n++;
          if (merged.includes(`${site.file.replace(/^.*\//, '')}:${site.line} `)) h.merged.truthNamed++;
          if (!firstRight) h.merged.top1Wrong++;
          const named = /machine code: (.*?) free the same way/.exec(merged)?.[1]?.split(' and ') ?? [];
          if (named.some((n) => !(linesOf.get(tr.symbol)?.has(n) ?? false))) h.merged.confirmed++;
          // Which of the named lines the debug info kept, by source order within the truth's file.
          const sameFile = named.filter((n) => n.startsWith(`${site.file.replace(/^.*\//, '')}:`)).map((n) => Number(n.replace(/^.*:/, '')));
          if (sameFile.length > 1 && sameFile.includes(site.line)) {
            if (site.line === Math.min(...sameFile)) h.merged.earliest++;
            if (site.line === Math.max(...sameFile)) h.merged.latest++;
          }
        }
        if (notes.some((n) => n.includes('a sign of a missed site') || n.includes('a missed site'))) h.missedSiteNotes++;
        if (notes.some((n) => n.includes('is not the return address of a drop call'))) h.noCall++;
      };
      hit(base, h.perf, `mc-perf(${halfOf(fn)})`, code, h.confident, count, h.calledAt);
      if (tr.event === 'kfree_skb') hit(dropwatchForm, h.dropwatch, `mc-dropwatch(${halfOf(fn)})`, code);
      machine.explainMs += performance.now() - s0;
    }
    {
      const e = explainer.explain({ ...base, size: null }, { maxCandidates: 1000 });
      const best = e.candidates[0]?.score;
      const tied = e.candidates.filter((c) => c.score === best);
      ties.n++;
      if (tied.some((c) => c.file === site.file && c.line <= site.line && site.line <= c.endLine)) {
        ties.truthAmongBest++;
        ties.expectedTop1 += 1 / tied.length;
      }
    }
    exactQueries.push({ q: base, site, viaTail: false });
    if (tr.event === 'kfree_skb') hit(dropwatchForm, dw, 'dropwatch');
  }
  let exact: Accuracy | null = null;
  let exactViaTail: Accuracy | null = null;
  if (vmlinux !== undefined) {
    const plain: Accuracy = { n: 0, top1: 0, top3: 0 };
    const tail: Accuracy = { n: 0, top1: 0, top3: 0 };
    const results = await explainExact(explainer, exactQueries.map((x) => x.q), vmlinux, t.version);
    results.forEach((e, i) => {
      const x = exactQueries[i];
      if (x === undefined) return;
      const acc = x.viaTail ? tail : plain;
      acc.n++;
      const c = e.candidates[0];
      if (c !== undefined && c.file === x.site.file && c.line <= x.site.line && x.site.line <= c.endLine) {
        acc.top1++;
        acc.top3++;
      } else if (misses.length < missLimit) misses.push(`exact${x.viaTail ? ' via-tail' : ''} ${e.input}: truth ${x.site.file}:${x.site.line}; got ${c === undefined ? 'nothing' : `${c.file}:${c.line}`} ${e.notes.join('; ')}`);
    });
    exact = plain;
    exactViaTail = tail;
  }
  handle.close();
  if (machine !== null && code !== null) machine.decoded = code.decodedCount;
  const moduleSet = truths.some((tr) => tr.module !== undefined);
  return { truthFile, moduleSet, exact, exactViaTail, locations: truths.length, excludedTailCalls: excluded, perf, perfHalves, calledAt, dropwatch: dw, viaTail, viaCallingLine, mcViaTail: code === null ? null : mcViaTail, mcViaCallingLine: code === null ? null : mcViaCallingLine, viaCallingLineAt, mcViaCallingLineAt: code === null ? null : mcViaCallingLineAt, viaTailOwn, mcViaTailOwn: code === null ? null : mcViaTailOwn, ties, confident, machine, misses };
}

const pctOf = (a: Accuracy, k: 'top1' | 'top3'): string => `${((a[k] / Math.max(1, a.n)) * 100).toFixed(1)}%`;

/** The second measure next to top-1, for sites inside inlined wrappers: site right, and site and calling line both right. */
export function formatCalledAt(a: CalledAtAccuracy): string {
  return `through an inlined wrapper ${a.n}: site right ${a.siteRight}, site and calling line both right ${a.bothRight}`;
}

const sum = (a: Accuracy, b: Accuracy): Accuracy => ({ n: a.n + b.n, top1: a.top1 + b.top1, top3: a.top3 + b.top3 });

export function formatEvaluation(r: EvaluationResult, heldOut = false): string {
  const m = r.machine;
  return [
    ...(heldOut ? [`HELD-OUT SET (nothing is tuned on it; the tune/report halves below are only the usual split)${r.moduleSet ? ': module locations `sym+0xoff/0xsize [module]`' : ''}`] : []),
    `truth: ${r.truthFile} (${r.locations} locations; ${r.excludedTailCalls} jumps and self-reports left out: their locations are scored as calls of their functions)`,
    `source-only, perf form (size + reason): top-1 ${pctOf(r.perf, 'top1')}, top-3 ${pctOf(r.perf, 'top3')} of ${r.perf.n}`
      + ` (tune half ${pctOf(r.perfHalves.tune, 'top1')} / ${pctOf(r.perfHalves.tune, 'top3')} of ${r.perfHalves.tune.n}, report half ${pctOf(r.perfHalves.report, 'top1')} / ${pctOf(r.perfHalves.report, 'top3')} of ${r.perfHalves.report.n});`
      + ` ${formatCalledAt(r.calledAt)}`,
    `source-only, dropwatch form (no size, no reason): top-1 ${pctOf(r.dropwatch, 'top1')}, top-3 ${pctOf(r.dropwatch, 'top3')} of ${r.dropwatch.n}`,
    `source-only, tail-called drops reported at the caller (perf form): top-1 ${pctOf(r.viaTail, 'top1')}, top-3 ${pctOf(r.viaTail, 'top3')} of ${r.viaTail.n}; those whose tail-calling function is not a drop function: top-1 ${pctOf(r.viaTailOwn, 'top1')}, top-3 ${pctOf(r.viaTailOwn, 'top3')} of ${r.viaTailOwn.n}`,
    ...(r.viaCallingLine.n > 0 ? [`source-only, the same tail-called drops with the calling line as the truth (perf form): top-1 ${pctOf(r.viaCallingLine, 'top1')}, top-3 ${pctOf(r.viaCallingLine, 'top3')} of ${r.viaCallingLine.n}; counting the call a candidate names (called at): top-1 ${pctOf(r.viaCallingLineAt, 'top1')}, top-3 ${pctOf(r.viaCallingLineAt, 'top3')}`] : []),
    `ties, perf form without the offset term: the truth is among the best-scored candidates for ${((r.ties.truthAmongBest / Math.max(1, r.ties.n)) * 100).toFixed(1)}%`
      + ` (a perfect tie-break's top-1); breaking those ties at random gives ${((r.ties.expectedTop1 / Math.max(1, r.ties.n)) * 100).toFixed(1)}%`,
    `source-only score calibration (perf form): among first candidates scored >= 0.9, ${r.confident.right}/${r.confident.n} right (${((r.confident.right / Math.max(1, r.confident.n)) * 100).toFixed(1)}%)`,
    ...(r.machine === null ? ['machine-code mode: not measured (no --kernel)'] : [
      `machine-code mode (--kernel ${r.machine.image}${r.machine.modules !== null ? ` --modules ${r.machine.modules}` : ''}): image loaded in ${(r.machine.loadMs / 1000).toFixed(2)} s; ${r.machine.decoded} functions decoded; explain time ${(r.machine.explainMs / 1000).toFixed(2)} s for both forms`,
      ...(heldOut ? [`  whole set: perf form top-1 ${pctOf(sum(m!.halves.tune.perf, m!.halves.report.perf), 'top1')}, top-3 ${pctOf(sum(m!.halves.tune.perf, m!.halves.report.perf), 'top3')} of ${m!.halves.tune.perf.n + m!.halves.report.perf.n}; `
        + `dropwatch form top-1 ${pctOf(sum(m!.halves.tune.dropwatch, m!.halves.report.dropwatch), 'top1')}, top-3 ${pctOf(sum(m!.halves.tune.dropwatch, m!.halves.report.dropwatch), 'top3')} of ${m!.halves.tune.dropwatch.n + m!.halves.report.dropwatch.n}; `
        + `scored >= 0.9: ${m!.halves.tune.confident.right + m!.halves.report.confident.right}/${m!.halves.tune.confident.n + m!.halves.report.confident.n} right; no drop call at the offset ${m!.halves.tune.noCall + m!.halves.report.noCall}`] : []),
      ...(r.mcViaTail === null ? [] : [`  tail-called drops reported at the caller, the tail call's own line as the truth (perf form): top-1 ${pctOf(r.mcViaTail, 'top1')}, top-3 ${pctOf(r.mcViaTail, 'top3')} of ${r.mcViaTail.n}${r.mcViaTailOwn === null ? '' : `; those whose tail-calling function is not a drop function: top-1 ${pctOf(r.mcViaTailOwn, 'top1')}, top-3 ${pctOf(r.mcViaTailOwn, 'top3')} of ${r.mcViaTailOwn.n}`}`]),
      ...(r.mcViaCallingLine === null || r.mcViaCallingLine.n === 0 ? [] : [`  tail-called drops with the calling line as the truth (perf form): top-1 ${pctOf(r.mcViaCallingLine, 'top1')}, top-3 ${pctOf(r.mcViaCallingLine, 'top3')} of ${r.mcViaCallingLine.n}${r.mcViaCallingLineAt === null ? '' : `; counting the call a candidate names (called at): top-1 ${pctOf(r.mcViaCallingLineAt, 'top1')}, top-3 ${pctOf(r.mcViaCallingLineAt, 'top3')}`}`]),
      ...(['tune', 'report'] as const).map((k) => {
        const h = r.machine!.halves[k];
        return `  ${k} half (${k === 'tune' ? 'even' : 'odd'} function-name hash): perf form top-1 ${pctOf(h.perf, 'top1')}, top-3 ${pctOf(h.perf, 'top3')} of ${h.perf.n}; `
          + `dropwatch form top-1 ${pctOf(h.dropwatch, 'top1')}, top-3 ${pctOf(h.dropwatch, 'top3')} of ${h.dropwatch.n}; `
          + `scored >= 0.9: ${h.confident.right}/${h.confident.n} right; missed-site notes ${h.missedSiteNotes}; no drop call at the offset ${h.noCall}; `
          + `perf form ${formatCalledAt(h.calledAt)}; merged-block notes ${h.merged.n} (the true line among the lines named ${h.merged.truthNamed}, `
          + `a named line with no drop call of its own in the truth ${h.merged.confirmed}, first candidate wrong ${h.merged.top1Wrong}; the true line the earliest named ${h.merged.earliest}, the latest ${h.merged.latest})`;
      }),
    ]),
    r.exact === null ? 'exact mode: not measured (no --vmlinux)' : `exact mode (--vmlinux): top-1 ${pctOf(r.exact, 'top1')} of ${r.exact.n}`,
    ...(r.exactViaTail === null ? [] : [`exact mode, tail-called drops at the caller: top-1 ${pctOf(r.exactViaTail, 'top1')}, top-3 ${pctOf(r.exactViaTail, 'top3')} of ${r.exactViaTail.n}`]),
  ].join('\n');
}

if (process.argv[1]?.endsWith('evaluate.ts')) {
  const args = process.argv.slice(2);
  const get = (k: string): string | undefined => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
  const r = await evaluate(get('--db') ?? '', get('--tree'), get('--truth') ?? '', get('--vmlinux'), get('--kernel'), get('--modules'), args.includes('--all-misses') ? Infinity : 400);
  console.log(formatEvaluation(r, args.includes('--held-out')));
  if (args.includes('--misses')) console.log(r.misses.join('\n'));
}
