// A relocatable ELF object: a rebuilt .o or a shipped module (.ko, also .ko.xz/.ko.gz/.ko.zst as kmod
// installs them). Functions come with their own sizes (st_size) and with the byte ranges the linker fills,
// read from the .rela.<section> that targets their section, and the names those relocations point at.
import { InputError } from '../errors.ts';
import { decompressPayload, detectCompression } from './decompress.ts';
import { buildIdOf, ET_REL, hasElfMagic, parseElf, SHF_EXECINSTR, SHT_RELA, STT_FUNC, STT_SECTION, type ElfFile, type ElfSymbol } from './elf.ts';
import { readBinaryFile } from './read.ts';
import type { FunctionCode } from './types.ts';

export interface ObjectFunction {
  name: string;
  /** Section that holds it (.text, .text.unlikely, .init.text, ...). */
  section: string;
  /** Offset of its first byte inside that section. */
  value: number;
  size: number;
  global: boolean;
}

export interface ObjectFile {
  path: string;
  elf: ElfFile;
  buildId: string | null;
  /** Every function symbol (STT_FUNC) defined in an executable section. */
  functions(): readonly ObjectFunction[];
  /** A function's code with its relocated ranges; `pick.size` chooses among same-named (static) functions. */
  functionCode(name: string, pick?: { size?: number }): FunctionCode | null;
  /** .modinfo of a module: key → values (alias, depends, vermagic, name, ...); undefined for a plain object. */
  modinfo?: ReadonlyMap<string, string[]>;
}

// x86-64 psABI relocation types → width in bytes of the field they write.
const RELOC_WIDTH: ReadonlyMap<number, number> = new Map([
  [1, 8], // R_X86_64_64
  [2, 4], // R_X86_64_PC32
  [4, 4], // R_X86_64_PLT32
  [9, 4], // R_X86_64_GOTPCREL
  [10, 4], // R_X86_64_32
  [11, 4], // R_X86_64_32S
  [12, 2], // R_X86_64_16
  [13, 2], // R_X86_64_PC16
  [14, 1], // R_X86_64_8
  [15, 1], // R_X86_64_PC8
  [24, 8], // R_X86_64_PC64
  [41, 4], // R_X86_64_GOTPCRELX
  [42, 4], // R_X86_64_REX_GOTPCRELX
]);
const PC_RELATIVE = new Set([2, 4, 9, 13, 15, 24, 41, 42]);

function readModinfo(elf: ElfFile): Map<string, string[]> | undefined {
  const section = elf.section('.modinfo');
  if (section === undefined) return undefined;
  const text = Buffer.from(elf.sectionBytes(section)).toString('latin1');
  const out = new Map<string, string[]>();
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const key = entry.slice(0, eq);
    const list = out.get(key);
    if (list === undefined) out.set(key, [entry.slice(eq + 1)]);
    else list.push(entry.slice(eq + 1));
  }
  return out;
}

export function parseObject(bytes: Uint8Array, path: string, what = 'object'): ObjectFile {
  let elf: ElfFile;
  try {
    elf = parseElf(bytes);
  } catch (err) {
    throw new InputError(`${what}: ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (elf.type !== ET_REL) throw new InputError(`${what}: ${path} is an ELF file but not a relocatable object or module (type ${elf.type})`);
  const symbols = elf.symbols();
  const sectionName = (index: number): string => elf.sections[index]?.name ?? '';
  const isExec = (index: number): boolean => {
    const s = elf.sections[index];
    return s !== undefined && (s.flags & BigInt(SHF_EXECINSTR)) !== 0n;
  };

  let functionCache: ObjectFunction[] | null = null;
  const functions = (): readonly ObjectFunction[] => {
    functionCache ??= symbols
      .filter((s) => s.type === STT_FUNC && s.shndx > 0 && isExec(s.shndx))
      .map((s) => ({ name: s.name, section: sectionName(s.shndx), value: Number(s.value), size: s.size, global: s.bind !== 0 }));
    return functionCache;
  };

  // Per section: its functions by start offset, to name a relocation against a section symbol.
  const startsBySection = new Map<number, Map<number, string>>();
  for (const s of symbols) {
    if (s.type !== STT_FUNC || s.shndx <= 0) continue;
    let m = startsBySection.get(s.shndx);
    if (m === undefined) startsBySection.set(s.shndx, (m = new Map()));
    if (!m.has(Number(s.value))) m.set(Number(s.value), s.name);
  }
  const targetName = (sym: ElfSymbol | undefined, type: number, addend: bigint): string => {
    if (sym === undefined) return '?';
    if (sym.type !== STT_SECTION) return sym.name;
    const offset = Number(addend) + (PC_RELATIVE.has(type) ? 4 : 0);
    const named = startsBySection.get(sym.shndx)?.get(offset);
    return named ?? `${sectionName(sym.shndx)}+0x${offset.toString(16)}`;
  };

  const relaFor = new Map<number, number[]>();
  elf.sections.forEach((s) => {
    if (s.type !== SHT_RELA) return;
    const list = relaFor.get(s.info);
    if (list === undefined) relaFor.set(s.info, [s.index]);
    else list.push(s.index);
  });

  const functionsByName = new Map<string, ElfSymbol[]>();
  for (const s of symbols) {
    if (s.type !== STT_FUNC || s.shndx <= 0 || !isExec(s.shndx)) continue;
    const list = functionsByName.get(s.name);
    if (list === undefined) functionsByName.set(s.name, [s]);
    else list.push(s);
  }

  const functionCode = (name: string, pick: { size?: number } = {}): FunctionCode | null => {
    const all = functionsByName.get(name) ?? [];
    const sym = pick.size === undefined ? all[0] : all.find((s) => s.size === pick.size);
    if (sym === undefined) return null;
    const section = elf.sections[sym.shndx];
    if (section === undefined) return null;
    const start = Number(sym.value);
    const end = start + sym.size;
    if (end > section.size) return null;
    const relocated: Array<[number, number]> = [];
    const relocTargets = new Map<number, string>();
    for (const relaIndex of relaFor.get(sym.shndx) ?? []) {
      const rela = elf.sections[relaIndex];
      if (rela === undefined) continue;
      for (const r of elf.relocations(rela)) {
        if (r.offset < start || r.offset >= end) continue;
        const width = RELOC_WIDTH.get(r.type) ?? 4;
        const at = r.offset - start;
        relocated.push([at, Math.min(at + width, sym.size)]);
        relocTargets.set(at, targetName(symbols[r.symbol], r.type, r.addend));
      }
    }
    relocated.sort((a, b) => a[0] - b[0]);
    return {
      name,
      address: sym.value,
      size: sym.size,
      sizeExact: true,
      bytes: elf.sectionBytes(section).subarray(start, end),
      relocated,
      relocTargets,
      // Calls inside one section need no relocation: their targets are offsets in the same section.
      namesAt: (address: bigint): string[] => {
        const named = startsBySection.get(sym.shndx)?.get(Number(address));
        return named === undefined ? [] : [named];
      },
      section: section.name,
    };
  };

  const modinfo = readModinfo(elf);
  const object: ObjectFile = { path, elf, buildId: buildIdOf(elf), functions, functionCode };
  if (modinfo !== undefined) object.modinfo = modinfo;
  return object;
}

/** Opens a .o or an uncompressed .ko (see loadModule for .ko.xz and the other compressed forms). */
export function loadObject(path: string, what = 'object'): ObjectFile {
  const bytes = readBinaryFile(path, what);
  if (!hasElfMagic(bytes)) {
    const kind = detectCompression(bytes);
    if (kind !== null) throw new InputError(`${what}: ${path} is ${kind}-compressed; open it with loadModule`);
    throw new InputError(`${what}: ${path} is not an ELF object (expected a .o or .ko)`);
  }
  return parseObject(bytes, path, what);
}

/** Opens a module as installed: .ko, or .ko.xz / .ko.gz / .ko.zst (kmod's compressions), decompressed in-process. */
export async function loadModule(path: string, what = 'module'): Promise<ObjectFile> {
  const bytes = readBinaryFile(path, what);
  if (hasElfMagic(bytes)) return parseObject(bytes, path, what);
  const kind = detectCompression(bytes);
  if (kind === null) throw new InputError(`${what}: ${path} is not an ELF module (expected a .ko, .ko.xz, .ko.gz or .ko.zst)`);
  let inner: Uint8Array;
  try {
    inner = await decompressPayload(bytes, kind);
  } catch (err) {
    throw new InputError(`${what}: ${path}: cannot decompress (${kind}): ${err instanceof Error ? err.message : String(err)} (truncated or damaged file?)`, { cause: err });
  }
  if (!hasElfMagic(inner)) throw new InputError(`${what}: ${path}: its ${kind} content is not an ELF module`);
  return parseObject(inner, path, what);
}
