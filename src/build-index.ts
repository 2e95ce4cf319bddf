// `dropsite index` as a library call: scan a tree, read its drop reasons, and store it all.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.ts';
import { openForRead } from './index/open.ts';
import { loadCache } from './index/read.ts';
import { writeTree, type CacheRow } from './index/write.ts';
import { parseDropReasons } from './kernel/drop-reasons.ts';
import { gitHead, probeTree } from './kernel/tree-layout.ts';
import type { DropReason } from './model.ts';
import type { FileUnits } from './scan/resolve.ts';
import { scanTree, type CachedFile, type ScanProgress, type ScanResult } from './scan/scan-tree.ts';

export interface BuildOptions {
  db: string;
  jobs?: number;
  /** Index a directory that does not look like a kernel tree. */
  force?: boolean;
  includeAll?: boolean;
  onProgress?: (p: ScanProgress) => void;
  now?: () => Date;
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
  warnings: string[];
  elapsedMs: number;
  timings: ScanResult['timings'];
}

function isUnits(v: unknown): v is FileUnits {
  return typeof v === 'object' && v !== null && 'functions' in v && Array.isArray(v.functions) && 'macros' in v && Array.isArray(v.macros);
}

function readCache(db: string, root: string): Map<string, CachedFile> {
  const cache = new Map<string, CachedFile>();
  if (!existsSync(db)) return cache;
  const handle = openForRead(db);
  try {
    for (const r of loadCache(handle, root)) {
      cache.set(r.path, {
        size: r.size, mtimeMs: r.mtimeMs, hash: r.hash, candidate: r.candidate, searched: r.searched,
        units: isUnits(r.units) ? r.units : { functions: [], macros: [] }, parseErrors: r.parseErrors,
      });
    }
  } finally {
    handle.close();
  }
  return cache;
}

/** Subsystem reason enums (6.4+) live beside their subsystem, in `drop.h` files. */
function subsystemReasonFiles(root: string, files: ScanResult['files']): string[] {
  return files.map((f) => f.path).filter((p) => /(?:^|\/)drop(?:reason)?\.h$/.test(p) && !p.startsWith('include/net/dropreason'))
    .filter((p) => existsSync(join(root, p)));
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
  if (!probe.isKernelTree) {
    if (opts.force !== true) {
      throw new InputError(`${tree} does not look like a Linux source tree (no top Makefile with VERSION/PATCHLEVEL, or no include/ and net/)`, {
        hint: 'pass --force to index the C files that are there anyway',
      });
    }
    warnings.push(`${tree} does not look like a Linux source tree; indexed anyway (--force)`);
  }
  const cache = readCache(opts.db, root);
  const scanOpts: Parameters<typeof scanTree>[1] = { cache };
  if (opts.jobs !== undefined) scanOpts.jobs = opts.jobs;
  if (opts.includeAll !== undefined) scanOpts.includeAll = opts.includeAll;
  if (opts.onProgress !== undefined) scanOpts.onProgress = opts.onProgress;
  const scan = await scanTree(root, scanOpts);
  const { resolution } = scan;
  if (resolution.usedSeeds) warnings.push('no function in this tree fires trace_kfree_skb/trace_consume_skb (net/core/skbuff.c missing?): used the built-in list of drop functions');

  const reasons: DropReason[] = [];
  for (const f of [probe.reasonsFile, ...subsystemReasonFiles(root, scan.files)]) {
    if (f === null) continue;
    try {
      reasons.push(...parseDropReasons(readFileSync(join(root, f), 'latin1'), f));
    } catch (err) {
      warnings.push(`cannot read drop reasons from ${f}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
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
    unreadable: scan.stats.unreadable, warnings, elapsedMs: 0, timings: scan.timings,
  };
  writeTree(opts.db, {
    info: { root, version: probe.version, indexedAt: (opts.now?.() ?? new Date()).toISOString(), gitHead: gitHead(root) },
    usedSeeds: resolution.usedSeeds, reasonsFile: probe.reasonsFile,
    stats: { ...summary, unreadable: summary.unreadable.length, timings: undefined },
    apis: resolution.apis, functions: resolution.functions, sites: resolution.sites, edges: resolution.edges, reasons, cache: cacheRows,
  });
  summary.elapsedMs = performance.now() - started;
  return summary;
}
