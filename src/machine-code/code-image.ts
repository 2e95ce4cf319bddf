// The kernel's code as the drop analysis reads it: a kernel image file (vmlinuz, vmlinux), or a running
// kernel's memory as an ELF core (/proc/kcore) named by that kernel's /proc/kallsyms. Either way: functions
// by name with their sizes, address → symbol, and bytes at an address.
import { closeSync, readSync } from 'node:fs';
import type { FunctionCode, KernelImage } from '../binary/index.ts';
import { buildSymbolTable, type FunctionSymbol } from '../binary/symbols.ts';
import { InputError } from '../errors.ts';
import { openRegularFile } from '../io/regular-file.ts';
import { findSymbolAddresses, parseSymbolMap } from '../locate/kallsyms.ts';

export interface CodeImage {
  /** What to call it in messages. */
  label: string;
  banner: string | null;
  lookup(name: string): Array<{ address: bigint; size: number }>;
  resolve(address: bigint): { name: string; address: bigint; offset: number; size: number } | null;
  functionCode(name: string, pick?: { size?: number }): FunctionCode | null;
  bytesAt(address: bigint, length: number): Uint8Array | null;
  /** `__jump_table` (static keys) with its address, when the image has one. */
  jumpTable(): { address: bigint; bytes: Uint8Array } | null;
  /** `__bug_table` (the `ud2` of every BUG and WARN, with its file and line) with its address, when the image has one. */
  bugTable(): { address: bigint; bytes: Uint8Array } | null;
  /** The image's `.BTF` (its types: struct member offsets), when it has one. */
  btf?(): Uint8Array | null;
}

export function fromKernelImage(image: KernelImage): CodeImage {
  return {
    label: 'the image',
    banner: image.banner,
    lookup: (n) => image.lookup(n),
    resolve: (a) => image.resolve(a),
    functionCode: (n, p) => image.functionCode(n, p),
    bytesAt: (a, l) => image.elf.bytesAt(a, l),
    jumpTable: () => {
      const sec = image.elf.section('__jump_table');
      if (sec !== undefined) return { address: sec.addr, bytes: image.elf.sectionBytes(sec) };
      // A linked vmlinux keeps the table inside .data (RO_AFTER_INIT_DATA), with no section of its own: its bounds are symbols.
      return tableBetween(image.symbolAddress('__start___jump_table'), image.symbolAddress('__stop___jump_table'), JUMP_ENTRY, (a, l) => image.elf.bytesAt(a, l));
    },
    bugTable: () => {
      const sec = image.elf.section('__bug_table');
      if (sec !== undefined) return { address: sec.addr, bytes: image.elf.sectionBytes(sec) };
      return tableBetween(image.symbolAddress('__start___bug_table'), image.symbolAddress('__stop___bug_table'), 1, (a, l) => image.elf.bytesAt(a, l));
    },
    btf: () => {
      const sec = image.elf.section('.BTF');
      if (sec !== undefined) return image.elf.sectionBytes(sec);
      return tableBetween(image.symbolAddress('__start_BTF'), image.symbolAddress('__stop_BTF'), 1, (a, l) => image.elf.bytesAt(a, l))?.bytes ?? null;
    },
  };
}

const ET_CORE = 4;
const PT_LOAD = 1;

/** Whether a file is an ELF core (what /proc/kcore is), from its first bytes. */
export function isElfCore(path: string): boolean {
  let fd: number;
  try {
    ({ fd } = openRegularFile(path, Number.MAX_SAFE_INTEGER, path));
  } catch {
    return false; // the image loader says what is wrong with the file
  }
  try {
    const h = Buffer.alloc(18);
    const n = readSync(fd, h, 0, 18, 0);
    return n === 18 && h.readUInt32BE(0) === 0x7f454c46 && h[4] === 2 && h[5] === 1 && h.readUInt16LE(16) === ET_CORE;
  } finally {
    closeSync(fd);
  }
}

/**
 * A running kernel's memory through its ELF core (/proc/kcore), read on demand (the file is as large as the
 * address space), with the symbols of that kernel's kallsyms text: addresses are the running ones, so no
 * slide applies. The code is what the kernel patched at boot (ftrace nops, return thunks, alternatives),
 * which the decoder reads as the plain instructions they are. Static keys are read from the core's own
 * `__jump_table` (between `__start___jump_table` and `__stop___jump_table`, which a kallsyms of a
 * CONFIG_KALLSYMS_ALL kernel lists), so that each site's jump is known whichever way the kernel patched it.
 */
export function openKcore(path: string, kallsyms: string, what = '--kernel'): CodeImage & { close(): void } {
  const map = parseSymbolMap(kallsyms);
  if (map.allZero) throw new InputError(`${what}: the kallsyms for ${path} lists every address as 0 (kptr_restrict); read /proc/kallsyms as root`);
  const core = map.symbols.filter((s) => s.module === null);
  if (core.length === 0) throw new InputError(`${what}: ${path} is an ELF core (/proc/kcore) and needs the running kernel's symbols: give --kallsyms /proc/kallsyms`);
  const { fd } = openRegularFile(path, Number.MAX_SAFE_INTEGER, what);
  const header = Buffer.alloc(64);
  if (readSync(fd, header, 0, 64, 0) < 64 || header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1 || header.readUInt16LE(16) !== ET_CORE) {
    closeSync(fd);
    throw new InputError(`${what}: ${path} is not a 64-bit little-endian ELF core`);
  }
  const phoff = Number(header.readBigUInt64LE(32));
  const phentsize = header.readUInt16LE(54);
  const phnum = header.readUInt16LE(56);
  const ph = Buffer.alloc(phentsize * phnum);
  if (readSync(fd, ph, 0, ph.length, phoff) < ph.length) {
    closeSync(fd);
    throw new InputError(`${what}: ${path}: truncated program headers`);
  }
  const segments: Array<{ vaddr: bigint; offset: number; size: number }> = [];
  for (let i = 0; i < phnum; i++) {
    const b = i * phentsize;
    if (ph.readUInt32LE(b) !== PT_LOAD) continue;
    segments.push({ offset: Number(ph.readBigUInt64LE(b + 8)), vaddr: ph.readBigUInt64LE(b + 16), size: Number(ph.readBigUInt64LE(b + 32)) });
  }
  const bytesAt = (address: bigint, length: number): Uint8Array | null => {
    for (const s of segments) {
      if (address < s.vaddr || address + BigInt(length) > s.vaddr + BigInt(s.size)) continue;
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, s.offset + Number(address - s.vaddr));
      return n === length ? new Uint8Array(buf.buffer, buf.byteOffset, n) : null;
    }
    return null;
  };
  const symbols: FunctionSymbol[] = core.map((s) => ({ name: s.name, address: s.address, size: s.size ?? 0, sizeExact: false }));
  const table = buildSymbolTable('kallsyms-text', symbols);
  const functionCode = (name: string, pick: { size?: number } = {}): FunctionCode | null => {
    const all = table.byName.get(name) ?? [];
    const chosen = pick.size === undefined ? all[0] : all.find((s) => s.size === pick.size);
    if (chosen === undefined || chosen.size <= 0) return null;
    const bytes = bytesAt(chosen.address, chosen.size);
    return bytes === null ? null : { name, address: chosen.address, size: chosen.size, sizeExact: false, bytes, relocated: [] };
  };
  let jumpTable: { address: bigint; bytes: Uint8Array } | null | undefined;
  let bugTable: { address: bigint; bytes: Uint8Array } | null | undefined;
  let btf: Uint8Array | null | undefined;
  return {
    label: 'kernel memory (kcore)',
    banner: null,
    lookup: (n) => (table.byName.get(n) ?? []).map((s) => ({ address: s.address, size: s.size })),
    resolve: table.resolve,
    functionCode,
    bytesAt,
    jumpTable: () => {
      if (jumpTable === undefined) jumpTable = readTable(kallsyms, '__jump_table', JUMP_ENTRY, bytesAt);
      return jumpTable;
    },
    bugTable: () => {
      if (bugTable === undefined) bugTable = readTable(kallsyms, '__bug_table', 1, bytesAt);
      return bugTable;
    },
    // The running kernel's types (`__start_BTF`/`__stop_BTF` in a CONFIG_KALLSYMS_ALL kallsyms), read once.
    btf: () => {
      if (btf === undefined) btf = readTable(kallsyms, 'BTF', 1, bytesAt)?.bytes ?? null;
      return btf;
    },
    close: () => closeSync(fd),
  };
}

/** `__jump_table` entries are 16 bytes (s32 code, s32 target, s64 key, each relative to itself). */
const JUMP_ENTRY = 16;
const MAX_TABLE = 16 << 20;

/** A table of the running kernel (`__jump_table`, `__bug_table`), located by its kallsyms bounds, or null when they are absent or unreadable. */
function readTable(kallsyms: string, name: string, entry: number, bytesAt: (address: bigint, length: number) => Uint8Array | null): { address: bigint; bytes: Uint8Array } | null {
  const at = findSymbolAddresses(kallsyms, [`__start_${name}`, `__stop_${name}`]);
  return tableBetween(at.get(`__start_${name}`) ?? null, at.get(`__stop_${name}`) ?? null, entry, bytesAt);
}

/** The bytes between two bounds, whole entries only; more than 16 MiB is no table. */
function tableBetween(start: bigint | null, stop: bigint | null, entry: number, bytesAt: (address: bigint, length: number) => Uint8Array | null): { address: bigint; bytes: Uint8Array } | null {
  if (start === null || stop === null || stop <= start || stop - start > BigInt(MAX_TABLE)) return null;
  const length = Number(stop - start) - (Number(stop - start) % entry);
  const bytes = bytesAt(start, length);
  return bytes === null ? null : { address: start, bytes };
}
