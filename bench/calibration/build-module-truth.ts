/**
 * build-module-truth.ts — the calibration truth of build-truth.ts for kernel modules.
 *
 *   node --import tsx bench/calibration/build-module-truth.ts \
 *        --vmlinux /path/vmlinux-6.12.117+deb12-amd64 \
 *        --src /path/linux-source-6.12 \
 *        --modules /path/usr/lib/debug/lib/modules/6.12.117+deb12-amd64 \
 *        --out /path/truth-6.12.117-modules.jsonl
 *
 * The vmlinux is analysed first (build-truth.ts's analyseVmlinux): it gives the functions that fire
 * the tracepoints, the register of their reason argument, and the vmlinux functions that end with a
 * tail call of one. Then every module (the unstripped .ko files of the -dbg package) that references
 * one of them is disassembled with its relocations (`objdump -dr`): in a .ko a call of a kernel
 * function is `call <next insn>` plus an R_X86_64_PLT32 relocation naming the callee, so the callee
 * is read from the relocation. The rules are those of the vmlinux truth:
 *   - `call`: a call of a firing function; the location is the return address;
 *   - `tail`: a jump to one (not where the kernel reports the drop);
 *   - `via-tail`: a call of a function (of the module, or of vmlinux) that ends with such a jump: the
 *     kernel reports the drop at this call's return address. At most 5 such calls per function and
 *     module; the chain is the tail-call's, and `callChain` is the calling line's own chain.
 * The location is written as a trace shows it (`sym+0xoff/0xsize [module]`): the kernel's
 * find_kallsyms_symbol over the module's symbols, with the executable sections laid out one after
 * the other the way the module loader does (layout_sections: section header order, each aligned).
 * Chains come from `addr2line -j SECTION` on the .ko (section-relative addresses).
 */
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  addr2line, analyseVmlinux, countBy, FuncCode, hex, isCall, isJmp, makePathMapper, parseInsn, reasonName, runCapture, streamCommand,
  type ArgReg, type Frame, type Insn, type TruthLine, type VmlinuxAnalysis,
} from './build-truth.ts';

interface Section { index: number; name: string; size: bigint; flags: string; align: bigint }
interface Sym { name: string; value: bigint; size: bigint; type: string; ndx: number | null }

/** `readelf -SW -sW`: the section headers and the symbol table of a .ko. */
export function parseReadelf(text: string): { sections: Section[]; symbols: Sym[] } {
  const sections: Section[] = [];
  const symbols: Sym[] = [];
  for (const line of text.split('\n')) {
    // [ 1] .text PROGBITS 0000000000000000 000040 003c59 00  AX  0   0 16
    const s = /^\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+\s+\d+\s+(\d+)$/.exec(line);
    if (s) {
      sections.push({ index: Number(s[1]), name: s[2]!, size: BigInt('0x' + s[3]!), flags: s[4]!, align: BigInt(s[5]!) });
      continue;
    }
    //    95: 00000000000021c0   834 FUNC    LOCAL  DEFAULT    1 veth_xmit
    const y = /^\s*\d+: ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(\S+)\s+\S+\s+\S+\s+(\S+)(?: (.*))?$/.exec(line);
    if (y) {
      const ndx = /^\d+$/.test(y[4]!) ? Number(y[4]) : null;
      symbols.push({ value: BigInt('0x' + y[1]!), size: BigInt(y[2]!), type: y[3]!, ndx, name: y[5]?.trim() ?? '' });
    }
  }
  return { sections, symbols };
}

/** "sk_skb_reason_drop-0x4", ".text.unlikely+0x1c" → name and addend. */
function symbolAndAddend(s: string): { sym: string; addend: bigint } {
  const m = /^(.*?)([+-])0x([0-9a-f]+)$/.exec(s);
  if (!m) return { sym: s, addend: 0n };
  const v = BigInt('0x' + m[3]!);
  return { sym: m[1]!, addend: m[2] === '-' ? -v : v };
}

/** A loaded module's view: section offsets inside the core text, and what %pS prints for an address there. */
class ModuleLayout {
  readonly textBase = new Map<string, bigint>();
  private readonly ksyms: Array<{ addr: bigint; name: string }>;
  private readonly textEnd: bigint;

  constructor(sections: Section[], symbols: Sym[]) {
    // kernel/module/main.c layout_sections: the first mask (SHF_EXECINSTR | SHF_ALLOC) fills MOD_TEXT in
    // section header order, each section aligned to sh_addralign; `.init*` sections go to the init text.
    let size = 0n;
    for (const s of [...sections].sort((a, b) => a.index - b.index)) {
      if (!s.flags.includes('A') || !s.flags.includes('X') || s.name.startsWith('.init')) continue;
      const align = s.align > 0n ? s.align : 1n;
      const base = ((size + align - 1n) / align) * align;
      this.textBase.set(s.name, base);
      size = base + s.size;
    }
    this.textEnd = size;
    const byIndex = new Map(sections.map((s) => [s.index, s.name]));
    // find_kallsyms_symbol: every defined, named symbol (section symbols have no name of their own).
    this.ksyms = [];
    symbols.forEach((y) => {
      if (y.ndx === null || y.name === '' || y.type === 'SECTION' || y.type === 'FILE') return;
      const base = this.textBase.get(byIndex.get(y.ndx) ?? '');
      if (base === undefined) return;
      this.ksyms.push({ addr: base + y.value, name: y.name });
    });
  }

  /** Name, offset and size the kernel prints for offset `off` of section `section`. */
  at(section: string, off: bigint): { name: string; offset: bigint; size: bigint } | null {
    const base = this.textBase.get(section);
    if (base === undefined) return null;
    const a = base + off;
    let best: { addr: bigint; name: string } | null = null;
    let next = this.textEnd;
    // In symbol table order: the first of several symbols at one address wins (thisval > bestval).
    for (const k of this.ksyms) {
      if (k.addr <= a && (best === null || k.addr > best.addr)) best = k;
      if (k.addr > a && k.addr < next) next = k.addr;
    }
    return best === null ? null : { name: best.name, offset: a - best.addr, size: next - best.addr };
  }
}

interface ModuleFn { fn: FuncCode; module: string; file: string; undefinedSymbols: Set<string> }
interface ModSite { fn: FuncCode; module: string; file: string; kind: 'call' | 'tail' | 'via-tail'; ret: bigint; callee: string; consts: Partial<Record<ArgReg, bigint[] | null>>; tailOf?: ModSite; vmlinuxTail?: TruthLine }

/** One module disassembled: its functions with relocated call targets, and the static-key / fixup edges per section. */
async function disassemble(file: string, module: string, sections: Section[], symbols: Sym[], undefinedSymbols: Set<string>): Promise<{ fns: ModuleFn[]; hidden: Map<string, Map<bigint, bigint[]>> }> {
  const byIndex = new Map(sections.map((s) => [s.index, s.name]));
  const starts = new Map<string, Map<bigint, string>>();
  for (const y of symbols) {
    if (y.type !== 'FUNC' || y.ndx === null) continue;
    const sec = byIndex.get(y.ndx) ?? '';
    const m = starts.get(sec) ?? new Map<bigint, string>();
    if (!m.has(y.value)) m.set(y.value, y.name);
    starts.set(sec, m);
  }
  const defined = new Map<string, Sym>();
  for (const y of symbols) if (y.ndx !== null && y.type !== 'SECTION' && !defined.has(y.name)) defined.set(y.name, y);
  const sectionNames = new Set(sections.map((s) => s.name));
  const sectionOf = (sym: string): string | null => {
    if (sectionNames.has(sym)) return sym;
    const y = defined.get(sym);
    return y === undefined ? null : byIndex.get(y.ndx!) ?? null;
  };
  const valueOf = (sym: string): bigint => (sectionNames.has(sym) ? 0n : defined.get(sym)?.value ?? 0n);
  const insns = new Map<string, Insn[]>();
  let section = '';
  await streamCommand('objdump', ['-dr', '--no-show-raw-insn', file], (line) => {
    const sec = /^Disassembly of section (.+):$/.exec(line);
    if (sec) {
      section = sec[1]!;
      return;
    }
    const r = /^\t+([0-9a-f]+): (R_X86_64_\w+)\t(.*)$/.exec(line);
    if (r) {
      const list = insns.get(section);
      const x = list?.[list.length - 1];
      if (x === undefined || !(isCall(x) || isJmp(x) || /^j/.test(x.mnem))) return;
      if (r[2] !== 'R_X86_64_PLT32' && r[2] !== 'R_X86_64_PC32') return;
      const { sym, addend } = symbolAndAddend(r[3]!.trim());
      // The target of a rel32 branch is S + A + 4 (the field ends the instruction).
      const off = addend + 4n;
      const inSection = sectionNames.has(sym);
      const named = inSection ? starts.get(sym)?.get(off) ?? null : sym;
      x.targetSym = named ?? `${sym}+0x${hex(off)}`;
      x.targetOff = inSection ? 0n : off;
      x.target = null; // another section or another object: no edge inside this function
      return;
    }
    const x = parseInsn(line);
    if (x) {
      const list = insns.get(section) ?? [];
      list.push(x);
      insns.set(section, list);
    }
  });
  const fns: ModuleFn[] = [];
  const seen = new Set<string>();
  for (const y of symbols) {
    if (y.type !== 'FUNC' || y.ndx === null || y.size === 0n || y.name.startsWith('__pfx_')) continue;
    const sec = byIndex.get(y.ndx) ?? '';
    // Aliases (cleanup_module = the exit function): the first in the symbol table, the name kallsyms prints.
    if (seen.has(`${sec}\0${y.value}`)) continue;
    seen.add(`${sec}\0${y.value}`);
    const list = insns.get(sec);
    if (list === undefined) continue;
    const f = new FuncCode(y.name, y.value, y.value + y.size, sec, y.name);
    // objdump prints a section's instructions in address order: the function is one slice of them.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.addr < y.value) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < list.length && list[i]!.addr < y.value + y.size; i++) f.insns.push(list[i]!);
    fns.push({ fn: f, module, file, undefinedSymbols });
  }
  // __jump_table (struct jump_entry: code, target, key) and __ex_table (insn, fixup, data): s32 fields
  // filled by R_X86_64_PC32 relocations, so each field's place is its relocation's symbol + addend.
  const hidden = new Map<string, Map<bigint, bigint[]>>();
  const tables = sections.filter((s) => s.name === '__jump_table' || s.name === '__ex_table').map((s) => s.name);
  if (tables.length > 0) {
    const text = await runCapture('objdump', ['-r', ...tables.flatMap((t) => ['-j', t]), file]);
    let table = '';
    const fields = new Map<string, Map<bigint, { sec: string; at: bigint }>>();
    for (const line of text.split('\n')) {
      const h = /^RELOCATION RECORDS FOR \[(.+)\]:$/.exec(line);
      if (h) {
        table = h[1]!;
        fields.set(table, new Map());
        continue;
      }
      const m = /^([0-9a-f]+) (R_X86_64_PC32)\s+(\S+)$/.exec(line);
      if (!m) continue;
      const { sym, addend } = symbolAndAddend(m[3]!);
      const sec = sectionOf(sym);
      if (sec === null) continue;
      fields.get(table)!.set(BigInt('0x' + m[1]!), { sec, at: valueOf(sym) + addend });
    }
    for (const [t, f] of fields) {
      const ent = t === '__jump_table' ? 16n : 12n;
      for (const [off, from] of f) {
        if (off % ent !== 0n) continue;
        const to = f.get(off + 4n);
        if (to === undefined || to.sec !== from.sec) continue;
        const m = hidden.get(from.sec) ?? new Map<bigint, bigint[]>();
        m.set(to.at, [...(m.get(to.at) ?? []), from.at]);
        hidden.set(from.sec, m);
      }
    }
  }
  return { fns, hidden };
}

function moduleFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.ko')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

export interface ModuleTruthLine extends TruthLine {
  module: string;
}

export async function analyseModules(dir: string, src: string, k: VmlinuxAnalysis): Promise<{ records: ModuleTruthLine[]; summary: Record<string, unknown> }> {
  const t0 = performance.now();
  const callees = k.callees;
  // vmlinux functions that end with a tail call of a firing function, by name (modules call exported ones).
  const vmlinuxTails = new Map<string, TruthLine[]>();
  for (const r of k.records) if (r.kind === 'tail') vmlinuxTails.set(r.symbol, [...(vmlinuxTails.get(r.symbol) ?? []), r]);
  const files = moduleFiles(dir);
  const sites: ModSite[] = [];
  const allFns: ModuleFn[] = [];
  const hiddenOf = new Map<string, Map<string, Map<bigint, bigint[]>>>();
  const layouts = new Map<string, ModuleLayout>();
  let scanned = 0;
  let directTracepoint = 0;
  let conditionalTail = 0;
  let initSites = 0;
  for (const file of files) {
    const module = path.basename(file).replace(/\.ko$/, '').replace(/-/g, '_');
    const { sections, symbols } = parseReadelf(await runCapture('readelf', ['-SW', '-sW', file]));
    const und = new Set(symbols.filter((y) => y.ndx === null && y.type === 'NOTYPE').map((y) => y.name));
    if (![...und].some((n) => callees.has(n) || vmlinuxTails.has(n) || /^__SCT__tp_func_(kfree|consume)_skb$/.test(n))) continue;
    scanned++;
    if ([...und].some((n) => /^__SCT__tp_func_(kfree|consume)_skb$/.test(n))) directTracepoint++;
    layouts.set(file, new ModuleLayout(sections, symbols));
    const { fns, hidden } = await disassemble(file, module, sections, symbols, und);
    hiddenOf.set(file, hidden);
    for (const mf of fns) {
      allFns.push(mf);
      const f = mf.fn;
      f.insns.forEach((x, i) => {
        if (x.targetSym === null || x.targetOff !== 0n || !callees.has(x.targetSym)) return;
        if (!(isCall(x) || isJmp(x))) {
          if (/^j/.test(x.mnem)) conditionalTail++;
          return;
        }
        if (f.section.startsWith('.init')) {
          initSites++;
          return;
        }
        const ret = f.insns[i + 1]?.addr ?? f.end!;
        const consts: Partial<Record<ArgReg, bigint[] | null>> = {};
        for (const r of ['rsi', 'rdx', 'rcx'] as const) consts[r] = f.reachingConsts(i, r, hidden.get(f.section) ?? new Map(), k.noreturn);
        sites.push({ fn: f, module, file, kind: isJmp(x) ? 'tail' : 'call', ret, callee: x.targetSym, consts });
      });
    }
  }
  // via-tail: calls of a function that ends with a tail call of a firing function (of the same module, or of vmlinux).
  const PER_FUNCTION_AND_MODULE = 5;
  const localTails = new Map<string, ModSite[]>();
  for (const s of sites) if (s.kind === 'tail') localTails.set(`${s.file}\0${s.fn.name}`, [...(localTails.get(`${s.file}\0${s.fn.name}`) ?? []), s]);
  const perCallee = new Map<string, number>();
  const viaTail: ModSite[] = [];
  for (const mf of allFns) {
    const f = mf.fn;
    if (f.section.startsWith('.init')) continue;
    f.insns.forEach((x, i) => {
      if (!isCall(x) || x.targetSym === null || x.targetOff !== 0n) return;
      const local = localTails.get(`${mf.file}\0${x.targetSym}`);
      const external = local === undefined && mf.undefinedSymbols.has(x.targetSym) ? vmlinuxTails.get(x.targetSym) : undefined;
      if (local === undefined && external === undefined) return;
      const key = `${mf.file}\0${x.targetSym}`;
      if ((perCallee.get(key) ?? 0) >= PER_FUNCTION_AND_MODULE) return;
      perCallee.set(key, (perCallee.get(key) ?? 0) + 1);
      const ret = f.insns[i + 1]?.addr ?? f.end!;
      for (const t of local ?? []) viaTail.push({ fn: f, module: mf.module, file: mf.file, kind: 'via-tail', ret, callee: t.callee, consts: t.consts, tailOf: t });
      for (const t of external ?? []) viaTail.push({ fn: f, module: mf.module, file: mf.file, kind: 'via-tail', ret, callee: t.callee ?? '', consts: {}, vmlinuxTail: t });
    });
  }
  console.log(`  ${files.length} modules, ${scanned} reference a drop function; ${sites.length} call/jmp sites, ${viaTail.length} via-tail calls`);

  // chains: one addr2line per module and section, at return address - 1
  const queries = new Map<string, Set<bigint>>();
  const q = (file: string, sec: string, a: bigint): void => {
    const key = `${file}\0${sec}`;
    queries.set(key, (queries.get(key) ?? new Set()).add(a));
  };
  for (const s of [...sites, ...viaTail]) q(s.file, s.fn.section, s.ret - 1n);
  const answers = new Map<string, Map<bigint, { function: string; path: string; line: number | null }[]>>();
  for (const [key, set] of queries) {
    const [file, sec] = key.split('\0') as [string, string];
    answers.set(key, await addr2line(file, [...set], sec));
  }
  const allPaths = new Set<string>();
  for (const m of answers.values()) for (const fr of m.values()) for (const f of fr) allPaths.add(f.path);
  const mapper = makePathMapper(src, allPaths);
  const chainOf = (s: ModSite): Frame[] => (answers.get(`${s.file}\0${s.fn.section}`)?.get(s.ret - 1n) ?? []).map((f) => ({ function: f.function, file: mapper.map(f.path), line: f.line }));

  const records: ModuleTruthLine[] = [];
  for (const s of [...sites, ...viaTail]) {
    let base: Pick<TruthLine, 'callee' | 'reasonValue' | 'reasonCandidates' | 'reason' | 'event' | 'chain'>;
    if (s.vmlinuxTail !== undefined) {
      const t = s.vmlinuxTail;
      base = { callee: t.callee, reasonValue: t.reasonValue, reasonCandidates: t.reasonCandidates, reason: t.reason, event: t.event, chain: t.chain };
    } else {
      const ff = callees.get(s.callee)!;
      const cands = ff.reasonReg ? s.consts[ff.reasonReg] ?? null : null;
      const candNums = cands ? cands.map((v) => Number(v & 0xffffffffn)) : [];
      const reasonValue = candNums.length === 1 ? candNums[0]! : null;
      const event = (ff.events.size === 1 && ff.events.has('consume_skb')) || (ff.events.has('consume_skb') && candNums.length > 0 && candNums.every((v) => v === k.reasons.consumedValue)) ? 'consume_skb' : 'kfree_skb';
      base = { callee: s.callee, reasonValue, reasonCandidates: candNums, reason: reasonValue !== null ? reasonName(reasonValue, k.reasons) : null, event, chain: chainOf(s.tailOf ?? s) };
    }
    const at = layouts.get(s.file)!.at(s.fn.section, s.ret);
    records.push({
      symbol: s.fn.name,
      offset: Number(s.ret - s.fn.start),
      size: Number(s.fn.end! - s.fn.start),
      address: `${s.fn.section}+0x${hex(s.ret)}`,
      tail: s.kind !== 'call',
      kind: s.kind,
      ...base,
      location: at === null ? null : `${at.name}+0x${hex(at.offset)}/0x${hex(at.size)} [${s.module}]`,
      section: s.fn.section,
      module: s.module,
      ...(s.kind === 'via-tail' ? { callChain: chainOf(s) } : {}),
    });
  }
  records.sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : a.section < b.section ? -1 : a.section > b.section ? 1 : Number(BigInt(a.address.replace(/^.*\+/, '')) - BigInt(b.address.replace(/^.*\+/, '')))));
  const summary = {
    modulesDir: dir,
    modules: files.length,
    modulesReferencingADropFunction: scanned,
    modulesWithSites: new Set(records.map((r) => r.module)).size,
    modulesCallingTheTracepointDirectly: directTracepoint,
    locations: records.length,
    byKind: countBy(records, (r) => r.kind),
    callees: countBy(records, (r) => r.callee ?? '?'),
    events: countBy(records, (r) => r.event),
    reasons: countBy(records.filter((r) => r.kind === 'call'), (r) => r.reason ?? (r.reasonCandidates.length > 1 ? '(several)' : '(not constant or none)')),
    sections: countBy(records, (r) => r.section),
    locationNameDiffersFromSymbol: records.filter((r) => r.location !== null && !r.location.startsWith(r.symbol + '+')).length,
    locationSizeDiffersFromStSize: records.filter((r) => r.location !== null && !r.location.includes(`/0x${r.size.toString(16)} [`)).length,
    noLocation: records.filter((r) => r.location === null).length,
    emptyChain: records.filter((r) => r.chain.length === 0).length,
    conditionalJumpsToADropFunction: conditionalTail,
    callsInInitSectionsLeftOut: initSites,
    chainDepth: countBy(records, (r) => String(r.chain.length)),
    buildPrefix: mapper.prefix,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
  return { records, summary };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { vmlinux: { type: 'string' }, src: { type: 'string' }, modules: { type: 'string' }, out: { type: 'string' } } });
  const { vmlinux, modules, out } = values;
  const src = values.src ?? process.env['DROPSITE_KSRC'];
  if (!vmlinux || !modules || !out || !src) {
    console.error('usage: build-module-truth.ts --vmlinux VMLINUX --src KERNEL_SOURCE_ROOT --modules DEBUG_MODULES_DIR --out OUT.jsonl');
    process.exit(2);
  }
  const k = await analyseVmlinux(vmlinux, src);
  const { records, summary } = await analyseModules(modules, src, k);
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await writeFile(out.replace(/\.jsonl$/, '') + '.summary.json', JSON.stringify(summary, null, 2) + '\n');
  console.log(JSON.stringify(summary, null, 2));
  console.log(`wrote ${records.length} lines to ${out}`);
}

if (process.argv[1]?.endsWith('build-module-truth.ts')) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  });
}
