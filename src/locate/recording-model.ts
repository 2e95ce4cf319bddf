// The records every recording reader yields, and the small contract the per-format readers share.
// Pure: strings in, records out. The public entry point is recording.ts.

import type { DropEvent, DropLocation } from '../model.ts';
import { functionOfSymbol } from './location.ts';

export type RecordingFormat = 'dropwatch' | 'tracefs' | 'perf' | 'bpftrace' | 'retis-json' | 'systemtap' | 'net-dropmonitor' | 'tracefs-hist';

/**
 * One drop event (or a dropwatch/bpftrace count of them): a DropLocation whose offset is already in bytes, whose
 * symbol may be '' when only an address was printed, and whose event is known.
 */
export interface DropRecord extends Omit<DropLocation, 'input' | 'event'> {
  kind: 'drop';
  /** 1-based line where the record starts (the event line, `drop at:` line or `@[` line of a block). */
  lineNo: number;
  event: DropEvent;
  /** dropwatch summary counts and bpftrace map counts; 1 for per-event formats. */
  count: number;
  /** Seconds: tracefs/perf uptime, dropwatch packet-mode wall clock, BCC time of day, retis ns / 1e9. */
  timestamp: number | null;
  /**
   * 'interval': `timestamp` counts reporting intervals, not seconds (SystemTap's dropwatch.stp without a clock line
   * prints only a blank line between intervals). Absent: seconds.
   */
  timestampUnit?: 'interval';
}

export interface SkippedRecord {
  kind: 'skipped';
  lineNo: number;
  /** At most SKIPPED_LINE_MAX_CHARS characters of the line, an independent copy. */
  line: string;
  why: string;
}

export type RecordingItem = DropRecord | SkippedRecord;

/**
 * One format's line-by-line state machine. `feed` and `flush` append what they produce to `out`; a reader keeps at
 * most the block it is in (a packet-mode block, a stack, a callchain), never earlier lines.
 */
export interface FormatReader {
  /** `line` has no line terminator and passed the length and binary checks. */
  feed(line: string, lineNo: number, out: RecordingItem[]): void;
  /** Close the open block, if any (end of input, or another format's line in mixed input). */
  flush(out: RecordingItem[]): void;
  /** True while a multi-line block is open and continuation lines belong to this reader. */
  readonly inBlock: boolean;
}

/** Where a code location points: what a location token or a stack frame gives. */
export interface CodePoint {
  symbol: string;
  offset: number | null;
  size: number | null;
  address: bigint | null;
  module: string | null;
}

export interface DropDetails {
  reason: string | null;
  event: DropEvent;
  count: number;
  timestamp: number | null;
}

export const SKIPPED_LINE_MAX_CHARS = 200;
const REASON_PREFIX = 'SKB_DROP_REASON_';

export function dropRecord(lineNo: number, point: CodePoint, details: DropDetails): DropRecord {
  const { function: fn, isCold } = point.symbol === '' ? { function: '', isCold: false } : functionOfSymbol(point.symbol);
  return {
    kind: 'drop',
    lineNo,
    symbol: point.symbol,
    function: fn,
    isCold,
    offset: point.offset,
    size: point.size,
    module: point.module,
    address: point.address,
    reason: details.reason,
    event: details.event,
    count: details.count,
    timestamp: details.timestamp,
  };
}

/** `sym+0xoff [mod]` (no size: it is the same for every drop there), or the raw `0xADDRESS` when nothing names it. */
export function locationText(r: Pick<DropRecord, 'symbol' | 'offset' | 'module' | 'address'>): string {
  if (r.symbol === '') return r.address === null ? '?' : `0x${r.address.toString(16)}`;
  return `${r.symbol}${r.offset === null ? '' : `+0x${r.offset.toString(16)}`}${r.module === null ? '' : ` [${r.module}]`}`;
}

export function skippedRecord(lineNo: number, line: string, why: string): SkippedRecord {
  return { kind: 'skipped', lineNo, line: clipLine(line), why };
}

/**
 * At most SKIPPED_LINE_MAX_CHARS characters, never ending in half a surrogate pair. The result is copied so that a
 * skipped record never keeps a 1 MB line (or the readline chunk a short line was sliced from) alive.
 */
export function clipLine(line: string): string {
  let end = Math.min(line.length, SKIPPED_LINE_MAX_CHARS);
  const last = line.charCodeAt(end - 1);
  if (end < line.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
  return Buffer.from(line.slice(0, end), 'utf16le').toString('utf16le');
}

/** `SKB_DROP_REASON_NO_SOCKET` → `NO_SOCKET`; other names (subsystem reasons, raw `0x10002`) stay as printed. */
export function reasonName(text: string): string {
  return text.startsWith(REASON_PREFIX) ? text.slice(REASON_PREFIX.length) : text;
}
