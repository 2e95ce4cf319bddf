// The `hist` file of a tracefs hist trigger on skb:kfree_skb or skb:consume_skb: in-kernel aggregation, one entry
// per key with its hitcount. Keys are `location.sym-offset` (`[ffffffffc05bcaed] tun_queue_purge+0x8d/0x110 [tun]`),
// `location.sym`, `location.hex` or a plain u64, optionally with `reason` (printed as the enum's number), or a
// multi-line `stacktrace`. The reason stays a number here: the caller names it from the indexed tree's enum
// (`nameReasonValue`), because the numbers move between kernel versions.
// Format facts: /work/shared/FORMATS.md §3.7; the printing code is hist_trigger_print_key() and
// hist_trigger_stacktrace_print() in kernel/trace/trace_events_hist.c.

import type { DropEvent } from '../model.ts';
import {
  type CodePoint,
  type FormatReader,
  type RecordingItem,
  clipLine,
  dropRecord,
  reasonName,
  skippedRecord,
} from './recording-model.ts';
import { functionOfSymbol } from './location.ts';
import { FrameChooser, isDropFunction, parseCodeToken, shorten } from './recording-tokens.ts';

// `{ location: … , reason:          1 } hitcount:        600`, optionally followed by other values (`len: 1234`).
const ENTRY_RE = /^\{\s*(.*?)\s*\}\s*hitcount:\s*([0-9]+)(?:\s|$)/;
// A stacktrace key opens a block: `{ stacktrace:` (the frames follow, 9 spaces in), or `{ reason: 2, stacktrace:`.
const STACK_OPEN_RE = /^\{\s*(.*?)\bstacktrace:\s*$/;
// The block closes with `}` (and the keys after the stack, `, reason:          2}`), then the hitcount.
const STACK_CLOSE_RE = /^\s*(?:,\s*(.*?))?\s*\}\s*hitcount:\s*([0-9]+)(?:\s|$)/;
// One `name: value` field of a key; values may hold spaces (a location with its `[module]`), never `, name:`.
const FIELD_RE = /(?:^|,\s*)([A-Za-z_][A-Za-z0-9_]*(?:\.[a-z-]+)?):\s*/g;
// `[ffffffffc05bcaed] tun_queue_purge+0x8d/0x110 [tun]`: the `.sym` / `.sym-offset` rendering.
const SYM_VALUE_RE = /^\[([0-9a-fA-F]{1,16})\]\s+(\S+)(?:\s+\[([A-Za-z0-9_-]+)\])?$/;
const HEX_VALUE_RE = /^(?:0x)?([0-9a-fA-F]{1,16})$/;
const DECIMAL_VALUE_RE = /^[0-9]{1,20}$/;
const FRAME_RE = /^\s+(\S+)(?:\s+\[([A-Za-z0-9_-]+)\])?\s*$/;
const TOTALS_RE = /^(?:Totals:|\s+(?:Hits|Entries):\s*[0-9]+\s*$)/;
const DROPPED_RE = /^\s+Dropped:\s*([0-9]+)\s*$/;

interface StackBlock {
  lineNo: number;
  line: string;
  keys: string;
  chooser: FrameChooser;
  /** consume_skb when the stack's first drop function is consume_skb (keys=stacktrace on skb:consume_skb). */
  event: DropEvent | null;
}

export class HistReader implements FormatReader {
  #block: StackBlock | null = null;

  get inBlock(): boolean {
    return this.#block !== null;
  }

  feed(line: string, lineNo: number, out: RecordingItem[]): void {
    const block = this.#block;
    if (block !== null) {
      const close = STACK_CLOSE_RE.exec(line);
      if (close !== null) {
        this.#block = null;
        this.#emitStack(block, `${block.keys}, ${close[1] ?? ''}`, Number.parseInt(close[2] ?? '0', 10), out);
        return;
      }
      const frame = FRAME_RE.exec(line);
      if (frame !== null) {
        const point = parseCodeToken(frame[1] ?? '', { bareBase: 'hex', isBareAddressAllowed: true });
        if (typeof point !== 'string') {
          point.module = frame[2] ?? null;
          if (block.event === null && point.symbol !== '' && isDropFunction(point.symbol)) {
            block.event = functionOfSymbol(point.symbol).function === 'consume_skb' ? 'consume_skb' : 'kfree_skb';
          }
          block.chooser.offer(point);
        }
        return;
      }
      out.push(skippedRecord(block.lineNo, block.line, 'stacktrace entry ends without "} hitcount: N" (truncated?)'));
      this.#block = null;
    }
    if (line.trim() === '') return;
    // `# event histogram`, `# trigger info: hist:keys=…`: the header names no event.
    if (line.startsWith('#')) return;
    const entry = ENTRY_RE.exec(line);
    if (entry !== null) {
      out.push(this.#entry(entry[1] ?? '', Number.parseInt(entry[2] ?? '0', 10), lineNo, line));
      return;
    }
    const open = STACK_OPEN_RE.exec(line);
    if (open !== null) {
      this.#block = { lineNo, line: clipLine(line), keys: open[1] ?? '', chooser: new FrameChooser(), event: null };
      return;
    }
    const dropped = DROPPED_RE.exec(line);
    if (dropped !== null) {
      const n = Number.parseInt(dropped[1] ?? '0', 10);
      if (n > 0) out.push(skippedRecord(lineNo, line, `the hist table was full: the kernel did not count ${n} events (raise the trigger's size=)`));
      return;
    }
    if (TOTALS_RE.test(line)) return;
    out.push(skippedRecord(lineNo, line, 'not a hist line ("{ location: … } hitcount: N" or a stacktrace entry)'));
  }

  flush(out: RecordingItem[]): void {
    const block = this.#block;
    this.#block = null;
    if (block !== null) out.push(skippedRecord(block.lineNo, block.line, 'stacktrace entry ends without "} hitcount: N" (truncated?)'));
  }

  #entry(keys: string, count: number, lineNo: number, line: string): RecordingItem {
    const fields = splitFields(keys);
    const location = fields.get('location');
    if (location === undefined) return skippedRecord(lineNo, line, 'hist entry has no location key (keys=location.sym-offset or keys=stacktrace)');
    const point = parseLocationValue(location);
    if (typeof point === 'string') return skippedRecord(lineNo, line, point);
    // A location key exists only on skb:kfree_skb before 6.3, and a consume has no reason: kfree_skb is the safe reading.
    return dropRecord(lineNo, point, { reason: reasonOf(fields), event: 'kfree_skb', count, timestamp: null });
  }

  #emitStack(block: StackBlock, keys: string, count: number, out: RecordingItem[]): void {
    const frame = block.chooser.choose();
    if (frame === null) {
      out.push(skippedRecord(block.lineNo, block.line, block.chooser.frameCount === 0 ? 'stacktrace entry has no frames' : 'every frame of the stacktrace is a drop function or tracing code'));
      return;
    }
    out.push(dropRecord(block.lineNo, frame, { reason: reasonOf(splitFields(keys)), event: block.event ?? 'kfree_skb', count, timestamp: null }));
  }
}

/** `location: …, reason: 1` → { location → '…', reason → '1' }; modifiers (`location.sym-offset`) are dropped from names. */
function splitFields(keys: string): Map<string, string> {
  const fields = new Map<string, string>();
  const starts: Array<{ name: string; from: number; to: number }> = [];
  for (const m of keys.matchAll(FIELD_RE)) starts.push({ name: (m[1] ?? '').replace(/\..*$/, ''), from: m.index, to: m.index + m[0].length });
  starts.forEach((s, i) => fields.set(s.name, keys.slice(s.to, starts[i + 1]?.from ?? keys.length).trim()));
  return fields;
}

function parseLocationValue(value: string): CodePoint | string {
  const sym = SYM_VALUE_RE.exec(value);
  if (sym !== null) {
    const point = parseCodeToken(sym[2] ?? '', { bareBase: 'hex', isBareAddressAllowed: false });
    if (typeof point === 'string') return point;
    point.address = BigInt(`0x${sym[1] ?? '0'}`);
    point.module = sym[3] ?? null;
    return point;
  }
  // keys=location.hex prints `%llx`; a plain key prints the u64 in decimal.
  const hex = HEX_VALUE_RE.exec(value);
  const address = DECIMAL_VALUE_RE.test(value) && value.length > 16 ? BigInt(value) : hex !== null ? BigInt(`0x${hex[1] ?? '0'}`) : null;
  if (address === null) return `location "${shorten(value)}" is not "[ADDRESS] SYMBOL+OFFSET/SIZE" or an address`;
  if (address === 0n) return 'location is zero';
  return { symbol: '', offset: null, size: null, address, module: null };
}

/** The reason key as printed: a number (`1`) the caller names from the tree's enum, or a name if a kernel prints one. */
function reasonOf(fields: Map<string, string>): string | null {
  const value = fields.get('reason');
  if (value === undefined || value === '') return null;
  return reasonName(value);
}

/** A reason printed as its enum number (hist triggers; tracefs for values it has no name for) → the tree's name. */
export function nameReasonValue(reason: string | null, names: ReadonlyMap<number, string> | null): string | null {
  if (reason === null || names === null) return reason;
  // Names start with a letter: no pattern is run per event of a named-reason recording (report's hot path).
  const first = reason.charCodeAt(0);
  if (first < 0x30 || first > 0x39) return reason;
  const value = reasonValueOf(reason);
  return value === null ? reason : names.get(value) ?? reason;
}

/** The number a hist (or an unknown `__print_symbolic` value, `0x10002`) gives for a reason, or null for a name. */
function reasonValueOf(reason: string): number | null {
  if (/^[0-9]{1,10}$/.test(reason)) return Number.parseInt(reason, 10);
  if (/^0x[0-9a-fA-F]{1,8}$/.test(reason)) return Number.parseInt(reason.slice(2), 16);
  return null;
}
