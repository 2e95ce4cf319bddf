// `watch --as jsonl`: one JSON object per series that counted drops in the interval, for log pipelines (Vector,
// Fluent Bit, Loki). Schema (README "Events for log pipelines"): version 1, fields below, one object per line.
import type { Series } from './metrics.ts';

export const JSONL_SCHEMA = 1;

export interface JsonlRow {
  schema: typeof JSONL_SCHEMA;
  /** End of the interval, ISO 8601 UTC. */
  time: string;
  host: string;
  interval_s: number;
  location: string;
  function: string;
  reason: string;
  event: string;
  file: string;
  line: number | null;
  method: string;
  /** Drops in this interval. */
  count: number;
  /** Drops since the exporter started. */
  total: number;
}

/** Rows for the series whose count grew since `last` (series → count at the previous interval); updates `last`. */
export function intervalRows(series: readonly Series[], last: Map<Series, number>, at: { time: Date; host: string; intervalS: number }): JsonlRow[] {
  const rows: JsonlRow[] = [];
  for (const s of series) {
    const before = last.get(s) ?? 0;
    if (s.count === before) continue;
    last.set(s, s.count);
    const l = s.labels;
    rows.push({
      schema: JSONL_SCHEMA, time: at.time.toISOString(), host: at.host, interval_s: at.intervalS,
      location: l.location, function: l.function, reason: l.reason, event: l.event, file: l.file,
      line: l.line === '' ? null : Number(l.line), method: l.method, count: s.count - before, total: s.count,
    });
  }
  return rows.sort((a, b) => b.count - a.count || (a.location < b.location ? -1 : a.location > b.location ? 1 : 0));
}

export const renderJsonl = (rows: readonly JsonlRow[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
