// A kernel image's function symbols, whatever their source (an ELF symtab, the embedded kallsyms tables, a
// kallsyms or System.map text), in one sorted table with sizes, name lookup and address resolution.

export type SymbolSource = 'elf-symtab' | 'embedded-kallsyms' | 'kallsyms-text';

export interface FunctionSymbol {
  name: string;
  /** Link-time address (the image's own address space; add the slide for a running kernel's). */
  address: bigint;
  size: number;
  /** True when the size is the symbol's own (ELF st_size); false when it is the distance to the next symbol. */
  sizeExact: boolean;
}

export interface ResolvedSymbol {
  name: string;
  address: bigint;
  offset: number;
  size: number;
}

export interface SymbolTable {
  source: SymbolSource;
  /** Text symbols sorted by address. */
  sorted: readonly FunctionSymbol[];
  byName: ReadonlyMap<string, readonly FunctionSymbol[]>;
  /** The symbol that contains `address` (the first of aliases), or null. */
  resolve(address: bigint): ResolvedSymbol | null;
  /** Every name whose symbol starts exactly at `address`. */
  namesAt(address: bigint): string[];
}

export function buildSymbolTable(source: SymbolSource, symbols: FunctionSymbol[]): SymbolTable {
  const sorted = [...symbols].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const byName = new Map<string, FunctionSymbol[]>();
  for (const s of sorted) {
    const list = byName.get(s.name);
    if (list === undefined) byName.set(s.name, [s]);
    else list.push(s);
  }
  const lastAtOrBelow = (address: bigint): number => {
    let low = 0;
    let high = sorted.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (sorted[mid]!.address <= address) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  };
  const resolve = (address: bigint): ResolvedSymbol | null => {
    let i = lastAtOrBelow(address);
    // Among symbols at one start, pick one whose size covers the address (a zero-size label may share it);
    // ELF symtabs also hold nested symbols, so keep stepping down a little.
    for (let steps = 0; i >= 0 && steps < 64; steps++, i--) {
      const s = sorted[i]!;
      if (address - s.address > 0x100000n) return null;
      if (address < s.address + BigInt(Math.max(s.size, 1))) return { name: s.name, address: s.address, offset: Number(address - s.address), size: s.size };
    }
    return null;
  };
  const namesAt = (address: bigint): string[] => {
    const out: string[] = [];
    for (let i = lastAtOrBelow(address); i >= 0 && sorted[i]!.address === address; i--) out.push(sorted[i]!.name);
    return out.reverse();
  };
  return { source, sorted, byName, resolve, namesAt };
}

/**
 * Sizes for symbols that have none: the distance to the next higher address among `all` (the kernel's own rule
 * for `sym+off/size`), bounded by `end` for the last one.
 */
export function sizesFromNeighbours(addresses: readonly bigint[], end: bigint | null): number[] {
  const order = addresses.map((_, i) => i).sort((a, b) => (addresses[a]! < addresses[b]! ? -1 : addresses[a]! > addresses[b]! ? 1 : a - b));
  const sizes = new Array<number>(addresses.length).fill(0);
  let next: bigint | null = end;
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k]!;
    const a = addresses[i]!;
    sizes[i] = next !== null && next > a ? Number(next - a) : 0;
    const prev = k > 0 ? addresses[order[k - 1]!]! : null;
    if (prev === null || prev !== a) next = a;
  }
  return sizes;
}
