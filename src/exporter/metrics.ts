// What the exporter counts, held in plain objects, and prom-client registries that expose it. The counts live here,
// not in prom-client: a drop costs one Map lookup and an addition, and prom-client only sees them on a scrape (its
// own `inc` hashes the label set on every call). One state, several registries: prom-client renames counters in place
// when it renders OpenMetrics, so the Prometheus-text and OpenMetrics registries each get their own metric objects.
import client from 'prom-client';
import type { DropEvent, DropLocation } from '../model.ts';

/** What a drop location stands for in the tree: the top candidate and how it was found. */
export interface LocationLabels {
  function: string;
  file: string;
  line: string;
  /** `rebuilt` and `debuginfo` name an exact line; `source` a ranked guess; `none` no candidate. */
  method: 'rebuilt' | 'debuginfo' | 'source' | 'none';
  /** False when the location names no function the index knows (counted as unresolved too). */
  resolved: boolean;
}

/** A drop as the capture sources hand it over: a location (its text as one label), reason name, event, count. */
export interface DropCount extends Omit<DropLocation, 'input' | 'address' | 'event'> {
  /** `sym+0xoff`, `sym+0xoff [mod]`, or `0xADDRESS` when nothing names it. */
  location: string;
  event: DropEvent;
  count: number;
}

export type Resolve = (drop: DropCount) => LocationLabels;

export interface Series {
  readonly labels: Readonly<Record<(typeof DROP_LABELS)[number], string>>;
  count: number;
  /** The location names a function the index knows; the others are counted in dropsite_drops_unresolved_total too. */
  readonly resolved: boolean;
}

export const DROP_LABELS = ['location', 'function', 'reason', 'event', 'file', 'line', 'method'] as const;
/** The location label of the series that takes new locations once --max-series is reached. */
export const OTHER_LOCATION = 'other';
/** Refused series keys remembered to count each once; past this many, dropsite_series_dropped_total is a lower bound. */
const MAX_REMEMBERED_REFUSED = 100_000;

export interface InfoLabels {
  kernel: string;
  tree_version: string;
  index: string;
  /** `hist` (an in-kernel hist trigger) or `trace_pipe`. */
  source: string;
}

export class DropMetrics {
  readonly #series = new Map<string, Series>();
  readonly #other = new Map<string, Series>();
  /** Keys refused by the cap → whether they resolved (so a refused location is resolved once, not per drop). */
  readonly #refused = new Map<string, boolean>();
  readonly #unresolved = new Map<string, number>();
  readonly #restarts = new Map<string, number>();
  readonly #resolve: Resolve;
  readonly #maxSeries: number;
  #seriesDropped = 0;
  #lost = 0;
  #skippedLines = 0;
  #drops = 0;
  info: InfoLabels;

  constructor(opts: { resolve: Resolve; maxSeries: number; info: InfoLabels }) {
    this.#resolve = opts.resolve;
    this.#maxSeries = opts.maxSeries;
    this.info = opts.info;
  }

  add(drop: DropCount): void {
    if (drop.count <= 0) return;
    this.#drops += drop.count;
    const reason = drop.reason ?? '';
    const key = `${drop.event}\u0000${drop.location}\u0000${reason}`;
    const s = this.#series.get(key);
    if (s !== undefined) {
      s.count += drop.count;
      if (!s.resolved) this.#addUnresolved(reason, drop.count);
      return;
    }
    const refused = this.#refused.get(key);
    const resolved = refused ?? this.#resolveNew(key, drop, reason);
    if (resolved === null) return;
    // A location past --max-series: its drops go to the reason's `location="other"` series.
    if (refused === undefined) {
      this.#seriesDropped++;
      if (this.#refused.size < MAX_REMEMBERED_REFUSED) this.#refused.set(key, resolved);
    }
    if (!resolved) this.#addUnresolved(reason, drop.count);
    const otherKey = `${drop.event}\u0000${reason}`;
    let o = this.#other.get(otherKey);
    if (o === undefined) {
      o = { labels: { location: OTHER_LOCATION, function: '', reason, event: drop.event, file: '', line: '', method: 'none' }, count: 0, resolved: true };
      this.#other.set(otherKey, o);
    }
    o.count += drop.count;
  }

  /** A new series for a new key (null: created and counted), or, past the cap, whether the key resolved. */
  #resolveNew(key: string, drop: DropCount, reason: string): boolean | null {
    const labels = this.#resolve(drop);
    if (this.#series.size >= this.#maxSeries) return labels.resolved;
    this.#series.set(key, {
      labels: { location: drop.location, function: labels.function, reason, event: drop.event, file: labels.file, line: labels.line, method: labels.method },
      count: drop.count,
      resolved: labels.resolved,
    });
    if (!labels.resolved) this.#addUnresolved(reason, drop.count);
    return null;
  }

  #addUnresolved(reason: string, n: number): void {
    this.#unresolved.set(reason, (this.#unresolved.get(reason) ?? 0) + n);
  }

  /** The instance's overrun total, monotonic across recreated instances (the caller adds the old ones' last values). */
  setLost(total: number): void {
    if (total > this.#lost) this.#lost = total;
  }

  addSkipped(n: number): void {
    this.#skippedLines += n;
  }

  addRestart(cause: string): void {
    this.#restarts.set(cause, (this.#restarts.get(cause) ?? 0) + 1);
  }

  get drops(): number {
    return this.#drops;
  }

  get lost(): number {
    return this.#lost;
  }

  get restarts(): number {
    let n = 0;
    for (const v of this.#restarts.values()) n += v;
    return n;
  }

  /** Every series, capped ones first then the `other` ones, in the order they appeared. */
  series(): Series[] {
    return [...this.#series.values(), ...this.#other.values()];
  }

  /**
   * A registry over this state. `withProcessMetrics`: prom-client's default process metrics (not for the textfile:
   * node_exporter has process metrics of its own with the same names, and refuses duplicates).
   */
  registry(opts: { openMetrics: boolean; withProcessMetrics: boolean }): client.Registry<client.RegistryContentType> {
    const registry = new client.Registry<client.RegistryContentType>();
    if (opts.openMetrics) registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
    const registers = [registry];
    // `this` inside collect() is the metric; the state is reached through a closure.
    const state = this;
    /** Per series, the count this registry's counter already holds. */
    const reported = new Map<Series, number>();
    new client.Counter({
      name: 'dropsite_drops_total',
      help: 'Packet drops by drop location and reason; file and line are the top candidate, method says how it was found (rebuilt, debuginfo: exact; source: ranked; none: no candidate).',
      labelNames: DROP_LABELS,
      registers,
      // Only what grew since the last scrape reaches prom-client: its inc() hashes the label set on every call.
      collect() {
        for (const s of state.series()) {
          const before = reported.get(s) ?? 0;
          if (s.count === before) continue;
          this.inc(s.labels, s.count - before);
          reported.set(s, s.count);
        }
      },
    });
    new client.Counter({
      name: 'dropsite_drops_unresolved_total',
      help: 'Drops whose location names no function in the index (another kernel version, a module outside the tree, or no index).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of state.#unresolved) this.inc({ reason }, n);
      },
    });
    const scalar = (name: string, help: string, value: () => number): void => {
      new client.Counter({
        name, help, registers,
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    };
    scalar('dropsite_events_lost_total', 'Events the kernel lost before dropsite read them: the tracing instance\'s per-CPU overruns (trace_pipe), or the hist table\'s Dropped count (hist).', () => state.#lost);
    scalar('dropsite_series_dropped_total', 'Drop series not created because --max-series was reached; their drops are counted under location="other".', () => state.#seriesDropped);
    scalar('dropsite_lines_skipped_total', 'Trace or hist lines dropsite could not read as a drop.', () => state.#skippedLines);
    new client.Counter({
      name: 'dropsite_capture_restarts_total',
      help: 'Times the capture was set up again (instance gone, event switched off, read error), by cause.',
      labelNames: ['cause'],
      registers,
      collect() {
        this.reset();
        for (const [cause, n] of state.#restarts) this.inc({ cause }, n);
      },
    });
    new client.Gauge({
      name: 'dropsite_info',
      help: 'The running kernel, the indexed tree used for source lines (empty: none), the index file and the capture source.',
      labelNames: ['kernel', 'tree_version', 'index', 'source'],
      registers,
      collect() {
        this.reset();
        this.set({ ...state.info }, 1);
      },
    });
    if (opts.withProcessMetrics) client.collectDefaultMetrics({ register: registry });
    return registry;
  }
}
