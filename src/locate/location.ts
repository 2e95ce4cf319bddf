// Drop location text → DropLocation. Pure: strings in, records out.
// Formats and their sources: /work/shared/FORMATS.md §0, §1.1, §2.1, §3.1.

import { InputError } from '../errors.ts';
import type { DropEvent, DropLocation } from '../model.ts';

export type { DropEvent } from '../model.ts';

/** How to read an offset written without `0x` (`netlink_unicast+251`). `0x…` is always hex. */
export type OffsetBase = 'hex' | 'decimal';

export interface ParseLocationOptions {
  offsetBase?: OffsetBase;
}

export type { DropLocation } from '../model.ts';

export type LocationLine =
  | { kind: 'ok'; lineNo: number; location: DropLocation }
  | { kind: 'skipped'; lineNo: number; line: string; why: string };

// A location is one token plus a few attributes; real tracefs and perf lines are ~200 characters.
const MAX_INPUT_CHARS = 4096;
// KSYM_NAME_LEN is 512 since 6.1 ("kallsyms: increase maximum kernel symbol length to 512", Rust for Linux).
const KSYM_NAME_LEN = 512;
const QUOTE_MAX_CHARS = 60;
// Bad parts quoted inside the detail are shorter, so the whole message stays one readable line.
const PART_MAX_CHARS = 40;
// 13 hex digits stay below Number.MAX_SAFE_INTEGER; no function is anywhere near that large.
const MAX_HEX_DIGITS = 13;
const MAX_DECIMAL_DIGITS = 15;

const EXPECTED_LOCATION = 'expected SYMBOL+OFFSET such as tcp_v4_rcv+0x91/0x13f0';
const EXPECTED_ATTRIBUTE = 'expected [MODULE], (0xADDRESS), reason: NAME or event: NAME';
const HINT =
  'accepted: SYMBOL[+OFFSET[/SIZE]] [[MODULE]] [reason: NAME] [event: NAME], a kernel address such as ' +
  'ffffffff81a2b3c4, or a tracefs, perf script or dropwatch line';

// Tab is allowed (perf callchains are tab-indented); other control characters, lone surrogates and the
// U+FFFD that a bad UTF-8 decode leaves behind mean binary input.
const NON_PRINTABLE_RE = /(?!\t)[\p{Cc}\p{Cs}\uFFFD]/u;
const QUOTE_ESCAPE_RE = /[\p{Cc}\p{Cs}\uFFFD"\\]/gu;
const WHITESPACE_RE = /\s/;

const SYMBOL_RE = /^[A-Za-z_][A-Za-z0-9_.$]*$/;
const SYMBOL_BAD_CHAR_RE = /[^A-Za-z0-9_.$]/;
// 0x + up to 16 digits, or exactly 16 bare digits. A shorter bare hex run (`deadbeef`) is a valid symbol name.
const ADDRESS_RE = /^(?:0[xX]([0-9a-fA-F]{1,16})|([0-9a-fA-F]{16}))$/;
const HEX_PREFIXED_RE = /^0[xX]([0-9a-fA-F]+)$/;
const HEX_BARE_RE = /^[0-9a-fA-F]+$/;
const DECIMAL_RE = /^[0-9]+$/;
const HEX_PREFIX_ONLY_RE = /^0[xX]$/;

// gcc: .isra.N .constprop.N .part.N .cold (older gcc: .cold.N) .lto_priv.N; clang ThinLTO: .llvm.N.
// They stack (`.constprop.0.isra.0`, `.isra.0.cold`), so strip them one at a time from the end.
const COMPILER_SUFFIX_RE = /\.(?:(?:isra|constprop|part|lto_priv|llvm)\.[0-9]+|cold(?:\.[0-9]+)?)$/;

// The token ends where the first attribute starts.
const HEAD_END_RE = /\s(?=\[|\(|reason:|event:)/;
const ATTRIBUTE_RE = /\s+(?:\[([^\]]*)\]|\(([^)]*)\)|reason:[ \t]*(\S*)|event:[ \t]*(\S*))/y;
const SKIP_WORD_RE = /\s+\S+/y;
const MODULE_RE = /^([A-Za-z0-9_-]+)(?:\s+[0-9a-fA-F]+)?$/;
const REASON_RE = /^[A-Za-z0-9_]+$/;
const REASON_PREFIX = 'SKB_DROP_REASON_';

const LOCATION_KEY = 'location=';
// tracefs: `… kfree_skb: skbaddr=…`; perf script: `… skb:kfree_skb: skbaddr=…`.
const TRACE_EVENT_RE = /(?:^|[\s:])(kfree_skb|consume_skb):\s/;
const TOKEN_END_RE = /\s/;
// dropwatch summary mode (src/main.c): "%d drops at location %p [software]", "%d drops at %s+%llx (%p) [software]",
// "%d drops at %s [hardware]". The [software] suffix exists since v1.5.2.
const DROPWATCH_SUMMARY_RE = /^[0-9]+ drops at (.*)$/;
const DROPWATCH_RAW_RE = /^location (0x[0-9a-fA-F]+)(?: \[software\])?$/;
const DROPWATCH_SYMBOL_RE = /^(\S+) \((0x[0-9a-fA-F]+)\)(?: \[software\])?$/;
const DROPWATCH_HARDWARE_RE = /^(.*) \[hardware\]$/;
// dropwatch packet mode: "drop at: %s (0x%" PRIx64 ")" for software, "drop at: %s (%s)" (trap, group) for hardware.
const DROPWATCH_PACKET_PREFIX = 'drop at:';
const DROPWATCH_PACKET_HARDWARE_RE = /^(\S+) \((?!0x)([^)]*)\)$/;

interface Attributes {
  module: string | null;
  address: bigint | null;
  reason: string | null;
  event: DropEvent | null;
}

interface Token {
  symbol: string;
  offset: number | null;
  size: number | null;
  address: bigint | null;
}

/**
 * Parse one drop location: a bare `SYMBOL[+OFFSET[/SIZE]] [[MODULE]]`, a kernel address, or a whole tracefs,
 * perf script or dropwatch line. Throws InputError naming the bad part.
 */
export function parseLocation(text: string, opts: ParseLocationOptions = {}): DropLocation {
  const input = text.trim();
  const base = opts.offsetBase ?? 'hex';
  if (input === '') fail(text, 'it is empty');
  if (input.length > MAX_INPUT_CHARS) {
    fail(input, `it is ${input.length} characters long`, `expected one location line of at most ${MAX_INPUT_CHARS} characters`);
  }
  const bad = NON_PRINTABLE_RE.exec(input);
  if (bad !== null) {
    fail(input, `non-printable character ${describeChar(bad[0])} at column ${bad.index + 1}`, 'expected printable text');
  }

  const locationAt = input.indexOf(LOCATION_KEY);
  if (locationAt !== -1) return parseTraceLine(input, locationAt, base);
  const summary = DROPWATCH_SUMMARY_RE.exec(input);
  if (summary !== null) return parseDropwatchSummary(input, summary[1] ?? '');
  if (input.startsWith(DROPWATCH_PACKET_PREFIX)) {
    return parseDropwatchPacket(input, input.slice(DROPWATCH_PACKET_PREFIX.length).trim(), base);
  }
  return parseBare(input, input, base);
}

/** One `--stdin` line: null for a blank line or a `#` comment, `skipped` for a bad line. */
export function parseLocationLine(line: string, lineNo: number, opts: ParseLocationOptions = {}): LocationLine | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  try {
    return { kind: 'ok', lineNo, location: parseLocation(trimmed, opts) };
  } catch (error) {
    // Anything other than InputError is a bug and must not be swallowed.
    if (!(error instanceof InputError)) throw error;
    return { kind: 'skipped', lineNo, line, why: error.message };
  }
}

/** Parse `--stdin` lines. Blank lines and `#` comments are ignored; bad lines become `skipped` entries. */
export function parseLocationLines(lines: Iterable<string>, opts: ParseLocationOptions = {}): LocationLine[] {
  const results: LocationLine[] = [];
  let lineNo = 0;
  for (const line of lines) {
    const r = parseLocationLine(line, ++lineNo, opts);
    if (r !== null) results.push(r);
  }
  return results;
}

/** Strip compiler suffixes: `ip_rcv_finish_core.isra.0` → `ip_rcv_finish_core`. */
export function functionOfSymbol(symbol: string): { function: string; isCold: boolean } {
  let name = symbol;
  let isCold = false;
  if (!name.includes('.')) return { function: name, isCold };
  for (;;) {
    const match = COMPILER_SUFFIX_RE.exec(name);
    if (match === null) break;
    if (match[0].startsWith('.cold')) isCold = true;
    name = name.slice(0, match.index);
  }
  return { function: name, isCold };
}

// tracefs (≥ 6.2 `location=%pS`, < 6.2 hashed `%p`) and perf script (`func+0xOFF`, or `0x…` when unresolved).
// Fields around location= vary by kernel (rx_sk= since 6.11), so unknown words after it are skipped.
function parseTraceLine(input: string, locationAt: number, base: OffsetBase): DropLocation {
  const eventMatch = TRACE_EVENT_RE.exec(input.slice(0, locationAt));
  const rest = input.slice(locationAt + LOCATION_KEY.length);
  const end = TOKEN_END_RE.exec(rest);
  const token = end === null ? rest : rest.slice(0, end.index);
  if (token === '') fail(input, 'location= is empty');
  const attributes = parseAttributes(input, end === null ? '' : rest.slice(end.index), true);
  if (attributes.event === null && eventMatch !== null) attributes.event = toEvent(input, eventMatch[1] ?? '');
  return build(input, parseToken(input, token, base), attributes);
}

function parseDropwatchSummary(input: string, rest: string): DropLocation {
  const raw = DROPWATCH_RAW_RE.exec(rest);
  if (raw !== null) return build(input, parseToken(input, raw[1] ?? '', 'hex'), emptyAttributes());
  const resolved = DROPWATCH_SYMBOL_RE.exec(rest);
  if (resolved !== null) {
    // dropwatch prints the offset with %llx: hex without 0x, whatever offsetBase says.
    const attributes = emptyAttributes();
    attributes.address = parseAddressText(input, resolved[2] ?? '');
    return build(input, parseToken(input, resolved[1] ?? '', 'hex'), attributes);
  }
  const hardware = DROPWATCH_HARDWARE_RE.exec(rest);
  if (hardware !== null) {
    fail(input, `hardware drop "${clip(hardware[1] ?? '')}" is a devlink trap and has no kernel code location`, 'expected a [software] drop');
  }
  return fail(input, 'what follows "drops at" is not "SYMBOL+OFFSET (0xADDRESS)" or "location 0xADDRESS"',
    'expected N drops at SYMBOL+OFFSET (0xADDRESS) [software]');
}

function parseDropwatchPacket(input: string, rest: string, base: OffsetBase): DropLocation {
  const hardware = DROPWATCH_PACKET_HARDWARE_RE.exec(rest);
  if (hardware !== null) {
    fail(input, `hardware drop "${clip(hardware[1] ?? '')}" (trap group ${clip(hardware[2] ?? '')}) has no kernel code location`,
      'expected drop at: SYMBOL+OFFSET/SIZE (0xADDRESS)');
  }
  if (rest === '') fail(input, 'nothing follows "drop at:"', 'expected drop at: SYMBOL+OFFSET/SIZE (0xADDRESS)');
  return parseBare(input, rest, base);
}

function parseBare(input: string, text: string, base: OffsetBase): DropLocation {
  const headEnd = HEAD_END_RE.exec(text);
  const head = headEnd === null ? text : text.slice(0, headEnd.index).trimEnd();
  const whitespace = WHITESPACE_RE.exec(head);
  if (whitespace !== null) {
    const plus = head.indexOf('+');
    const symbol = plus === -1 ? head : head.slice(0, plus);
    if (WHITESPACE_RE.test(symbol)) fail(input, `symbol "${clip(symbol)}" contains spaces`);
    fail(input, `unexpected "${clip(head.slice(whitespace.index).trim())}" after the location`, EXPECTED_ATTRIBUTE);
  }
  const attributes = parseAttributes(input, headEnd === null ? '' : text.slice(headEnd.index), false);
  return build(input, parseToken(input, head, base), attributes);
}

function parseAttributes(input: string, tail: string, isLenient: boolean): Attributes {
  const attributes = emptyAttributes();
  let pos = 0;
  while (pos < tail.length) {
    ATTRIBUTE_RE.lastIndex = pos;
    const match = ATTRIBUTE_RE.exec(tail);
    if (match === null) {
      const rest = tail.slice(pos).trim();
      if (rest === '') break;
      if (!isLenient) fail(input, `unexpected "${clip(rest)}" after the location`, EXPECTED_ATTRIBUTE);
      SKIP_WORD_RE.lastIndex = pos;
      if (SKIP_WORD_RE.exec(tail) === null) break;
      pos = SKIP_WORD_RE.lastIndex;
      continue;
    }
    pos = ATTRIBUTE_RE.lastIndex;
    const [, module, paren, reason, event] = match;
    if (module !== undefined) {
      const parsed = MODULE_RE.exec(module.trim());
      if (parsed === null) fail(input, `module "[${clip(module)}]" is not [MODULE] or [MODULE BUILDID]`, EXPECTED_ATTRIBUTE);
      attributes.module = parsed[1] ?? null;
    } else if (paren !== undefined) {
      attributes.address = parseAddressText(input, paren);
    } else if (reason !== undefined) {
      if (attributes.reason !== null) fail(input, 'reason is given twice', EXPECTED_ATTRIBUTE);
      attributes.reason = toReason(input, reason);
    } else if (event !== undefined) {
      if (attributes.event !== null) fail(input, 'event is given twice', EXPECTED_ATTRIBUTE);
      attributes.event = toEvent(input, event.startsWith('skb:') ? event.slice(4) : event);
    }
  }
  return attributes;
}

function parseToken(input: string, token: string, base: OffsetBase): Token {
  const address = ADDRESS_RE.exec(token);
  if (address !== null) {
    const digits = address[1] ?? address[2] ?? '';
    return { symbol: '', offset: null, size: null, address: toAddress(input, token, digits) };
  }
  const plus = token.indexOf('+');
  const symbol = plus === -1 ? token : token.slice(0, plus);
  checkSymbol(input, symbol);
  if (plus === -1) return { symbol, offset: null, size: null, address: null };
  const rest = token.slice(plus + 1);
  const slash = rest.indexOf('/');
  const offset = parseNumber(input, 'offset', slash === -1 ? rest : rest.slice(0, slash), base);
  const size = slash === -1 ? null : parseNumber(input, 'size', rest.slice(slash + 1), base);
  if (size !== null && offset > size) {
    fail(input, `offset ${toHex(offset)} is beyond the function size ${toHex(size)}`);
  }
  return { symbol, offset, size, address: null };
}

function checkSymbol(input: string, symbol: string): void {
  if (symbol === '') fail(input, 'symbol before "+" is empty');
  if (symbol.length > KSYM_NAME_LEN) {
    fail(input, `symbol is ${symbol.length} characters long, more than the kernel's ${KSYM_NAME_LEN}`);
  }
  if (SYMBOL_RE.test(symbol)) return;
  if (WHITESPACE_RE.test(symbol)) fail(input, `symbol "${clip(symbol)}" contains spaces`);
  const badChar = SYMBOL_BAD_CHAR_RE.exec(symbol);
  if (badChar !== null) {
    fail(input, `symbol "${clip(symbol)}" contains ${describeChar(badChar[0])}; symbols match [A-Za-z_][A-Za-z0-9_.$]*`);
  }
  fail(input, `symbol "${clip(symbol)}" does not start with a letter or "_"`);
}

function parseNumber(input: string, what: 'offset' | 'size', text: string, base: OffsetBase): number {
  if (text === '') fail(input, `${what} after "${what === 'offset' ? '+' : '/'}" is empty`);
  if (HEX_PREFIX_ONLY_RE.test(text)) fail(input, `${what} "${text}" is empty: no digits after 0x`);
  const prefixed = HEX_PREFIXED_RE.exec(text);
  if (prefixed !== null) return fromDigits(input, what, text, prefixed[1] ?? '', 16);
  if (base === 'hex' && HEX_BARE_RE.test(text)) return fromDigits(input, what, text, text, 16);
  if (base === 'decimal' && DECIMAL_RE.test(text)) return fromDigits(input, what, text, text, 10);
  if (base === 'decimal' && HEX_BARE_RE.test(text)) {
    fail(input, `${what} "${clip(text)}" is not a decimal number (offsets without 0x are read as decimal here; write 0x${clip(text)} for hex)`);
  }
  return fail(input, `${what} "${clip(text)}" is not a number`);
}

function fromDigits(input: string, what: string, text: string, digits: string, radix: 10 | 16): number {
  if (digits.length > (radix === 16 ? MAX_HEX_DIGITS : MAX_DECIMAL_DIGITS)) {
    fail(input, `${what} "${clip(text)}" is too large for a function offset`);
  }
  return Number.parseInt(digits, radix);
}

function parseAddressText(input: string, text: string): bigint {
  const address = ADDRESS_RE.exec(text.trim());
  if (address === null) fail(input, `"(${clip(text)})" is not an address such as (0xffffffff8178619e)`, EXPECTED_ATTRIBUTE);
  return toAddress(input, text, address[1] ?? address[2] ?? '');
}

// %p has been hashed since 4.15 (Documentation/core-api/printk-formats.rst). On 64-bit the hash is 32 bits, printed
// zero-padded to 16 digits, so `00000000xxxxxxxx` is a hash; kernel text addresses start with `ffff`.
function toAddress(input: string, text: string, digits: string): bigint {
  const value = BigInt(`0x${digits}`);
  if (value === 0n) {
    fail(input, `address ${text} is zero (kptr_restrict hides kernel addresses from unprivileged readers)`,
      'expected a real kernel address such as ffffffff81a2b3c4');
  }
  if (digits.length === 16 && value <= 0xffffffffn) {
    fail(input,
      `location ${text} is a hashed %p pointer from a pre-6.2 kernel, not an address, and cannot be resolved; ` +
      'kernel addresses look like ffffffff81a2b3c4',
      'use perf script, which prints real addresses, or a 6.2+ kernel, which prints location=SYMBOL+OFFSET/SIZE');
  }
  return value;
}

function toReason(input: string, text: string): string {
  if (text === '') fail(input, '"reason:" has no NAME', EXPECTED_ATTRIBUTE);
  if (!REASON_RE.test(text)) fail(input, `reason "${clip(text)}" is not a NAME such as NO_SOCKET`, EXPECTED_ATTRIBUTE);
  return text.startsWith(REASON_PREFIX) ? text.slice(REASON_PREFIX.length) : text;
}

function toEvent(input: string, text: string): DropEvent {
  if (text === 'kfree_skb' || text === 'consume_skb') return text;
  if (text === '') return fail(input, '"event:" has no NAME', 'expected event: kfree_skb or event: consume_skb');
  return fail(input, `event "${clip(text)}" is not kfree_skb or consume_skb`, 'expected event: kfree_skb or event: consume_skb');
}

function build(input: string, token: Token, attributes: Attributes): DropLocation {
  const { function: fn, isCold } = functionOfSymbol(token.symbol);
  return {
    input,
    symbol: token.symbol,
    function: fn,
    isCold,
    offset: token.offset,
    size: token.size,
    module: attributes.module,
    address: token.address ?? attributes.address,
    reason: attributes.reason,
    event: attributes.event,
  };
}

function emptyAttributes(): Attributes {
  return { module: null, address: null, reason: null, event: null };
}

function toHex(value: number): string {
  return `0x${value.toString(16)}`;
}

function fail(input: string, detail: string, expected: string = EXPECTED_LOCATION): never {
  throw new InputError(`bad location ${quote(input)}: ${detail} (${expected})`, { hint: HINT });
}

/** Quote at most QUOTE_MAX_CHARS code points, escaping what would break a one-line message. */
function quote(text: string): string {
  return `"${clip(text, QUOTE_MAX_CHARS).replace(QUOTE_ESCAPE_RE, escapeChar)}"`;
}

function clip(text: string, max: number = PART_MAX_CHARS): string {
  if (text.length <= max) return text;
  const points = Array.from(text.slice(0, max * 2));
  return points.length <= max ? points.join('') : `${points.slice(0, max).join('')}…`;
}

function escapeChar(char: string): string {
  if (char === '"' || char === '\\') return `\\${char}`;
  if (char === '\t') return '\\t';
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  const code = char.codePointAt(0) ?? 0;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

function describeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return NON_PRINTABLE_RE.test(char) || char === '\t' ? name : `"${char}"`;
}
