// `dropsite explain`: wiring only.
import { createInterface } from 'node:readline';
import { InputError, UsageError } from '../../errors.ts';
import { Explainer, type CodeEvidence, type LocationQuery } from '../../explain/explain.ts';
import type { ModuleLoading } from '../../machine-code/index.ts';
import { sourceLines } from '../../explain/source-lines.ts';
import { changedWarning } from '../../index/freshness.ts';
import { openForRead } from '../../index/open.ts';
import { LIMITS, readRegularText } from '../../io/regular-file.ts';
import { pickTree } from '../../index/read.ts';
import { lookupSymbol, parseSymbolMap, resolveAddress, type SymbolMap } from '../../locate/kallsyms.ts';
import { functionOfSymbol, parseLocation, parseLocationLine, type DropLocation } from '../../locate/location.ts';
import type { Explanation } from '../../model.ts';
import { exactHint, renderExplanations } from '../../report/explain-text.ts';
import { isTty, writeChunk, writeErr, writeHint } from '../sink.ts';
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
  kernel?: string;
  modules?: string;
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

/** A saved symbol map as read: its text (the image readers take it too) and what it names. */
export interface SymbolFile {
  text: string;
  map: SymbolMap;
}

/** A saved /proc/kallsyms or System.map, read once and refused when it cannot name anything. Shared by explain and report. */
export function readMap(file: string, what: string): SymbolFile {
  let text: string;
  try {
    text = readRegularText(file, LIMITS.symbols, what);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read symbol map ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const map = parseSymbolMap(text);
  if (map.allZero) throw new InputError(`${file} lists every address as 0 (kptr_restrict)`, { hint: 'read /proc/kallsyms as root, or set kernel.kptr_restrict=0' });
  if (map.symbols.length === 0) throw new InputError(`${file} has no text symbols`, { hint: 'expected /proc/kallsyms or System.map lines such as "ffffffff81000000 T _text"' });
  return { text, map };
}

function toQuery(l: DropLocation, flags: ExplainFlags): LocationQuery {
  const event = l.event ?? (flags.event === 'consume_skb' || flags.event === 'kfree_skb' ? flags.event : null);
  return {
    input: l.input, symbol: l.symbol, function: l.function, isCold: l.isCold, offset: l.offset, size: l.size, module: l.module,
    reason: l.reason ?? (flags.reason !== undefined ? flags.reason.replace(/^SKB_DROP_REASON_/, '') : null), event,
  };
}

/** A named location, its size from the map when it has none, or a raw address named by the map. Throws InputError. */
function resolveWithMap(l: DropLocation, map: SymbolMap | null): { location: DropLocation; notes: string[] } {
  if (l.symbol === '' && l.address !== null) {
    if (map === null) throw new InputError(`${l.input} is a raw address`, { hint: 'give --kallsyms FILE (a saved /proc/kallsyms) or --system-map FILE to name it' });
    const r = resolveAddress(map, l.address);
    if (r === null) throw new InputError(`${l.input}: no symbol of the given map holds this address`);
    const { function: fn, isCold } = functionOfSymbol(r.symbol);
    return { location: { ...l, symbol: r.symbol, function: fn, isCold, offset: r.offset, size: r.size, module: r.module }, notes: [] };
  }
  if (map !== null && l.size === null && l.symbol !== '') {
    const s = lookupSymbol(map, l.symbol, l.module);
    if (s !== null && s.size !== null) {
      return { location: { ...l, size: s.size }, notes: s.sameNameCount > 1 ? [`${s.sameNameCount} symbols are named ${l.symbol}: the size of the first was used`] : [] };
    }
  }
  return { location: l, notes: [] };
}

/** Locations answered, rendered and written per batch: --stdin input of any length runs in bounded memory. */
const BATCH = 2000;
/** Exact mode runs addr2line once per batch, --rebuild one make: larger batches, fewer runs. */
const EXACT_BATCH = 50_000;

/** Writes explanations as they come, as one text or one JSON array, the same bytes as a single write. */
class ExplanationWriter {
  private count = 0;
  private readonly json: boolean;
  private readonly render: (list: Explanation[]) => string;
  constructor(json: boolean, render: (list: Explanation[]) => string) {
    this.json = json;
    this.render = render;
  }

  async write(list: Explanation[]): Promise<void> {
    if (list.length === 0) return;
    if (list.some((e) => e.method !== 'source')) this.allSource = false;
    const first = this.count === 0;
    this.count += list.length;
    if (this.json) {
      // JSON.stringify(all, null, 2), one batch at a time: each element indented by two spaces.
      await writeChunk(`${first ? '[\n' : ',\n'}${list.map((e) => JSON.stringify(e, null, 2).replace(/^/gm, '  ')).join(',\n')}`);
      return;
    }
    // Each block ends with a blank line; between batches that line is the separator.
    const text = this.render(list);
    await writeChunk(first ? text : `\n${text}`);
  }

  /** Every answer so far is ranked from source alone (then the end says how to get the exact line). */
  private allSource = true;

  async end(): Promise<void> {
    if (this.json) await writeChunk(this.count === 0 ? '[]\n' : '\n]\n');
    // Once, on stderr: a hint is not part of the answer that a pipe reads.
    else if (this.count > 0 && this.allSource) writeHint(exactHint(true));
  }
}

export async function runExplain(words: readonly string[], flags: ExplainFlags): Promise<void> {
  if (flags.event !== undefined && flags.event !== 'kfree_skb' && flags.event !== 'consume_skb') {
    throw new UsageError(`--event ${flags.event}: expected kfree_skb or consume_skb`);
  }
  checkRebuildFlags(flags);
  const opts = { offsetBase: flags.decimal === true ? 'decimal' as const : 'hex' as const };
  let given: DropLocation[] = [];
  if (flags.stdin !== true) {
    if (words.length === 0) throw new UsageError('give a location (e.g. __udp4_lib_rcv+0x4bc/0xd00) or --stdin');
    given = groupLocationWords(words).map((w) => parseLocation(w, opts));
  }
  const symbols = flags.kallsyms !== undefined ? readMap(flags.kallsyms, '--kallsyms') : flags.systemMap !== undefined ? readMap(flags.systemMap, '--system-map') : null;
  const map = symbols?.map ?? null;
  const resolved = given.map((l) => resolveWithMap(l, map));

  const db = openForRead(flags.db);
  try {
    const tree = pickTree(db, flags.tree, flags.db);
    const explainer = new Explainer(db, tree);
    const kallsymsText = flags.kallsyms !== undefined ? symbols?.text ?? null : null;
    const lines = sourceLines(tree.root);
    const out = new ExplanationWriter(flags.json === true, (list) => renderExplanations(list, lines, { context: flags.context, color: isTty() && process.stdout.isTTY === true }));
    let preloaded = false;
    // --kernel / --modules: the shipped machine code weighs the candidates. Opened once, on the first batch;
    // later batches only add the modules they name. Each problem is said once.
    let code: CodeEvidence & ModuleLoading | null = null;
    const said = new Set<string>();
    const tell = (problems: readonly string[]): void => {
      for (const p of problems) {
        if (said.has(p)) continue;
        said.add(p);
        writeErr(`dropsite: ${p}`);
      }
    };
    const machineCode = async (queries: readonly LocationQuery[]): Promise<CodeEvidence | undefined> => {
      if (flags.kernel === undefined && flags.modules === undefined) return undefined;
      const moduleNames = queries.flatMap((q) => (q.module === null ? [] : [q.module]));
      if (code === null) {
        // Loaded only with a kernel image: it brings in the x86 decoder.
        const { openMachineCode } = await import('../../machine-code/index.ts');
        const opened = await openMachineCode(db, tree, {
          kernel: flags.kernel ?? null, modules: flags.modules ?? null, kallsyms: symbols?.text ?? null, moduleNames,
        });
        tell(opened.problems);
        code = opened.code;
      } else {
        tell(await code.loadModules(moduleNames));
      }
      // Locations without a module (dropwatch) whose function is not in the image: their modules, found and opened.
      tell(await code.findModules(queries));
      return code;
    };
    /** The files the answers quote, for the freshness warning at the end (unique files: bounded). */
    const shown = new Set<string>();
    const answer = async (batch: Array<{ location: DropLocation; notes: string[] }>): Promise<void> => {
      if (batch.length === 0) return;
      if (!preloaded && batch.length > 200) {
        explainer.preload();
        preloaded = true;
      }
      const queries = batch.map((b) => toQuery(b.location, flags));
      let results: Explanation[];
      if (flags.rebuild === true) {
        results = await explainByRebuild(explainer, queries, flags, map, kallsymsText === null ? {} : { kallsymsText });
        results.forEach((e, i) => e.notes.unshift(...(batch[i]?.notes ?? [])));
      } else if (flags.vmlinux !== undefined) {
        // Loaded only for exact mode: it brings in child_process and the binutils drivers.
        const { explainExact } = await import('../../explain/exact.ts');
        results = await explainExact(explainer, queries, flags.vmlinux, tree.version);
      } else {
        const code = await machineCode(queries);
        results = queries.map((q, i) => {
          const e = explainer.explain(q, code === undefined ? { maxCandidates: flags.max } : { maxCandidates: flags.max, code });
          e.notes.unshift(...(batch[i]?.notes ?? []));
          return e;
        });
      }
      for (const r of results) for (const c of r.candidates) shown.add(c.file);
      await out.write(results);
    };

    if (flags.stdin !== true) {
      await answer(resolved);
    } else {
      const size = flags.vmlinux !== undefined || flags.rebuild === true ? EXACT_BATCH : BATCH;
      let batch: Array<{ location: DropLocation; notes: string[] }> = [];
      let skipped = 0;
      let answered = 0;
      let lineNo = 0;
      const skip = (n: number, why: string): void => {
        skipped++;
        if (skipped <= 10) writeErr(`dropsite: stdin line ${n}: ${why}`);
      };
      // Read line by line: memory holds one batch, not the whole input (200,000 lines are 20 MB of text).
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
        const r = parseLocationLine(line, ++lineNo, opts);
        if (r === null) continue;
        if (r.kind === 'skipped') {
          skip(r.lineNo, r.why);
          continue;
        }
        try {
          batch.push(resolveWithMap(r.location, map));
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          skip(r.lineNo, err.message);
          continue;
        }
        if (batch.length >= size) {
          answered += batch.length;
          await answer(batch);
          batch = [];
        }
      }
      answered += batch.length;
      await answer(batch);
      if (skipped > 10) writeErr(`dropsite: ... ${skipped - 10} more unparsable lines`);
      if (skipped > 0) writeErr(`dropsite: skipped ${skipped} unparsable line(s); answered ${answered}`);
      if (answered === 0 && skipped > 0) throw new InputError('no location on stdin could be read');
    }
    await out.end();
    // Said once, after the answers: a file shown above changed since it was indexed (index/freshness.ts).
    const changed = changedWarning(tree, explainer.changedSinceIndexed(shown));
    if (changed !== null) writeErr(`warning: ${changed}`);
  } finally {
    db.close();
  }
}
