// perf's net_dropmonitor.py (tools/perf/scripts/python/, `perf script net_dropmonitor`): one table of drop counts
// by location, printed when the trace ends. Format facts: /work/shared/FORMATS.md §2.6, and the script in the 6.1 tree.
//
// The script counts skb:kfree_skb by `str(location)`, the address as a decimal integer. At the end it prints
// `Gathering kallsyms data`, reads /proc/kallsyms, and prints `"%25s %25s %25s"` rows under a `LOCATION OFFSET COUNT`
// header: the greatest kallsyms entry at or below the address and the distance to it in DECIMAL, or, when no entry
// lies below the address, the decimal address itself with offset 0. kallsyms' `[module]` column is dropped, and the
// size of the function is never printed.

import { type FormatReader, type RecordingItem, dropRecord, skippedRecord } from './recording-model.ts';
import { shorten } from './recording-tokens.ts';

const HEADER_RE = /^\s*LOCATION\s+OFFSET\s+COUNT\s*$/;
// What the script prints besides the table, and what `perf script` itself may add to the same stream.
const BANNER_RE = /^(?:Starting trace \(Ctrl-C to dump results\)|Gathering kallsyms data|\[ perf (?:record|script): .*\])$/;
const ROW_RE = /^\s*(\S+)\s+(\S+)\s+(\S+)\s*$/;
const DECIMAL_RE = /^[0-9]+$/;
const SYMBOL_RE = /^[A-Za-z_][A-Za-z0-9_.$]*$/;
// No function is 1 MiB long (the same bound the dropwatch reader uses for broken lookups).
const MAX_PLAUSIBLE_OFFSET = 0x100000;
const MAX_ADDRESS = 0xffffffffffffffffn;
// Kernel text lives in the top half of the address space on 64-bit machines.
const KERNEL_SPACE_START = 0xffff800000000000n;
const EXPECTED_ROW = 'expected a LOCATION OFFSET COUNT row: a symbol or a decimal address, a decimal offset, a count';

export class NetDropmonitorReader implements FormatReader {
  get inBlock(): boolean {
    return false;
  }

  feed(line: string, lineNo: number, out: RecordingItem[]): void {
    if (line.trim() === '' || HEADER_RE.test(line) || BANNER_RE.test(line.trim())) return;
    const row = ROW_RE.exec(line);
    if (row === null) {
      out.push(skippedRecord(lineNo, line, `not three columns (${EXPECTED_ROW})`));
      return;
    }
    out.push(readRow(row[1] ?? '', row[2] ?? '', row[3] ?? '', lineNo, line));
  }

  flush(): void {
    // Every row is a whole record.
  }
}

function readRow(location: string, offsetText: string, countText: string, lineNo: number, line: string): RecordingItem {
  if (!DECIMAL_RE.test(countText) || countText.length > 15) return skippedRecord(lineNo, line, `count "${shorten(countText, 20)}" is not a decimal number (${EXPECTED_ROW})`);
  if (!DECIMAL_RE.test(offsetText) || offsetText.length > 20) return skippedRecord(lineNo, line, `offset "${shorten(offsetText, 24)}" is not a decimal number (${EXPECTED_ROW})`);
  const details = { reason: null, event: 'kfree_skb', count: Number.parseInt(countText, 10), timestamp: null } as const;
  if (DECIMAL_RE.test(location)) {
    // No kallsyms entry below it: the script printed the address itself.
    const address = location.length > 20 ? MAX_ADDRESS + 1n : BigInt(location);
    if (address === 0n || address > MAX_ADDRESS) return skippedRecord(lineNo, line, `location ${shorten(location, 24)} is not a 64-bit kernel address`);
    return dropRecord(lineNo, { symbol: '', offset: null, size: null, address, module: null }, details);
  }
  if (!SYMBOL_RE.test(location) || location.length > 512) return skippedRecord(lineNo, line, `"${shorten(location)}" is not a kernel symbol or a decimal address (${EXPECTED_ROW})`);
  const offset = BigInt(offsetText);
  if (offset <= BigInt(MAX_PLAUSIBLE_OFFSET)) return dropRecord(lineNo, { symbol: location, offset: Number(offset), size: null, address: null, module: null }, details);
  // /proc/kallsyms read without privilege lists every address as 0: every location then "follows" the last entry
  // (sorted by address, then name), and the offset is the address itself.
  if (offset >= KERNEL_SPACE_START && offset <= MAX_ADDRESS) {
    return dropRecord(lineNo, { symbol: '', offset: null, size: null, address: offset, module: null }, details);
  }
  return skippedRecord(lineNo, line, `offset ${offsetText} is implausible for a function (the script's kallsyms lookup went wrong)`);
}
