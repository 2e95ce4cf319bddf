// Drop records → an explained, aggregated ReportView: the library behind `dropsite report` and
// `dropsite watch`. Streaming: memory grows with the number of distinct locations, not of events.
import { type CodeEvidence, type Explainer, type LocationQuery, OFFSET_HINT } from './explain/explain.ts';
import type { Explanation } from './model.ts';
import { trustLabel } from './report/explain-text.ts';
import { sourceLines } from './explain/source-lines.ts';
import { changedWarning } from './index/freshness.ts';
import { functionOfSymbol } from './locate/location.ts';
import { resolveAddress, type SymbolMap } from './locate/kallsyms.ts';
import { nameReasonValue } from './locate/recording-hist.ts';
import { locationText, type DropRecord, type RecordingItem } from './locate/recording.ts';
import type { ReportRow, ReportView, SkippedLine, Snippet } from './report/view.ts';
import { compareText } from './text-order.ts';

/** One aggregated location and reason: a record's location with the summed count and the times it was seen. */
interface Bucket extends Omit<DropRecord, 'kind' | 'lineNo' | 'timestamp'> {
  first: number | null;
  last: number | null;
}

const MAX_SKIPPED_EXAMPLES = 20;
const TIMELINE_BUCKETS = 60;

export interface ViewOptions {
  title: string;
  source: string;
  format: string;
  top: number;
  allCandidates: boolean;
  context: number;
  /** Another evidence source for explain (the machine code of the image), if any. */
  code?: CodeEvidence;
  /** Rows already explained (by --rebuild), keyed as rowQueries() keys them. */
  explained?: ReadonlyMap<string, Explanation>;
}

/** The key of a row's explanation: its location, reason and event. */
const rowKey = (b: Bucket): string => `${locationText(b)}\0${b.reason ?? ''}\0${b.event ?? ''}`;

const queryOf = (b: Bucket): LocationQuery => ({
  input: locationText(b), symbol: b.symbol, function: b.function, isCold: b.isCold, offset: b.offset, size: b.size, module: b.module, reason: b.reason, event: b.event,
});

export class DropAggregator {
  private readonly buckets: Bucket[] = [];
  /**
   * symbol → offset → reason → buckets (one per event/module, almost always one). Readers hand out the same string
   * objects for the same text, whose hashes V8 caches: no key is built per event.
   */
  private readonly index = new Map<string, Map<number, Map<string, Bucket[]>>>();
  private readonly perSecond = new Map<number, number>();
  private lastSecond = Number.NaN;
  private lastSecondCount = 0;
  private readonly skippedExamples: SkippedLine[] = [];
  private skippedCount = 0;
  private events = 0;
  private drops = 0;
  private readonly symbols: SymbolMap | null;
  /** Set when a record counts reporting intervals instead of seconds (dropwatch.stp without a clock). */
  private timelineUnit: 'interval' | null = null;
  private readonly reasonNames: ReadonlyMap<number, string> | null;

  /** `reasonNames`: the indexed tree's enum (value → name), for reasons a hist file or tracefs gives as numbers. */
  constructor(symbols: SymbolMap | null = null, reasonNames: ReadonlyMap<number, string> | null = null) {
    this.symbols = symbols;
    this.reasonNames = reasonNames;
  }

  add(item: RecordingItem): void {
    if (item.kind === 'skipped') {
      this.skippedCount++;
      if (this.skippedExamples.length < MAX_SKIPPED_EXAMPLES) this.skippedExamples.push({ lineNo: item.lineNo, line: item.line, why: item.why });
      return;
    }
    let { symbol, function: fn, isCold, offset, size, module } = item;
    const reason = nameReasonValue(item.reason, this.reasonNames);
    // An address alone (dropwatch without -l, perf before 6.2, a broken module symbol) is named when a map is given.
    if (symbol === '' && item.address !== null && this.symbols !== null) {
      const r = resolveAddress(this.symbols, item.address);
      if (r !== null) {
        ({ function: fn, isCold } = functionOfSymbol(r.symbol));
        symbol = r.symbol;
        offset = r.offset;
        size = r.size;
        module = r.module;
      }
    }
    const where = symbol === '' ? `0x${item.address?.toString(16) ?? '?'}` : symbol;
    let byOffset = this.index.get(where);
    if (byOffset === undefined) this.index.set(where, (byOffset = new Map()));
    let byReason = byOffset.get(offset ?? -1);
    if (byReason === undefined) byOffset.set(offset ?? -1, (byReason = new Map()));
    let list = byReason.get(reason ?? '');
    if (list === undefined) byReason.set(reason ?? '', (list = []));
    let b = list.find((x) => x.event === item.event && x.module === module);
    if (b === undefined) {
      b = { symbol, function: fn, isCold, offset, size, module, address: symbol === '' ? item.address : null, reason, event: item.event, count: 0, first: null, last: null };
      list.push(b);
      this.buckets.push(b);
    }
    b.count += item.count;
    b.size ??= size;
    this.events++;
    this.drops += item.count;
    if (item.timestamp !== null) {
      if (item.timestampUnit === 'interval') this.timelineUnit = 'interval';
      if (b.first === null || item.timestamp < b.first) b.first = item.timestamp;
      if (b.last === null || item.timestamp > b.last) b.last = item.timestamp;
      const sec = Math.floor(item.timestamp);
      if (sec !== this.lastSecond) {
        this.flushSecond();
        this.lastSecond = sec;
      }
      this.lastSecondCount += item.count;
    }
  }

  private flushSecond(): void {
    if (this.lastSecondCount > 0) this.perSecond.set(this.lastSecond, (this.perSecond.get(this.lastSecond) ?? 0) + this.lastSecondCount);
    this.lastSecondCount = 0;
  }

  get totalDrops(): number {
    return this.drops;
  }

  private timeline(): ReportView['timeline'] {
    this.flushSecond();
    if (this.perSecond.size === 0) return null;
    // A loop, not Math.min(...spread): a long recording has more seconds than a call takes arguments.
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const sec of this.perSecond.keys()) {
      if (sec < min) min = sec;
      if (sec > max) max = sec;
    }
    const width = Math.max(1, Math.ceil((max - min + 1) / TIMELINE_BUCKETS));
    const out = new Map<number, number>();
    for (const [s, c] of this.perSecond) {
      const start = min + Math.floor((s - min) / width) * width;
      out.set(start, (out.get(start) ?? 0) + c);
    }
    return [...out].sort((a, b) => a[0] - b[0]).map(([start, count]) => ({ start, count }));
  }

  /** Modules the recorded locations name. */
  modules(): string[] {
    return [...new Set(this.buckets.flatMap((b) => (b.module === null ? [] : [b.module])))].sort();
  }

  /** The top rows' locations (those with a symbol), for a batch explainer such as --rebuild. */
  rowQueries(top: number): Array<{ key: string; query: LocationQuery }> {
    return this.sortedBuckets().slice(0, top).filter((b) => b.symbol !== '').map((b) => ({ key: rowKey(b), query: queryOf(b) }));
  }

  /** Most drops first, then by location. Keys computed once (not per comparison): n log n cheap comparisons at 200,000 locations. */
  private sortedBuckets(): Bucket[] {
    const keyed = this.buckets.map((b) => ({ b, key: locationText(b) }));
    keyed.sort((x, y) => y.b.count - x.b.count || compareText(x.key, y.key));
    return keyed.map((k) => k.b);
  }

  /** Explain the top locations and build the view. `explainer` null: no index, rows are not explained. */
  view(explainer: Explainer | null, opts: ViewOptions): ReportView {
    const sorted = this.sortedBuckets();
    const top = sorted.slice(0, opts.top);
    let restDrops = 0;
    for (let i = opts.top; i < sorted.length; i++) restDrops += sorted[i]?.count ?? 0;
    const restCount = Math.max(0, sorted.length - opts.top);
    const total = Math.max(1, this.drops);
    const root = explainer?.tree.root ?? null;
    const sourceOf = root === null ? (): null => null : sourceLines(root);
    const snippets: Record<string, Snippet> = {};
    const rows: ReportRow[] = top.map((b) => {
      const notes: string[] = [];
      let candidates: ReportRow['candidates'] = [];
      let inIndex = false;
      let method: ReportRow['method'];
      if (b.symbol === '') {
        notes.push('a raw address: give --kallsyms FILE (the /proc/kallsyms of the machine that recorded it) or --system-map FILE to name it');
      } else if (explainer !== null) {
        const given = opts.explained?.get(rowKey(b));
        const e = given ?? explainer.explain(queryOf(b), opts.code === undefined ? { maxCandidates: opts.allCandidates ? 5 : 3 } : { maxCandidates: opts.allCandidates ? 5 : 3, code: opts.code });
        candidates = e.candidates.slice(0, opts.allCandidates ? 5 : 3);
        if (given !== undefined) notes.push(trustLabel(given));
        notes.push(...e.notes);
        inIndex = explainer.functionRecords(b.function).length > 0 || candidates.length > 0;
        method = e.method;
      }
      for (const c of opts.allCandidates ? candidates : candidates.slice(0, 1)) {
        const lines = sourceOf(c.file);
        const key = `${c.file}:${c.line}`;
        if (lines === null || snippets[key] !== undefined) continue;
        const first = Math.max(1, c.line - opts.context);
        const last = Math.min(lines.length, c.endLine + opts.context);
        snippets[key] = { file: c.file, firstLine: first, lines: lines.slice(first - 1, last), markFrom: c.line, markTo: c.endLine };
      }
      return {
        location: locationText(b), symbol: b.symbol, function: b.function, offset: b.offset, reason: b.reason, event: b.event, count: b.count,
        share: b.count / total, firstSeen: b.first, lastSeen: b.last, candidates, notes, inIndex, ...(method === undefined ? {} : { method }),
      };
    });
    const byReason = new Map<string, number>();
    for (const b of this.buckets) byReason.set(b.reason ?? '(none)', (byReason.get(b.reason ?? '(none)') ?? 0) + b.count);
    // Every section has the --top cap: a recording can carry any number of distinct reasons.
    const reasons = [...byReason].sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]));
    let reasonsRestDrops = 0;
    for (let i = opts.top; i < reasons.length; i++) reasonsRestDrops += reasons[i]?.[1] ?? 0;
    const warnings: string[] = [];
    if (explainer === null) warnings.push('no index: rows are not explained (run dropsite index <tree>)');
    const noOffset = rows.filter((r) => r.symbol !== '' && r.offset === null).length;
    if (noOffset > 0) {
      warnings.push(`${noOffset} of the top locations name a function without an offset (SystemTap's symname() prints only the name): their line cannot be told, and their candidates are the function's drop sites ranked by what else is known; `
        + `to get offsets, ${OFFSET_HINT}`);
    }
    const notIn = rows.filter((r) => !r.inIndex && r.symbol !== '').length;
    const changed = explainer === null ? null : changedWarning(explainer.tree, explainer.changedSinceIndexed(Object.values(snippets).map((x) => x.file)));
    if (changed !== null) warnings.push(changed);
    if (explainer !== null && notIn > 0) warnings.push(`${notIn} of the top locations name functions with no drop site in the indexed tree (Linux ${explainer.tree.version ?? '?'}): a different kernel version, or modules outside the tree`);
    return {
      title: opts.title, source: opts.source, format: opts.format,
      tree: explainer === null ? null : { root: explainer.tree.root, version: explainer.tree.version },
      totals: { events: this.events, drops: this.drops, locations: this.buckets.length, skippedLines: this.skippedCount },
      rows,
      rest: restCount === 0 ? null : { locations: restCount, drops: restDrops },
      byReason: reasons.slice(0, opts.top).map(([reason, count]) => ({ reason, count })),
      byReasonRest: reasons.length <= opts.top ? null : { reasons: reasons.length - opts.top, drops: reasonsRestDrops },
      timeline: this.timeline(),
      ...(this.timelineUnit === null ? {} : { timelineUnit: this.timelineUnit }),
      skipped: this.skippedExamples,
      snippets,
      warnings,
    };
  }
}
