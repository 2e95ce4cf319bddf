// Kernel stacks printed by bpftrace (`kstack` map keys and printed stacks, tools/tcpdrop.bt) and by BCC tcpdrop.
// The drop location is the first frame after the drop functions. bpftrace prints offsets in decimal, BCC `+0x…`.
// Format facts: /work/shared/FORMATS.md §3.2, §3.3.

import {
  type CodePoint,
  type FormatReader,
  type RecordingItem,
  clipLine,
  dropRecord,
  reasonName,
  skippedRecord,
} from './recording-model.ts';
import { FrameChooser, parseCodeToken, shorten } from './recording-tokens.ts';

// `@[` or `@name[`, optionally with key elements before the stack (`@[comm, `).
const MAP_OPEN_RE = /^@([A-Za-z0-9_]*)\[(.*)$/;
// `]: 17`, or `, OTHER_KEY_ELEMENTS]: 17` when the stack is not the last key element.
const MAP_CLOSE_RE = /^\s*(?:,\s*(.*?))?\]:\s*([0-9]+)\s*$/;
// A whole entry on one line: `@[tcp_v4_rcv+2503]: 3`, `@[SKB_DROP_REASON_NO_SOCKET, __udp4_lib_rcv]: 5`.
const MAP_LINE_RE = /^@([A-Za-z0-9_]*)\[(.*)\]:\s*([0-9]+)\s*$/;
const MAP_SCALAR_RE = /^@[A-Za-z0-9_]*:\s/;
// BCC tcpdrop / bpftrace tcpdrop.bt event line: `20:49:06 0      4  10.32.119.56:443     > 10.66.65.252:22912   CLOSE (ACK)`.
const EVENT_LINE_RE = /^([0-9]{2}):([0-9]{2}):([0-9]{2})\s+[0-9]+\s/;
// BCC tcpdrop since "Dump drop reason": a trailing `REASON (CODE)` column. TCP flags are `(ACK)`, never digits.
const EVENT_REASON_RE = /\s([A-Za-z][A-Za-z0-9_]*) \(([0-9]+)\)\s*$/;
const IGNORED_RE = /^(?:TIME\s+PID\s|Attaching [0-9]+ probes?|Tracing |\^C\s*$|(?:Possibly )?[Ll]ost [0-9]+ (?:events|samples))/;
// Frame text after the indentation: `b'tcp_drop+0x1'` (BCC under Python 3), `ffffffff81… tcp_v4_rcv+2503` (kstack(perf)),
// `[inlined] f@file:line` and `f+12@file:line` (blazesym), `f+12 (inlined)` (perf mode).
const PY_BYTES_RE = /^b'(.*)'$/;
const PERF_MODE_RE = /^([0-9a-fA-F]{1,16})\s+(\S+)(\s+\(inlined\))?$/;
const SINGLE_TOKEN_RE = /^(\S+)(\s+\(inlined\))?$/;
const REASON_ELEMENT_RE = /^(?:SKB_DROP_REASON_)?[A-Z][A-Z0-9_]*$/;
const LOCATION_ELEMENT_RE = /^(?:[A-Za-z_][A-Za-z0-9_.$]*(?:\+(?:0x[0-9a-fA-F]+|[0-9]+))?|0x[0-9a-fA-F]{1,16})$/;

interface StackBlock {
  kind: 'map' | 'event' | 'bare';
  lineNo: number;
  line: string;
  reason: string | null;
  timestamp: number | null;
  chooser: FrameChooser;
}

export class StackReader implements FormatReader {
  #block: StackBlock | null = null;

  get inBlock(): boolean {
    return this.#block !== null;
  }

  feed(line: string, lineNo: number, out: RecordingItem[]): void {
    const block = this.#block;
    if (line.trim() === '') {
      this.flush(out);
      return;
    }
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      const frame = parseFrame(line.trim());
      if (frame === 'inlined') return;
      if (typeof frame === 'string') {
        out.push(skippedRecord(lineNo, line, `not a stack frame: ${frame}`));
        return;
      }
      if (this.#block === null) this.#block = newBlock('bare', lineNo, line, null, null);
      this.#block.chooser.offer(frame);
      return;
    }
    if (block?.kind === 'map') {
      const close = MAP_CLOSE_RE.exec(line);
      if (close !== null) {
        this.#block = null;
        block.reason ??= reasonOfElements(close[1] ?? '');
        this.#emit(block, Number.parseInt(close[2] ?? '0', 10), out);
        return;
      }
      out.push(skippedRecord(block.lineNo, block.line, 'stack map entry ends without "]: COUNT" (truncated?)'));
      this.#block = null;
    } else {
      this.flush(out);
    }
    this.#readHead(line, lineNo, out);
  }

  flush(out: RecordingItem[]): void {
    const block = this.#block;
    this.#block = null;
    if (block === null) return;
    if (block.kind === 'map') {
      out.push(skippedRecord(block.lineNo, block.line, 'stack map entry ends without "]: COUNT" (truncated?)'));
      return;
    }
    this.#emit(block, 1, out);
  }

  #readHead(line: string, lineNo: number, out: RecordingItem[]): void {
    const whole = MAP_LINE_RE.exec(line);
    if (whole !== null) {
      out.push(readMapLine(whole[2] ?? '', Number.parseInt(whole[3] ?? '0', 10), lineNo, line));
      return;
    }
    const open = MAP_OPEN_RE.exec(line);
    if (open !== null) {
      this.#block = newBlock('map', lineNo, line, reasonOfElements(open[2] ?? ''), null);
      return;
    }
    const event = EVENT_LINE_RE.exec(line);
    if (event !== null) {
      const [hours, minutes, seconds] = [1, 2, 3].map((i) => Number.parseInt(event[i] ?? '0', 10));
      const reason = EVENT_REASON_RE.exec(line);
      // A time of day (BCC prints strftime("%H:%M:%S")): seconds since midnight, in the capture machine's zone.
      const timestamp = (hours ?? 0) * 3600 + (minutes ?? 0) * 60 + (seconds ?? 0);
      this.#block = newBlock('event', lineNo, line, reason === null ? null : reasonName(reason[1] ?? ''), timestamp);
      return;
    }
    if (IGNORED_RE.test(line)) return;
    if (MAP_SCALAR_RE.test(line)) {
      out.push(skippedRecord(lineNo, line, 'map value without a stack key'));
      return;
    }
    out.push(skippedRecord(lineNo, line, 'not a bpftrace or BCC line ("@[" stack map, stack frame or event line)'));
  }

  #emit(block: StackBlock, count: number, out: RecordingItem[]): void {
    const frame = block.chooser.choose();
    if (frame === null) {
      const why = block.chooser.frameCount === 0
        ? 'no stack follows'
        : 'every frame of the stack is a drop function or tracing code';
      out.push(skippedRecord(block.lineNo, block.line, why));
      return;
    }
    out.push(dropRecord(block.lineNo, frame, { reason: block.reason, event: 'kfree_skb', count, timestamp: block.timestamp }));
  }
}

function newBlock(kind: StackBlock['kind'], lineNo: number, line: string, reason: string | null, timestamp: number | null): StackBlock {
  return { kind, lineNo, line: clipLine(line), reason, timestamp, chooser: new FrameChooser() };
}

/** A frame, 'inlined' for a frame that has no code address of its own, or why the text is not a frame. */
function parseFrame(text: string): CodePoint | 'inlined' | string {
  const bytes = PY_BYTES_RE.exec(text);
  const body = bytes === null ? text : (bytes[1] ?? '');
  if (body.startsWith('[inlined] ')) return 'inlined';
  let address: bigint | null = null;
  let token = body;
  const perf = PERF_MODE_RE.exec(body);
  if (perf !== null) {
    if (perf[3] !== undefined) return 'inlined';
    address = BigInt(`0x${perf[1] ?? '0'}`);
    token = perf[2] ?? '';
  } else {
    const single = SINGLE_TOKEN_RE.exec(body);
    if (single === null) return `"${shorten(body)}" has spaces`;
    if (single[2] !== undefined) return 'inlined';
    token = single[1] ?? '';
  }
  const at = token.indexOf('@');
  if (at > 0) token = token.slice(0, at);
  if (token === '[unknown]') return { symbol: '', offset: null, size: null, address, module: null };
  const point = parseCodeToken(token, { bareBase: 'decimal', isBareAddressAllowed: true });
  if (typeof point === 'string') return point;
  point.address ??= address;
  return point;
}

/** `@[SKB_DROP_REASON_NO_SOCKET, __udp4_lib_rcv]: 5`: one location element, an optional reason, nothing ambiguous. */
function readMapLine(key: string, count: number, lineNo: number, line: string): RecordingItem {
  const elements = key.split(',').map((element) => element.trim());
  const locations = elements.filter((element) => !REASON_ELEMENT_RE.test(element) && LOCATION_ELEMENT_RE.test(element));
  if (locations.length !== 1) {
    return skippedRecord(lineNo, line, locations.length === 0
      ? 'map key has no kernel location'
      : 'map key has more than one element that looks like a kernel symbol');
  }
  const point = parseCodeToken(locations[0] ?? '', { bareBase: 'decimal', isBareAddressAllowed: false });
  if (typeof point === 'string') return skippedRecord(lineNo, line, point);
  return dropRecord(lineNo, point, { reason: reasonOfElements(key), event: 'kfree_skb', count, timestamp: null });
}

function reasonOfElements(text: string): string | null {
  for (const element of text.split(',')) {
    const trimmed = element.trim();
    if (trimmed !== '' && REASON_ELEMENT_RE.test(trimmed)) return reasonName(trimmed);
  }
  return null;
}
