// ELF64 little-endian reader: header, section headers, symbol tables, RELA relocations, notes. Only what the
// code reader needs; layouts from the System V gABI and the x86-64 psABI.

export const ELF_MAGIC = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46);
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_SYMTAB_SHNDX = 18;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_XINDEX = 0xffff;
export const NT_GNU_BUILD_ID = 3;

export class ElfFormatError extends Error {}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: number;
  type: number;
  bind: number;
  /** Section index (SHN_XINDEX already resolved); 0 for undefined symbols. */
  shndx: number;
}

export interface ElfRelocation {
  offset: number;
  type: number;
  symbol: number;
  addend: bigint;
}

export interface ElfProgramHeader { type: number; flags: number; offset: number; vaddr: bigint; filesz: number; memsz: number }

export interface ElfFile {
  bytes: Uint8Array;
  type: number;
  machine: number;
  entry: bigint;
  sections: readonly ElfSection[];
  programHeaders: readonly ElfProgramHeader[];
  section(name: string): ElfSection | undefined;
  sectionBytes(section: ElfSection): Uint8Array;
  /** Symbols of .symtab (index 0 is the null symbol); empty for a stripped file. */
  symbols(): readonly ElfSymbol[];
  relocations(section: ElfSection): ElfRelocation[];
  /** Notes of every SHT_NOTE section: [name, type, desc]. */
  notes(): Array<{ name: string; type: number; desc: Uint8Array }>;
  /** Bytes at a virtual address from the sections that hold it (not NOBITS), or null. */
  bytesAt(address: bigint, length: number): Uint8Array | null;
}

export function hasElfMagic(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

function cString(b: Uint8Array, at: number): string {
  let end = at;
  while (end < b.length && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + at, end - at).toString('latin1');
}

export function parseElf(bytes: Uint8Array): ElfFile {
  if (!hasElfMagic(bytes)) throw new ElfFormatError('not an ELF file');
  if (bytes.length < 64) throw new ElfFormatError('truncated ELF header');
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new ElfFormatError('not a 64-bit little-endian ELF file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const u64 = (at: number): bigint => view.getBigUint64(at, true);
  const num = (at: number): number => {
    const v = u64(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfFormatError('field out of range');
    return Number(v);
  };
  const type = u16(16);
  const machine = u16(18);
  const entry = u64(24);
  const phoff = num(32);
  const shoff = num(40);
  const phentsize = u16(54);
  let phnum = u16(56);
  const shentsize = u16(58);
  let shnum = u16(60);
  let shstrndx = u16(62);
  if (shoff !== 0 && shentsize !== 64) throw new ElfFormatError('unexpected section header size');
  if (shoff !== 0 && shoff + 64 > bytes.length) throw new ElfFormatError(`truncated: section headers at ${shoff} beyond the end (${bytes.length} bytes)`);
  // Extended numbering: counts that do not fit 16 bits live in section header 0.
  if (shoff !== 0 && shnum === 0) shnum = Number(u64(shoff + 32));
  if (shoff !== 0 && shstrndx === SHN_XINDEX) shstrndx = u32(shoff + 40);
  if (phnum === 0xffff && shoff !== 0) phnum = u32(shoff + 44);
  if (shoff + shnum * 64 > bytes.length) throw new ElfFormatError(`truncated: ${shnum} section headers run past the end (${bytes.length} bytes)`);

  const raw: Array<Omit<ElfSection, 'name'> & { nameOff: number }> = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * 64;
    raw.push({
      index: i,
      nameOff: u32(at),
      type: u32(at + 4),
      flags: u64(at + 8),
      addr: u64(at + 16),
      offset: num(at + 24),
      size: num(at + 32),
      link: u32(at + 40),
      info: u32(at + 44),
      entsize: num(at + 56),
    });
  }
  for (const s of raw) {
    if (s.type !== SHT_NOBITS && s.type !== 0 && s.offset + s.size > bytes.length) {
      throw new ElfFormatError(`truncated: section ${s.index} runs past the end (${s.offset + s.size} > ${bytes.length} bytes)`);
    }
  }
  const shstr = raw[shstrndx];
  const sections: ElfSection[] = raw.map(({ nameOff, ...rest }) => ({
    ...rest,
    name: shstr === undefined ? '' : cString(bytes, shstr.offset + nameOff),
  }));
  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);

  const programHeaders: ElfProgramHeader[] = [];
  if (phoff !== 0 && phentsize === 56 && phoff + phnum * 56 <= bytes.length) {
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * 56;
      programHeaders.push({ type: u32(at), flags: u32(at + 4), offset: num(at + 8), vaddr: u64(at + 16), filesz: num(at + 32), memsz: num(at + 40) });
    }
  }

  const sectionBytes = (s: ElfSection): Uint8Array =>
    s.type === SHT_NOBITS ? new Uint8Array(0) : bytes.subarray(s.offset, s.offset + s.size);

  let symbolCache: ElfSymbol[] | null = null;
  const symbols = (): readonly ElfSymbol[] => {
    if (symbolCache !== null) return symbolCache;
    const symtab = sections.find((s) => s.type === SHT_SYMTAB);
    symbolCache = [];
    if (symtab === undefined) return symbolCache;
    const strtab = sections[symtab.link];
    const shndxSection = sections.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === symtab.index);
    const count = Math.floor(symtab.size / 24);
    for (let i = 0; i < count; i++) {
      const at = symtab.offset + i * 24;
      const info = bytes[at + 4] ?? 0;
      let shndx = u16(at + 6);
      if (shndx === SHN_XINDEX && shndxSection !== undefined) shndx = u32(shndxSection.offset + i * 4);
      else if (shndx >= SHN_LORESERVE) shndx = -shndx;
      symbolCache.push({
        name: strtab === undefined ? '' : cString(bytes, strtab.offset + u32(at)),
        value: u64(at + 8),
        size: num(at + 16),
        type: info & 0xf,
        bind: info >> 4,
        shndx,
      });
    }
    return symbolCache;
  };

  const relocations = (s: ElfSection): ElfRelocation[] => {
    if (s.type !== SHT_RELA) return [];
    const out: ElfRelocation[] = [];
    const count = Math.floor(s.size / 24);
    for (let i = 0; i < count; i++) {
      const at = s.offset + i * 24;
      const info = u64(at + 8);
      out.push({ offset: num(at), type: Number(info & 0xffffffffn), symbol: Number(info >> 32n), addend: view.getBigInt64(at + 16, true) });
    }
    return out;
  };

  const notes = (): Array<{ name: string; type: number; desc: Uint8Array }> => {
    const out: Array<{ name: string; type: number; desc: Uint8Array }> = [];
    for (const s of sections) {
      if (s.type !== SHT_NOTE) continue;
      let at = s.offset;
      const end = s.offset + s.size;
      while (at + 12 <= end) {
        const namesz = u32(at);
        const descsz = u32(at + 4);
        const noteType = u32(at + 8);
        const nameAt = at + 12;
        const descAt = nameAt + Math.ceil(namesz / 4) * 4;
        const next = descAt + Math.ceil(descsz / 4) * 4;
        if (descAt + descsz > end) break;
        out.push({ name: cString(bytes.subarray(0, nameAt + namesz), nameAt), type: noteType, desc: bytes.subarray(descAt, descAt + descsz) });
        at = next;
      }
    }
    return out;
  };

  const allocated = sections
    .filter((s) => (s.flags & BigInt(SHF_ALLOC)) !== 0n && s.type !== SHT_NOBITS && s.size > 0)
    .sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  const bytesAt = (address: bigint, length: number): Uint8Array | null => {
    for (const s of allocated) {
      if (address < s.addr || address >= s.addr + BigInt(s.size)) continue;
      const start = Number(address - s.addr);
      if (start + length > s.size) return null;
      return bytes.subarray(s.offset + start, s.offset + start + length);
    }
    return null;
  };

  return {
    bytes,
    type,
    machine,
    entry,
    sections,
    programHeaders,
    section: (name) => byName.get(name),
    sectionBytes,
    symbols,
    relocations,
    notes,
    bytesAt,
  };
}

/** The GNU build-id note as lower-case hex, or null. */
export function buildIdOf(elf: ElfFile): string | null {
  const note = elf.notes().find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID);
  return note === undefined ? null : Buffer.from(note.desc).toString('hex');
}

/**
 * The GNU build-id in a raw run of ELF notes (Elf64_Nhdr: namesz, descsz, type, then name and desc padded to 4
 * bytes), as /sys/kernel/notes holds the running kernel's `.notes`; null when there is none.
 */
export function buildIdFromNotes(b: Uint8Array): string | null {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 0;
  while (at + 12 <= b.length) {
    const namesz = view.getUint32(at, true);
    const descsz = view.getUint32(at + 4, true);
    const type = view.getUint32(at + 8, true);
    const nameAt = at + 12;
    const descAt = nameAt + Math.ceil(namesz / 4) * 4;
    if (descAt + descsz > b.length) return null;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && cString(b.subarray(0, nameAt + namesz), nameAt) === 'GNU' && descsz > 0) {
      return Buffer.from(b.buffer, b.byteOffset + descAt, descsz).toString('hex');
    }
    at = descAt + Math.ceil(descsz / 4) * 4;
  }
  return null;
}
