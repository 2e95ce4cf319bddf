// Streaming readers of drop recordings (dropwatch, tracefs, perf script, bpftrace/BCC, retis JSON, SystemTap's
// dropwatch.stp, perf's net_dropmonitor.py) for
// `dropsite report`. Pure: lines in, records out, one line at a time, in constant memory; malformed input becomes
// `skipped` records and never throws. Format facts: /work/shared/FORMATS.md.

import { NetDropmonitorReader } from './recording-dropmonitor.ts';
import { DropwatchReader } from './recording-dropwatch.ts';
import { HistReader } from './recording-hist.ts';
import {
  type FormatReader,
  type RecordingFormat,
  type RecordingItem,
  type SkippedRecord,
  skippedRecord,
} from './recording-model.ts';
import { RetisReader } from './recording-retis.ts';
import { StackReader } from './recording-stacks.ts';
import { StapReader } from './recording-stap.ts';
import { TraceReader } from './recording-trace.ts';

export type { DropRecord, RecordingFormat, RecordingItem, SkippedRecord } from './recording-model.ts';
export { locationText } from './recording-model.ts';

export interface ReadRecordingOptions {
  format: RecordingFormat | 'auto';
}


// Real lines are a few hundred characters; a retis event with its packet a few KiB. Longer is not a recording, and
// running the line patterns over it would only cost time.
export const MAX_LINE_CHARS = 65_536;
// 'auto' looks at this many non-empty lines before choosing a reader. While it does it holds back at most
// BUFFER_MAX_LINES lines (leading blank lines included) and BUFFER_MAX_CHARS characters, then decides on what it has.
export const DETECT_LINES = 50;
const BUFFER_MAX_LINES = 1000;
const BUFFER_MAX_CHARS = 1_048_576;

// Control characters other than tab (and the CR of CRLF, removed first), and the U+FFFD a bad UTF-8 decode leaves.
const BINARY_RE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/;

// Lines only one tool prints. Frame lines count too: they tell formats apart as well as event lines do.
const DROPWATCH_SNIFF_RE = /^(?:dropwatch>\s*)*(?:[0-9]+ drops at |drop at: )|^(?:dropwatch>|Initi?alizing (?:kallsyms db|null lookup method)|Kernel monitoring activated)/;
const PERF_SNIFF_RE = /\sskb:(?:kfree_skb|consume_skb):(?:\s|$)/;
const PERF_CALLCHAIN_SNIFF_RE = /^\s+[0-9a-fA-F]{6,16}\s+\S+\s+\([^()]*\)\s*$/;
const TRACEFS_SNIFF_RE = /\s[0-9]+(?:\.[0-9]+)?:\s+(?:(?:kfree_skb|consume_skb):\s|<stack trace>)|^# tracer: |^\s*=> \S/;
const BPFTRACE_SNIFF_RE = /^@[A-Za-z0-9_]*\[|^Attaching [0-9]+ probes?\.\.\.|^TIME\s+PID\s+(?:IP|COMM)\s|^[0-9]{2}:[0-9]{2}:[0-9]{2}\s+[0-9]+\s.*>|^\s+(?:b')?[A-Za-z_][A-Za-z0-9_.$]*\+(?:0x[0-9a-fA-F]+|[0-9]+)'?$/;
// tracefs hist files: `{ location: [ffff…] sym+0x…/0x… , reason: 1 } hitcount: 600`, `{ stacktrace:`, their header.
const HIST_SNIFF_RE = /^\{ (?:location|stacktrace|reason)\b.*(?:\} hitcount:|stacktrace:\s*$)|^# (?:event histogram|trigger info: hist:)/;
const RETIS_SNIFF_RE = /^\s*[[{].*"(?:skb-drop|common|kernel|startup|skb-tracking)"\s*:/;
const STAP_SNIFF_RE = /^(?:[0-9]+ packets dropped at \S|Monitoring for dropped packets$|Stopping dropped packet monitor$)/;
// net_dropmonitor's rows are three bare columns that say nothing by themselves: its header and banners tell.
const NET_DROPMONITOR_SNIFF_RE = /^\s*LOCATION\s+OFFSET\s+COUNT\s*$|^(?:Starting trace \(Ctrl-C to dump results\)|Gathering kallsyms data)$/;

/** Which tool printed this line, when one line can tell. */
export function sniffLine(line: string): RecordingFormat | null {
  if (DROPWATCH_SNIFF_RE.test(line)) return 'dropwatch';
  if (STAP_SNIFF_RE.test(line)) return 'systemtap';
  if (NET_DROPMONITOR_SNIFF_RE.test(line)) return 'net-dropmonitor';
  if (HIST_SNIFF_RE.test(line)) return 'tracefs-hist';
  if (RETIS_SNIFF_RE.test(line)) return 'retis-json';
  if (PERF_SNIFF_RE.test(line) || PERF_CALLCHAIN_SNIFF_RE.test(line)) return 'perf';
  if (TRACEFS_SNIFF_RE.test(line)) return 'tracefs';
  if (BPFTRACE_SNIFF_RE.test(line)) return 'bpftrace';
  return null;
}

/** The format most of these lines belong to (ties: the one seen first); null when no line is recognised. */
export function detectFormat(firstLines: readonly string[]): RecordingFormat | null {
  const votes = new Map<RecordingFormat, number>();
  for (const line of firstLines) {
    if (line.length > MAX_LINE_CHARS) continue;
    const format = sniffLine(line);
    if (format !== null) votes.set(format, (votes.get(format) ?? 0) + 1);
  }
  let best: RecordingFormat | null = null;
  let bestVotes = 0;
  // Map iteration follows insertion order, so a strict > keeps the first-seen format on a tie.
  for (const [format, count] of votes) {
    if (count > bestVotes) {
      best = format;
      bestVotes = count;
    }
  }
  return best;
}

/**
 * Read a recording line by line. `lines` is typically `readline` over a file stream; each line is handled when it
 * arrives and only the current multi-line block is kept. With format 'auto' the first DETECT_LINES non-empty lines
 * are held back, the format is detected from them, and they are replayed; if nothing is recognised every line is
 * sniffed on its own.
 */
export async function* readRecording(
  lines: AsyncIterable<string> | Iterable<string>,
  opts: ReadRecordingOptions,
): AsyncGenerator<RecordingItem> {
  const session = new RecordingSession(opts.format);
  const out: RecordingItem[] = [];
  if (typeof lines === 'object' && Symbol.asyncIterator in lines) {
    for await (const line of lines) {
      session.push(line, out);
      if (out.length === 0) continue;
      for (const item of out) yield item;
      out.length = 0;
    }
  } else {
    // A synchronous source is read synchronously: `for await` would add a promise per line.
    for (const line of lines) {
      session.push(line, out);
      if (out.length === 0) continue;
      for (const item of out) yield item;
      out.length = 0;
    }
  }
  session.end(out);
  for (const item of out) yield item;
}

/**
 * Like readRecording, from raw text chunks (a file stream set to utf8): lines are split here and the items of each
 * chunk come as one batch, so a line costs a function call rather than a promise. A line longer than MAX_LINE_CHARS
 * is cut there (the reader then skips it as too long) instead of being gathered whole.
 */
export async function* readRecordingBatches(chunks: AsyncIterable<string>, opts: ReadRecordingOptions): AsyncGenerator<RecordingItem[]> {
  const session = new RecordingSession(opts.format);
  let rest = '';
  let dropping = false;
  // push() works on the items of one line (it post-processes all of `out`): gather them per line.
  const line: RecordingItem[] = [];
  let clean = false;
  const push = (text: string, batch: RecordingItem[]): void => {
    session.push(text, line, clean);
    for (const item of line) batch.push(item);
    line.length = 0;
  };
  for await (const chunk of chunks) {
    const out: RecordingItem[] = [];
    // One scan of the chunk instead of one per line; the newline and CR are not binary.
    clean = !BINARY_RE.test(chunk) && !BINARY_RE.test(rest);
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      if (dropping) dropping = false;
      else push(rest === '' ? chunk.slice(start, nl) : rest + chunk.slice(start, nl), out);
      rest = '';
      start = nl + 1;
    }
    if (!dropping && start < chunk.length) {
      rest += chunk.slice(start);
      if (rest.length > MAX_LINE_CHARS) {
        push(rest.slice(0, MAX_LINE_CHARS + 1), out);
        rest = '';
        dropping = true;
      }
    }
    if (out.length > 0) yield out;
  }
  const out: RecordingItem[] = [];
  if (rest !== '') push(rest, out);
  session.end(out);
  if (out.length > 0) yield out;
}

export function createFormatReader(format: RecordingFormat): FormatReader {
  switch (format) {
    case 'dropwatch':
      return new DropwatchReader();
    case 'tracefs':
    case 'perf':
      return new TraceReader();
    case 'bpftrace':
      return new StackReader();
    case 'retis-json':
      return new RetisReader();
    case 'systemtap':
      return new StapReader();
    case 'net-dropmonitor':
      return new NetDropmonitorReader();
    case 'tracefs-hist':
      return new HistReader();
  }
}

type BufferedLine = { lineNo: number; line: string } | SkippedRecord;

// V8 makes a regex capture of 13 characters or more a view into the string it was taken from, and readline's lines
// are views into the chunk they were decoded from: a record kept for its symbol would keep 64 KiB of input alive.
// Each distinct text is therefore copied once and shared; past STRING_TABLE_MAX entries texts are copied each time.
const STRING_TABLE_MAX = 65_536;
const VIEW_MIN_CHARS = 13;

class StringTable {
  readonly #table = new Map<string, string>();

  get(text: string): string {
    if (text.length < VIEW_MIN_CHARS) return text;
    const known = this.#table.get(text);
    if (known !== undefined) return known;
    const copy = Buffer.from(text, 'utf16le').toString('utf16le');
    if (this.#table.size < STRING_TABLE_MAX) this.#table.set(copy, copy);
    return copy;
  }
}

class RecordingSession {
  readonly #strings = new StringTable();
  #reader: FormatReader | null;
  /** Lines held back for detection ('auto' only); null once the reader is chosen. */
  #buffer: BufferedLine[] | null;
  #bufferedNonEmpty = 0;
  #bufferedChars = 0;
  #lineNo = 0;

  constructor(format: RecordingFormat | 'auto') {
    this.#reader = format === 'auto' ? null : createFormatReader(format);
    this.#buffer = format === 'auto' ? [] : null;
  }

  /** `clean`: the caller already knows the line has no binary data (it checked the whole chunk at once). */
  push(raw: string, out: RecordingItem[], clean = false): void {
    this.#lineNo += 1;
    const lineNo = this.#lineNo;
    const line = screenLine(raw, lineNo, clean);
    const buffer = this.#buffer;
    if (buffer !== null) {
      buffer.push(typeof line === 'string' ? { lineNo, line } : line);
      if (typeof line !== 'string' || line.trim() !== '') this.#bufferedNonEmpty += 1;
      this.#bufferedChars += typeof line === 'string' ? line.length : 0;
      if (this.#bufferedNonEmpty >= DETECT_LINES || buffer.length >= BUFFER_MAX_LINES || this.#bufferedChars >= BUFFER_MAX_CHARS) {
        this.#chooseReader(out);
      }
    } else if (typeof line === 'string') {
      this.#reader?.feed(line, lineNo, out);
    } else {
      out.push(line);
    }
    this.#detach(out);
  }

  end(out: RecordingItem[]): void {
    if (this.#buffer !== null) this.#chooseReader(out);
    this.#reader?.flush(out);
    this.#detach(out);
  }

  /** Callers keep symbols and reasons (as aggregation keys); make sure they do not keep whole input chunks too. */
  #detach(out: RecordingItem[]): void {
    for (const item of out) {
      if (item.kind !== 'drop') continue;
      item.symbol = this.#strings.get(item.symbol);
      item.function = this.#strings.get(item.function);
      if (item.module !== null) item.module = this.#strings.get(item.module);
      if (item.reason !== null) item.reason = this.#strings.get(item.reason);
    }
  }

  #chooseReader(out: RecordingItem[]): void {
    const buffer = this.#buffer ?? [];
    this.#buffer = null;
    const texts: string[] = [];
    for (const entry of buffer) if (!('kind' in entry)) texts.push(entry.line);
    const format = detectFormat(texts);
    const reader = format === null ? new MixedReader() : createFormatReader(format);
    this.#reader = reader;
    for (const entry of buffer) {
      if ('kind' in entry) out.push(entry);
      else reader.feed(entry.line, entry.lineNo, out);
    }
  }
}

/** The line without its CR, or a skipped record when it is too long or binary. */
function screenLine(raw: string, lineNo: number, clean: boolean): string | SkippedRecord {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.length > MAX_LINE_CHARS) {
    return skippedRecord(lineNo, line, `line too long (${line.length} characters, more than ${MAX_LINE_CHARS})`);
  }
  if (clean) return line;
  const binary = BINARY_RE.exec(line);
  if (binary !== null) {
    const code = binary[0].charCodeAt(0);
    const what = code === 0xfffd ? 'invalid UTF-8' : `control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    return skippedRecord(lineNo, line, `binary data (${what} at column ${binary.index + 1})`);
  }
  return line;
}

/**
 * For input no format claims as a whole (mixed or concatenated captures): every line goes to the reader its own
 * text points to, and continuation lines (indented, blank or unrecognised) to the reader whose block is open.
 */
class MixedReader implements FormatReader {
  readonly #readers = new Map<RecordingFormat, FormatReader>();
  #current: FormatReader | null = null;

  get inBlock(): boolean {
    return this.#current?.inBlock ?? false;
  }

  feed(line: string, lineNo: number, out: RecordingItem[]): void {
    const current = this.#current;
    // Frame lines sniff as their own format, so only lines no format claims continue another format's block.
    const format = sniffLine(line);
    if (format === null) {
      if (current !== null && current.inBlock) current.feed(line, lineNo, out);
      else if (line.trim() !== '') out.push(skippedRecord(lineNo, line, 'no reader recognises this line (format not detected)'));
      return;
    }
    let reader = this.#readers.get(format);
    if (reader === undefined) {
      reader = createFormatReader(format);
      this.#readers.set(format, reader);
    }
    if (current !== null && current !== reader) current.flush(out);
    this.#current = reader;
    reader.feed(line, lineNo, out);
  }

  flush(out: RecordingItem[]): void {
    this.#current?.flush(out);
  }
}
