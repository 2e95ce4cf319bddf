// Exact mode for a batch of locations: symbols from the debug vmlinux, one addr2line run, and the
// inline chains mapped onto the index's sites.
import { InputError } from '../errors.ts';
import type { Explanation } from '../model.ts';
import { kernelBanner, readElfSections, readElfSymbols, resolveLines } from './debuginfo.ts';
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
  queries.forEach((q, i) => {
    const list = symbols.get(q.symbol) ?? [];
    // The input's size is kallsyms' (up to the next symbol, padding included), nm's is the ELF size:
    // among same-named statics, take the one the offset fits in whose size is closest.
    const fits = list.filter((s) => q.offset === null || q.offset <= s.size + 16);
    const sym = q.size === null ? fits[0] ?? list[0]
      : [...(fits.length > 0 ? fits : list)].sort((a, b) => Math.abs(a.size - (q.size ?? 0)) - Math.abs(b.size - (q.size ?? 0)))[0];
    if (sym === undefined || q.offset === null) {
      slot.push(null);
      perNotes[i]?.push(sym === undefined ? `${q.symbol} is not in the symbol table of ${vmlinux}` : 'no offset: exact mode needs SYMBOL+OFFSET');
      return;
    }
    if (list.length > 1) perNotes[i]?.push(`${list.length} symbols are named ${q.symbol}${q.size !== null ? '; the one whose size is closest to the given size was used' : '; the first was used (give /0xSIZE to choose)'}`);
    slot.push(addresses.length);
    // The location is a return address: the call is the instruction before it.
    addresses.push(sym.address + BigInt(q.offset) - 1n);
  });
  const chains = addresses.length > 0 ? await resolveLines(vmlinux, addresses) : [];
  if (addresses.length > 0 && chains.every((c) => c.length === 0)) {
    throw new InputError(`${vmlinux} has no line information (no DWARF debug info)`, { hint: 'use the vmlinux from the linux-image-…-dbg package (/usr/lib/debug/boot/vmlinux-…)' });
  }
  return queries.map((q, i) => {
    const s = slot[i];
    const chain = s === null || s === undefined ? [] : chains[s] ?? [];
    const e = explainer.explainExact(q, chain, [...notes, ...(perNotes[i] ?? [])]);
    return e;
  });
}
