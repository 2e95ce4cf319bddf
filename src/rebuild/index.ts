// Exact lines without the debug package: rebuild the translation units that hold the reported
// functions from the indexed tree and the kernel's config, read the line from their DWARF, and
// check the rebuilt function against what the kernel says (its size) or ships (its code).
import { cpus } from 'node:os';
import type { Explainer, LocationQuery } from '../explain/explain.ts';
import type { SymbolMap } from '../locate/kallsyms.ts';
import type { Explanation } from '../model.ts';
import { buildDirFor, cacheDir as defaultCacheDir, prepareBuildDir, withLock } from './build-dir.ts';
import { chooseConfig, type KernelConfig } from './config.ts';
import { objectLines, objectSymbols, type ObjectSymbol } from './lines.ts';
import { buildObjects, sourceOf, type ObjectResult } from './make.ts';
import { compilerWarning, probeToolchain } from './toolchain.ts';
import { unitsFor, type UnitChoice } from './units.ts';

export { chooseConfig, readConfig, rememberConfig } from './config.ts';
export { cacheDir } from './build-dir.ts';

/** The shipped code of a function, when a kernel image or module is given (see shipped.ts). */
export interface ShippedCode {
  /** null when the shipped image has no such function. */
  size: number | null;
  /** Compares with the rebuilt object's function; absent when only sizes are known. */
  compare?: (objectPath: string, symbol: ObjectSymbol) => Promise<{ identical: boolean; mapOffset: (off: number) => number | null; summary: string }>;
}

export interface RebuildOptions {
  config?: string | undefined;
  cc?: string | undefined;
  jobs?: number;
  /** ${XDG_CACHE_HOME:-~/.cache}/dropsite by default. */
  cacheDir?: string;
  /** Names neighbours (units.ts) and gives sizes; from --kallsyms, --system-map or the kernel image. */
  symbolMap?: SymbolMap | null;
  /** The shipped function for a location, from --kernel / --modules. */
  shipped?: (q: LocationQuery) => Promise<ShippedCode | null>;
  onProgress?: (p: { phase: 'olddefconfig' | 'prepare' | 'build'; done: number; total: number; file?: string }) => void;
  onWarning?: (w: string) => void;
}

export interface RebuildSummary {
  dir: string;
  config: string;
  cc: string;
  /** Translation units the batch needed. */
  files: number;
  compiled: number;
  cached: number;
  failed: number;
  prepareSeconds: number;
  buildSeconds: number;
  seconds: number;
  warnings: string[];
}

/** A size from kallsyms (up to the next symbol) against an ELF st_size: equal up to the 16-byte alignment padding. */
export const sizeFits = (given: number, elf: number): boolean => given >= elf && given - elf < 16;

/** Chooses among same-named symbols of the candidate objects: the one whose size fits, else the first. */
function pickSymbol(found: ReadonlyArray<{ obj: string; sym: ObjectSymbol }>, size: number | null): { obj: string; sym: ObjectSymbol } | undefined {
  if (size !== null) return found.find((f) => sizeFits(size, f.sym.size)) ?? found[0];
  return found[0];
}

export async function explainRebuilt(explainer: Explainer, queries: readonly LocationQuery[], opts: RebuildOptions = {}): Promise<{ results: Explanation[]; summary: RebuildSummary }> {
  const t0 = performance.now();
  const tree = explainer.tree;
  const cache = opts.cacheDir ?? defaultCacheDir();
  const config: KernelConfig = chooseConfig({ given: opts.config, treeRoot: tree.root, treeVersion: tree.version, cacheDir: cache });
  const tc = await probeToolchain(opts.cc, config.ccVersionText);
  const warnings: string[] = [];
  const cw = compilerWarning(tc, config.ccVersionText);
  if (cw !== null) warnings.push(cw);
  if (config.kernelVersion !== null && tree.version !== null && !sameRelease(config.kernelVersion, tree.version)) {
    warnings.push(`${config.path} is the config of Linux ${config.kernelVersion} but the tree is ${tree.version}: the rebuilt code may differ`);
  }
  for (const w of warnings) opts.onWarning?.(w);
  const dir = buildDirFor(cache, tree.root, config, tc);
  const jobs = opts.jobs ?? Math.max(1, cpus().length);
  const map = opts.symbolMap ?? null;

  // Which objects each location needs.
  const units = new Map<string, UnitChoice>();
  for (const q of queries) {
    if (q.symbol === '' || q.offset === null || units.has(`${q.symbol}\0${q.module ?? ''}`)) continue;
    units.set(`${q.symbol}\0${q.module ?? ''}`, await unitsFor(tree.root, explainer, q.symbol, q.module, map));
  }
  const objects = [...new Set([...units.values()].flatMap((u) => u.files.map((f) => f.replace(/\.c$/, '.o'))))];

  let prepareSeconds = 0;
  let built: Map<string, ObjectResult> = new Map();
  let compiled = 0;
  let cached = 0;
  let buildMs = 0;
  await withLock(dir, async () => {
    const ctx = await prepareBuildDir(tree.root, dir, config, tc, jobs, (what) => opts.onProgress?.({ phase: what === 'prepare' ? 'prepare' : 'olddefconfig', done: 0, total: objects.length }));
    prepareSeconds = ctx.prepareSeconds;
    for (const w of ctx.warnings) {
      warnings.push(w);
      opts.onWarning?.(w);
    }
    if (objects.length === 0) return;
    opts.onProgress?.({ phase: 'build', done: 0, total: objects.length });
    const r = await buildObjects(ctx, objects, (p) => opts.onProgress?.({ phase: 'build', done: p.done, total: p.total, file: p.file }));
    built = r.results;
    compiled = r.compiled;
    cached = r.cached;
    buildMs = r.ms;
  }, { onWait: (pid) => opts.onWarning?.(`waiting for dropsite process ${pid}, which is building in ${dir}`) });

  const symbolsOf = new Map<string, Map<string, ObjectSymbol[]>>();
  for (const [obj, r] of built) if (r.ok) symbolsOf.set(obj, await objectSymbols(r.path));

  // Per location: the rebuilt symbol, its check against the shipped kernel, then one addr2line batch per object.
  interface Plan { obj: string; path: string; sym: ObjectSymbol; offset: number; verified: Explanation['verified']; differs: boolean; notes: string[] }
  const plans: Array<Plan | { fallback: string[] }> = [];
  for (const q of queries) {
    const u = units.get(`${q.symbol}\0${q.module ?? ''}`);
    if (u === undefined) {
      plans.push({ fallback: [q.offset === null ? 'no offset: a rebuild needs SYMBOL+OFFSET' : 'no symbol: name the address with --kallsyms'] });
      continue;
    }
    if (u.files.length === 0) {
      plans.push({ fallback: [`no .c file of ${tree.root} defines or names ${q.function}: nothing to rebuild`] });
      continue;
    }
    const objs = u.files.map((f) => f.replace(/\.c$/, '.o'));
    const failed = objs.flatMap((o) => {
      const r = built.get(o);
      return r !== undefined && !r.ok ? [`${sourceOf(o)} did not build: ${r.error}`] : [];
    });
    const found = objs.flatMap((o) => (symbolsOf.get(o)?.get(q.symbol) ?? []).map((sym) => ({ obj: o, sym })));
    const shipped = opts.shipped !== undefined ? await opts.shipped(q) : null;
    const size = q.size ?? shipped?.size ?? null;
    const pick = pickSymbol(found, size);
    if (pick === undefined) {
      plans.push({ fallback: failed.length > 0 ? failed : [`the rebuilt ${objs.join(', ')} ha${objs.length === 1 ? 's' : 've'} no function ${q.symbol} (inlined everywhere in this config, or another file holds it)`] });
      continue;
    }
    const notes: string[] = [];
    if (found.length > 1) notes.push(`${found.length} rebuilt functions are named ${q.symbol} (${[...new Set(found.map((f) => f.obj))].join(', ')}); ${size !== null ? 'the one whose size fits was used' : 'the first was used (give /0xSIZE or --kernel to choose)'}`);
    const path = (built.get(pick.obj) as { path: string }).path;
    let offset = q.offset ?? 0;
    let verified: Explanation['verified'] = 'none';
    let differs = false;
    if (shipped?.compare !== undefined) {
      const c = await shipped.compare(path, pick.sym);
      if (c.identical) verified = 'code';
      else {
        differs = true;
        const mapped = c.mapOffset(offset);
        notes.push(`the rebuilt ${q.symbol} differs from the shipped one (${c.summary})${mapped !== null && mapped !== offset ? `: offset 0x${offset.toString(16)} maps to 0x${mapped.toString(16)} by the calls around it` : ''}`);
        if (mapped !== null) offset = mapped;
      }
    } else if (size !== null) {
      if (sizeFits(size, pick.sym.size)) verified = 'size';
      else {
        differs = true;
        notes.push(`the rebuilt ${q.symbol} is 0x${pick.sym.size.toString(16)} bytes but the location says 0x${size.toString(16)}: the build differs from the shipped kernel (another config or compiler?)`);
      }
    } else {
      notes.push('no function size (input /0xSIZE, --kallsyms or --kernel) and no shipped code to compare: the rebuilt function is not verified');
    }
    if (offset > pick.sym.size + 16) {
      plans.push({ fallback: [...notes, `offset 0x${offset.toString(16)} is past the end of the rebuilt ${q.symbol} (0x${pick.sym.size.toString(16)} bytes)`] });
      continue;
    }
    plans.push({ obj: pick.obj, path, sym: pick.sym, offset, verified, differs, notes: [...failed, ...notes] });
  }
  const byObject = new Map<string, number[]>();
  plans.forEach((p, i) => {
    if ('fallback' in p) return;
    byObject.set(p.path, [...(byObject.get(p.path) ?? []), i]);
  });
  const chains = new Map<number, Awaited<ReturnType<typeof objectLines>>[number]>();
  for (const [path, idx] of byObject) {
    const got = await objectLines(path, tree.root, idx.map((i) => { const p = plans[i] as Plan; return { symbol: p.sym, offset: p.offset }; }));
    idx.forEach((i, k) => chains.set(i, got[k] ?? []));
  }

  const results = queries.map((q, i): Explanation => {
    const p = plans[i] as Plan | { fallback: string[] };
    if ('fallback' in p) {
      const e = explainer.explain(q);
      e.notes.unshift(`not rebuilt: ${p.fallback[0] ?? ''}`, ...p.fallback.slice(1));
      return e;
    }
    const e = explainer.explainExact(q, chains.get(i) ?? [], [`rebuilt ${p.obj} (${p.sym.section}+0x${p.sym.value.toString(16)})`, ...p.notes]);
    return { ...e, method: 'rebuilt', verified: p.verified, exact: e.exact && !p.differs };
  });
  const failedCount = [...built.values()].filter((r) => !r.ok).length;
  return {
    results,
    summary: {
      dir, config: config.path, cc: tc.cc, files: objects.length, compiled, cached, failed: failedCount,
      prepareSeconds, buildSeconds: buildMs / 1000, seconds: (performance.now() - t0) / 1000, warnings,
    },
  };
}

/** `6.1.192` and `6.1.0-56-amd64` are both 6.1 (Debian's release names carry the ABI, not the patch level). */
function sameRelease(a: string, b: string): boolean {
  const mm = (v: string): string => /^(\d+\.\d+)/.exec(v)?.[1] ?? v;
  return mm(a) === mm(b);
}


