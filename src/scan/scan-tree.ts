// Scanning a whole tree: discover files, spread them over worker threads, and search to a fixed point
// (each round's resolution names the wrappers and helpers the next round must look for).
import { availableParallelism } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DropsiteError } from '../errors.ts';
import { INITIAL_NAMES } from '../kernel/drop-functions.ts';
import { packageRoot } from '../package-root.ts';
import { discoverSources } from './discover.ts';
import type { Promotion, SearchedNames, ToMain, ToWorker, WorkerFile } from './protocol.ts';
import { CallIndex, type FileUnits } from './call-index.ts';
import { resolveRound, type Resolution, type RoundResolution } from './resolve.ts';
import { ScanState } from './scan-state.ts';
import type { FileSummary } from './summary.ts';

/** What a previous run stored about one file. */
export interface CachedFile {
  size: number;
  mtimeMs: number;
  hash: string | null;
  candidate: boolean;
  searched: string[];
  units: FileUnits;
  parseErrors: number;
}

export interface ScannedFile extends CachedFile {
  path: string;
}

export interface ScanProgress {
  phase: 'reading' | 'resolving';
  done: number;
  total: number;
  round: number;
}

export interface ScanOptions {
  jobs?: number;
  includeAll?: boolean;
  cache?: ReadonlyMap<string, CachedFile>;
  /** What the run that wrote `cache` searched every file for (CachedFile.searched holds the extras). */
  cacheSearched?: SearchedNames;
  onProgress?: (p: ScanProgress) => void;
}

export interface ScanResult {
  resolution: Resolution;
  files: ScannedFile[];
  /** Names every candidate (every .c candidate) was searched for; ScannedFile.searched holds each file's extras. */
  searched: SearchedNames;
  stats: {
    filesSeen: number;
    filesRead: number;
    filesReused: number;
    candidates: number;
    parseErrorFiles: number;
    nonUtf8Files: number;
    unreadable: Array<{ path: string; error: string }>;
    /** Files with something over a bound of the scanner's work (budget.ts), not parsed, and why. */
    skipped: Array<{ path: string; why: string }>;
    rounds: number;
    /** The search for wrappers stopped at MAX_ROUNDS with names still to look for. */
    roundsExhausted: boolean;
  };
  /** Milliseconds per stage. */
  timings: { discover: number; read: number; search: number; resolve: number };
}

/** Wrapper chains are at most a handful deep; this only bounds a pathological tree. */
const MAX_ROUNDS = 30;

interface Pool {
  size: number;
  request(i: number, msg: ToWorker): Promise<ToMain>;
  close(): Promise<void>;
}

/** The same work in the calling thread: for small trees, and when running from TypeScript sources. */
function inlinePool(root: string, onProgress: (done: number) => void): Pool {
  const state = new ScanState(root, onProgress);
  return {
    size: 1,
    request: async (_i, msg) => state.handle(msg),
    close: async () => undefined,
  };
}

/** A scanning thread that failed: its reply could not be read, it threw, or it exited. Nothing is written. */
export class ScanThreadError extends DropsiteError {}

function threadPool(n: number, root: string, onProgress: (done: number) => void): Pool {
  const workers: Worker[] = [];
  const waiting: Array<{ res: (m: ToMain) => void; rej: (e: Error) => void } | null> = [];
  // Every way a thread can fail ends the request it owes: a reply that cannot be deserialised
  // (messageerror) or a thread that died would otherwise leave the main thread waiting forever.
  let failure: Error | null = null;
  const fail = (i: number, why: string): void => {
    failure ??= new ScanThreadError(`scanning thread ${i + 1} of ${n} ${why}; the index was not changed`, {
      hint: 'please report it with the tree it happened on; --jobs 1 scans in the main thread',
    });
    const r = waiting[i];
    waiting[i] = null;
    r?.rej(failure);
  };
  for (let i = 0; i < n; i++) {
    // A smaller young generation than V8's default: each thread's nursery is mostly short-lived parse
    // garbage. On Debian 6.1 a whole-tree index peaked about 30 MiB lower with it.
    const w = new Worker(join(packageRoot(), 'dist', 'scan', 'worker.js'), { workerData: { root }, resourceLimits: { maxYoungGenerationSizeMb: 16 } });
    w.on('message', (m: ToMain) => {
      if (m.type === 'progress') {
        onProgress(m.done);
        return;
      }
      const r = waiting[i];
      waiting[i] = null;
      r?.res(m);
    });
    w.on('messageerror', (e) => fail(i, `sent a reply that could not be read (${e.message})`));
    w.on('error', (e) => fail(i, `failed: ${e.message}`));
    w.on('exit', (code) => fail(i, `exited (code ${code})`));
    workers.push(w);
    waiting.push(null);
  }
  return {
    size: n,
    request(i, msg) {
      return new Promise((res, rej) => {
        if (failure !== null) {
          rej(failure);
          return;
        }
        waiting[i] = { res, rej };
        workers[i]?.postMessage(msg);
      });
    },
    async close() {
      for (const w of workers) w.removeAllListeners('exit');
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/**
 * Files the search reads although they do not mention skbs: the .c files of the directory of an extern
 * function that ends by freeing (its callers), and the headers a file that hands a function to an
 * undefined inline function includes (where that function is defined). Each file and name is asked once.
 */
class Reach {
  private readonly byDir = new Map<string, string[]>();
  private readonly headers = new Map<string, string[]>();
  private readonly sourceSet: ReadonlySet<string>;
  private readonly candidates: ReadonlySet<string>;
  private readonly asked = new Map<string, Set<string>>();
  private readonly includesAsked = new Set<string>();

  constructor(sources: readonly string[], candidates: ReadonlySet<string>) {
    this.sourceSet = new Set(sources);
    this.candidates = candidates;
    for (const p of sources) {
      if (p.endsWith('.c')) {
        const d = dirname(p);
        const list = this.byDir.get(d);
        if (list === undefined) this.byDir.set(d, [p]);
        else list.push(p);
      } else if (p.endsWith('.h')) {
        // `<linux/x.h>` names include/linux/x.h and arch/*/include/linux/x.h.
        const m = /(?:^|\/)include\/(.+)$/.exec(p);
        const key = m?.[1];
        if (key === undefined) continue;
        const list = this.headers.get(key);
        if (list === undefined) this.headers.set(key, [p]);
        else list.push(p);
      }
    }
  }

  private ask(path: string, names: Iterable<string>, out: Map<string, Set<string>>): void {
    if (this.candidates.has(path)) return;
    let done = this.asked.get(path);
    if (done === undefined) this.asked.set(path, (done = new Set()));
    for (const n of names) {
      if (done.has(n)) continue;
      done.add(n);
      let set = out.get(path);
      if (set === undefined) out.set(path, (set = new Set()));
      set.add(n);
    }
  }

  *promotions(r: RoundResolution, includes: ReadonlyMap<string, readonly string[]>): Iterable<Promotion> {
    const out = new Map<string, Set<string>>();
    const namesByDir = new Map<string, string[]>();
    for (const [name, file] of r.tailFiles) {
      const d = dirname(file);
      const list = namesByDir.get(d);
      if (list === undefined) namesByDir.set(d, [name]);
      else list.push(name);
    }
    for (const [d, names] of namesByDir) for (const p of this.byDir.get(d) ?? []) this.ask(p, names, out);
    for (const [file, list] of includes) {
      const callees = r.handOffCallees.get(file);
      if (callees === undefined) continue;
      for (const inc of list) {
        const paths = inc.startsWith('./') ? [posix.normalize(posix.join(dirname(file), inc))].filter((p) => this.sourceSet.has(p)) : this.headers.get(inc) ?? [];
        for (const p of paths) this.ask(p, callees, out);
      }
    }
    for (const [path, names] of out) yield { path, names: [...names] };
  }

  includesToAsk(r: RoundResolution): string[] {
    const out: string[] = [];
    for (const file of r.handOffCallees.keys()) {
      if (this.includesAsked.has(file)) continue;
      this.includesAsked.add(file);
      out.push(file);
    }
    return out;
  }
}

export async function scanTree(root: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const t0 = performance.now();
  const timings = { discover: 0, read: 0, search: 0, resolve: 0 };
  const { paths: sources, unreadableDirs } = discoverSources(root, opts.includeAll === true ? { includeAll: true } : {});
  // Threads pay off only on real trees; from TypeScript sources (tests, benchmarks) there is no compiled worker.
  const fromSources = import.meta.url.endsWith('.ts');
  const jobs = fromSources ? 1 : Math.max(1, Math.min(opts.jobs ?? availableParallelism(), 64, Math.ceil(sources.length / 2000)));
  timings.discover = performance.now() - t0;
  let done = 0;
  let round = 0;
  const report = (phase: ScanProgress['phase']): void => opts.onProgress?.({ phase, done, total: sources.length, round });
  const onRead = (n: number): void => {
    done += n;
    report('reading');
  };
  const pool = jobs === 1 ? inlinePool(root, onRead) : threadPool(jobs, root, onRead);
  try {
    const cache = opts.cache ?? new Map<string, CachedFile>();
    // Every file's summaries, and who calls and passes what, kept up to date round after round.
    const index = new CallIndex();
    const units: ReadonlyMap<string, FileUnits> = index.files;
    const parseErrors = new Map<string, number>();
    const hashes = new Map<string, string | null>();
    const candidates = new Set<string>();
    let filesReused = 0;
    let filesRead = 0;
    // Deal files round-robin in path order: neighbouring files are alike in size and in skb content.
    const shares: WorkerFile[][] = Array.from({ length: jobs }, () => []);
    sources.forEach((path, i) => {
      const c = cache.get(path);
      const wf: WorkerFile = { path };
      if (c !== undefined) wf.known = { size: c.size, mtimeMs: c.mtimeMs, hash: c.hash, candidate: c.candidate, searched: c.searched };
      shares[i % jobs]?.push(wf);
    });
    const unreadable: Array<{ path: string; error: string }> = [...unreadableDirs];
    let nonUtf8Files = 0;
    const stat = new Map<string, { size: number; mtimeMs: number }>();
    const known = opts.cacheSearched ?? { all: [], sources: [] };
    const loaded = await Promise.all(shares.map((files, i) => pool.request(i, { type: 'load', files, known })));
    for (const m of loaded) {
      if (m.type !== 'loaded') continue;
      for (const f of m.files) {
        stat.set(f.path, { size: f.size, mtimeMs: f.mtimeMs });
        if (f.error !== null) unreadable.push({ path: f.path, error: f.error });
        if (f.skipped !== null) {
          candidates.add(f.path);
          index.add(f.path, { functions: [], macros: [], skipped: [f.skipped] });
        }
        if (f.nonUtf8) nonUtf8Files++;
        if (f.reused) {
          filesReused++;
          const c = cache.get(f.path);
          if (c?.candidate === true) {
            candidates.add(f.path);
            index.add(f.path, c.units);
            parseErrors.set(f.path, c.parseErrors);
            hashes.set(f.path, c.hash);
          }
          if (f.hash !== null) filesRead++;
        } else {
          filesRead++;
          if (f.candidate) {
            candidates.add(f.path);
            hashes.set(f.path, f.hash);
          }
        }
      }
    }
    done = sources.length;
    report('reading');
    timings.read = performance.now() - t0 - timings.discover;

    const addSummaries = (list: FileSummary[]): void => {
      for (const s of list) {
        index.add(s.file, s);
        parseErrors.set(s.file, (parseErrors.get(s.file) ?? 0) + s.parseErrors);
      }
    };
    // Every round sends all wanted names; each thread skips what a file was already searched for.
    const wantGlobal = new Set<string>(INITIAL_NAMES);
    const wantLocal = new Map<string, Set<string>>();
    const wantSources = new Set<string>();
    let latest: RoundResolution;
    let roundsExhausted = false;
    const reach = new Reach(sources, candidates);
    let promote: Promotion[] = [];
    let includesOf: string[] = [];
    for (;;) {
      round++;
      report('resolving');
      const local = Object.fromEntries([...wantLocal].map(([f, names]) => [f, [...names]]));
      const msg: ToWorker = { type: 'scan', global: [...wantGlobal], local, sources: [...wantSources], promote, includesOf };
      const replies = await Promise.all(Array.from({ length: pool.size }, (_, i) => pool.request(i, msg)));
      const includes = new Map<string, string[]>();
      for (const m of replies) {
        if (m.type !== 'scanned') continue;
        for (const p of m.promoted) {
          candidates.add(p.path);
          hashes.set(p.path, p.hash);
        }
        addSummaries(m.summaries);
        for (const e of m.errors) {
          unreadable.push(e);
          candidates.delete(e.path);
        }
        for (const [f, list] of Object.entries(m.includes)) includes.set(f, list);
      }
      const tr = performance.now();
      latest = resolveRound(index);
      timings.resolve += performance.now() - tr;
      let grew = false;
      for (const n of latest.globalNames) {
        if (!wantGlobal.has(n)) {
          wantGlobal.add(n);
          grew = true;
        }
      }
      for (const n of latest.sourceNames) {
        if (!wantSources.has(n) && !wantGlobal.has(n)) {
          wantSources.add(n);
          grew = true;
        }
      }
      for (const [file, names] of latest.localNames) {
        let want = wantLocal.get(file);
        if (want === undefined) wantLocal.set(file, (want = new Set()));
        for (const n of names) {
          if (!want.has(n) && !wantGlobal.has(n)) {
            want.add(n);
            grew = true;
          }
        }
      }
      // Files that do not mention skbs but may hold what the search needs, read next round.
      promote = [...reach.promotions(latest, includes)];
      includesOf = reach.includesToAsk(latest);
      if (!grew && promote.length === 0 && includesOf.length === 0) break;
      if (round >= MAX_ROUNDS) {
        roundsExhausted = true;
        break;
      }
    }
    const tc = performance.now();
    const resolution: Resolution = latest.complete();
    timings.resolve += performance.now() - tc;
    const finished = await Promise.all(Array.from({ length: pool.size }, (_, i) => pool.request(i, { type: 'finish' })));
    const searched = new Map<string, string[]>();
    // Every thread was sent the same names: any thread's lists are the tree's.
    let searchedAll: SearchedNames = { all: [], sources: [] };
    for (const m of finished) {
      if (m.type !== 'finished') continue;
      searchedAll = m.searched;
      for (const [p, s] of Object.entries(m.extra)) searched.set(p, s);
    }
    const files: ScannedFile[] = [];
    const skipped: Array<{ path: string; why: string }> = [];
    for (const path of sources) {
      for (const why of units.get(path)?.skipped ?? []) skipped.push({ path, why });
      const isCand = candidates.has(path);
      const st = stat.get(path) ?? { size: 0, mtimeMs: 0 };
      files.push({
        path, size: st.size, mtimeMs: st.mtimeMs, hash: hashes.get(path) ?? null, candidate: isCand,
        searched: isCand ? searched.get(path) ?? [] : [],
        units: units.get(path) ?? { functions: [], macros: [] }, parseErrors: parseErrors.get(path) ?? 0,
      });
    }
    return {
      resolution,
      files,
      searched: searchedAll,
      stats: {
        filesSeen: sources.length, filesRead, filesReused, candidates: candidates.size,
        parseErrorFiles: [...parseErrors.values()].filter((n) => n > 0).length, nonUtf8Files, unreadable, skipped, rounds: round, roundsExhausted,
      },
      timings: { ...timings, search: performance.now() - t0 - timings.discover - timings.read - timings.resolve },
    };
  } finally {
    await pool.close();
  }
}
