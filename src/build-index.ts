// `dropsite index` as a library call: scan a tree, read its drop reasons, and store it all.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { InputError } from './errors.ts';
import { LIMITS, readRegularText } from './io/regular-file.ts';
import { inspectForWrite, openForRead } from './index/open.ts';
import { loadCache, loadFileStats } from './index/read.ts';
import { writeTree, type CacheRow, type WriteOptions } from './index/write.ts';
import { parseConstants, parseDropReasons } from './kernel/drop-reasons.ts';
import { gitHead, probeTree } from './kernel/tree-layout.ts';
import type { DropReason } from './model.ts';
import { discoverSources } from './scan/discover.ts';
import type { SearchedNames } from './scan/protocol.ts';
import type { FileUnits } from './scan/resolve.ts';
import { SCANNER_VERSION } from './scan/summary.ts';
import { SCHEMA_VERSION } from './index/schema.ts';
import { scanTree, type CachedFile, type ScanProgress, type ScanResult } from './scan/scan-tree.ts';

export interface BuildOptions {
  db: string;
  jobs?: number;
  /** Index a directory that does not look like a kernel tree. */
  force?: boolean;
  includeAll?: boolean;
  onProgress?: (p: ScanProgress) => void;
  now?: () => Date;
  /** Told when another process is writing the index and this run waits for it (index/write.ts). */
  onWait?: (message: string) => void;
  waitMs?: number;
}

export interface BuildSummary {
  root: string;
  version: string | null;
  filesSeen: number;
  filesParsed: number;
  filesReused: number;
  candidates: number;
  functions: number;
  sites: number;
  roots: string[];
  wrappers: number;
  usedSeeds: boolean;
  reasons: number;
  reasonsFile: string | null;
  parseErrorFiles: number;
  nonUtf8Files: number;
  unreadable: Array<{ path: string; error: string }>;
  /** Files with something over a bound of the scanner's work, not parsed (scan/budget.ts), and why. */
  skipped: Array<{ path: string; why: string }>;
  warnings: string[];
  elapsedMs: number;
  timings: ScanResult['timings'];
  /** Nothing changed since the last run: the stored index was kept as it was. */
  upToDate: boolean;
}

/**
 * When no source file was added, removed or touched since the last run, the stored index stands:
 * return its summary without reading a file. Checking costs one directory walk and one stat per file.
 */
function storedIfUnchanged(db: string, root: string, includeAll: boolean, current: { version: string | null; gitHead: string | null }): BuildSummary | null {
  if (!existsSync(db)) return null;
  const handle = openForRead(db);
  let stored;
  try {
    stored = loadFileStats(handle, root);
  } finally {
    handle.close();
  }
  if (stored.tree === null || stored.tree.stats.includeAll !== includeAll || stored.tree.stats.scannerVersion !== SCANNER_VERSION) return null;
  // The tree's version (top Makefile) and git HEAD are part of what the index records: a change to
  // either alone (a version bump, a commit that touches no C file) makes the stored index stale.
  if (stored.tree.version !== current.version || stored.tree.gitHead !== current.gitHead) return null;
  const { paths } = discoverSources(root, { includeAll });
  if (paths.length !== stored.files.size) return null;
  for (const p of paths) {
    const before = stored.files.get(p);
    if (before === undefined) return null;
    try {
      const st = statSync(join(root, p));
      if (st.size !== before.size || Math.trunc(st.mtimeMs) !== before.mtimeMs) return null;
    } catch {
      return null;
    }
  }
  const s = stored.tree.stats;
  const num = (k: string): number => (typeof s[k] === 'number' ? s[k] : 0);
  const list = (k: string): string[] => (Array.isArray(s[k]) ? s[k].map(String) : []);
  const skipped = (Array.isArray(s.skipped) ? s.skipped : []).filter((x): x is { path: string; why: string } =>
    typeof x === 'object' && x !== null && typeof x.path === 'string' && typeof x.why === 'string');
  return {
    root, version: stored.tree.version, filesSeen: paths.length, filesParsed: 0, filesReused: paths.length, candidates: num('candidates'),
    functions: num('functions'), sites: num('sites'), roots: list('roots'), wrappers: num('wrappers'), usedSeeds: stored.tree.usedSeeds,
    reasons: num('reasons'), reasonsFile: stored.tree.reasonsFile, parseErrorFiles: num('parseErrorFiles'), nonUtf8Files: num('nonUtf8Files'),
    unreadable: [], skipped, warnings: list('warnings'), elapsedMs: 0, timings: { discover: 0, read: 0, search: 0, resolve: 0 }, upToDate: true,
  };
}

function isUnits(v: unknown): v is FileUnits {
  return typeof v === 'object' && v !== null && 'functions' in v && Array.isArray(v.functions) && 'macros' in v && Array.isArray(v.macros);
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function readCache(db: string, root: string): { cache: Map<string, CachedFile>; searched: SearchedNames } {
  const cache = new Map<string, CachedFile>();
  const searched: SearchedNames = { all: [], sources: [] };
  if (!existsSync(db)) return { cache, searched };
  const handle = openForRead(db);
  try {
    const stored = loadFileStats(handle, root).tree;
    if (stored?.stats.scannerVersion !== SCANNER_VERSION) return { cache, searched };
    searched.all = strings(stored.stats.searchedAll);
    searched.sources = strings(stored.stats.searchedSources);
    for (const r of loadCache(handle, root)) {
      cache.set(r.path, {
        size: r.size, mtimeMs: r.mtimeMs, hash: r.hash, candidate: r.candidate, searched: r.searched,
        units: isUnits(r.units) ? r.units : { functions: [], macros: [] }, parseErrors: r.parseErrors,
      });
    }
  } finally {
    handle.close();
  }
  return { cache, searched };
}

/** Subsystem reason enums (6.4+) live beside their subsystem, in `drop.h` files. */
function subsystemReasonFiles(root: string, files: ScanResult['files']): string[] {
  return files.map((f) => f.path).filter((p) => /(?:^|\/)drop(?:reason)?\.h$/.test(p) && !p.startsWith('include/net/dropreason'))
    .filter((p) => existsSync(join(root, p)));
}

/**
 * The constants a reasons file's values are built from (`SUBSYS_X << SUBSYS_SHIFT`): the enum members and
 * `#define`s of the headers it includes, two levels deep (`<net/x.h>` is include/net/x.h, `"x.h"` is beside it).
 */
function includedConstants(root: string, file: string, env: Map<string, number>, seen: Map<string, number>, depth: number): void {
  // A header first reached deep (its own includes cut off) is read again when reached nearer.
  if (depth < 0 || (seen.get(file) ?? -1) >= depth) return;
  seen.set(file, depth);
  let text: string;
  try {
    text = readRegularText(join(root, file), LIMITS.source, file);
  } catch {
    return; // A header that is not there (a generated one) gives no constants.
  }
  for (const m of text.matchAll(/^[ \t]*#[ \t]*include[ \t]*(?:<([^>\n]+)>|"([^"\n]+)")/gm)) {
    const inc = m[1] !== undefined ? join('include', m[1]) : normalize(join(dirname(file), m[2] ?? ''));
    if (!inc.startsWith('..')) includedConstants(root, inc, env, seen, depth - 1);
  }
  parseConstants(text, env);
}

/** Sites whose reason argument names a subsystem's reason (`OVS_DROP_X`, not `SKB_DROP_REASON_X`) pass it. */
function subsystemSiteReasons(sites: ScanResult['resolution']['sites'], reasons: readonly DropReason[]): void {
  const names = new Set(reasons.filter((r) => r.enumName !== 'skb_drop_reason' && r.value >= 0).map((r) => r.name));
  if (names.size === 0) return;
  for (const s of sites) {
    if (s.reasons.length > 0 || s.reasonText === null) continue;
    const named = [...new Set(s.reasonText.match(/\b[A-Za-z_]\w*\b/g) ?? [])].filter((n) => names.has(n));
    if (named.length > 0) s.reasons = named;
  }
}

export async function buildIndex(tree: string, opts: BuildOptions): Promise<BuildSummary> {
  const started = performance.now();
  let st;
  try {
    st = statSync(tree);
  } catch {
    throw new InputError(`cannot index ${tree}: no such file or directory`, { hint: 'give the top folder of a Linux source tree' });
  }
  if (!st.isDirectory()) throw new InputError(`cannot index ${tree}: not a directory`, { hint: 'give the top folder of a Linux source tree' });
  const root = realpathSync(tree);
  const probe = probeTree(root);
  const warnings: string[] = [];
  // A FIFO or a device at a fixed path (Makefile, dropreason.h) was not read: say which, and why.
  warnings.push(...probe.refused.map((why) => `not read: ${why}`));
  if (!probe.isKernelTree) {
    if (opts.force !== true) {
      if (probe.refused.length > 0) throw new InputError(`cannot index ${tree}: ${probe.refused[0] ?? ''}`, { hint: 'the top Makefile and the drop reason headers must be regular files' });
      throw new InputError(`${tree} does not look like a Linux source tree (no top Makefile with VERSION/PATCHLEVEL, or no include/ and net/)`, {
        hint: 'pass --force to index the C files that are there anyway',
      });
    }
    warnings.push(`${tree} does not look like a Linux source tree; indexed anyway (--force)`);
  }
  // An index from an older dropsite cannot be read: rebuild it from scratch, and say what that costs.
  // A database that is not a dropsite index is refused here, before the scan.
  const target = inspectForWrite(opts.db);
  const older = target.state === 'older' ? target.version : null;
  if (older !== null) {
    warnings.push(`${opts.db} was written by an older dropsite (index schema ${older}, this one writes ${SCHEMA_VERSION}): rebuilt from scratch; any other tree it held must be indexed again`);
  }
  const head = gitHead(root);
  const unchanged = target.state !== 'current' ? null : storedIfUnchanged(opts.db, root, opts.includeAll === true, { version: probe.version, gitHead: head });
  if (unchanged !== null) {
    // The stored warnings include this run's own (--force): each is said once.
    return { ...unchanged, warnings: [...new Set([...warnings, ...unchanged.warnings])], elapsedMs: performance.now() - started, upToDate: true };
  }
  const { cache, searched } = target.state !== 'current' ? { cache: new Map<string, CachedFile>(), searched: undefined } : readCache(opts.db, root);
  const scanOpts: Parameters<typeof scanTree>[1] = { cache };
  if (searched !== undefined) scanOpts.cacheSearched = searched;
  if (opts.jobs !== undefined) scanOpts.jobs = opts.jobs;
  if (opts.includeAll !== undefined) scanOpts.includeAll = opts.includeAll;
  if (opts.onProgress !== undefined) scanOpts.onProgress = opts.onProgress;
  const scan = await scanTree(root, scanOpts);
  const { resolution } = scan;
  if (scan.stats.roundsExhausted) {
    warnings.push(`the search for wrappers of drop functions stopped after ${scan.stats.rounds} rounds with wrappers still to follow: calls through deeper chains of wrappers are not indexed`);
  }
  if (resolution.usedSeeds) warnings.push('no function in this tree fires trace_kfree_skb/trace_consume_skb (net/core/skbuff.c missing?): used the built-in list of drop functions');

  const reasons: DropReason[] = [];
  for (const f of [probe.reasonsFile, ...subsystemReasonFiles(root, scan.files)]) {
    if (f === null) continue;
    try {
      const env = new Map<string, number>();
      includedConstants(root, f, env, new Map(), 2);
      reasons.push(...parseDropReasons(readRegularText(join(root, f), LIMITS.source, f), f, env));
    } catch (err) {
      warnings.push(`cannot read drop reasons from ${f}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  subsystemSiteReasons(resolution.sites, reasons);
  if (probe.reasonsFile === null && probe.isKernelTree) warnings.push('this tree has no enum skb_drop_reason (a kernel before 5.17?): sites carry no reasons');

  const cacheRows: CacheRow[] = scan.files.map((f) => ({
    path: f.path, size: f.size, mtimeMs: f.mtimeMs, hash: f.hash, candidate: f.candidate, searched: f.searched, units: f.units, parseErrors: f.parseErrors,
  }));
  const roots = resolution.apis.filter((a) => a.role === 'root').map((a) => a.name);
  const summary: BuildSummary = {
    root, version: probe.version, filesSeen: scan.stats.filesSeen, filesParsed: scan.stats.filesRead, filesReused: scan.stats.filesReused,
    candidates: scan.stats.candidates, functions: resolution.functions.length, sites: resolution.sites.length, roots,
    wrappers: resolution.apis.filter((a) => a.role === 'wrapper').length, usedSeeds: resolution.usedSeeds, reasons: reasons.length,
    reasonsFile: probe.reasonsFile, parseErrorFiles: scan.stats.parseErrorFiles, nonUtf8Files: scan.stats.nonUtf8Files,
    unreadable: scan.stats.unreadable, skipped: scan.stats.skipped, warnings, elapsedMs: 0, timings: scan.timings, upToDate: false,
  };
  const writeOpts: WriteOptions = { replace: older !== null };
  if (opts.onWait !== undefined) writeOpts.onWait = opts.onWait;
  if (opts.waitMs !== undefined) writeOpts.waitMs = opts.waitMs;
  writeTree(opts.db, {
    info: { root, version: probe.version, indexedAt: (opts.now?.() ?? new Date()).toISOString(), gitHead: head },
    usedSeeds: resolution.usedSeeds, reasonsFile: probe.reasonsFile,
    stats: { ...summary, unreadable: summary.unreadable.length, timings: undefined, includeAll: opts.includeAll === true, scannerVersion: SCANNER_VERSION,
      searchedAll: scan.searched.all, searchedSources: scan.searched.sources },
    apis: resolution.apis, functions: resolution.functions, sites: resolution.sites, edges: resolution.edges, reasons, cache: cacheRows,
  }, writeOpts);
  summary.elapsedMs = performance.now() - started;
  return summary;
}
