// The kernel's own symbol table, embedded in a stripped image by scripts/kallsyms.c. The image has no symbols
// that say where these tables are, so they are found by their shapes, in .rodata:
// - kallsyms_token_table: 256 NUL-terminated strings; kallsyms_token_index: 256 u16 offsets into it, the
//   first 0 and each the previous plus that token's length + 1. The index follows the table (8-byte aligned).
// - kallsyms_num_syms (u32) then kallsyms_names: per symbol a ULEB128 length (1 or 2 bytes) and that many
//   token numbers; the first expanded character is the type letter (t, T, d, ...).
// - kallsyms_markers: u32 per 256 symbols, the offset of symbol 256*i in kallsyms_names; follows the names.
// - kallsyms_offsets (u32 per symbol) and kallsyms_relative_base (u64): before kallsyms_num_syms in 6.1,
//   after kallsyms_token_index in 6.4 and later (the order scripts/kallsyms.c writes them in each tree).
// Every label is 8-byte aligned (ALGN is .balign 8 on 64-bit). Addresses: with --absolute-percpu a
// non-negative offset is the address itself and a negative one is relative_base - 1 - offset; without it,
// relative_base + (u32)offset (kernel/kallsyms.c, kallsyms_sym_address).

export interface EmbeddedSymbol {
  name: string;
  /** The kallsyms type letter: t/T text, w/W weak, d/D data, ... */
  type: string;
  address: bigint;
}

export interface KallsymsTables {
  symbols: EmbeddedSymbol[];
  /** Where each table was found, as offsets into the searched bytes (for diagnostics and tests). */
  layout: { tokenTable: number; tokenIndex: number; numSyms: number; names: number; markers: number; offsets: number; relativeBase: number };
  relativeBase: bigint;
  absolutePercpu: boolean;
}

export class KallsymsNotFoundError extends Error {}

const MAX_TOKEN = 64;
const MAX_SYMS = 1 << 22;

function align8(n: number): number {
  return (n + 7) & ~7;
}

function findTokenTables(b: Uint8Array, view: DataView): { table: number; index: number; offsets: number[] } | null {
  for (let p = 8; p + 512 <= b.length; p += 8) {
    if (view.getUint16(p, true) !== 0) continue;
    const second = view.getUint16(p + 2, true);
    if (second < 2 || second > MAX_TOKEN) continue;
    const offsets = [0];
    let ok = true;
    for (let i = 1; i < 256; i++) {
      const v = view.getUint16(p + 2 * i, true);
      const d = v - offsets[i - 1]!;
      if (d < 2 || d > MAX_TOKEN) {
        ok = false;
        break;
      }
      offsets.push(v);
    }
    if (!ok) continue;
    const lastOffset = offsets[255]!;
    for (let table = (p - lastOffset - 2) & ~7; table >= p - lastOffset - MAX_TOKEN - 8 && table >= 0; table -= 8) {
      if (tokensFit(b, table, offsets, p)) return { table, index: p, offsets };
    }
  }
  return null;
}

function tokensFit(b: Uint8Array, table: number, offsets: readonly number[], index: number): boolean {
  for (let i = 0; i < 256; i++) {
    const start = table + offsets[i]!;
    const end = i < 255 ? table + offsets[i + 1]! - 1 : -1;
    let at = start;
    while (at < b.length && b[at] !== 0) {
      const c = b[at]!;
      if (c < 0x20 || c > 0x7e) return false;
      at++;
    }
    if (at === start) return false;
    if (i < 255 && at !== end) return false;
    if (i === 255 && (at >= index || align8(at + 1) !== index)) return false;
  }
  return true;
}

/** Walks `count` names from `start`; returns the end offset, or -1 if it runs out of bytes first. */
function walkNames(b: Uint8Array, start: number, count: number, limit: number, markerAt?: (i: number, off: number) => boolean): number {
  let at = start;
  for (let i = 0; i < count; i++) {
    if (markerAt !== undefined && (i & 0xff) === 0 && !markerAt(i >> 8, at - start)) return -1;
    let len = b[at]!;
    if (len === undefined || len === 0) return -1;
    if (len & 0x80) {
      len = (len & 0x7f) | ((b[at + 1] ?? 0) << 7);
      at += 2;
    } else {
      at += 1;
    }
    at += len;
    if (at > limit) return -1;
  }
  return at;
}

function findNames(b: Uint8Array, view: DataView, before: number): { numSyms: number; names: number; markers: number; count: number } | null {
  const low = Math.max(8, before - 64 * 1024 * 1024);
  for (let m = before & ~7; m >= low; m -= 8) {
    if (view.getUint32(m, true) !== 0) continue;
    // A markers table: 0, then increasing offsets 256 names apart.
    let k = 1;
    let prev = 0;
    while (m + 4 * (k + 1) <= before) {
      const v = view.getUint32(m + 4 * k, true);
      const d = v - prev;
      if (d < 256 * 2 || d > 256 * 200) break;
      prev = v;
      k++;
    }
    if (k < 4) continue;
    // The run may include a few words past the real table: try the last few as the last marker.
    for (let lastIndex = k - 1; lastIndex >= Math.max(1, k - 3); lastIndex--) {
      const lastMarker = view.getUint32(m + 4 * lastIndex, true);
      const hiNames = m - lastMarker;
      const loNames = Math.max(8, hiNames - 256 * 260);
      for (let names = hiNames & ~7; names >= loNames; names -= 8) {
        const count = view.getUint32(names - 8, true);
        if (count <= lastIndex * 256 || count > (lastIndex + 1) * 256 || count > MAX_SYMS) continue;
        if (view.getUint32(names - 4, true) !== 0) continue;
        const end = walkNames(b, names, count, m, (i, off) => view.getUint32(m + 4 * i, true) === off);
        if (end >= 0 && align8(end) === m) return { numSyms: names - 8, names, markers: m, count };
      }
    }
  }
  return null;
}

function decodeAddresses(view: DataView, offsets: number, count: number, base: bigint, percpu: boolean): bigint[] {
  const out: bigint[] = new Array<bigint>(count);
  for (let i = 0; i < count; i++) {
    if (percpu) {
      const v = view.getInt32(offsets + 4 * i, true);
      out[i] = v >= 0 ? BigInt(v) : base - 1n - BigInt(v);
    } else {
      out[i] = base + BigInt(view.getUint32(offsets + 4 * i, true));
    }
  }
  return out;
}

/** Share of neighbours in address order among text symbols: 1 for the real table. */
function sortedShare(addresses: readonly bigint[]): number {
  let good = 0;
  for (let i = 1; i < addresses.length; i++) if (addresses[i]! >= addresses[i - 1]!) good++;
  return addresses.length < 2 ? 0 : good / (addresses.length - 1);
}

/** Share of text symbols (t/T/w/W) at kernel addresses: tells --absolute-percpu's encoding from the plain one. */
function textInKernelShare(addresses: readonly bigint[], types: readonly string[]): number {
  let text = 0;
  let high = 0;
  for (let i = 0; i < addresses.length; i++) {
    const t = types[i];
    if (t !== 't' && t !== 'T' && t !== 'w' && t !== 'W') continue;
    text++;
    if (addresses[i]! >= 0xffff800000000000n) high++;
  }
  return text === 0 ? 0 : high / text;
}

function findAddresses(
  b: Uint8Array,
  view: DataView,
  numSyms: number,
  tokenIndex: number,
  count: number,
  types: readonly string[],
): { offsets: number; relativeBase: number; base: bigint; percpu: boolean; addresses: bigint[] } | null {
  const candidates: Array<{ offsets: number; relativeBase: number }> = [];
  // 6.1 order: offsets, relative_base, num_syms.
  candidates.push({ relativeBase: numSyms - 8, offsets: numSyms - 8 - align8(4 * count) });
  // 6.4+ order: token_index, offsets, relative_base.
  const after = align8(tokenIndex + 512);
  candidates.push({ offsets: after, relativeBase: align8(after + 4 * count) });
  let best: { offsets: number; relativeBase: number; base: bigint; percpu: boolean; addresses: bigint[]; share: number; score: number } | null = null;
  for (const c of candidates) {
    if (c.offsets < 0 || c.relativeBase + 8 > b.length) continue;
    const base = view.getBigUint64(c.relativeBase, true);
    if (base < 0xffff000000000000n) continue;
    for (const percpu of [true, false]) {
      const addresses = decodeAddresses(view, c.offsets, count, base, percpu);
      const share = sortedShare(addresses);
      if (share <= 0.99) continue;
      const score = share + textInKernelShare(addresses, types);
      if (best === null || score > best.score) best = { ...c, base, percpu, addresses, share, score };
    }
  }
  return best;
}

/** Finds and decodes the embedded kallsyms tables in `b` (typically the image's .rodata). */
export function readEmbeddedKallsyms(b: Uint8Array): KallsymsTables {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tokens = findTokenTables(b, view);
  if (tokens === null) throw new KallsymsNotFoundError('no kallsyms token table');
  const names = findNames(b, view, tokens.table);
  if (names === null) throw new KallsymsNotFoundError('no kallsyms_names/kallsyms_markers before the token table');
  const tokenText: string[] = [];
  for (let i = 0; i < 256; i++) {
    const start = tokens.table + tokens.offsets[i]!;
    let end = start;
    while (b[end] !== 0) end++;
    tokenText.push(Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1'));
  }
  const decoded: Array<{ type: string; name: string }> = new Array<{ type: string; name: string }>(names.count);
  let at = names.names;
  for (let i = 0; i < names.count; i++) {
    let len = b[at]!;
    if (len & 0x80) {
      len = (len & 0x7f) | (b[at + 1]! << 7);
      at += 2;
    } else {
      at += 1;
    }
    let text = '';
    for (let j = 0; j < len; j++) text += tokenText[b[at + j]!]!;
    at += len;
    decoded[i] = { type: text.charAt(0), name: text.slice(1) };
  }
  const addresses = findAddresses(b, view, names.numSyms, tokens.index, names.count, decoded.map((d) => d.type));
  if (addresses === null) throw new KallsymsNotFoundError('no kallsyms_offsets/kallsyms_relative_base that give sorted addresses');
  const symbols: EmbeddedSymbol[] = decoded.map((d, i) => ({ name: d.name, type: d.type, address: addresses.addresses[i]! }));
  return {
    symbols,
    layout: {
      tokenTable: tokens.table,
      tokenIndex: tokens.index,
      numSyms: names.numSyms,
      names: names.names,
      markers: names.markers,
      offsets: addresses.offsets,
      relativeBase: addresses.relativeBase,
    },
    relativeBase: addresses.base,
    absolutePercpu: addresses.percpu,
  };
}
