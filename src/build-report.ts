// Drop records → an explained, aggregated ReportView: the library behind `dropsite report` and
// `dropsite watch`. Streaming: memory grows with the number of distinct locations, not of events.
import type { Explainer, LocationQuery } from './explain/explain.ts';
import type { Explanation } from './model.ts';
import { trustLabel } from './report/explain-text.ts';
import { sourceLines } from './explain/source-lines.ts';
import { functionOfSymbol } from './locate/location.ts';
import { resolveAddress, type SymbolMap } from './locate/kallsyms.ts';
import type { DropRecord, RecordingItem } from './locate/recording.ts';
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
  /** Rows already explained (by --rebuild), keyed as rowQueries() keys them. */
  explained?: ReadonlyMap<string, Explanation>;
}

/** The key of a row's explanation: its location, reason and event. */
const rowKey = (b: Bucket): string => `${locationText(b)}\0${b.reason ?? ''}\0${b.event ?? ''}`;

const queryOf = (b: Bucket): LocationQuery => ({
  input: locationText(b), symbol: b.symbol, function: b.function, isCold: b.isCold, offset: b.offset, size: b.size, module: b.module, reason: b.reason, event: b.event,
});

/** `sym+0xoff [mod]`, or the raw address. */
function locationText(b: Pick<Bucket, 'symbol' | 'offset' | 'module' | 'address'>): string {
  if (b.symbol === '') return b.address === null ? '?' : `0x${b.address.toString(16)}`;
  return `${b.symbol}${b.offset === null ? '' : `+0x${b.offset.toString(16)}`}${b.module === null ? '' : ` [${b.module}]`}`;
}

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

  constructor(symbols: SymbolMap | null = null) {
    this.symbols = symbols;
  }

  add(item: RecordingItem): void {
    if (item.kind === 'skipped') {
      this.skippedCount++;
      if (this.skippedExamples.length < MAX_SKIPPED_EXAMPLES) this.skippedExamples.push({ lineNo: item.lineNo, line: item.line, why: item.why });
      return;
    }
    let { symbol, function: fn, isCold, offset, size, module } = item;
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
    let list = byReason.get(item.reason ?? '');
    if (list === undefined) byReason.set(item.reason ?? '', (list = []));
    let b = list.find((x) => x.event === item.event && x.module === module);
    if (b === undefined) {
      b = { symbol, function: fn, isCold, offset, size, module, address: symbol === '' ? item.address : null, reason: item.reason, event: item.event, count: 0, first: null, last: null };
      list.push(b);
      this.buckets.push(b);
    }
    b.count += item.count;
    b.size ??= size;
    this.events++;
    this.drops += item.count;
    if (item.timestamp !== null) {
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
    const secs = [...this.perSecond.keys()];
    const min = Math.min(...secs);
    const max = Math.max(...secs);
    const width = Math.max(1, Math.ceil((max - min + 1) / TIMELINE_BUCKETS));
    const out = new Map<number, number>();
    for (const [s, c] of this.perSecond) {
      const start = min + Math.floor((s - min) / width) * width;
      out.set(start, (out.get(start) ?? 0) + c);
    }
    return [...out].sort((a, b) => a[0] - b[0]).map(([start, count]) => ({ start, count }));
  }

  /** The top rows' locations (those with a symbol), for a batch explainer such as --rebuild. */
  rowQueries(top: number): Array<{ key: string; query: LocationQuery }> {
    return this.sortedBuckets().slice(0, top).filter((b) => b.symbol !== '').map((b) => ({ key: rowKey(b), query: queryOf(b) }));
  }

  private sortedBuckets(): Bucket[] {
    return [...this.buckets].sort((a, b) => b.count - a.count || compareText(locationText(a), locationText(b)));
  }

  /** Explain the top locations and build the view. `explainer` null: no index, rows are not explained. */
  view(explainer: Explainer | null, opts: ViewOptions): ReportView {
    const sorted = this.sortedBuckets();
    const top = sorted.slice(0, opts.top);
    const restList = sorted.slice(opts.top);
    const total = Math.max(1, this.drops);
    const root = explainer?.tree.root ?? null;
    const sourceOf = root === null ? (): null => null : sourceLines(root);
    const snippets: Record<string, Snippet> = {};
    const rows: ReportRow[] = top.map((b) => {
      const notes: string[] = [];
      let candidates: ReportRow['candidates'] = [];
      let inIndex = false;
      if (b.symbol === '') {
        notes.push('a raw address: give --kallsyms FILE (the /proc/kallsyms of the machine that recorded it) or --system-map FILE to name it');
      } else if (explainer !== null) {
        const given = opts.explained?.get(rowKey(b));
        const e = given ?? explainer.explain(queryOf(b), { maxCandidates: opts.allCandidates ? 5 : 3 });
        candidates = e.candidates.slice(0, opts.allCandidates ? 5 : 3);
        if (given !== undefined) notes.push(trustLabel(given));
        notes.push(...e.notes);
        inIndex = explainer.functionRecords(b.function).length > 0 || candidates.length > 0;
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
        share: b.count / total, firstSeen: b.first, lastSeen: b.last, candidates, notes, inIndex,
      };
    });
    const byReason = new Map<string, number>();
    for (const b of this.buckets) byReason.set(b.reason ?? '(none)', (byReason.get(b.reason ?? '(none)') ?? 0) + b.count);
    const warnings: string[] = [];
    if (explainer === null) warnings.push('no index: rows are not explained (run dropsite index <tree>)');
    const notIn = rows.filter((r) => !r.inIndex && r.symbol !== '').length;
    if (explainer !== null && notIn > 0) warnings.push(`${notIn} of the top locations name functions with no drop site in the indexed tree (Linux ${explainer.tree.version ?? '?'}): a different kernel version, or modules outside the tree`);
    return {
      title: opts.title, source: opts.source, format: opts.format,
      tree: explainer === null ? null : { root: explainer.tree.root, version: explainer.tree.version },
      totals: { events: this.events, drops: this.drops, locations: this.buckets.length, skippedLines: this.skippedCount },
      rows,
      rest: restList.length === 0 ? null : { locations: restList.length, drops: restList.reduce((a, b) => a + b.count, 0) },
      byReason: [...byReason].sort((a, b) => b[1] - a[1]).map(([reason, count]) => ({ reason, count })),
      timeline: this.timeline(),
      skipped: this.skippedExamples,
      snippets,
      warnings,
    };
  }
}
