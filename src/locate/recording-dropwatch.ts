// dropwatch output (github.com/nhorman/dropwatch src/main.c): summary lines, packet-mode blocks, banners.
// Format facts: /work/shared/FORMATS.md §1.1–§1.3.

import {
  type CodePoint,
  type FormatReader,
  type RecordingItem,
  dropRecord,
  reasonName,
  skippedRecord,
} from './recording-model.ts';
import { parseCodeToken, shorten } from './recording-tokens.ts';

// "%d drops at %s+%llx (%p) [software]" (the offset is %llx: hex without 0x), "%d drops at location %p [software]",
// "%d drops at %s [hardware]". [software]/[hardware] since v1.5.2 (commit 809dd44); 1.4–1.5.1 printed neither, and
// the first releases printed "%d drops at %s+%x" with no address.
const SUMMARY_RE = /^([0-9]+) drops at (.*)$/;
const POINT_CACHE_MAX = 4096;
const SUMMARY_RAW_RE = /^location (0x[0-9a-fA-F]+|\(nil\))(?: \[software\])?$/;
const SUMMARY_SYMBOL_RE = /^([^\s+]+)\+([0-9a-fA-F]+)(?: \((0x[0-9a-fA-F]+)\))?(?: \[software\])?$/;
const SUMMARY_HARDWARE_RE = / \[hardware\]$/;
// dropwatch ≤ 1.5.4 looked symbols up assuming /proc/kallsyms is sorted, which it is not once modules load, so a module
// address comes out as the last vmlinux symbol plus a huge offset (`__init_scratch_end+36ed1aed`, issue #72, fixed by
// PR #74 after 1.5.4). No function is 1 MiB long.
const MAX_PLAUSIBLE_OFFSET = 0x100000;
const SYMBOL_RE = /^[A-Za-z_][A-Za-z0-9_.$]*$/;

// Packet mode: "drop at: %s (0x%" PRIx64 ")" with the kernel's %pS symbol; hardware: "drop at: %s (%s)", trap and group.
const PACKET_PREFIX = 'drop at:';
const PACKET_SOFTWARE_RE = /^(\S+)(?:\s+\[([A-Za-z0-9_-]+)(?:\s+[0-9a-fA-F]+)?\])?\s+\((0x[0-9a-fA-F]+)\)$/;
const PACKET_HARDWARE_RE = /^\S+ \((?!0x)[^)]*\)$/;
const PACKET_FIELD_RE = /^([a-z][a-z ]*):(?:\s+(.*))?$/;
// asctime(localtime()) minus its newline, then "%09" PRId64 " nsec"; asctime pads the day of the month with a space.
const TIMESTAMP_RE = /^[A-Z][a-z]{2}\s+([A-Z][a-z]{2})\s+([0-9]{1,2})\s+([0-9]{1,2}):([0-9]{2}):([0-9]{2})\s+([0-9]{4})\s+([0-9]{1,9})\s+nsec$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// The prompt, and the `^C` a terminal echoes when the user stops monitoring (kept by script(1) captures).
const PROMPT_RE = /^(?:dropwatch>\s*|\^C)+/;
const COMMAND_RE = /^(?:start|stop|exit|help|show|stats|set\s.*)?$/;
// Everything else dropwatch prints to stdout: banners, state messages, `show`/`stats`/`help` output and errors.
const BANNER_RE = new RegExp(
  '^(?:' +
    [
      'Initi?ali[sz]ing ',
      'Enabling monitoring',
      'Waiting for ',
      'Kernel monitoring activated',
      'Issue Ctrl-C to stop monitoring',
      'Got a (?:stop|config) message',
      'Got a sigint while not receiving',
      'Deactivation requested',
      'Alert limit reached',
      'Receive operation failed',
      'Received message of unknown type',
      'Got an unexpected ack',
      'Unable to ',
      'Failed ',
      'Received acknowledgement for non-solicited',
      'Odd, the kernel told us',
      'Cleaning up on socket creation error',
      'Shutting down',
      'Unknown state received',
      'setting alert capture limit',
      'Setting ',
      'Alert mode',
      'Truncation length',
      'Queue length',
      '(?:Software|Hardware) statistics:',
      'Tail dropped:',
      'Command Syntax:',
      'kas - use /proc/kallsyms',
      'Available lookup methods:',
    ].join('|') +
    ')',
);
// help text: "exit\t\t\t\t - Quit dropwatch", "\talertlimit <number>\t - …"
const HELP_LINE_RE = /^\s*\S[^\t]*\t+\s*- /;

const HARDWARE_WHY = 'hardware drop: no kernel code location';

interface PacketBlock {
  lineNo: number;
  line: string;
  /** null for a hardware drop: the block is read to its end and yields nothing. */
  point: CodePoint | null;
  reason: string | null;
  timestamp: number | null;
}

export class DropwatchReader implements FormatReader {
  #packet: PacketBlock | null = null;

  get inBlock(): boolean {
    return this.#packet !== null;
  }

  feed(rawLine: string, lineNo: number, out: RecordingItem[]): void {
    const prompt = PROMPT_RE.exec(rawLine);
    const line = (prompt === null ? rawLine : rawLine.slice(prompt[0].length)).trim();
    if (prompt !== null && COMMAND_RE.test(line)) return;
    if (line === '') {
      this.flush(out);
      return;
    }
    if (this.#packet !== null && !line.startsWith(PACKET_PREFIX)) {
      const field = PACKET_FIELD_RE.exec(line);
      if (field !== null) {
        this.#readPacketField(field[1] ?? '', field[2] ?? '', lineNo, rawLine, out);
        return;
      }
      this.flush(out);
    }
    const summary = SUMMARY_RE.exec(line);
    if (summary !== null) {
      out.push(this.#readSummary(Number.parseInt(summary[1] ?? '0', 10), summary[2] ?? '', lineNo, rawLine));
      return;
    }
    if (line.startsWith(PACKET_PREFIX)) {
      this.flush(out);
      this.#startPacket(line.slice(PACKET_PREFIX.length).trim(), lineNo, rawLine, out);
      return;
    }
    if (BANNER_RE.test(line) || HELP_LINE_RE.test(rawLine)) return;
    out.push(skippedRecord(lineNo, rawLine, 'not a dropwatch line ("N drops at …", "drop at: …" or a banner)'));
  }

  flush(out: RecordingItem[]): void {
    const packet = this.#packet;
    if (packet === null) return;
    this.#packet = null;
    if (packet.point === null) return;
    out.push(dropRecord(packet.lineNo, packet.point, {
      reason: packet.reason,
      event: 'kfree_skb',
      count: 1,
      timestamp: packet.timestamp,
    }));
  }

  /** The text after "drops at" → its parsed location: a long session repeats a few hundred of them. */
  readonly #points = new Map<string, CodePoint>();

  #readSummary(count: number, rest: string, lineNo: number, line: string): RecordingItem {
    const known = this.#points.get(rest);
    if (known !== undefined) return dropRecord(lineNo, { ...known }, { reason: null, event: 'kfree_skb', count, timestamp: null });
    const item = this.#parseSummary(count, rest, lineNo, line);
    if (item.kind === 'drop' && this.#points.size < POINT_CACHE_MAX) {
      this.#points.set(rest, { symbol: item.symbol, offset: item.offset, size: item.size, address: item.address, module: item.module });
    }
    return item;
  }

  #parseSummary(count: number, rest: string, lineNo: number, line: string): RecordingItem {
    if (SUMMARY_HARDWARE_RE.test(rest)) return skippedRecord(lineNo, line, HARDWARE_WHY);
    const details = { reason: null, event: 'kfree_skb', count, timestamp: null } as const;
    const raw = SUMMARY_RAW_RE.exec(rest);
    if (raw !== null) {
      const point = parseCodeToken(raw[1] ?? '', { bareBase: 'hex', isBareAddressAllowed: false });
      return typeof point === 'string' ? skippedRecord(lineNo, line, point) : dropRecord(lineNo, point, details);
    }
    const resolved = SUMMARY_SYMBOL_RE.exec(rest);
    if (resolved === null) {
      return skippedRecord(lineNo, line, `"${shorten(rest)}" after "drops at" is not SYMBOL+HEX (0xADDRESS) or location 0xADDRESS`);
    }
    const symbol = resolved[1] ?? '';
    const offsetDigits = resolved[2] ?? '';
    const addressText = resolved[3];
    const address = addressText === undefined ? null : BigInt(addressText);
    if (!SYMBOL_RE.test(symbol)) return skippedRecord(lineNo, line, `"${shorten(symbol)}" is not a kernel symbol name`);
    const offset = offsetDigits.length > 13 ? Number.POSITIVE_INFINITY : Number.parseInt(offsetDigits, 16);
    if (offset > MAX_PLAUSIBLE_OFFSET) {
      if (address === null) {
        return skippedRecord(lineNo, line,
          `offset 0x${shorten(offsetDigits, 16)} is implausible (dropwatch's kallsyms lookup went wrong) and no address was printed`);
      }
      // Keep the address so that the caller can look it up in kallsyms itself.
      return dropRecord(lineNo, { symbol: '', offset: null, size: null, address, module: null }, details);
    }
    return dropRecord(lineNo, { symbol, offset, size: null, address, module: null }, details);
  }

  #startPacket(rest: string, lineNo: number, line: string, out: RecordingItem[]): void {
    const block: PacketBlock = { lineNo, line, point: null, reason: null, timestamp: null };
    const software = PACKET_SOFTWARE_RE.exec(rest);
    if (software === null) {
      const why = PACKET_HARDWARE_RE.test(rest)
        ? HARDWARE_WHY
        : `"${shorten(rest)}" after "drop at:" is not SYMBOL+0xOFF/0xSIZE (0xADDRESS)`;
      out.push(skippedRecord(lineNo, line, why));
      this.#packet = block;
      return;
    }
    const point = parseCodeToken(software[1] ?? '', { bareBase: 'hex', isBareAddressAllowed: false });
    if (typeof point === 'string') {
      out.push(skippedRecord(lineNo, line, point));
      this.#packet = block;
      return;
    }
    point.module = software[2] ?? null;
    point.address ??= BigInt(software[3] ?? '0');
    block.point = point;
    this.#packet = block;
  }

  #readPacketField(key: string, value: string, lineNo: number, line: string, out: RecordingItem[]): void {
    const packet = this.#packet;
    if (packet === null) return;
    if (key === 'origin' && value === 'hardware' && packet.point !== null) {
      // "drop at: TRAP (GROUP)" was taken for software only if GROUP looked like an address; trust origin.
      out.push(skippedRecord(packet.lineNo, packet.line, HARDWARE_WHY));
      packet.point = null;
    } else if (key === 'drop reason') {
      packet.reason = value === '' ? null : reasonName(value);
    } else if (key === 'timestamp') {
      const time = parseAsctime(value);
      if (time === null) out.push(skippedRecord(lineNo, line, `timestamp "${shorten(value)}" is not "Thu Dec 22 13:14:21 2022 005165840 nsec"`));
      packet.timestamp = time;
    }
    // origin, ports, cookie, protocol, lengths: not needed to place the drop.
  }
}

/**
 * asctime() text plus nanoseconds → seconds since the epoch. dropwatch prints local time and the recording does not
 * say which zone, so it is read as UTC: differences between records are right, the absolute instant may be off by
 * the capture machine's UTC offset.
 */
function parseAsctime(text: string): number | null {
  const match = TIMESTAMP_RE.exec(text);
  if (match === null) return null;
  const month = MONTHS.indexOf(match[1] ?? '');
  if (month === -1) return null;
  const [day, hour, minute, second, year, nsec] = [2, 3, 4, 5, 6, 7].map((i) => Number.parseInt(match[i] ?? '0', 10));
  const ms = Date.UTC(year ?? 0, month, day ?? 0, hour ?? 0, minute ?? 0, second ?? 0);
  return ms / 1000 + (nsec ?? 0) / 1e9;
}
