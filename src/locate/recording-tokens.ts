// Location tokens (`sym+0xoff/0xsize`, `0xffffffff81…`, hashed `%p`) and stack frames, without exceptions:
// a reader parses every line of a recording, and a bad token is an answer ("why"), not an error.
// Formats: /work/shared/FORMATS.md §0.

import { functionOfSymbol } from './location.ts';
import type { CodePoint } from './recording-model.ts';

/** How to read an offset written without `0x`: dropwatch prints `%llx` (hex), bpftrace `kstack` decimal. */
export type BareBase = 'hex' | 'decimal';

export interface TokenOptions {
  bareBase: BareBase;
  /**
   * Accept 16 bare hex digits as an address (tracefs `%p`, perf callchains). tracefs hashes `%p` since 4.15, so a
   * 16-digit value that fits in 32 bits is a hash, not an address.
   */
  isBareAddressAllowed: boolean;
}

// KSYM_NAME_LEN is 512 since 6.1.
const KSYM_NAME_LEN = 512;
// 13 hex digits stay below Number.MAX_SAFE_INTEGER; no function is anywhere near that large.
const MAX_HEX_DIGITS = 13;
const MAX_DECIMAL_DIGITS = 15;

const PREFIXED_ADDRESS_RE = /^0[xX]([0-9a-fA-F]{1,16})$/;
const BARE_ADDRESS_RE = /^[0-9a-fA-F]{16}$/;
const SYMBOL_TOKEN_RE = /^([A-Za-z_][A-Za-z0-9_.$]*)(?:\+([0-9a-fA-FxX]+)(?:\/([0-9a-fA-FxX]+))?)?$/;
const HEX_PREFIXED_RE = /^0[xX]([0-9a-fA-F]+)$/;
const HEX_BARE_RE = /^[0-9a-fA-F]+$/;
const DECIMAL_RE = /^[0-9]+$/;

export const HASHED_POINTER_WHY =
  'is a hashed %p pointer, not an address: tracefs on kernels before 6.2 prints location=%p, hashed since 4.15, ' +
  'and it cannot be resolved (enable options/stacktrace, record with perf script, or use a 6.2+ kernel)';

/** A CodePoint, or why the token is not one. */
export function parseCodeToken(token: string, opts: TokenOptions): CodePoint | string {
  if (token === '(nil)' || token === '(null)') return `location ${token} is a NULL pointer`;
  const prefixed = PREFIXED_ADDRESS_RE.exec(token);
  if (prefixed !== null) return addressPoint(token, BigInt(`0x${prefixed[1] ?? ''}`));
  if (opts.isBareAddressAllowed && BARE_ADDRESS_RE.test(token)) {
    const value = BigInt(`0x${token}`);
    if (value !== 0n && value <= 0xffffffffn) return `location ${token} ${HASHED_POINTER_WHY}`;
    return addressPoint(token, value);
  }
  const match = SYMBOL_TOKEN_RE.exec(token);
  if (match === null) return `"${shorten(token)}" is not SYMBOL+OFFSET[/SIZE] or an address`;
  const symbol = match[1] ?? '';
  if (symbol.length > KSYM_NAME_LEN) return `symbol is ${symbol.length} characters long, more than KSYM_NAME_LEN (${KSYM_NAME_LEN})`;
  const offset = match[2] === undefined ? null : parseNumber(match[2], opts.bareBase);
  if (typeof offset === 'string') return `offset ${offset}`;
  const size = match[3] === undefined ? null : parseNumber(match[3], opts.bareBase);
  if (typeof size === 'string') return `size ${size}`;
  if (offset !== null && size !== null && offset > size) {
    return `offset 0x${offset.toString(16)} is beyond the function size 0x${size.toString(16)} (truncated line?)`;
  }
  return { symbol, offset, size, address: null, module: null };
}

function addressPoint(token: string, value: bigint): CodePoint | string {
  if (value === 0n) return `location ${token} is zero (kptr_restrict hides kernel addresses)`;
  return { symbol: '', offset: null, size: null, address: value, module: null };
}

function parseNumber(text: string, bareBase: BareBase): number | string {
  const prefixed = HEX_PREFIXED_RE.exec(text);
  if (prefixed !== null) return fromDigits(text, prefixed[1] ?? '', 16);
  if (bareBase === 'hex' && HEX_BARE_RE.test(text)) return fromDigits(text, text, 16);
  if (bareBase === 'decimal' && DECIMAL_RE.test(text)) return fromDigits(text, text, 10);
  return `"${shorten(text)}" is not a ${bareBase === 'hex' ? 'hex' : 'decimal'} number`;
}

function fromDigits(text: string, digits: string, radix: 10 | 16): number | string {
  if (digits.length > (radix === 16 ? MAX_HEX_DIGITS : MAX_DECIMAL_DIGITS)) return `"${shorten(text)}" is too large`;
  return Number.parseInt(digits, radix);
}

export function shorten(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

// The functions that free an skb and fire skb:kfree_skb / skb:consume_skb, and the wrappers that only forward to
// them. A stack walks through these before reaching the code that decided to drop (FORMATS §2.2). Frames are
// compared after compiler suffixes are stripped.
const DROP_FUNCTIONS: ReadonlySet<string> = new Set([
  'kfree_skb',
  'kfree_skb_reason',
  '__kfree_skb',
  '__kfree_skb_reason',
  'sk_skb_reason_drop',
  'consume_skb',
  'kfree_skb_list',
  'kfree_skb_list_reason',
  'dev_kfree_skb_any_reason',
  '__dev_kfree_skb_any',
]);

// What a tracer adds above the drop function when it takes the stack from inside its own probe.
const TRACING_FRAME_RE = /^(?:__bpf_trace_|bpf_trace_run|perf_trace_|trace_event_raw_event_|__traceiter_|bpf_prog_|bpf_trampoline_|trace_call_bpf|kprobe_|__kprobes|ftrace_)/;

export function isDropFunction(symbol: string): boolean {
  return DROP_FUNCTIONS.has(functionOfSymbol(symbol).function);
}

/**
 * Picks, in constant memory, the frame of a stack that holds the drop location: the frame whose address is the
 * recorded location (perf `-g`), else the first frame after the run of drop functions, else (a stack with no drop
 * function) the first frame that is not tracing machinery.
 */
export class FrameChooser {
  readonly #matchAddress: bigint | null;
  #hasSeenDrop = false;
  #exact: CodePoint | null = null;
  #afterDrop: CodePoint | null = null;
  #firstPlain: CodePoint | null = null;
  #frameCount = 0;

  constructor(matchAddress: bigint | null = null) {
    this.#matchAddress = matchAddress;
  }

  offer(frame: CodePoint): void {
    this.#frameCount += 1;
    if (this.#exact === null && this.#matchAddress !== null && frame.address === this.#matchAddress) this.#exact = frame;
    if (frame.symbol !== '' && isDropFunction(frame.symbol)) {
      this.#hasSeenDrop = true;
      return;
    }
    if (this.#hasSeenDrop) {
      this.#afterDrop ??= frame;
    } else if (this.#firstPlain === null && !TRACING_FRAME_RE.test(frame.symbol)) {
      this.#firstPlain = frame;
    }
  }

  get frameCount(): number {
    return this.#frameCount;
  }

  get exact(): CodePoint | null {
    return this.#exact;
  }

  /** The best frame, or null when every frame was a drop function or tracing machinery. */
  choose(): CodePoint | null {
    return this.#exact ?? this.#afterDrop ?? (this.#hasSeenDrop ? null : this.#firstPlain);
  }
}

/** The module a perf DSO names: `[nf_tables]` or `/lib/modules/…/nf_tables.ko.zst`; null for the kernel image. */
export function moduleOfDso(dso: string): string | null {
  const bracket = /^\[([^\]\s/]+)\]$/.exec(dso);
  if (bracket !== null) {
    const name = bracket[1] ?? '';
    return name === 'kernel.kallsyms' || name === 'unknown' || name.startsWith('guest.') ? null : name.replaceAll('-', '_');
  }
  const file = /\/([^/]+)\.ko(?:\.(?:xz|gz|zst))?$/.exec(dso);
  return file === null ? null : (file[1] ?? '').replaceAll('-', '_');
}
