// Wording shared by the report renderers, so that every format says the same thing the same way.
import type { Candidate } from '../model.ts';
import type { ReportRow, ReportView, Snippet } from './view.ts';

/** The largest of `values`, at least `floor`: a loop, since Math.max(...spread) throws past ~100,000 values. */
export function largest(values: Iterable<number>, floor: number): number {
  let m = floor;
  for (const v of values) if (v > m) m = v;
  return m;
}

export const sharePercent = (share: number): string => `${(Number.isFinite(share) ? share * 100 : 0).toFixed(1)}%`;

export const formatScore = (score: number): string => (Number.isFinite(score) ? score.toFixed(2) : '?');

/** The row's reason; a consume_skb row has none by design, a dropwatch row has none at all. */
export const rowReason = (row: ReportRow): string => row.reason ?? (row.event === 'consume_skb' ? 'consumed' : '-');

/** A candidate's reason, or every reason that can reach its call when the argument is a variable. */
export function candidateReason(c: Candidate): string {
  if (c.reason !== null) return c.reason;
  if (c.reasons.length > 0) return c.reasons.join('|');
  return c.kind === 'consume' ? 'consumed' : '?';
}

/** `file:line`, the key of `ReportView.snippets`. */
export const siteKey = (c: Pick<Candidate, 'file' | 'line'>): string => `${c.file}:${c.line}`;

export const snippetFor = (view: ReportView, c: Candidate): Snippet | undefined =>
  Object.hasOwn(view.snippets, siteKey(c)) ? view.snippets[siteKey(c)] : undefined;

/** For the free inside an inlined wrapper of a .c file: the call that reached it (`called at net/ipv4/tcp_input.c:5017 in tcp_data_queue()`). */
export const calledAtLabel = (c: Candidate): string =>
  c.calledAt === undefined ? '' : `called at ${c.calledAt.file}:${c.calledAt.line} in ${c.calledAt.function}()`;

export const roleLabel = (c: Candidate): string =>
  c.role === 'caller' ? 'caller of the drop function' : c.role === 'debuginfo' ? 'debug info, no indexed site' : 'drop site';

export const treeLabel = (view: ReportView): string =>
  view.tree === null ? 'no index' : view.tree.version === null ? view.tree.root : `${view.tree.root} (Linux ${view.tree.version})`;

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

export function totalsLabel(view: ReportView): string {
  const t = view.totals;
  const parts = [`${plural(t.drops, 'drop', 'drops')} at ${plural(t.locations, 'location', 'locations')}`, `${plural(t.events, 'event', 'events')}`];
  if (t.skippedLines > 0) parts.push(`${plural(t.skippedLines, 'line', 'lines')} skipped`);
  return parts.join(', ');
}

export const restLabel = (rest: NonNullable<ReportView['rest']>): string =>
  `${plural(rest.locations, 'more location', 'more locations')} with ${plural(rest.drops, 'drop', 'drops')} not shown`;

export const reasonRestLabel = (rest: NonNullable<ReportView['byReasonRest']>): string =>
  `${plural(rest.reasons, 'more reason', 'more reasons')} with ${plural(rest.drops, 'drop', 'drops')} not shown`;

export function seenLabel(row: ReportRow, unit?: ReportView['timelineUnit']): string | null {
  if (row.firstSeen === null || row.lastSeen === null) return null;
  if (unit === 'interval') return row.firstSeen === row.lastSeen ? `seen in interval ${row.firstSeen}` : `seen in intervals ${row.firstSeen} to ${row.lastSeen}`;
  return `seen ${row.firstSeen.toFixed(3)}s – ${row.lastSeen.toFixed(3)}s`;
}

/** Width of a timeline bucket: the smallest gap between starts (the buckets are evenly spaced, some may be missing). */
export function bucketSeconds(timeline: ReadonlyArray<{ start: number }>): number {
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < timeline.length; i++) {
    const d = (timeline[i]?.start ?? 0) - (timeline[i - 1]?.start ?? 0);
    if (d > 0 && d < gap) gap = d;
  }
  return Number.isFinite(gap) ? gap : 1;
}

/** Compact seconds for axis labels: `12s`, `1.5s`, `2m05s`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (Math.abs(s) < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  const r = Math.round(s);
  const m = Math.floor(r / 60);
  return `${m}m${String(r - m * 60).padStart(2, '0')}s`;
}
