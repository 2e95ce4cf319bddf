// The view model every report renderer reads: plain, serialisable data (no database, no I/O).
import type { Candidate, Explanation } from '../model.ts';

/** One aggregated drop location (and reason), explained. */
export interface ReportRow {
  /** `symbol+0xoff` as aggregated (offset in hex), with ` [module]` when there is one. */
  location: string;
  symbol: string;
  function: string;
  offset: number | null;
  reason: string | null;
  event: 'kfree_skb' | 'consume_skb';
  count: number;
  /** count / total drops of the report, 0–1. */
  share: number;
  /** Seconds, as the recording gives them (tracefs/perf uptime, dropwatch packet-mode wall clock); null when absent. */
  firstSeen: number | null;
  lastSeen: number | null;
  /** Best candidate first; empty when the function is not in the index. */
  candidates: Candidate[];
  notes: string[];
  /** False when the function has no record in the index (other kernel version, module outside the tree). */
  inIndex: boolean;
  /** How the candidates were ranked (`machine-code` with --kernel/--modules, `rebuilt`, …); absent when nothing was explained. */
  method?: Explanation['method'];
}

export interface SkippedLine {
  lineNo: number;
  /** At most 200 characters of the line. */
  line: string;
  why: string;
}

/** Source lines around a candidate, for renderers that show code (HTML, Markdown). */
export interface Snippet {
  file: string;
  /** First line number of `lines`. */
  firstLine: number;
  lines: string[];
  /** The site's statement span, highlighted. */
  markFrom: number;
  markTo: number;
}

export interface ReportView {
  title: string;
  /** Where the events came from: a file name, `stdin`, or `live tracefs`. */
  source: string;
  format: string;
  /** The indexed tree the rows were explained against. */
  tree: { root: string; version: string | null } | null;
  totals: { events: number; drops: number; locations: number; skippedLines: number };
  /** Top rows, by count (desc), then location. */
  rows: ReportRow[];
  /** Rows beyond --top, summarised. */
  rest: { locations: number; drops: number } | null;
  /** Drops per reason, the --top largest (by count desc, then name). */
  byReason: Array<{ reason: string; count: number }>;
  /** Reasons beyond --top, summarised; null when every reason is shown. */
  byReasonRest: { reasons: number; drops: number } | null;
  /** Drops per time bucket, when the recording has timestamps. */
  timeline: Array<{ start: number; count: number }> | null;
  /** 'interval': the timeline counts reporting intervals (1, 2, …) of a recording with no clock; absent: seconds. */
  timelineUnit?: 'interval';
  skipped: SkippedLine[];
  /** Keyed by `file:line` of a candidate. */
  snippets: Record<string, Snippet>;
  warnings: string[];
}

export type ReportFormat = 'table' | 'md' | 'json' | 'html';
