/**
 * build-truth.ts — ground-truth calibration set for dropsite.
 *
 * From a vmlinux with DWARF (Debian's linux-image-*-dbg) and the matching
 * kernel source tree, list every place in the kernel image that can show up
 * as the "location" of a kfree_skb / consume_skb tracepoint hit, together
 * with the source line (and whole inline chain) behind it.
 *
 *   node --import tsx bench/calibration/build-truth.ts \
 *        --vmlinux /path/vmlinux-6.12.117+deb12-amd64 \
 *        --src /path/linux-source-6.12 \
 *        --out /path/truth-6.12.117.jsonl
 *
 * Only node builtins; external tools (nm, objdump, addr2line from binutils)
 * are run with argument arrays, never through a shell.
 *
 * How the tracepoint shows up in the disassembly (checked on Debian
 * 6.12.117+deb12-amd64, gcc 12, x86-64 with HAVE_STATIC_CALL):
 *   trace_kfree_skb(...) expands to a static-key guarded block
 *     mov  __tracepoint_kfree_skb+0x48(%rip),%rax   ; tp->funcs
 *     ...
 *     call __SCT__tp_func_kfree_skb                  ; static-call trampoline
 *   The static key itself is a 2/5-byte nop (`xchg %ax,%ax`, `nopl ...`)
 *   whose jump target lives only in __jump_table. `__traceiter_kfree_skb` is
 *   never called directly by the firing functions (it is only the static
 *   call's default target), and `__SCK__tp_func_*` (the static-call key) is
 *   not referenced from code. The scan below accepts all of these forms
 *   (call/jmp to __SCT__tp_func_X or __traceiter_X, or any reference to
 *   __SCK__tp_func_X / __tracepoint_X) so that another build style still
 *   works, and excludes the tracepoint plumbing itself.
 *
 * The location the tracepoint reports is its `location` argument (%rdx of
 * the tracepoint call: data, skb, location, ...). The firing functions pass
 * __builtin_return_address(0), i.e. the return address in *their caller*;
 * a function that loads a constant code address into %rdx (net_tx_action
 * passes its own address) reports that fixed address instead. Both are
 * detected from the disassembly.
 */
import { spawn, execFile } from 'node:child_process';
import { open, readFile, writeFile, mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Readable } from 'node:stream';

// ---------------------------------------------------------------------------
// small process helpers

export function runCapture(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 1024 * 1024 * 1024, encoding: 'utf8' }, (err, stdout) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}`));
      else resolve(stdout);
    });
  });
}

/** Split a readable byte stream into lines without buffering the whole output. */
export async function* lines(stream: Readable): AsyncGenerator<string> {
  stream.setEncoding('utf8');
  let rest = '';
  for await (const chunk of stream as AsyncIterable<string>) {
    const text = rest + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      yield text.slice(start, nl);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.length > 0) yield rest;
}

/** Run a command and hand every stdout line to `onLine`; rejects on non-zero exit. */
export async function streamCommand(cmd: string, args: string[], onLine: (line: string) => void): Promise<void> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 10_000) stderr += d;
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  for await (const line of lines(child.stdout)) onLine(line);
  const code = await exited;
  if (code !== 0) throw new Error(`${cmd} exited with ${code}: ${stderr.slice(0, 2000)}`);
}

export const hex = (v: bigint): string => v.toString(16);

// ---------------------------------------------------------------------------
// symbols: ELF sizes (nm -S) and the kallsyms view (what a live kernel prints)

interface NmSym {
  addr: bigint;
  size: bigint | null;
  type: string;
  name: string;
  seq: number;
}

interface FuncSym {
  addr: bigint;
  end: bigint;
  name: string;
}

interface KsymEntry {
  addr: bigint;
  name: string;
}

function parseNm(text: string): NmSym[] {
  const out: NmSym[] = [];
  let seq = 0;
  for (const line of text.split('\n')) {
    // "ffffffff81a52770 000000000000011d T sk_skb_reason_drop" or "ffffffff81000000 T _stext"
    const m = /^([0-9a-f]+) (?:([0-9a-f]+) )?(\S) (.+)$/.exec(line);
    if (!m) continue;
    out.push({
      addr: BigInt('0x' + m[1]!),
      size: m[2] !== undefined ? BigInt('0x' + m[2]) : null,
      type: m[3]!,
      name: m[4]!,
      seq: seq++,
    });
  }
  return out;
}

/** The kernel's preference among aliases (scripts/kallsyms.c compare_symbols). */
function linkerProvideLike(name: string): boolean {
  if (name.length < 8 || !name.startsWith('__')) return false;
  return (
    name.startsWith('__start_') ||
    name.startsWith('__stop_') ||
    name.startsWith('__end_') ||
    name.endsWith('_start') ||
    name.endsWith('_end')
  );
}

function leadingUnderscores(name: string): number {
  let i = 0;
  while (i < name.length && name[i] === '_') i++;
  return i;
}

function compareAliases(a: NmSym, b: NmSym): number {
  if (a.addr !== b.addr) return a.addr < b.addr ? -1 : 1;
  const wa = a.type === 'w' || a.type === 'W' ? 1 : 0;
  const wb = b.type === 'w' || b.type === 'W' ? 1 : 0;
  if (wa !== wb) return wa - wb;
  const la = linkerProvideLike(a.name) ? 1 : 0;
  const lb = linkerProvideLike(b.name) ? 1 : 0;
  if (la !== lb) return la - lb;
  const ua = leadingUnderscores(a.name);
  const ub = leadingUnderscores(b.name);
  if (ua !== ub) return ua - ub;
  return a.seq - b.seq;
}

/**
 * The symbols a kernel built from this vmlinux has in kallsyms: `nm -n` filtered
 * like scripts/mksysmap, then scripts/kallsyms' is_ignored_symbol. Debian sets
 * CONFIG_KALLSYMS_ALL=y (--all-symbols), so no text-range filter applies.
 */
function kallsymsFilter(s: NmSym): boolean {
  if ('aNUw'.includes(s.type)) return false; // mksysmap: / [aNUw] /d
  if (s.type === 'u' || s.type === 'n' || s.type === 'A') return false; // is_ignored_symbol
  const n = s.name;
  const droppedPrefixes = [
    '$', '.L', '__efistub_', '__pi_$', '__pi_.L', '__kvm_nvhe_$', '__kvm_nvhe_.L',
    '__kcfi_typeid_', '__kvm_nvhe___kcfi_typeid_', '__pi___kcfi_typeid_',
    '__crc_', '__kstrtab_', '__kstrtabns_',
  ];
  if (droppedPrefixes.some((p) => n.startsWith(p))) return false;
  if (/^__[A-Za-z0-9]*Thunk_/.test(n)) return false;
  if (/_from_arm$|_from_thumb$|_veneer$/.test(n)) return false;
  if (n === 'L0' || n === '_SDA_BASE_' || n === '_SDA2_BASE_') return false;
  if (n.includes('.long_branch.') || n.includes('.plt_branch.')) return false;
  return true;
}

export class SymbolTables {
  readonly funcs: FuncSym[];
  readonly ksyms: KsymEntry[];
  private readonly byName = new Map<string, NmSym>();
  /** how many text symbols carry each name (static functions can repeat across files) */
  readonly textNameCount = new Map<string, number>();

  constructor(all: NmSym[]) {
    for (const s of all) {
      if (!this.byName.has(s.name)) this.byName.set(s.name, s);
      if ('tTwW'.includes(s.type)) this.textNameCount.set(s.name, (this.textNameCount.get(s.name) ?? 0) + 1);
    }
    // functions with an ELF size, one per address (kallsyms alias preference)
    const sized = all
      .filter((s) => s.size !== null && s.size > 0n && 'tTwW'.includes(s.type))
      .sort(compareAliases);
    const funcs: FuncSym[] = [];
    for (const s of sized) {
      const last = funcs[funcs.length - 1];
      if (last && last.addr === s.addr) continue;
      funcs.push({ addr: s.addr, end: s.addr + (s.size ?? 0n), name: s.name });
    }
    this.funcs = funcs;
    this.ksyms = all.filter(kallsymsFilter).sort(compareAliases).map((s) => ({ addr: s.addr, name: s.name }));
  }

  get(name: string): NmSym | undefined {
    return this.byName.get(name);
  }

  /** ELF function (st_value <= a < st_value + st_size) containing address a. */
  funcAt(a: bigint): FuncSym | undefined {
    let lo = 0;
    let hi = this.funcs.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.funcs[mid]!.addr <= a) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (let i = best; i >= 0 && i > best - 4; i--) {
      const f = this.funcs[i]!;
      if (f.addr <= a && a < f.end) return f;
    }
    return undefined;
  }

  /** What kallsyms_lookup() / %pS would print for address a: name, offset, size. */
  kallsymsAt(a: bigint): { name: string; offset: bigint; size: bigint } | undefined {
    const k = this.ksyms;
    let lo = 0;
    let hi = k.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (k[mid]!.addr <= a) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    while (best > 0 && k[best - 1]!.addr === k[best]!.addr) best--;
    const start = k[best]!.addr;
    let end: bigint | undefined;
    for (let i = best + 1; i < k.length; i++) {
      if (k[i]!.addr > start) {
        end = k[i]!.addr;
        break;
      }
    }
    if (end === undefined) return undefined;
    return { name: k[best]!.name, offset: a - start, size: end - start };
  }
}

// ---------------------------------------------------------------------------
// reading bytes of the image at a virtual address (ELF64 little endian, program headers)

type FileHandle = Awaited<ReturnType<typeof open>>;
interface Segment {
  vaddr: bigint;
  offset: bigint;
  filesz: bigint;
}

export class ElfImage {
  private readonly fd: FileHandle;
  private readonly segs: Segment[];

  private constructor(fd: FileHandle, segs: Segment[]) {
    this.fd = fd;
    this.segs = segs;
  }

  static async load(file: string): Promise<ElfImage> {
    const fd = await open(file, 'r');
    const hdr = Buffer.alloc(64);
    await fd.read(hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46 || hdr[4] !== 2 || hdr[5] !== 1) {
      await fd.close();
      throw new Error(`${file}: not a little-endian ELF64 file`);
    }
    const phoff = Number(hdr.readBigUInt64LE(0x20));
    const phentsize = hdr.readUInt16LE(0x36);
    const phnum = hdr.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    await fd.read(ph, 0, ph.length, phoff);
    const segs: Segment[] = [];
    for (let i = 0; i < phnum; i++) {
      const b = i * phentsize;
      if (ph.readUInt32LE(b) !== 1) continue; // PT_LOAD
      segs.push({ offset: ph.readBigUInt64LE(b + 8), vaddr: ph.readBigUInt64LE(b + 16), filesz: ph.readBigUInt64LE(b + 32) });
    }
    return new ElfImage(fd, segs);
  }

  async read(vaddr: bigint, len: number): Promise<Buffer | undefined> {
    for (const s of this.segs) {
      if (s.vaddr === 0n) continue; // per-cpu segment
      if (vaddr >= s.vaddr && vaddr + BigInt(len) <= s.vaddr + s.filesz) {
        const buf = Buffer.alloc(len);
        await this.fd.read(buf, 0, len, Number(s.offset + (vaddr - s.vaddr)));
        return buf;
      }
    }
    return undefined;
  }

  async cstring(vaddr: bigint, max = 128): Promise<string | undefined> {
    const b = await this.read(vaddr, max);
    if (!b) return undefined;
    const z = b.indexOf(0);
    return b.subarray(0, z < 0 ? max : z).toString('latin1');
  }

  close(): Promise<void> {
    return this.fd.close();
  }
}

/**
 * Control-flow edges objdump does not show: static keys (asm goto; the nop at
 * `code` may become a jmp to `target`, see struct jump_entry) and exception
 * fixups (struct exception_table_entry: insn, fixup, data; all s32 relative).
 */
async function hiddenEdges(elf: ElfImage, syms: SymbolTables): Promise<Map<bigint, bigint[]>> {
  const edges = new Map<bigint, bigint[]>();
  const add = (from: bigint, to: bigint): void => {
    const l = edges.get(to);
    if (l) l.push(from);
    else edges.set(to, [from]);
  };
  const table = async (startSym: string, stopSym: string, entSize: number, a: number, b: number): Promise<number> => {
    const start = syms.get(startSym)?.addr;
    const stop = syms.get(stopSym)?.addr;
    if (start === undefined || stop === undefined || stop <= start) return 0;
    const buf = await elf.read(start, Number(stop - start));
    if (!buf) return 0;
    let n = 0;
    for (let off = 0; off + entSize <= buf.length; off += entSize) {
      const base = start + BigInt(off);
      const from = base + BigInt(a) + BigInt(buf.readInt32LE(off + a));
      const to = base + BigInt(b) + BigInt(buf.readInt32LE(off + b));
      add(from, to);
      n++;
    }
    return n;
  };
  const nJump = await table('__start___jump_table', '__stop___jump_table', 16, 0, 4);
  const nEx = await table('__start___ex_table', '__stop___ex_table', 12, 0, 4);
  console.log(`  hidden edges: ${nJump} static-key jump entries, ${nEx} exception-table entries`);
  return edges;
}

// ---------------------------------------------------------------------------
// drop reasons: the enum in include/net/dropreason-core.h

export interface ReasonTable {
  file: string;
  byValue: Map<number, string>; // value -> short name (NO_SOCKET, CONSUMED, ...)
  /** SKB_CONSUMED (6.3+); null before, when consume_skb fires its own tracepoint and no reason means consumed. */
  consumedValue: number | null;
  evidence: string[];
}

export function stripComments(s: string): string {
  return s.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

function shortReason(enumName: string): string {
  // SKB_DROP_REASON_SKB_CSUM is "SKB_CSUM": strip one prefix only
  if (enumName.startsWith('SKB_DROP_REASON_')) return enumName.slice('SKB_DROP_REASON_'.length);
  return enumName.replace(/^SKB_/, '');
}

async function loadReasons(src: string, syms: SymbolTables, elf: ElfImage): Promise<ReasonTable> {
  const candidates = ['include/net/dropreason-core.h', 'include/net/dropreason.h'];
  let file: string | undefined;
  let text = '';
  for (const c of candidates) {
    const p = path.join(src, c);
    if (!existsSync(p)) continue;
    const t = await readFile(p, 'utf8');
    if (/enum\s+skb_drop_reason\s*\{/.test(t)) {
      file = c;
      text = t;
      break;
    }
  }
  if (!file) throw new Error(`no enum skb_drop_reason in ${candidates.join(', ')} under ${src}`);
  const evidence: string[] = [];

  // 1. the enum body itself: C numbering rules (start at 0, +1, explicit "= N" resets)
  const body = /enum\s+skb_drop_reason\s*\{([\s\S]*?)\};/.exec(text)?.[1] ?? '';
  const byValue = new Map<number, string>();
  const byName = new Map<string, number>();
  let next = 0;
  for (const raw of stripComments(body).split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?:=\s*(.+))?$/s.exec(item);
    if (!m) throw new Error(`cannot parse enum item "${item}"`);
    let value = next;
    if (m[2] !== undefined) {
      const expr = m[2].trim();
      const known = byName.get(expr);
      if (known !== undefined) value = known;
      else if (/^(0x[0-9a-fA-F]+|\d+)[uUlL]*$/.test(expr)) value = Number.parseInt(expr, expr.startsWith('0x') ? 16 : 10);
      else throw new Error(`enum value "${expr}" not understood`);
    }
    byName.set(m[1]!, value);
    if (!byValue.has(value)) byValue.set(value, shortReason(m[1]!));
    next = value + 1;
  }
  const consumedValue = byName.get('SKB_CONSUMED') ?? null;
  const maxValue = byName.get('SKB_DROP_REASON_MAX');
  if (maxValue === undefined) throw new Error('enum lacks SKB_DROP_REASON_MAX');
  byValue.delete(maxValue);
  for (const v of [...byValue.keys()]) if (v >= maxValue) byValue.delete(v); // SUBSYS_MASK etc.
  evidence.push(
    `enum skb_drop_reason in ${file}: SKB_NOT_DROPPED_YET=${byName.get('SKB_NOT_DROPPED_YET')}, SKB_CONSUMED=${consumedValue ?? '(none: before 6.3)'}, ` +
      `NOT_SPECIFIED=${byName.get('SKB_DROP_REASON_NOT_SPECIFIED')}, NO_SOCKET=${byName.get('SKB_DROP_REASON_NO_SOCKET')}, MAX=${maxValue}`,
  );

  // 2. the DEFINE_DROP_REASON(FN, FNe) list must name the same reasons in the same order
  const macro = /#define\s+DEFINE_DROP_REASON\(FN,\s*FNe\)([\s\S]*?)\n\s*\n/.exec(text)?.[1];
  if (macro) {
    const listed = [...macro.matchAll(/\bFNe?\(([A-Za-z0-9_]+)\)/g)].map((m) => m[1]!);
    const fromEnum = [...byName.entries()]
      .filter(([n]) => n.startsWith('SKB_DROP_REASON_') && n !== 'SKB_DROP_REASON_SUBSYS_MASK')
      .sort((a, b) => a[1] - b[1])
      .map(([n]) => n.slice('SKB_DROP_REASON_'.length));
    const same = listed.length === fromEnum.length && listed.every((n, i) => n === fromEnum[i]);
    evidence.push(
      `DEFINE_DROP_REASON lists ${listed.length} names (${listed[0]}..${listed[listed.length - 1]}); ` +
        `enum SKB_DROP_REASON_* in value order ${same ? 'matches it exactly' : 'DIFFERS'}`,
    );
    if (!same) throw new Error('DEFINE_DROP_REASON order differs from the enum; numbering unverified');
  }

  // 3. the kernel's own string table in the binary: drop_reasons[] = {[SKB_CONSUMED]="CONSUMED", [SKB_DROP_REASON_x]="x", ...}
  const dr = syms.get('drop_reasons');
  if (dr && dr.size !== null) {
    const n = Number(dr.size / 8n);
    const buf = await elf.read(dr.addr, n * 8);
    let agree = 0;
    let differ = 0;
    const firstDiff: string[] = [];
    if (buf) {
      for (let i = 0; i < n; i++) {
        const ptr = buf.readBigUInt64LE(i * 8);
        const s = ptr === 0n ? undefined : await elf.cstring(ptr);
        const mine = i === maxValue ? 'MAX' : byValue.get(i);
        if (s === undefined && (i === 0 || mine === undefined)) continue;
        if (s === mine) agree++;
        else {
          differ++;
          if (firstDiff.length < 3) firstDiff.push(`${i}: binary=${s} enum=${mine}`);
        }
      }
    }
    evidence.push(
      `vmlinux drop_reasons[] (${n} entries at 0x${hex(dr.addr)}): ${agree} strings equal the enum-derived names, ${differ} differ` +
        (firstDiff.length ? ` (${firstDiff.join('; ')})` : ''),
    );
    if (differ > 0) throw new Error('drop_reasons[] in the binary disagrees with the parsed enum: ' + evidence.join(' | '));
    // FNe(MAX) is part of the list, so the table has MAX + 1 entries
    if (n !== maxValue + 1) evidence.push(`WARNING: drop_reasons[] has ${n} entries, enum MAX is ${maxValue}`);
  } else {
    evidence.push('drop_reasons[] not found in the symbol table: binary cross-check skipped');
  }
  return { file, byValue, consumedValue, evidence };
}

export function reasonName(value: number, rt: ReasonTable): string | null {
  if (value >>> 16 !== 0) return null; // subsystem reasons (mac80211, ovs...): not in the core enum
  return rt.byValue.get(value) ?? null;
}

// ---------------------------------------------------------------------------
// disassembly model

export type ArgReg = 'rdi' | 'rsi' | 'rdx' | 'rcx' | 'r8' | 'r9';
export const ARG_REGS: ArgReg[] = ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'];
/** [64-bit, 32-bit, 16-bit, 8-bit...] names of each argument register */
export const REG_NAMES: Record<ArgReg, string[]> = {
  rdi: ['rdi', 'edi', 'di', 'dil'],
  rsi: ['rsi', 'esi', 'si', 'sil'],
  rdx: ['rdx', 'edx', 'dx', 'dl', 'dh'],
  rcx: ['rcx', 'ecx', 'cx', 'cl', 'ch'],
  r8: ['r8', 'r8d', 'r8w', 'r8b'],
  r9: ['r9', 'r9d', 'r9w', 'r9b'],
};
const REG_FAMILY = new Map<string, { fam: ArgReg; width: number }>();
for (const fam of ARG_REGS) {
  REG_NAMES[fam].forEach((n, i) => REG_FAMILY.set('%' + n, { fam, width: i === 0 ? 64 : i === 1 ? 32 : 16 }));
}

export interface Insn {
  addr: bigint;
  mnem: string;
  ops: string[];
  /** direct branch/call target */
  target: bigint | null;
  targetSym: string | null;
  targetOff: bigint;
}

const PREFIXES = new Set(['lock', 'rep', 'repz', 'repe', 'repnz', 'repne', 'notrack', 'bnd', 'cs', 'ds', 'es', 'ss', 'fs', 'gs', 'data16', 'addr32', 'rex', 'rex.W', 'xacquire', 'xrelease']);

export function splitOperands(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const INSN_RE = /^ *([0-9a-f]+):\t(.*)$/;
const HEADER_RE = /^([0-9a-f]+) <(.+)>:$/;
const SECTION_RE = /^Disassembly of section (.+):$/;
const TARGET_RE = /^([0-9a-f]+) <(.+?)(?:\+0x([0-9a-f]+))?>$/;

export function parseInsn(line: string): Insn | null {
  const m = INSN_RE.exec(line);
  if (!m) return null;
  let text = m[2]!;
  const hash = text.indexOf('#');
  if (hash >= 0) text = text.slice(0, hash);
  text = text.trim();
  const words = text.split(/\s+/);
  let i = 0;
  const prefixes: string[] = [];
  while (i < words.length - 1 && PREFIXES.has(words[i]!)) prefixes.push(words[i++]!);
  const mnem = words[i] ?? '';
  const rest = words.slice(i + 1).join(' ');
  const ops = splitOperands(rest);
  let target: bigint | null = null;
  let targetSym: string | null = null;
  let targetOff = 0n;
  const t = TARGET_RE.exec(rest);
  if (t && (mnem.startsWith('j') || mnem.startsWith('call') || mnem.startsWith('loop'))) {
    target = BigInt('0x' + t[1]!);
    targetSym = t[2]!;
    targetOff = t[3] !== undefined ? BigInt('0x' + t[3]) : 0n;
  }
  return { addr: BigInt('0x' + m[1]!), mnem: prefixes.some((p) => p.startsWith('rep')) ? 'rep' : mnem, ops, target, targetSym, targetOff };
}

export const isCall = (x: Insn): boolean => x.mnem === 'call' || x.mnem === 'callq';
export const isJmp = (x: Insn): boolean => x.mnem === 'jmp' || x.mnem === 'jmpq';
export const isCondJump = (x: Insn): boolean => /^j(?!mp)[a-z]+$/.test(x.mnem) || x.mnem.startsWith('loop');

/** Whether control can continue to the next instruction. */
export function fallsThrough(x: Insn, noreturn: Set<string>): boolean {
  if (isJmp(x)) return false;
  if (/^(ret|retq|retl|iret[lqw]?|sysret[lq]?|ud2|ud1|int3|hlt)$/.test(x.mnem)) return false;
  if (isCall(x) && x.targetSym !== null && x.targetOff === 0n && noreturn.has(x.targetSym)) return false;
  return true;
}

export type Effect = { kind: 'none' } | { kind: 'clobber' } | { kind: 'const'; value: bigint };
const NONE: Effect = { kind: 'none' };
const CLOBBER: Effect = { kind: 'clobber' };
const READ_ONLY = /^(cmp|test|bt[lqw]?$|push|ucomis|comis|ptest|prefetch|nop|clflush|vtest)/;
const CLOBBER_ALL = /^(rep|cltd|cqto|cwtd|rdtscp?|cpuid|rdmsr|xgetbv|rdpkru|syscall|sysenter|vmcall|vmmcall|mul[bwlq]?|div[bwlq]?|idiv[bwlq]?)$/;

/** What instruction x does to argument register family `fam`. */
export function effect(x: Insn, fam: ArgReg): Effect {
  if (isCall(x)) return CLOBBER; // caller-saved
  if (CLOBBER_ALL.test(x.mnem)) return CLOBBER;
  if (x.mnem.startsWith('imul') && x.ops.length === 1) return CLOBBER;
  if (x.ops.some((o) => /%es:\(%[er]di\)|%ds:\(%[er]si\)/.test(o))) return CLOBBER; // string instructions
  const mine = (o: string): boolean => REG_FAMILY.get(o)?.fam === fam;
  if (/^(xchg|xadd|cmpxchg)/.test(x.mnem)) return x.ops.some(mine) ? CLOBBER : NONE;
  const dst = x.ops[x.ops.length - 1];
  if (dst === undefined || !mine(dst)) return NONE;
  if (READ_ONLY.test(x.mnem)) return NONE;
  const width = REG_FAMILY.get(dst)!.width;
  if (width >= 32) {
    const src = x.ops[0]!;
    if (/^mov[lq]?$|^movabs[q]?$/.test(x.mnem) && x.ops.length === 2 && /^\$0x[0-9a-f]+$/.test(src)) {
      let v = BigInt(src.slice(1));
      if (width === 32) v &= 0xffffffffn;
      return { kind: 'const', value: v };
    }
    if (/^(xor|sub)[lq]?$/.test(x.mnem) && x.ops.length === 2 && src === dst) return { kind: 'const', value: 0n };
  }
  return CLOBBER;
}

/** One function's instructions (objdump block merged over inner labels). */
export class FuncCode {
  readonly insns: Insn[] = [];
  private preds: Map<number, number[]> | null = null;

  readonly name: string;
  readonly start: bigint;
  readonly end: bigint | null;
  readonly section: string;
  /** the objdump label that opened the block (differs from name for aliases) */
  readonly labelName: string;

  constructor(name: string, start: bigint, end: bigint | null, section: string, labelName: string) {
    this.name = name;
    this.start = start;
    this.end = end;
    this.section = section;
    this.labelName = labelName;
  }

  private build(hidden: Map<bigint, bigint[]>): void {
    const idx = new Map<bigint, number>();
    this.insns.forEach((x, i) => idx.set(x.addr, i));
    const preds = new Map<number, number[]>();
    const addPred = (to: number, from: number): void => {
      const l = preds.get(to);
      if (l) l.push(from);
      else preds.set(to, [from]);
    };
    this.insns.forEach((x, i) => {
      if ((isJmp(x) || isCondJump(x)) && x.target !== null) {
        const t = idx.get(x.target);
        if (t !== undefined) addPred(t, i);
      }
    });
    for (const [to, froms] of hidden) {
      const t = idx.get(to);
      if (t === undefined) continue;
      for (const f of froms) {
        const fi = idx.get(f);
        if (fi !== undefined) addPred(t, fi);
      }
    }
    this.preds = preds;
  }

  /**
   * Constant values register `fam` can hold just before instruction `at`,
   * following every control-flow path backwards until the register is
   * written. null when some path makes it non-constant (or it comes from the
   * caller / a path we cannot see).
   */
  reachingConsts(at: number, fam: ArgReg, hidden: Map<bigint, bigint[]>, noreturn: Set<string>): bigint[] | null {
    if (!this.preds) this.build(hidden);
    const preds = this.preds!;
    const values = new Set<bigint>();
    const seen = new Set<number>();
    const work = [at];
    let steps = 0;
    while (work.length > 0) {
      const p = work.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      if (++steps > 400) return null;
      const from: number[] = [];
      const prev = this.insns[p - 1];
      if (prev && fallsThrough(prev, noreturn)) from.push(p - 1);
      for (const q of preds.get(p) ?? []) from.push(q);
      if (from.length === 0) return null; // function entry (value is a parameter) or unseen edge
      for (const q of from) {
        const e = effect(this.insns[q]!, fam);
        if (e.kind === 'const') values.add(e.value);
        else if (e.kind === 'clobber') return null;
        else work.push(q);
      }
    }
    return values.size > 0 ? [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) : null;
  }
}

/**
 * Stream `objdump -d` and hand each function (grouped by ELF symbol range) to
 * `onFunc`, but only functions where `wanted(line)` matched some line, so the
 * 7M+ lines are never all parsed or kept.
 */
async function scanFunctions(
  vmlinux: string,
  syms: SymbolTables,
  wanted: (line: string) => boolean,
  onFunc: (f: FuncCode) => void,
): Promise<number> {
  let section = '';
  let cur: { name: string; label: string; start: bigint; end: bigint | null; lines: string[]; hit: boolean } | null = null;
  let nLines = 0;
  const flush = (): void => {
    if (cur && cur.hit) {
      const f = new FuncCode(cur.name, cur.start, cur.end, section, cur.label);
      for (const l of cur.lines) {
        const x = parseInsn(l);
        if (x) f.insns.push(x);
      }
      onFunc(f);
    }
    cur = null;
  };
  await streamCommand('objdump', ['-d', '--no-show-raw-insn', vmlinux], (line) => {
    nLines++;
    if (line.length === 0) return;
    const c = line.charCodeAt(0);
    if (c !== 0x20 && c !== 0x09) {
      const h = HEADER_RE.exec(line);
      if (h) {
        const a = BigInt('0x' + h[1]!);
        // an inner label of the function being read continues it
        if (cur && cur.end !== null && a > cur.start && a < cur.end) return;
        flush();
        const f = syms.funcAt(a);
        cur = f && f.addr === a
          ? { name: f.name, label: h[2]!, start: a, end: f.end, lines: [], hit: false }
          : { name: h[2]!, label: h[2]!, start: a, end: null, lines: [], hit: false };
        return;
      }
      const s = SECTION_RE.exec(line);
      if (s) {
        flush();
        section = s[1]!;
        return;
      }
    }
    if (cur) {
      cur.lines.push(line);
      if (!cur.hit && wanted(line)) cur.hit = true;
    }
  });
  flush();
  return nLines;
}

// ---------------------------------------------------------------------------
// addr2line

export interface Frame {
  function: string;
  file: string;
  line: number | null;
}

/** One addr2line process; -a marks where each address's answer starts. */
export async function addr2line(vmlinux: string, addrs: bigint[], section?: string): Promise<Map<bigint, { function: string; path: string; line: number | null }[]>> {
  // A relocatable object (.ko) has every section at address 0: -j makes the addresses offsets in that section.
  const child = spawn('addr2line', ['-a', '-f', '-i', ...(section !== undefined ? ['-j', section] : []), '-e', vmlinux], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 10_000) stderr += d;
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  child.stdin.end(addrs.map((a) => '0x' + hex(a)).join('\n') + '\n');
  const answers: { addr: bigint; out: string[] }[] = [];
  for await (const line of lines(child.stdout)) {
    if (/^0x[0-9a-f]+$/.test(line)) answers.push({ addr: BigInt(line), out: [] });
    else answers[answers.length - 1]?.out.push(line);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`addr2line exited with ${code}: ${stderr}`);
  if (answers.length !== addrs.length) throw new Error(`addr2line answered ${answers.length} of ${addrs.length} addresses`);
  const res = new Map<bigint, { function: string; path: string; line: number | null }[]>();
  answers.forEach((a, i) => {
    if (a.addr !== addrs[i]) throw new Error(`addr2line answer ${i} is for 0x${hex(a.addr)}, expected 0x${hex(addrs[i]!)}`);
    const frames: { function: string; path: string; line: number | null }[] = [];
    for (let j = 0; j + 1 < a.out.length; j += 2) {
      const loc = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(a.out[j + 1]!);
      frames.push({
        function: a.out[j]!,
        path: loc ? loc[1]! : a.out[j + 1]!,
        line: loc && loc[2] !== '?' ? Number(loc[2]) : null,
      });
    }
    res.set(a.addr, frames);
  });
  return res;
}

/**
 * DWARF paths look like "debian/build/build_amd64_none_amd64/net/ipv4/udp.c".
 * Find the build prefix by asking which suffix of each path exists in the
 * source tree; take the most common stripped prefix for all paths.
 */
export function makePathMapper(src: string, paths: Iterable<string>): { prefix: string; map: (p: string) => string } {
  const votes = new Map<string, number>();
  for (const p of paths) {
    if (p === '??' || p.length === 0) continue;
    const parts = p.split('/');
    for (let k = 0; k < parts.length; k++) {
      const rel = parts.slice(k).join('/');
      if (existsSync(path.join(src, rel))) {
        const pre = parts.slice(0, k).join('/') + (k > 0 ? '/' : '');
        votes.set(pre, (votes.get(pre) ?? 0) + 1);
        break;
      }
    }
  }
  let prefix = '';
  let best = -1;
  for (const [p, n] of votes) if (n > best) [prefix, best] = [p, n];
  return {
    prefix,
    map: (p: string): string => {
      if (prefix && p.startsWith(prefix)) return p.slice(prefix.length);
      return p.replace(/^\.\//, '');
    },
  };
}

/**
 * The register that carries each skb event's `location` into the tracepoint call: TP_PROTO's parameter
 * named `location` in include/trace/events/skb.h, one register after the tracepoint's data pointer (%rdi).
 * null when the event has none (consume_skb before 6.3 is TP_PROTO(struct sk_buff *skb)).
 */
function tracepointLocationRegisters(src: string): Map<'kfree_skb' | 'consume_skb', ArgReg | null> {
  const out = new Map<'kfree_skb' | 'consume_skb', ArgReg | null>();
  const file = path.join(src, 'include/trace/events/skb.h');
  if (!existsSync(file)) return out;
  const text = stripComments(readFileSync(file, 'utf8'));
  for (const ev of ['kfree_skb', 'consume_skb'] as const) {
    const m = new RegExp(`TRACE_EVENT\\(\\s*${ev}\\s*,\\s*TP_PROTO\\(([^)]*)\\)`).exec(text);
    if (!m) continue;
    const idx = splitOperands(m[1]!).findIndex((p) => /\blocation$/.test(p.trim()));
    out.set(ev, idx < 0 ? null : ARG_REGS[idx + 1] ?? null);
  }
  return out;
}

// ---------------------------------------------------------------------------
// main

export interface FiringFn {
  name: string;
  addr: bigint;
  events: Set<'kfree_skb' | 'consume_skb'>;
  /** events it fires whose tracepoint has no location argument (consume_skb before 6.3): no location to record */
  eventsWithoutLocation: Set<'kfree_skb' | 'consume_skb'>;
  /** constant code addresses passed as the tracepoint location (net_tx_action) */
  fixedLocations: Set<bigint>;
  /** location came from something other than a constant: __builtin_return_address(0) */
  callerLocation: boolean;
  reasonReg: ArgReg | null;
  signature: string | null;
}

export interface Site {
  fn: FuncCode;
  kind: 'call' | 'tail' | 'self' | 'via-tail';
  /** via-tail: the tail-call site (in the callee) whose drop this caller's call reports. */
  tailOf?: Site;
  insnAddr: bigint;
  ret: bigint;
  callee: string | null;
  consts: Partial<Record<ArgReg, bigint[] | null>>;
}

export interface TruthLine {
  symbol: string;
  offset: number;
  size: number;
  address: string;
  callee: string | null;
  tail: boolean;
  kind: 'call' | 'tail' | 'self' | 'via-tail';
  reasonValue: number | null;
  reasonCandidates: number[];
  reason: string | null;
  event: 'kfree_skb' | 'consume_skb';
  location: string | null;
  section: string;
  chain: Frame[];
  /**
   * via-tail: the chain of the calling line itself. The tail-calling function may be a generic drop
   * function (6.12's dev_kfree_skb_any_reason, 6.1's __dev_kfree_skb_any), whose chain names no site:
   * the calling line is then the truth.
   */
  callChain?: Frame[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vmlinux: { type: 'string' },
      src: { type: 'string' },
      out: { type: 'string' },
      'system-map': { type: 'string' },
    },
  });
  const vmlinux = values.vmlinux;
  const out = values.out;
  const src = values.src ?? process.env['DROPSITE_KSRC'];
  if (!vmlinux || !out || !src) {
    console.error('usage: build-truth.ts --vmlinux VMLINUX --src KERNEL_SOURCE_ROOT --out OUT.jsonl [--system-map System.map]');
    process.exit(2);
  }
  const { records, summary } = await analyseVmlinux(vmlinux, src, values['system-map']);
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await writeFile(out.replace(/\.jsonl$/, '') + '.summary.json', JSON.stringify(summary, null, 2) + '\n');
  console.log('\n=== summary ===');
  console.log(JSON.stringify(summary, null, 2));
  console.log(`wrote ${records.length} lines to ${out}`);
}

/** What the vmlinux analysis found, for the module truth (bench/calibration/build-module-truth.ts). */
export interface VmlinuxAnalysis {
  records: TruthLine[];
  summary: Record<string, unknown>;
  firing: Map<string, FiringFn>;
  /** The firing functions that report their caller's return address, with the register of their reason. */
  callees: Map<string, FiringFn>;
  reasons: ReasonTable;
  noreturn: Set<string>;
}

/** Every drop location of a vmlinux (the steps below), with the summary of the set. */
export async function analyseVmlinux(vmlinux: string, src: string, systemMap?: string): Promise<VmlinuxAnalysis> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    console.log(`[${name}] ...`);
    const r = await fn();
    timings[name] = Math.round(performance.now() - s) / 1000;
    console.log(`[${name}] ${timings[name]} s`);
    return r;
  };

  // 1. symbols
  const syms = await step('nm', async () => new SymbolTables(parseNm(await runCapture('nm', ['-n', '-S', vmlinux]))));
  console.log(`  ${syms.funcs.length} sized functions, ${syms.ksyms.length} kallsyms entries`);
  let systemMapCheck: string | null = null;
  if (systemMap) {
    // the distro's System.map is `nm -n | sed -f scripts/mksysmap`; kallsyms also drops A/u/n
    const theirs = new Set<string>();
    for (const l of (await readFile(systemMap, 'utf8')).split('\n')) {
      const m = /^([0-9a-f]+) (\S) (.+)$/.exec(l);
      if (m && !['A', 'u', 'n'].includes(m[2]!)) theirs.add(`${BigInt('0x' + m[1]!).toString(16)} ${m[3]}`);
    }
    const mine = new Set(syms.ksyms.map((k) => `${hex(k.addr)} ${k.name}`));
    const missing = [...theirs].filter((x) => !mine.has(x)).length;
    const extra = [...mine].filter((x) => !theirs.has(x)).length;
    systemMapCheck = `${systemMap}: ${theirs.size} distinct (address, name) pairs; ${missing} missing from the computed kallsyms view, ${extra} extra`;
    console.log('  System.map check: ' + systemMapCheck);
  }
  const elf = await ElfImage.load(vmlinux);
  const hidden = await step('hidden-edges', () => hiddenEdges(elf, syms));
  const noreturnFile = path.join(src, 'tools/objtool/noreturns.h');
  const noreturn = new Set<string>(
    existsSync(noreturnFile) ? [...readFileSync(noreturnFile, 'utf8').matchAll(/NORETURN\((\w+)\)/g)].map((m) => m[1]!) : [],
  );

  // 2. reasons
  const reasons = await step('reasons', () => loadReasons(src, syms, elf));
  for (const e of reasons.evidence) console.log('  ' + e);

  // 3. pass 1: which functions fire the tracepoints, and in which register each event takes its location
  const locationRegs = tracepointLocationRegisters(src);
  for (const [ev, reg] of locationRegs) console.log(`  trace event ${ev}: location ${reg === null ? 'none (the event prints no location)' : `in %${reg}`}`);
  const tpRef = /<(__SCT__tp_func_|__SCK__tp_func_|__traceiter_|__tracepoint_)(kfree_skb|consume_skb)(\+0x[0-9a-f]+)?>/;
  const plumbing = /^(__pfx_|__SCT__|__SCK__|__traceiter_|__probestub_|__bpf_trace_|trace_event_raw_event_|perf_trace_|trace_raw_output_)/;
  const firing = new Map<string, FiringFn>();
  const excluded = new Set<string>();
  await step('objdump-pass1', () =>
    scanFunctions(vmlinux, syms, (l) => tpRef.test(l), (f) => {
      if (plumbing.test(f.name)) {
        excluded.add(f.name);
        return;
      }
      const ff: FiringFn = { name: f.name, addr: f.start, events: new Set(), eventsWithoutLocation: new Set(), fixedLocations: new Set(), callerLocation: false, reasonReg: null, signature: null };
      f.insns.forEach((x, i) => {
        if (x.targetSym === null) {
          // data reference (e.g. __tracepoint_kfree_skb+0x48 in a mov comment is stripped; catch symbolic operands)
          return;
        }
        const m = /^(__SCT__tp_func_|__traceiter_)(kfree_skb|consume_skb)$/.exec(x.targetSym);
        if (!m || !(isCall(x) || isJmp(x))) return;
        const ev = m[2] as 'kfree_skb' | 'consume_skb';
        // location: the TP_PROTO argument named `location`, after the tracepoint's data pointer (data, skb, location, ...)
        const locReg = locationRegs.has(ev) ? locationRegs.get(ev) ?? null : 'rdx';
        if (locReg === null) {
          ff.eventsWithoutLocation.add(ev);
          return;
        }
        ff.events.add(ev);
        const loc = f.reachingConsts(i, locReg, hidden, noreturn);
        if (loc && loc.length === 1 && syms.funcAt(loc[0]!)?.addr === loc[0]) ff.fixedLocations.add(loc[0]!);
        else ff.callerLocation = true;
      });
      if (ff.events.size > 0) firing.set(f.name, ff);
      else if (ff.eventsWithoutLocation.size > 0) excluded.add(`${f.name} (fires ${[...ff.eventsWithoutLocation].join('+')}, which prints no location)`);
      else excluded.add(f.name + ' (references only, no tracepoint call)');
    }),
  );
  console.log('  tracepoint-firing functions found in the disassembly:');
  for (const f of firing.values()) {
    const how = [f.callerLocation ? 'location=__builtin_return_address(0)' : '', ...[...f.fixedLocations].map((a) => `location=fixed 0x${hex(a)} <${syms.funcAt(a)?.name}>`)].filter(Boolean).join(', ');
    console.log(`    ${f.name.padEnd(28)} fires ${[...f.events].join('+').padEnd(20)} ${how}`);
  }
  console.log(`  excluded (tracepoint plumbing): ${[...excluded].join(', ')}`);
  const callees = new Map([...firing].filter(([, f]) => f.callerLocation));

  // 4. pass 2: call / tail-call sites of the callees
  const calleeRe = new RegExp(`\\t(?:call|jmp) +[0-9a-f]+ <(?:${[...callees.keys()].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})>$`);
  const sites: Site[] = [];
  const nLines = await step('objdump-pass2', () =>
    scanFunctions(vmlinux, syms, (l) => calleeRe.test(l), (f) => {
      f.insns.forEach((x, i) => {
        if (!(isCall(x) || isJmp(x)) || x.targetSym === null || x.targetOff !== 0n || !callees.has(x.targetSym)) return;
        const next = f.insns[i + 1];
        const ret = next ? next.addr : f.end ?? x.addr + 5n;
        const consts: Partial<Record<ArgReg, bigint[] | null>> = {};
        for (const r of ['rsi', 'rdx', 'rcx'] as const) consts[r] = f.reachingConsts(i, r, hidden, noreturn);
        sites.push({ fn: f, kind: isJmp(x) ? 'tail' : 'call', insnAddr: x.addr, ret, callee: x.targetSym, consts });
      });
    }),
  );
  console.log(`  ${nLines} objdump lines, ${sites.length} call/jmp sites`);
  // 4b. pass 3: the calls of functions that end with a tail call of a drop function. The jump leaves
  // the caller's return address on the stack, so these calls are where such drops are reported.
  const tailSites = new Map<string, Site[]>();
  for (const s of sites) if (s.kind === 'tail') tailSites.set(s.fn.name, [...(tailSites.get(s.fn.name) ?? []), s]);
  const TAIL_CALLERS_PER_FUNCTION = 5;
  const viaTail: Site[] = [];
  if (tailSites.size > 0) {
    const tailRe = new RegExp(`\\tcall +[0-9a-f]+ <(?:${[...tailSites.keys()].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})>$`);
    const perCallee = new Map<string, number>();
    await step('objdump-pass3', () =>
      scanFunctions(vmlinux, syms, (l) => tailRe.test(l), (f) => {
        f.insns.forEach((x, i) => {
          if (!isCall(x) || x.targetSym === null || x.targetOff !== 0n) return;
          const ts = tailSites.get(x.targetSym);
          if (ts === undefined || (perCallee.get(x.targetSym) ?? 0) >= TAIL_CALLERS_PER_FUNCTION) return;
          perCallee.set(x.targetSym, (perCallee.get(x.targetSym) ?? 0) + 1);
          const next = f.insns[i + 1];
          // One record per tail-call site of the callee: the reason tells them apart, the location cannot.
          for (const t of ts) viaTail.push({ fn: f, kind: 'via-tail', insnAddr: x.addr, ret: next ? next.addr : f.end ?? x.addr + 5n, callee: t.callee, consts: t.consts, tailOf: t });
        });
      }),
    );
    console.log(`  ${viaTail.length} calls of ${tailSites.size} functions that end with a tail call (at most ${TAIL_CALLERS_PER_FUNCTION} each)`);
  }
  // fixed locations reported by the firing functions themselves (net_tx_action)
  const selfSites: Site[] = [];
  for (const f of firing.values()) {
    for (const a of f.fixedLocations) {
      const fs = syms.funcAt(a)!;
      selfSites.push({ fn: new FuncCode(fs.name, fs.addr, fs.end, '.text', fs.name), kind: 'self', insnAddr: a, ret: a, callee: null, consts: {} });
    }
  }

  // 5. addr2line, once for everything
  const entryAddrs = [...callees.values()].map((f) => f.addr);
  // via-tail records take the chain of their tail-call site (among the sites) and that of their own call.
  const queries = [...new Set([...sites.map((s) => s.ret - 1n), ...viaTail.map((s) => s.ret - 1n), ...selfSites.map((s) => s.ret), ...entryAddrs])];
  const a2l = await step('addr2line', () => addr2line(vmlinux, queries));
  const allPaths = new Set<string>();
  for (const fr of a2l.values()) for (const f of fr) allPaths.add(f.path);
  const mapper = makePathMapper(src, allPaths);
  console.log(`  ${queries.length} addresses; DWARF build prefix stripped: "${mapper.prefix}"`);
  const chainOf = (a: bigint): Frame[] => (a2l.get(a) ?? []).map((f) => ({ function: f.function, file: mapper.map(f.path), line: f.line }));

  // 6. signatures: which argument is the enum skb_drop_reason
  for (const f of callees.values()) {
    const def = chainOf(f.addr).at(-1);
    if (!def || def.line === null) continue;
    const file = path.join(src, def.file);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8').split('\n').slice(Math.max(0, def.line - 6), def.line + 10).join('\n');
    const m = new RegExp(`\\b${f.name}\\s*\\(([^)]*)\\)`).exec(stripComments(text));
    if (!m) continue;
    const params = splitOperands(m[1]!).map((p) => p.replace(/\s+/g, ' ').trim());
    f.signature = `${f.name}(${params.join(', ')})  [${def.file}:${def.line}]`;
    const idx = params.findIndex((p) => /\benum skb_drop_reason\b/.test(p));
    f.reasonReg = idx >= 0 ? ARG_REGS[idx] ?? null : null;
  }
  console.log('  callee signatures (reason register from the parameter of type enum skb_drop_reason):');
  for (const f of callees.values()) console.log(`    ${f.signature ?? f.name + ': definition not found'} -> reason in ${f.reasonReg ? '%' + REG_NAMES[f.reasonReg][1] : '(none)'}`);

  // 7. assemble
  const records: TruthLine[] = [];
  for (const s of [...sites, ...selfSites, ...viaTail]) {
    const ff = s.callee ? callees.get(s.callee) : undefined;
    const reg = ff?.reasonReg ?? null;
    const cands = reg ? s.consts[reg] ?? null : null;
    const candNums = cands ? cands.map((v) => Number(v & 0xffffffffn)) : [];
    const reasonValue = candNums.length === 1 ? candNums[0]! : null;
    let event: 'kfree_skb' | 'consume_skb';
    const evs = s.kind === 'self' ? new Set(['kfree_skb']) : ff!.events;
    if (evs.size === 1 && evs.has('consume_skb')) event = 'consume_skb';
    else if (evs.has('consume_skb') && candNums.length > 0 && candNums.every((v) => v === reasons.consumedValue)) event = 'consume_skb';
    else event = 'kfree_skb';
    const k = syms.kallsymsAt(s.ret);
    const off = s.ret - s.fn.start;
    records.push({
      symbol: s.fn.name,
      offset: Number(off),
      size: s.fn.end !== null ? Number(s.fn.end - s.fn.start) : 0,
      address: hex(s.ret),
      callee: s.callee,
      tail: s.kind === 'tail' || s.kind === 'via-tail',
      kind: s.kind,
      reasonValue,
      reasonCandidates: candNums,
      reason: reasonValue !== null ? reasonName(reasonValue, reasons) : null,
      event,
      location: k ? `${k.name}+0x${hex(k.offset)}/0x${hex(k.size)}` : null,
      section: s.fn.section,
      chain: s.tailOf !== undefined ? chainOf(s.tailOf.ret - 1n) : chainOf(s.kind === 'self' ? s.ret : s.ret - 1n),
      ...(s.kind === 'via-tail' ? { callChain: chainOf(s.ret - 1n) } : {}),
    });
  }
  records.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  await elf.close();

  // 8. summary
  const summary = summarize(records, src, syms, firing, callees, reasons, mapper.prefix);
  timings['total'] = Math.round(performance.now() - t0) / 1000;
  (summary as Record<string, unknown>)['timingsSeconds'] = timings;
  (summary as Record<string, unknown>)['vmlinux'] = vmlinux;
  (summary as Record<string, unknown>)['objdumpLines'] = nLines;
  (summary as Record<string, unknown>)['systemMapCheck'] = systemMapCheck;
  (summary as Record<string, unknown>)['objdumpLabelDiffersFromElfSymbol'] = sites.filter((s) => s.fn.labelName !== s.fn.name).length;
  return { records, summary: summary as Record<string, unknown>, firing, callees, reasons, noreturn };
}

export function countBy<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of xs) {
    const k = key(x);
    m[k] = (m[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(m).sort((a, b) => b[1] - a[1]));
}

function summarize(
  records: TruthLine[],
  src: string,
  syms: SymbolTables,
  firing: Map<string, FiringFn>,
  callees: Map<string, FiringFn>,
  reasons: ReasonTable,
  buildPrefix: string,
): object {
  const fileLines = new Map<string, string[] | null>();
  const srcLines = (f: string): string[] | null => {
    if (!fileLines.has(f)) {
      const p = path.join(src, f);
      fileLines.set(f, existsSync(p) ? readFileSync(p, 'utf8').split('\n') : null);
    }
    return fileLines.get(f) ?? null;
  };
  let framesTotal = 0;
  let framesInSrc = 0;
  let framesLineOk = 0;
  let innerInclude = 0;
  const headerFiles: Record<string, number> = {};
  let innerOwnFile = 0;
  let innerOther = 0;
  let innerUnknown = 0;
  let innerMentionsCallee = 0;
  let firstNonHeaderIsOwn = 0;
  const callRecords = records.filter((r) => r.kind !== 'self');
  for (const r of records) {
    for (const f of r.chain) {
      framesTotal++;
      const l = srcLines(f.file);
      if (l) {
        framesInSrc++;
        if (f.line !== null && f.line >= 1 && f.line <= l.length) framesLineOk++;
      }
    }
    if (r.kind === 'self') continue;
    const inner = r.chain[0];
    const outer = r.chain[r.chain.length - 1];
    if (!inner || inner.line === null) innerUnknown++;
    else if (inner.file.startsWith('include/') || /^arch\/[^/]+\/include\//.test(inner.file)) {
      innerInclude++;
      const key = `${inner.function} (${inner.file})`;
      headerFiles[key] = (headerFiles[key] ?? 0) + 1;
    }
    else if (outer && inner.file === outer.file) innerOwnFile++;
    else innerOther++;
    if (inner && inner.line !== null && r.callee) {
      const text = srcLines(inner.file)?.[inner.line - 1] ?? '';
      // the callee itself, or a header wrapper that ends in it (kfree_skb -> sk_skb_reason_drop ...)
      if (text.includes(r.callee) || /\b(kfree_skb|consume_skb|kfree_skb_list)\w*\s*\(/.test(text)) innerMentionsCallee++;
    }
    const firstOwn = r.chain.find((f) => !f.file.startsWith('include/'));
    if (firstOwn && outer && firstOwn.file === outer.file) firstNonHeaderIsOwn++;
  }
  // duplicates
  const bySymLine = countBy(callRecords, (r) => `${r.symbol} @ ${r.chain[0]?.file}:${r.chain[0]?.line}`);
  const dupSymLine = Object.entries(bySymLine).filter(([, n]) => n > 1);
  const byFullChain = countBy(callRecords, (r) => `${r.symbol} @ ${r.chain.map((f) => `${f.function}:${f.file}:${f.line}`).join(' < ')}`);
  const dupChain = Object.entries(byFullChain).filter(([, n]) => n > 1);
  const repeatedFrames = records.filter((r) => r.chain.some((f, i) => i > 0 && r.chain[i - 1]!.function === f.function)).length;
  const kallsymsNameDiffers = records.filter((r) => r.location !== null && !r.location.startsWith(r.symbol + '+')).length;
  const kallsymsSizeDiffers = records.filter((r) => r.location !== null && r.location.startsWith(r.symbol + '+') && !r.location.endsWith('/0x' + r.size.toString(16))).length;
  const suffixed = countBy(
    callRecords.filter((r) => /\.(isra|constprop|part|cold|lto_priv)\.?\d*/.test(r.symbol)),
    (r) => (/\.(isra|constprop|part|cold|lto_priv)/.exec(r.symbol)?.[1] ?? '?'),
  );
  const offsetPastEnd = records.filter((r) => r.offset >= r.size).length;
  return {
    locations: records.length,
    byKind: countBy(records, (r) => r.kind),
    tailCalls: records.filter((r) => r.tail).length,
    distinctSymbols: new Set(records.map((r) => r.symbol)).size,
    firingFunctions: [...firing.values()].map((f) => ({
      name: f.name,
      events: [...f.events],
      location: f.callerLocation ? 'caller (return address)' : 'fixed',
      fixed: [...f.fixedLocations].map((a) => hex(a)),
    })),
    calleeSignatures: [...callees.values()].map((f) => ({ name: f.name, signature: f.signature, reasonRegister: f.reasonReg })),
    callees: countBy(records, (r) => r.callee ?? '(self)'),
    events: countBy(records, (r) => r.event),
    reason: {
      calleesWithReasonArg: callRecords.filter((r) => r.callee && callees.get(r.callee)?.reasonReg).length,
      constant: records.filter((r) => r.reasonValue !== null).length,
      severalConstants: records.filter((r) => r.reasonCandidates.length > 1).length,
      notConstant: callRecords.filter((r) => r.callee && callees.get(r.callee)?.reasonReg && r.reasonCandidates.length === 0).length,
      unnamed: records.filter((r) => r.reasonValue !== null && r.reason === null).length,
      top: Object.fromEntries(Object.entries(countBy(records.filter((r) => r.reason !== null), (r) => r.reason!)).slice(0, 20)),
      enumFile: reasons.file,
      evidence: reasons.evidence,
    },
    innermostFrame: {
      header: innerInclude,
      headerHelpers: Object.fromEntries(Object.entries(headerFiles).sort((a, b) => b[1] - a[1])),
      symbolsOwnFile: innerOwnFile,
      otherFile: innerOther,
      unknown: innerUnknown,
      firstNonHeaderFrameInOwnFile: firstNonHeaderIsOwn,
      lineMentionsCallee: innerMentionsCallee,
    },
    chainDepth: countBy(records, (r) => String(r.chain.length)),
    framesRepeatingPreviousFunction: repeatedFrames,
    sourceCheck: { buildPrefix, frames: framesTotal, fileInSourceTree: framesInSrc, lineWithinFile: framesLineOk },
    duplicates: {
      sitesSharingSymbolAndInnermostLine: dupSymLine.reduce((s, [, n]) => s + n, 0),
      groupsSharingSymbolAndInnermostLine: dupSymLine.length,
      sitesSharingWholeChain: dupChain.reduce((s, [, n]) => s + n, 0),
      examples: dupChain.slice(0, 5).map(([k, n]) => `${n}x ${k}`),
    },
    kallsyms: { nameDiffersFromElfSymbol: kallsymsNameDiffers, sizeDiffersFromStSize: kallsymsSizeDiffers },
    suffixedSymbols: suffixed,
    symbolNamesNotUnique: Object.fromEntries(
      [...new Set(records.map((r) => r.symbol))]
        .filter((n) => (syms.textNameCount.get(n) ?? 0) > 1)
        .map((n) => [n, `${syms.textNameCount.get(n)} ELF text symbols of this name; ${records.filter((r) => r.symbol === n).length} sites`]),
    ),
    sitesInsideFiringFunctions: callRecords.filter((r) => firing.has(r.symbol)).map((r) => `${r.symbol}+${r.offset} -> ${r.callee}`),
    offsetAtOrPastSymbolEnd: offsetPastEnd,
    sections: countBy(records, (r) => r.section),
    elfFunctions: syms.funcs.length,
  };
}

if (process.argv[1]?.endsWith('build-truth.ts')) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  });
}
