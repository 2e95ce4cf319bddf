// Exact mode for a batch of locations: symbols from the debug vmlinux, one addr2line run, and the
// inline chains mapped onto the index's sites.
import { InputError } from '../errors.ts';
import type { Explanation } from '../model.ts';
import { kernelBanner, readElfSections, readElfSymbols, resolveLines, type ElfSymbol } from './debuginfo.ts';
import { callsInFunction, type MachineCall } from './drop-calls.ts';
import type { Explainer, LocationQuery } from './explain.ts';

export async function explainExact(explainer: Explainer, queries: LocationQuery[], vmlinux: string, treeVersion: string | null): Promise<Explanation[]> {
  const notes: string[] = [];
  let banner: string | null = null;
  try {
    // The file kind, its size and its ELF header are checked here, before nm and addr2line read it.
    banner = kernelBanner(vmlinux, readElfSections(vmlinux));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${vmlinux}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (banner !== null && treeVersion !== null && !banner.startsWith(treeVersion)) {
    notes.push(`${vmlinux} is Linux ${banner} but the index is of ${treeVersion}: lines may not match the indexed sites`);
  }
  const symbols = await readElfSymbols(vmlinux, new Set(queries.map((q) => q.symbol)));
  const addresses: bigint[] = [];
  const slot: Array<number | null> = [];
  const perNotes: string[][] = queries.map(() => []);
  /** Queries with a symbol of the file but no offset. */
  const bare = new Map<number, ElfSymbol>();
  queries.forEach((q, i) => {
    const list = symbols.get(q.symbol) ?? [];
    // The input's size is kallsyms' (up to the next symbol, padding included), nm's is the ELF size:
    // among same-named statics, take the one the offset fits in whose size is closest.
    const fits = list.filter((s) => q.offset === null || q.offset <= s.size + 16);
    const sym = q.size === null ? fits[0] ?? list[0]
      : [...(fits.length > 0 ? fits : list)].sort((a, b) => Math.abs(a.size - (q.size ?? 0)) - Math.abs(b.size - (q.size ?? 0)))[0];
    if (sym === undefined || q.offset === null) {
      slot.push(null);
      if (sym === undefined) perNotes[i]?.push(`${q.symbol} is not in the symbol table of ${vmlinux}`);
      else bare.set(i, sym);
      return;
    }
    if (list.length > 1) perNotes[i]?.push(`${list.length} symbols are named ${q.symbol}${q.size !== null ? '; the one whose size is closest to the given size was used' : '; the first was used (give /0xSIZE to choose)'}`);
    slot.push(addresses.length);
    // The location is a return address: the call is the instruction before it.
    addresses.push(sym.address + BigInt(q.offset) - 1n);
  });
  // No offset: the machine code may still leave one place the location can be.
  /** Per bare query: its calls of drop functions that report their caller, its tail jumps to them, and where the calls' lines go. */
  const machine = new Map<number, { direct: MachineCall[]; jumps: MachineCall[]; firstSlot: number }>();
  for (const [i, sym] of bare) {
    const q = queries[i];
    if (q === undefined) continue;
    const reported = explainer.callReportedApis(q.event ?? 'kfree_skb');
    const calls = (await callsInFunction(vmlinux, q.symbol, sym.address, sym.size)).filter((c) => reported.has(c.target));
    const direct = calls.filter((c) => !c.isJump);
    machine.set(i, { direct, jumps: calls.filter((c) => c.isJump), firstSlot: addresses.length });
    if (direct.length === 1) slot[i] = addresses.length;
    // The location is a return address: the call is the instruction before it.
    for (const c of direct) addresses.push(c.returnAddress - 1n);
  }
  const chains = addresses.length > 0 ? await resolveLines(vmlinux, addresses) : [];
  if (addresses.length > 0 && chains.every((c) => c.length === 0)) {
    throw new InputError(`${vmlinux} has no line information (no DWARF debug info)`, { hint: 'use the vmlinux from the linux-image-…-dbg package (/usr/lib/debug/boot/vmlinux-…)' });
  }
  return queries.map((q, i) => {
    const s = slot[i];
    const chain = s === null || s === undefined ? [] : chains[s] ?? [];
    const sym = bare.get(i);
    const m = machine.get(i);
    if (sym !== undefined && m !== undefined) {
      const at = (address: bigint): string => `+0x${(address - sym.address).toString(16)}`;
      const [only, ...others] = m.direct;
      if (only !== undefined && others.length === 0) {
        return explainer.explainExact(q, chain, [...notes, ...(perNotes[i] ?? []),
          `no offset in the input, but the machine code of ${q.symbol} in ${vmlinux} holds a single call to a function that reports its caller (call ${only.target} at ${at(only.address)}), so the location can only be its return address ${at(only.returnAddress)}: the line is that call's, from the debug info`]);
      }
      // Several calls (or none): rank from source, and say where each call is.
      const lines = m.direct.map((c, k) => {
        const frame = (chains[m.firstSlot + k] ?? []).find((f) => !explainer.isDropApi(f.function));
        return `${at(c.returnAddress)} (call ${c.target}${frame === undefined ? '' : `, ${frame.file}:${frame.line}`})`;
      });
      const jumps = m.jumps.map((c) => `jmp ${c.target} at ${at(c.address)}`);
      const what = m.direct.length === 0
        ? `the machine code of ${q.symbol} in ${vmlinux} calls no function that reports its caller${jumps.length > 0 ? `; it ends in tail calls (${jumps.join(', ')}), whose drops are reported in ${q.symbol}'s caller` : ''}`
        : `the machine code of ${q.symbol} in ${vmlinux} holds ${m.direct.length} calls to functions that report their caller, with return addresses ${lines.join('; ')}: without the offset the location can be any of them`;
      const e = explainer.explain(q);
      e.notes.unshift(...notes, ...(perNotes[i] ?? []), what);
      return e;
    }
    return explainer.explainExact(q, chain, [...notes, ...(perNotes[i] ?? [])]);
  });
}
