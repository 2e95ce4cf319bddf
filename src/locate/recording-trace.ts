// skb:kfree_skb / skb:consume_skb events as tracefs (`trace`, `trace_pipe`, trace-cmd report) and `perf script` print
// them. Both come from the same TP_printk, so one reader takes both; they differ in how `location=` is rendered and in
// what follows an event (tracefs `<stack trace>` / ` => fn`, perf `-g` callchains).
// Format facts: /work/shared/FORMATS.md §2.1, §3.1.

import type { DropEvent } from './location.ts';
import {
  type CodePoint,
  type DropDetails,
  type FormatReader,
  type RecordingItem,
  clipLine,
  dropRecord,
  reasonName,
  skippedRecord,
} from './recording-model.ts';
import { FrameChooser, moduleOfDso, parseCodeToken, shorten } from './recording-tokens.ts';

// `comm-pid [cpu] flags 647.428165: kfree_skb: …` (tracefs) or `comm pid [cpu] 330543.363561: skb:kfree_skb: …`
// (perf). The comm may hold spaces, so the event is found from its name; the timestamp is optional (perf script -F),
// and only `secs.frac` is read as seconds (trace_clock=counter or x86-tsc print bare counts).
const SKB_EVENT_RE = /(?:^|\s)(?:([0-9]+)(\.[0-9]+)?:\s+)?(?:skb:)?(kfree_skb|consume_skb):(?:\s|$)/;
// A line of another event: `…] 123.456: event_name: …` with a timestamp, so that free text is not taken for one.
const OTHER_EVENT_RE = /\s[0-9]+\.[0-9]+:\s+((?:[A-Za-z0-9_]+:)?[A-Za-z0-9_]+):(?:\s|$)/;
const LOCATION_KEY = 'location=';
const NON_BLANK_RE = /\S/;
const TOKEN_RE = /^\S*/;
// ` [module]` (tracefs %pS for module text, optionally with a build id) or ` (0x…)` (newer libtraceevent raw variant).
const AFTER_TOKEN_RE = /^\s+(?:\[([A-Za-z0-9_-]+)(?:\s+[0-9a-fA-F]+)?\]|\((0x[0-9a-fA-F]+)\))/;
const REASON_RE = /(?:^|\s)reason:\s*(\S+)/;

const STACK_TRACE_RE = /:\s+<(?:user )?stack trace>\s*$/;
// ` => ip_error`, with options/sym-offset ` => ip_error+0x1c/0x80`, module text ` [mod]`, options/sym-addr ` <ffff…>`.
const STACK_FRAME_RE = /^\s*=>\s+(\S+)(?:\s+[[(]([A-Za-z0-9_-]+)[\])])?(?:\s+<([0-9a-fA-F]{1,16})>)?\s*$/;
// perf -g: `\t    ffffffff816ea931 skb_release_data+0xb1 ([kernel.kallsyms])`; older perf omits `+0x…`.
const CALLCHAIN_RE = /^\s+([0-9a-fA-F]{1,16})(?:\s+(\S+))?(?:\s+\(([^()]*)\))?\s*$/;
const LOST_EVENTS_RE = /^\s*CPU:\s*([0-9]+) \[LOST ([0-9]+) EVENTS\]\s*$/;
// trace-cmd report header lines.
const TRACE_CMD_HEADER_RE = /^\s*(?:cpus=[0-9]+|version = [0-9]+|CPU [0-9]+ is empty|CPU\s*[0-9]+ data recorded at offset=)/;

const NO_LOCATION_WHY = 'consume_skb event without location= (kernels before 6.3 do not record one)';

type Pending =
  /** The event's own location is unusable; a following `<stack trace>` can still place it. */
  | { kind: 'needs-stack'; lineNo: number; line: string; why: string; details: DropDetails; chooser: FrameChooser }
  /** perf ≤ 5.16 gave a raw address; a following callchain can name it. */
  | { kind: 'needs-callchain'; lineNo: number; point: CodePoint; details: DropDetails; chooser: FrameChooser };

/** Distinct `location=… reason: …` tails remembered per reader; a recording rarely has more than a few hundred. */
const TAIL_CACHE_MAX = 4096;

export class TraceReader implements FormatReader {
  #pending: Pending | null = null;
  /** The text after `location=` → its parsed location and reason: a million events repeat a few hundred tails. */
  readonly #tails = new Map<string, { point: CodePoint; reason: string | null }>();
  /** Inside the stack or callchain of an event that needs nothing from it. */
  #isInFrames = false;

  get inBlock(): boolean {
    return this.#pending !== null || this.#isInFrames;
  }

  feed(line: string, lineNo: number, out: RecordingItem[]): void {
    if (!NON_BLANK_RE.test(line)) {
      this.flush(out);
      return;
    }
    const first = line.charCodeAt(0);
    // tracefs event lines start with spaces too (the task column is right-aligned): only lines that are not
    // skb events can be stack frames or callchain entries.
    if ((first === 0x20 || first === 0x09) && !line.includes('_skb:')) {
      if (this.#feedFrame(line)) return;
    } else if (first === 0x23 /* # */) {
      return;
    }
    const event = SKB_EVENT_RE.exec(line);
    if (event !== null) {
      this.flush(out);
      this.#readEvent(line, lineNo, event, out);
      return;
    }
    if (STACK_TRACE_RE.test(line)) {
      // A pending hashed event takes the stack that follows it; anything else is complete without one.
      if (this.#pending?.kind !== 'needs-stack') this.flush(out);
      this.#isInFrames = true;
      return;
    }
    this.flush(out);
    const lost = LOST_EVENTS_RE.exec(line);
    if (lost !== null) {
      out.push(skippedRecord(lineNo, line, `the ring buffer of CPU ${lost[1] ?? '?'} lost ${lost[2] ?? '?'} events`));
      return;
    }
    if (TRACE_CMD_HEADER_RE.test(line)) return;
    const other = OTHER_EVENT_RE.exec(line);
    if (other !== null) {
      out.push(skippedRecord(lineNo, line, `event ${shorten(other[1] ?? '')} is not skb:kfree_skb or skb:consume_skb`));
      return;
    }
    out.push(skippedRecord(lineNo, line, 'not a trace line ("… kfree_skb: … location=…" or a stack frame)'));
  }

  flush(out: RecordingItem[]): void {
    const pending = this.#pending;
    this.#pending = null;
    this.#isInFrames = false;
    if (pending === null) return;
    const frame = pending.chooser.choose();
    if (pending.kind === 'needs-stack') {
      if (frame === null) {
        out.push(skippedRecord(pending.lineNo, pending.line, pending.why));
      } else {
        out.push(dropRecord(pending.lineNo, frame, pending.details));
      }
      return;
    }
    // The frame whose address is the location names it exactly; another frame (no exact match) describes its own
    // address, so the record then carries that frame's address with its symbol, never a mix of the two.
    const exact = pending.chooser.exact;
    if (exact !== null && exact.symbol !== '') {
      out.push(dropRecord(pending.lineNo, { ...exact, address: pending.point.address }, pending.details));
    } else if (frame !== null && frame.symbol !== '') {
      out.push(dropRecord(pending.lineNo, frame, pending.details));
    } else {
      out.push(dropRecord(pending.lineNo, pending.point, pending.details));
    }
  }

  /** False when the line is not a frame, so that the caller reads it as an event or skips it. */
  #feedFrame(line: string): boolean {
    const pending = this.#pending;
    const frame = STACK_FRAME_RE.exec(line);
    if (frame !== null) {
      if (pending?.kind === 'needs-stack') {
        const point = parseCodeToken(frame[1] ?? '', { bareBase: 'hex', isBareAddressAllowed: false });
        if (typeof point !== 'string') {
          point.module = frame[2] ?? null;
          if (frame[3] !== undefined) point.address ??= BigInt(`0x${frame[3]}`);
          pending.chooser.offer(point);
        }
      }
      return true;
    }
    const call = CALLCHAIN_RE.exec(line);
    if (call === null) return false;
    if (pending !== null) {
      const symbolText = call[2] ?? '';
      const parsed = symbolText === '' || symbolText === '[unknown]'
        ? null
        : parseCodeToken(symbolText, { bareBase: 'hex', isBareAddressAllowed: false });
      const address = BigInt(`0x${call[1] ?? '0'}`);
      const point: CodePoint = parsed === null || typeof parsed === 'string' || parsed.address !== null
        ? { symbol: '', offset: null, size: null, address, module: null }
        : { ...parsed, address, module: moduleOfDso(call[3] ?? '') };
      pending.chooser.offer(point);
    }
    this.#isInFrames = true;
    return true;
  }

  #readEvent(line: string, lineNo: number, event: RegExpExecArray, out: RecordingItem[]): void {
    const eventName: DropEvent = event[3] === 'consume_skb' ? 'consume_skb' : 'kfree_skb';
    const timestamp = event[1] !== undefined && event[2] !== undefined ? Number.parseFloat(`${event[1]}${event[2]}`) : null;
    const fields = line.slice(event.index + event[0].length);
    const tailAt = fields.indexOf(LOCATION_KEY);
    const tail = tailAt === -1 ? undefined : this.#tails.get(fields.slice(tailAt + LOCATION_KEY.length));
    if (tail !== undefined) {
      this.#isInFrames = true;
      out.push(dropRecord(lineNo, { ...tail.point }, { reason: tail.reason, event: eventName, count: 1, timestamp }));
      return;
    }
    const reasonMatch = REASON_RE.exec(fields);
    const details: DropDetails = {
      reason: reasonMatch === null ? null : reasonName(reasonMatch[1] ?? ''),
      event: eventName,
      count: 1,
      timestamp,
    };
    this.#isInFrames = true;
    const at = fields.indexOf(LOCATION_KEY);
    if (at === -1) {
      const why = eventName === 'consume_skb' ? NO_LOCATION_WHY : 'kfree_skb event without location=';
      this.#pending = { kind: 'needs-stack', lineNo, line: clipLine(line), why, details, chooser: new FrameChooser() };
      return;
    }
    const rest = fields.slice(at + LOCATION_KEY.length);
    const token = TOKEN_RE.exec(rest)?.[0] ?? '';
    if (token === '') {
      out.push(skippedRecord(lineNo, line, 'location= is empty'));
      return;
    }
    const point = parseCodeToken(token, { bareBase: 'hex', isBareAddressAllowed: true });
    if (typeof point === 'string') {
      this.#pending = { kind: 'needs-stack', lineNo, line: clipLine(line), why: point, details, chooser: new FrameChooser() };
      return;
    }
    const after = AFTER_TOKEN_RE.exec(rest.slice(token.length));
    if (after?.[1] !== undefined) point.module = after[1];
    if (after?.[2] !== undefined && point.address === null) point.address = BigInt(after[2]);
    if (point.symbol === '' && point.address !== null) {
      this.#pending = { kind: 'needs-callchain', lineNo, point, details, chooser: new FrameChooser(point.address) };
      return;
    }
    // Only a location= that stood for itself is remembered; the reason is part of the tail (it follows location=).
    if (this.#tails.size < TAIL_CACHE_MAX && (reasonMatch === null || reasonMatch.index >= at)) {
      this.#tails.set(rest, { point: { ...point }, reason: details.reason });
    }
    out.push(dropRecord(lineNo, point, details));
  }
}
