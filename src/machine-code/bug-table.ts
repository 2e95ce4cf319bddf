// The kernel's `__bug_table`: one entry per BUG() and WARN() `ud2` (include/asm-generic/bug.h, struct bug_entry).
// On x86-64 (CONFIG_GENERIC_BUG_RELATIVE_POINTERS) an entry is s32 bug address and, with CONFIG_DEBUG_BUGVERBOSE,
// s32 file name, u16 line, each relative to itself; then u16 flags. A WARN (flag BUGFLAG_WARNING) traps and the
// kernel resumes after its `ud2` (report_bug() in lib/bug.c), so the code after it runs: the drop that follows a
// `WARN_ON(!x)` is reached through it. The file and line are the source position of the WARN itself, kept in an
// image without debug info.

/** BUGFLAG_WARNING (include/asm-generic/bug.h). */
const BUGFLAG_WARNING = 1;
/** `ud2` (0f 0b). */
const UD2 = [0x0f, 0x0b];
const SAMPLE = 32;

export interface BugEntry {
  /** Address of the `ud2`. */
  address: bigint;
  /** Source file and line of the BUG or WARN (null without CONFIG_DEBUG_BUGVERBOSE, or when unreadable). */
  file: string | null;
  line: number;
  /** A WARN: the kernel carries on after the trap. */
  warning: boolean;
}

export interface BugTableInput {
  address: bigint;
  bytes: Uint8Array;
}

/**
 * Every entry of a `__bug_table`, sorted by address. The entry layout (12 bytes with file and line, 8 without)
 * is the one whose bug addresses land on `ud2` instructions; null when neither does.
 */
export function readBugTable(table: BugTableInput, bytesAt: (address: bigint, length: number) => Uint8Array | null): BugEntry[] | null {
  const b = table.bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const addressAt = (off: number): bigint => table.address + BigInt(off) + BigInt(view.getInt32(off, true));
  const isUd2 = (a: bigint): boolean => {
    const x = bytesAt(a, 2);
    return x !== null && x[0] === UD2[0] && x[1] === UD2[1];
  };
  for (const size of [12, 8]) {
    const n = Math.floor(b.length / size);
    if (n === 0) continue;
    const probe = Math.min(n, SAMPLE);
    let hits = 0;
    for (let i = 0; i < probe; i++) if (isUd2(addressAt(i * size))) hits++;
    if (hits < Math.ceil(probe * 0.9)) continue;
    const names = new Map<bigint, string | null>();
    const out: BugEntry[] = [];
    for (let i = 0; i < n; i++) {
      const off = i * size;
      const flags = view.getUint16(off + size - 2, true);
      let file: string | null = null;
      let line = 0;
      if (size === 12) {
        const at = table.address + BigInt(off + 4) + BigInt(view.getInt32(off + 4, true));
        if (!names.has(at)) names.set(at, cString(bytesAt(at, 128)));
        file = names.get(at) ?? null;
        line = view.getUint16(off + 8, true);
      }
      out.push({ address: addressAt(off), file, line, warning: (flags & BUGFLAG_WARNING) !== 0 });
    }
    return out.sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
  }
  return null;
}

/** The entries inside [start, end), by offset from start. */
export function bugEntriesIn(entries: readonly BugEntry[], start: bigint, end: bigint): Map<number, BugEntry> {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((entries[mid]?.address ?? 0n) < start) lo = mid + 1;
    else hi = mid;
  }
  const out = new Map<number, BugEntry>();
  for (let i = lo; i < entries.length; i++) {
    const e = entries[i];
    if (e === undefined || e.address >= end) break;
    out.set(Number(e.address - start), e);
  }
  return out;
}

/** A source file name: printable, ending in .c or .h (a build directory prefix is dropped). */
function cString(bytes: Uint8Array | null): string | null {
  if (bytes === null) return null;
  let end = 0;
  while (end < bytes.length && bytes[end] !== 0) {
    const c = bytes[end] ?? 0;
    if (c < 0x20 || c > 0x7e) return null;
    end++;
  }
  if (end === bytes.length) return null;
  const s = Buffer.from(bytes.subarray(0, end)).toString('latin1');
  return /^[\w./-]+\.[ch]$/.test(s) ? s.replace(/^.*?\/build_[^/]+\//, '') : null;
}

/** What a module's `__bug_table` needs of its ELF: sections, their bytes, symbols and relocations. */
export interface RelocatableTable {
  sections: ReadonlyArray<{ index: number; name: string; type: number; info: number }>;
  section(name: string): { index: number; name: string; type: number; info: number } | undefined;
  sectionBytes(section: { index: number; name: string; type: number; info: number }): Uint8Array;
  symbols(): ReadonlyArray<{ value: bigint; shndx: number }>;
  relocations(section: { index: number; name: string; type: number; info: number }): Array<{ offset: number; symbol: number; addend: bigint }>;
}

const SHT_RELA = 4;

/**
 * A module's `__bug_table` (12-byte entries with file and line): its fields are relocations, the trap's against its
 * code section plus the offset there, the file's against a string section. Keyed by section name, then offset.
 */
export function readModuleBugTable(elf: RelocatableTable): Map<string, Map<number, BugEntry>> {
  const out = new Map<string, Map<number, BugEntry>>();
  const sec = elf.section('__bug_table');
  if (sec === undefined) return out;
  const rela = elf.sections.find((s) => s.type === SHT_RELA && s.info === sec.index);
  if (rela === undefined) return out;
  const bytes = elf.sectionBytes(sec);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const symbols = elf.symbols();
  const at = new Map<number, { section: number; offset: number }>();
  for (const r of elf.relocations(rela)) {
    const sym = symbols[r.symbol];
    if (sym === undefined || sym.shndx <= 0) continue;
    // `.long 1b - .`: R_X86_64_PC32 of S + A - P, so the place it names is the symbol plus the addend.
    at.set(r.offset, { section: sym.shndx, offset: Number(sym.value + r.addend) });
  }
  const size = 12;
  for (let off = 0; off + size <= bytes.length; off += size) {
    const trap = at.get(off);
    const file = at.get(off + 4);
    if (trap === undefined) continue;
    const code = elf.sections[trap.section];
    if (code === undefined) continue;
    let name: string | null = null;
    const strings = file === undefined ? undefined : elf.sections[file.section];
    if (strings !== undefined && file !== undefined) {
      const all = elf.sectionBytes(strings);
      name = cString(all.subarray(file.offset, Math.min(all.length, file.offset + 128)));
    }
    const entry: BugEntry = { address: BigInt(trap.offset), file: name, line: view.getUint16(off + 8, true), warning: (view.getUint16(off + 10, true) & BUGFLAG_WARNING) !== 0 };
    let m = out.get(code.name);
    if (m === undefined) out.set(code.name, (m = new Map()));
    m.set(trap.offset, entry);
  }
  return out;
}
