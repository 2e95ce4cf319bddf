// `dropsite explain`: wiring only.
import { readFileSync } from 'node:fs';
import { InputError, UsageError } from '../../errors.ts';
import { Explainer, type LocationQuery } from '../../explain/explain.ts';
import { sourceLines } from '../../explain/source-lines.ts';
import { openForRead } from '../../index/open.ts';
import { pickTree } from '../../index/read.ts';
import { lookupSymbol, parseSymbolMap, resolveAddress, type SymbolMap } from '../../locate/kallsyms.ts';
import { functionOfSymbol, parseLocation, parseLocationLines, type DropLocation } from '../../locate/location.ts';
import type { Explanation } from '../../model.ts';
import { renderExplanations } from '../../report/explain-text.ts';
import { isTty, writeErr, writeOut } from '../sink.ts';
import { checkRebuildFlags, explainByRebuild, type RebuildFlags } from './rebuild.ts';

export interface ExplainFlags extends RebuildFlags {
  db: string;
  tree?: string;
  stdin?: boolean;
  decimal?: boolean;
  reason?: string;
  event?: string;
  kallsyms?: string;
  systemMap?: string;
  vmlinux?: string;
  context: number;
  max: number;
  json?: boolean;
}

/** Command-line words → location texts: `reason:`/`event:` and their values, `[mod]` and `(0x…)` attach to the location before them. */
export function groupLocationWords(words: readonly string[]): string[] {
  const groups: string[][] = [];
  let attachNext = false;
  for (const w of words) {
    const attaches = attachNext || /^(?:reason|event):/.test(w) || w.startsWith('[') || w.startsWith('(');
    attachNext = /^(?:reason|event):$/.test(w);
    const last = groups[groups.length - 1];
    if (attaches && last !== undefined) last.push(w);
    else groups.push([w]);
  }
  return groups.map((g) => g.join(' '));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** A saved /proc/kallsyms or System.map, refused when it cannot name anything. Shared by explain and report. */
export function readMap(file: string): SymbolMap {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (err) {
    throw new InputError(`cannot read symbol map ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const map = parseSymbolMap(text);
  if (map.allZero) throw new InputError(`${file} lists every address as 0 (kptr_restrict)`, { hint: 'read /proc/kallsyms as root, or set kernel.kptr_restrict=0' });
  if (map.symbols.length === 0) throw new InputError(`${file} has no text symbols`, { hint: 'expected /proc/kallsyms or System.map lines such as "ffffffff81000000 T _text"' });
  return map;
}

function toQuery(l: DropLocation, flags: ExplainFlags): LocationQuery {
  const event = l.event ?? (flags.event === 'consume_skb' || flags.event === 'kfree_skb' ? flags.event : null);
  return {
    input: l.input, symbol: l.symbol, function: l.function, isCold: l.isCold, offset: l.offset, size: l.size, module: l.module,
    reason: l.reason ?? (flags.reason !== undefined ? flags.reason.replace(/^SKB_DROP_REASON_/, '') : null), event,
  };
}

export async function runExplain(words: readonly string[], flags: ExplainFlags): Promise<void> {
  if (flags.event !== undefined && flags.event !== 'kfree_skb' && flags.event !== 'consume_skb') {
    throw new UsageError(`--event ${flags.event}: expected kfree_skb or consume_skb`);
  }
  checkRebuildFlags(flags);
  const opts = { offsetBase: flags.decimal === true ? 'decimal' as const : 'hex' as const };
  let locations: DropLocation[] = [];
  if (flags.stdin === true) {
    let skipped = 0;
    for (const r of parseLocationLines((await readStdin()).split('\n'), opts)) {
      if (r.kind === 'ok') locations.push(r.location);
      else {
        skipped++;
        if (skipped <= 10) writeErr(`dropsite: stdin line ${r.lineNo}: ${r.why}`);
      }
    }
    if (skipped > 10) writeErr(`dropsite: ... ${skipped - 10} more unparsable lines`);
    if (skipped > 0) writeErr(`dropsite: skipped ${skipped} unparsable line(s); answered ${locations.length}`);
    if (locations.length === 0 && skipped > 0) throw new InputError('no location on stdin could be read');
  } else {
    if (words.length === 0) throw new UsageError('give a location (e.g. __udp4_lib_rcv+0x4bc/0xd00) or --stdin');
    locations = groupLocationWords(words).map((w) => parseLocation(w, opts));
  }

  const map = flags.kallsyms !== undefined ? readMap(flags.kallsyms) : flags.systemMap !== undefined ? readMap(flags.systemMap) : null;
  const notesByIndex = new Map<number, string[]>();
  locations = locations.map((l, i) => {
    if (l.symbol === '' && l.address !== null) {
      if (map === null) throw new InputError(`${l.input} is a raw address`, { hint: 'give --kallsyms FILE (a saved /proc/kallsyms) or --system-map FILE to name it' });
      const r = resolveAddress(map, l.address);
      if (r === null) throw new InputError(`${l.input}: no symbol of the given map holds this address`);
      const { function: fn, isCold } = functionOfSymbol(r.symbol);
      return { ...l, symbol: r.symbol, function: fn, isCold, offset: r.offset, size: r.size, module: r.module };
    }
    if (map !== null && l.size === null && l.symbol !== '') {
      const s = lookupSymbol(map, l.symbol, l.module);
      if (s !== null && s.size !== null) {
        if (s.sameNameCount > 1) notesByIndex.set(i, [`${s.sameNameCount} symbols are named ${l.symbol}: the size of the first was used`]);
        return { ...l, size: s.size };
      }
    }
    return l;
  });

  const db = openForRead(flags.db);
  let results: Explanation[];
  let root: string;
  try {
    const tree = pickTree(db, flags.tree, flags.db);
    root = tree.root;
    const explainer = new Explainer(db, tree);
    if (locations.length > 200) explainer.preload();
    const queries = locations.map((l) => toQuery(l, flags));
    if (flags.rebuild === true) {
      results = await explainByRebuild(explainer, queries, flags, map, flags.kallsyms !== undefined ? { kallsymsText: readFileSync(flags.kallsyms, 'latin1') } : {});
      results.forEach((e, i) => e.notes.unshift(...(notesByIndex.get(i) ?? [])));
    } else if (flags.vmlinux !== undefined) {
      // Loaded only for exact mode: it brings in child_process and the binutils drivers.
      const { explainExact } = await import('../../explain/exact.ts');
      results = await explainExact(explainer, queries, flags.vmlinux, tree.version);
    } else {
      results = queries.map((q, i) => {
        const e = explainer.explain(q, { maxCandidates: flags.max });
        e.notes.unshift(...(notesByIndex.get(i) ?? []));
        return e;
      });
    }
  } finally {
    db.close();
  }

  if (flags.json === true) {
    await writeOut(JSON.stringify(results, null, 2));
    return;
  }
  await writeOut(renderExplanations(results, sourceLines(root), { context: flags.context, color: isTty() && process.stdout.isTTY === true }));
}

