// SystemTap's dropwatch.stp (systemtap examples, network/): per-interval counts of kfree_skb by location.
// Format facts: /work/shared/FORMATS.md §3.8, and systemtap 4.8's runtime (sym.c `_stp_snprint_addr`, vsprintf.c).
//
// The script prints `Monitoring for dropped packets` at start, then on every timer tick a blank line (4.x: followed by
// `ctime(gettimeofday_s())`, 24 characters, GMT) and one `%d packets dropped at %s` line per location, most first, and
// `Stopping dropped packet monitor` at the end. What follows "at" depends on the variant of the script:
//   symname(l): `unix_stream_recvmsg`                       (the function only: no offset)
//   symdata(l): `tcp_v4_rcv+0x9c7/0x1010 [kernel]`          (kernel symbols carry the module name `kernel`)
//   %p:         `location 0xffffffff81572ec8` (1.x scripts) or `0xffffffff81572ec8`; since stap 1.3 %p is %#x
// symname and symdata fall back to the hex address when the symbol is unknown; symdata then adds ` [mod+0xoff/0xsize]`
// when the module is known. Each line is already the sum of its interval.

import { type CodePoint, type FormatReader, type RecordingItem, dropRecord, skippedRecord } from './recording-model.ts';
import { parseCodeToken, shorten } from './recording-tokens.ts';

const DROP_RE = /^([0-9]+) packets dropped at(?: (.*))?$/;
const START_BANNER = 'Monitoring for dropped packets';
const STOP_BANNER = 'Stopping dropped packet monitor';
// `_STP_SYM_INEXACT` appends this when only exported symbols were available.
const INEXACT_SUFFIX = ' (inexact)';
const OLD_POINTER_PREFIX = 'location ';
// `name+0xoff/0xsize [mod]`, `name+0xoff [mod]`, or `0xaddr [mod+0xoff/0xsize]` (symbol unknown, module known).
const WITH_MODULE_RE = /^(\S+) \[([A-Za-z0-9_-]+)(\+0x[0-9a-fA-F]+(?:\/0x[0-9a-fA-F]+)?)?\]$/;
// ctime(): "Wed Jun 30 21:49:08 1993", always 24 characters, in GMT (the kernel has no time zone).
const CTIME_RE = /^(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ 0-9][0-9]) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// stap's own messages when the output is captured with 2>&1 (`WARNING: Number of errors: 0, skipped probes: 3`).
const STAP_MESSAGE_RE = /^(?:WARNING|ERROR|Pass [0-9]+): /;

export class StapReader implements FormatReader {
  /** Blank lines seen: each starts a reporting interval. */
  #interval = 0;
  /** The current interval's ctime line, in seconds since the epoch; null when the script prints none. */
  #clock: number | null = null;

  get inBlock(): boolean {
    // Between the banners every line, blank ones included, belongs to the session: they count the intervals.
    return this.#interval > 0;
  }

  feed(rawLine: string, lineNo: number, out: RecordingItem[]): void {
    const line = rawLine.trimEnd();
    if (line === '') {
      this.#interval += 1;
      this.#clock = null;
      return;
    }
    if (line === START_BANNER || line === STOP_BANNER) return;
    const clock = CTIME_RE.exec(line);
    if (clock !== null) {
      const [day, hour, minute, second, year] = [2, 3, 4, 5, 6].map((i) => Number.parseInt((clock[i] ?? '0').trim(), 10));
      this.#clock = Date.UTC(year ?? 0, MONTHS.indexOf(clock[1] ?? ''), day ?? 0, hour ?? 0, minute ?? 0, second ?? 0) / 1000;
      return;
    }
    const drop = DROP_RE.exec(line);
    if (drop === null) {
      const why = STAP_MESSAGE_RE.test(line)
        ? 'a message from stap, not a drop line'
        : 'not a dropwatch.stp line ("N packets dropped at …", a ctime line or a banner)';
      out.push(skippedRecord(lineNo, rawLine, why));
      return;
    }
    const countText = drop[1] ?? '';
    if (countText.length > 15) {
      out.push(skippedRecord(lineNo, rawLine, `count ${shorten(countText, 20)} is too large`));
      return;
    }
    const point = parseStapLocation(drop[2] ?? '');
    if (typeof point === 'string') {
      out.push(skippedRecord(lineNo, rawLine, point));
      return;
    }
    const timestamp = this.#clock ?? (this.#interval > 0 ? this.#interval : null);
    const record = dropRecord(lineNo, point, { reason: null, event: 'kfree_skb', count: Number.parseInt(countText, 10), timestamp });
    if (this.#clock === null && timestamp !== null) record.timestampUnit = 'interval';
    out.push(record);
  }

  flush(): void {
    // Nothing is held: every line is a whole record.
  }
}

/** What follows "packets dropped at", or why it is not a location. */
function parseStapLocation(text: string): CodePoint | string {
  let rest = text.endsWith(INEXACT_SUFFIX) ? text.slice(0, -INEXACT_SUFFIX.length) : text;
  if (rest.startsWith(OLD_POINTER_PREFIX)) rest = rest.slice(OLD_POINTER_PREFIX.length);
  let module: string | null = null;
  const withModule = WITH_MODULE_RE.exec(rest);
  if (withModule !== null) {
    rest = withModule[1] ?? '';
    module = withModule[2] ?? null;
    // `0xaddr [mod+0xoff/0xsize]`: the offset is into the module, not a function; the address is what counts.
    if (withModule[3] !== undefined && !rest.startsWith('0x')) return `"${shorten(text)}" is not SYMBOL+0xOFF/0xSIZE [MODULE]`;
    if (module === 'kernel') module = null;
  }
  if (rest === '') return 'nothing follows "packets dropped at"';
  const point = parseCodeToken(rest, { bareBase: 'hex', isBareAddressAllowed: false });
  if (typeof point === 'string') return point;
  point.module = module;
  return point;
}
