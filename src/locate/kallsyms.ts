// /proc/kallsyms and System.map text → a sorted table of text symbols. Pure: the caller reads the file.
// Line format: `ffffffff81000000 T _text`, module symbols add `\t[module]`.

export type TextSymbolType = 't' | 'T' | 'w' | 'W';

export interface KernelSymbol {
  name: string;
  address: bigint;
  type: TextSymbolType;
  module: string | null;
  /** Distance to the next symbol of the same module; null for the last one. */
  size: number | null;
}

export interface SymbolMap {
  /** Text symbols sorted by address; aliases at one address keep file order. */
  symbols: readonly KernelSymbol[];
  byName: ReadonlyMap<string, readonly KernelSymbol[]>;
  /**
   * Every address read as zero: kptr_restrict (or reading without CAP_SYSLOG) hides them, so nothing can be
   * resolved. `symbols` is then empty.
   */
  allZero: boolean;
  skippedCount: number;
  firstSkipped: { lineNo: number; line: string } | null;
}

export interface ResolvedAddress {
  symbol: string;
  offset: number;
  size: number | null;
  module: string | null;
  /** Address of the symbol's first byte. */
  start: bigint;
}

export interface SymbolInfo {
  symbol: string;
  address: bigint;
  size: number | null;
  module: string | null;
  /** How many symbols share this name in the searched scope; static functions often do. */
  sameNameCount: number;
}

const LINE_RE = /^([0-9a-fA-F]{1,16})\s+([A-Za-z?-])\s+(\S+)(?:\s+\[([^\]\s]+)\])?\s*$/;
// Past the last symbol of a module nothing bounds the function, so accept only offsets a real function can have.
const MAX_UNSIZED_OFFSET = 0x100000n;

export function parseSymbolMap(text: string): SymbolMap {
  const collected: KernelSymbol[] = [];
  let parsedCount = 0;
  let nonZeroCount = 0;
  let skippedCount = 0;
  let firstSkipped: { lineNo: number; line: string } | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') continue;
    const match = LINE_RE.exec(line);
    if (match === null) {
      skippedCount += 1;
      firstSkipped ??= { lineNo: i + 1, line };
      continue;
    }
    parsedCount += 1;
    const type = match[2];
    const address = BigInt(`0x${match[1] ?? '0'}`);
    if (address !== 0n) nonZeroCount += 1;
    // An undefined weak symbol sits at address zero; it is not code.
    if (address === 0n || !isTextType(type)) continue;
    collected.push({ name: match[3] ?? '', address, type, module: match[4] ?? null, size: null });
  }

  const allZero = parsedCount > 0 && nonZeroCount === 0;
  collected.sort(compareByAddress);
  const symbols = collected.map((symbol, index) => ({ ...symbol, size: sizeOf(collected, index) }));
  const byName = new Map<string, KernelSymbol[]>();
  for (const symbol of symbols) {
    const list = byName.get(symbol.name);
    if (list === undefined) byName.set(symbol.name, [symbol]);
    else list.push(symbol);
  }
  return { symbols, byName, allZero, skippedCount, firstSkipped };
}

/** The symbol containing `address` and the offset into it, or null when no symbol plausibly contains it. */
export function resolveAddress(map: SymbolMap, address: bigint): ResolvedAddress | null {
  const { symbols } = map;
  let low = 0;
  let high = symbols.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const candidate = symbols[mid];
    if (candidate === undefined) break;
    if (candidate.address <= address) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  // Aliases share an address: report the first one listed.
  while (found > 0 && symbols[found - 1]?.address === symbols[found]?.address) found -= 1;
  const symbol = symbols[found];
  if (symbol === undefined) return null;
  const delta = address - symbol.address;
  if (symbol.size === null ? delta >= MAX_UNSIZED_OFFSET : delta >= BigInt(symbol.size)) return null;
  return { symbol: symbol.name, offset: Number(delta), size: symbol.size, module: symbol.module, start: symbol.address };
}

/**
 * Find a function by name. `module` narrows the search: a module name, null for vmlinux only, or omitted for any.
 * With several same-named symbols (static functions), the lowest address wins and `sameNameCount` says so.
 */
export function lookupSymbol(map: SymbolMap, name: string, module?: string | null): SymbolInfo | null {
  const all = map.byName.get(name) ?? [];
  const matches = module === undefined ? all : all.filter((symbol) => symbol.module === module);
  const first = matches[0];
  if (first === undefined) return null;
  return { symbol: first.name, address: first.address, size: first.size, module: first.module, sameNameCount: matches.length };
}

function isTextType(type: string | undefined): type is TextSymbolType {
  return type === 't' || type === 'T' || type === 'w' || type === 'W';
}

function compareByAddress(a: KernelSymbol, b: KernelSymbol): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
}

// Size is the distance to the next higher address. Across a module boundary that distance means nothing.
function sizeOf(sorted: readonly KernelSymbol[], index: number): number | null {
  const symbol = sorted[index];
  if (symbol === undefined) return null;
  for (let next = index + 1; next < sorted.length; next++) {
    const candidate = sorted[next];
    if (candidate === undefined) return null;
    if (candidate.address === symbol.address) continue;
    if (candidate.module !== symbol.module) return null;
    return Number(candidate.address - symbol.address);
  }
  return null;
}

/**
 * Addresses of named core-kernel symbols of any type (data too: `__start___jump_table` is `D` or `R`), from a
 * /proc/kallsyms or System.map text; the first of each name wins, module symbols are ignored.
 */
export function findSymbolAddresses(text: string, names: readonly string[]): Map<string, bigint> {
  const wanted = new Set(names);
  const found = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    if (found.size === wanted.size) break;
    const m = LINE_RE.exec(line);
    const name = m?.[3];
    if (m === null || name === undefined || m[4] !== undefined || !wanted.has(name) || found.has(name)) continue;
    const address = BigInt(`0x${m[1] ?? '0'}`);
    if (address !== 0n) found.set(name, address);
  }
  return found;
}
