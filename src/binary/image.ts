// A kernel image opened for its machine code: a bzImage vmlinuz (payload decompressed in-process) or an ELF
// vmlinux, with function symbols from, in order of preference, a kallsyms/System.map text the caller gives,
// the ELF symtab (an unstripped vmlinux), or the image's own embedded kallsyms tables.
import { InputError } from '../errors.ts';
import { findSymbolAddresses, parseSymbolMap } from '../locate/kallsyms.ts';
import { isBzImage, readBzImagePayload } from './bzimage.ts';
import { DECODED, decompressPayload, detectCompression } from './decompress.ts';
import { buildIdOf, ET_EXEC, hasElfMagic, parseElf, SHF_EXECINSTR, STT_FUNC, type ElfFile } from './elf.ts';
import { readEmbeddedKallsyms } from './kallsyms-tables.ts';
import { readBinaryFile } from './read.ts';
import { buildSymbolTable, sizesFromNeighbours, type FunctionSymbol, type SymbolTable } from './symbols.ts';
import type { FunctionCode } from './types.ts';

/** The x86-64 kernel's link address of `_text` (arch/x86/Kconfig: __START_KERNEL_map + PHYSICAL_START). */
export const X86_64_TEXT_LINK_ADDRESS = 0xffffffff81000000n;

export interface KernelImage {
  path: string;
  /** The `Linux version ...` banner (linux_banner) without its newline, or null. */
  banner: string | null;
  /** GNU build-id of the vmlinux (compare with /sys/kernel/notes), or null. */
  buildId: string | null;
  /** How the image was stored: 'elf', or the bzImage payload's compression. */
  format: 'elf' | 'bzImage-gzip' | 'bzImage-xz' | 'bzImage-zstd' | 'bzImage-lz4';
  /** Where the symbols came from. */
  symbolSource: SymbolTable['source'];
  /** Running kernel's addresses minus the image's (the KASLR slide), from a given kallsyms `_text`; 0 otherwise. */
  slide: bigint;
  elf: ElfFile;
  /** All function (text) symbols: name → one or more {address, size}; addresses are the image's own. */
  symbols(): ReadonlyMap<string, readonly FunctionSymbol[]>;
  lookup(name: string): Array<{ address: bigint; size: number }>;
  /** The function containing an image address. */
  resolve(address: bigint): { name: string; address: bigint; offset: number; size: number } | null;
  namesAt(address: bigint): string[];
  /** A function's code. With several same-named symbols (static functions), `pick.size` chooses; else the first. */
  functionCode(name: string, pick?: { size?: number }): FunctionCode | null;
  /**
   * The image address of a symbol of any type (data too, e.g. `__start___jump_table`), from the given kallsyms
   * text, else the ELF symtab, else the embedded kallsyms tables (which hold data symbols with
   * CONFIG_KALLSYMS_ALL); null when none lists it.
   */
  symbolAddress(name: string): bigint | null;
}

export interface LoadKernelImageOptions {
  /** Text of a /proc/kallsyms or System.map: its core text symbols replace the image's own. */
  kallsyms?: string;
  /** Name of the input for messages (e.g. "--kernel"). */
  what?: string;
}

// 6.1 and later hold two banners: a weak linux_banner in init/version.c built without the build number
// ("#  SMP") and the strong one of init/version-timestamp.c ("#1 SMP"), the one /proc/version prints.
// Prefer the one that holds the bzImage's own version string, else one with a build number.
function findBanner(elf: ElfFile, bootVersion: string | null): string | null {
  const rodata = elf.section('.rodata');
  const b = rodata === undefined ? elf.bytes : elf.sectionBytes(rodata);
  const needle = Buffer.from('Linux version ', 'latin1');
  const hay = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const found: string[] = [];
  for (let at = hay.indexOf(needle); at >= 0 && found.length < 8; at = hay.indexOf(needle, at + 1)) {
    const c = hay[at + needle.length] ?? 0;
    if (c < 0x30 || c > 0x39) continue;
    let end = at;
    while (end < hay.length && hay[end] !== 0 && hay[end] !== 0x0a) end++;
    found.push(hay.toString('latin1', at, end));
  }
  const release = bootVersion?.split(' ')[0];
  const buildNo = /#\d/;
  const sameBuild = (x: string): boolean => bootVersion !== null && release !== undefined && x.startsWith(`Linux version ${release} `) && buildNo.test(x) && bootVersion.includes(x.slice(x.indexOf('#'), x.indexOf('#') + 3));
  return found.find(sameBuild) ?? found.find((x) => buildNo.test(x)) ?? found[0] ?? null;
}

function textEnd(elf: ElfFile, address: bigint): bigint | null {
  for (const s of elf.sections) {
    if ((s.flags & BigInt(SHF_EXECINSTR)) === 0n) continue;
    if (address >= s.addr && address < s.addr + BigInt(s.size)) return s.addr + BigInt(s.size);
  }
  return null;
}

function isExecAddress(elf: ElfFile, address: bigint): boolean {
  return textEnd(elf, address) !== null;
}

function linkText(elf: ElfFile): bigint {
  const sym = elf.symbols().find((s) => s.name === '_text');
  if (sym !== undefined) return sym.value;
  return elf.section('.text')?.addr ?? X86_64_TEXT_LINK_ADDRESS;
}

function symbolsFromKallsymsText(elf: ElfFile, text: string, what: string): { table: SymbolTable; slide: bigint } {
  const map = parseSymbolMap(text);
  if (map.allZero) throw new InputError(`${what}: every address is zero (kptr_restrict); read /proc/kallsyms as root`);
  const core = map.symbols.filter((s) => s.module === null);
  const text0 = core.find((s) => s.name === '_text');
  if (text0 === undefined) throw new InputError(`${what}: no _text symbol, expected a /proc/kallsyms or System.map of the kernel`);
  const slide = text0.address - linkText(elf);
  const symbols: FunctionSymbol[] = core.map((s) => ({ name: s.name, address: s.address - slide, size: s.size ?? 0, sizeExact: false }));
  return { table: buildSymbolTable('kallsyms-text', symbols), slide };
}

function symbolsFromElf(elf: ElfFile): SymbolTable | null {
  const funcs = elf.symbols().filter((s) => s.type === STT_FUNC && s.shndx > 0 && s.value !== 0n);
  if (funcs.length === 0) return null;
  return buildSymbolTable(
    'elf-symtab',
    funcs.map((s) => ({ name: s.name, address: s.value, size: s.size, sizeExact: true })),
  );
}

function symbolsFromEmbedded(elf: ElfFile, path: string, keepAll: (name: string, address: bigint) => void): SymbolTable {
  const rodata = elf.section('.rodata');
  if (rodata === undefined) throw new InputError(`${path}: the image has no .rodata section, so no embedded kallsyms; give a /proc/kallsyms or System.map`);
  let tables;
  try {
    tables = readEmbeddedKallsyms(elf.sectionBytes(rodata));
  } catch (err) {
    throw new InputError(`${path}: no symbols (stripped) and its embedded kallsyms tables were not found (${err instanceof Error ? err.message : String(err)})`, {
      hint: 'give the running kernel\'s /proc/kallsyms or the System.map of the -dbg package',
      cause: err,
    });
  }
  // Sizes as the kernel computes them: distance to the next symbol of any type.
  const all = tables.symbols;
  for (const s of all) keepAll(s.name, s.address);
  const lastText = all.reduce<bigint | null>((m, s) => (isTextType(s.type) && (m === null || s.address > m) ? s.address : m), null);
  const sizes = sizesFromNeighbours(all.map((s) => s.address), lastText === null ? null : textEnd(elf, lastText));
  const symbols: FunctionSymbol[] = [];
  all.forEach((s, i) => {
    if (isTextType(s.type) && isExecAddress(elf, s.address)) symbols.push({ name: s.name, address: s.address, size: sizes[i] ?? 0, sizeExact: false });
  });
  return buildSymbolTable('embedded-kallsyms', symbols);
}

function isTextType(type: string): boolean {
  return type === 't' || type === 'T' || type === 'w' || type === 'W';
}

export async function loadKernelImage(path: string, opts: LoadKernelImageOptions = {}): Promise<KernelImage> {
  const what = opts.what ?? 'kernel image';
  const file = readBinaryFile(path, what);
  let bytes: Uint8Array;
  let format: KernelImage['format'];
  let bootVersion: string | null = null;
  if (hasElfMagic(file)) {
    bytes = file;
    format = 'elf';
  } else if (isBzImage(file)) {
    let payload;
    try {
      payload = readBzImagePayload(file);
    } catch (err) {
      throw new InputError(`${what}: ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const kind = detectCompression(file, payload.offset);
    if (kind === null) throw new InputError(`${what}: ${path}: bzImage payload has no known compression magic`);
    if (!DECODED.includes(kind)) {
      throw new InputError(`${what}: ${path}: ${kind}-compressed kernels are not supported (supported: ${DECODED.join(', ')})`, {
        hint: 'decompress it with scripts/extract-vmlinux and give the ELF vmlinux',
      });
    }
    try {
      bytes = await decompressPayload(file.subarray(payload.offset, payload.offset + payload.length), kind);
    } catch (err) {
      throw new InputError(`${what}: ${path}: cannot decompress its ${kind} payload: ${err instanceof Error ? err.message : String(err)} (truncated or damaged file?)`, { cause: err });
    }
    format = `bzImage-${kind}` as KernelImage['format'];
    bootVersion = payload.version;
  } else {
    throw new InputError(`${what}: ${path} is not a kernel image (expected a bzImage vmlinuz or an ELF vmlinux)`);
  }
  let elf: ElfFile;
  try {
    elf = parseElf(bytes);
  } catch (err) {
    const inside = format === 'elf' ? '' : ' (the decompressed payload)';
    throw new InputError(`${what}: ${path}${inside}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (elf.type !== ET_EXEC) throw new InputError(`${what}: ${path} is an ELF file but not a linked kernel (type ${elf.type}); a module or object goes through loadObject`);

  let table: SymbolTable;
  let slide = 0n;
  // Every symbol of the embedded tables (data too), kept when they are read for the text symbols.
  let embedded: Map<string, bigint> | null = null;
  const keep = (name: string, address: bigint): void => {
    embedded ??= new Map();
    if (!embedded.has(name)) embedded.set(name, address);
  };
  if (opts.kallsyms !== undefined) {
    ({ table, slide } = symbolsFromKallsymsText(elf, opts.kallsyms, 'kallsyms'));
  } else {
    table = symbolsFromElf(elf) ?? symbolsFromEmbedded(elf, path, keep);
  }

  const functionCode = (name: string, pick: { size?: number } = {}): FunctionCode | null => {
    const all = table.byName.get(name) ?? [];
    const chosen = pick.size === undefined ? all[0] : all.find((s) => s.size === pick.size);
    if (chosen === undefined || chosen.size <= 0) return null;
    const code = elf.bytesAt(chosen.address, chosen.size);
    if (code === null) return null;
    return { name, address: chosen.address, size: chosen.size, sizeExact: chosen.sizeExact, bytes: code, relocated: [], namesAt: table.namesAt };
  };

  const symbolAddress = (name: string): bigint | null => {
    if (opts.kallsyms !== undefined) {
      const a = findSymbolAddresses(opts.kallsyms, [name]).get(name);
      if (a !== undefined) return a - slide;
    }
    const e = elf.symbols().find((x) => x.name === name && x.shndx > 0);
    if (e !== undefined) return e.value;
    if (embedded === null) {
      embedded = new Map();
      const rodata = elf.section('.rodata');
      try {
        if (rodata !== undefined) for (const x of readEmbeddedKallsyms(elf.sectionBytes(rodata)).symbols) keep(x.name, x.address);
      } catch {
        // no embedded tables: the symbol is not known
      }
    }
    return embedded.get(name) ?? null;
  };

  return {
    path,
    banner: findBanner(elf, bootVersion),
    buildId: buildIdOf(elf),
    format,
    symbolSource: table.source,
    slide,
    elf,
    symbols: () => table.byName,
    lookup: (name) => (table.byName.get(name) ?? []).map((s) => ({ address: s.address, size: s.size })),
    resolve: table.resolve,
    namesAt: table.namesAt,
    functionCode,
    symbolAddress,
  };
}
