// The state of one scanning thread (or of the main thread, for small trees): its share of the
// tree's files, the candidate files' text, and which names were searched in each.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUDGET, mib } from './budget.ts';
import { LIMITS, openRegularFile } from '../io/regular-file.ts';
import { FileScan, isCandidate } from './file-scan.ts';
import type { FileLoad, Promotion, SearchedNames, ToMain, ToWorker, WorkerFile } from './protocol.ts';
import type { FileSummary } from './summary.ts';

interface Held {
  file: WorkerFile;
  scan: FileScan | null;
  candidate: boolean;
  /** Names this file was searched for beyond those every file was (ScanState.done*): its own statics. */
  searched: Set<string>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(buf: Buffer): boolean {
  try {
    utf8.decode(buf);
    return true;
  } catch {
    return false;
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class ScanState {
  private readonly held = new Map<string, Held>();
  private readonly root: string;
  private readonly progress: (done: number) => void;

  constructor(root: string, progress: (done: number) => void) {
    this.root = root;
    this.progress = progress;
  }

  /** Names every held candidate (every .c candidate) has been searched for in this run. */
  private readonly doneAll = new Set<string>();
  private readonly doneSources = new Set<string>();
  /** What the previous run searched every file for: files it reused need not be searched again. */
  private knownAll: ReadonlySet<string> = new Set();
  private knownSources: ReadonlySet<string> = new Set();

  handle(msg: ToWorker): ToMain {
    if (msg.type === 'load') {
      this.knownAll = new Set(msg.known.all);
      this.knownSources = new Set(msg.known.sources);
      return this.load(msg.files);
    }
    if (msg.type === 'scan') return this.scan(msg.global, msg.local, msg.sources, msg.promote, msg.includesOf);
    const extra: Record<string, string[]> = {};
    for (const h of this.held.values()) if (h.candidate && h.searched.size > 0) extra[h.file.path] = [...h.searched];
    const searched: SearchedNames = { all: [...this.doneAll], sources: [...this.doneSources] };
    return { type: 'finished', searched, extra };
  }

  /** One buffer reused for every read: allocating a gigabyte of short-lived buffers costs more than reading it. */
  private buffer = Buffer.allocUnsafe(1 << 20);

  /**
   * A file over the candidate bound is not held: it is read a window at a time to see whether it
   * mentions skbs (Debian's 6.1 has generated register headers of up to 24 MB that do not).
   */
  private mentionsSkbs(fd: number, size: number): boolean {
    const window = this.buffer.subarray(0, 1 << 20);
    const overlap = 'sk_buff'.length;
    for (let pos = 0; pos < size; pos += window.length - overlap) {
      const n = readSync(fd, window, 0, window.length, pos);
      if (n <= 0) break;
      if (isCandidate(window.subarray(0, n))) return true;
      if (pos + n >= size) break;
    }
    return false;
  }

  private readInto(path: string): { buf: Buffer; size: number; mtimeMs: number } | { oversized: boolean; size: number; mtimeMs: number } {
    // A FIFO or a device swapped in after discovery must not block or flood the thread: checked open.
    // Files over the candidate bound are only read a window at a time (mentionsSkbs), so the open takes the large bound.
    const { fd } = openRegularFile(join(this.root, path), LIMITS.binary, path);
    try {
      const st = fstatSync(fd);
      if (st.size > BUDGET.candidateBytes) return { oversized: this.mentionsSkbs(fd, st.size), size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
      if (st.size > this.buffer.length) this.buffer = Buffer.allocUnsafe(st.size + (1 << 20));
      let n = 0;
      while (n < st.size) {
        const r = readSync(fd, this.buffer, n, st.size - n, n);
        if (r === 0) break;
        n += r;
      }
      return { buf: this.buffer.subarray(0, n), size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
    } finally {
      closeSync(fd);
    }
  }

  private load(files: WorkerFile[]): ToMain {
    let pending = 0;
    const loads: FileLoad[] = [];
    for (const f of files) {
      const h: Held = { file: f, scan: null, candidate: false, searched: new Set<string>() };
      this.held.set(f.path, h);
      try {
        const k = f.known;
        if (k !== undefined) {
          const st = statSync(join(this.root, f.path));
          if (st.size === k.size && Math.trunc(st.mtimeMs) === k.mtimeMs) {
            // A candidate over the bound stays unread: its stored summary names it as skipped.
            h.candidate = k.candidate && k.size <= BUDGET.candidateBytes;
            for (const n of k.searched) h.searched.add(n);
            loads.push({ path: f.path, size: k.size, mtimeMs: k.mtimeMs, reused: true, candidate: k.candidate, hash: null, nonUtf8: false, error: null, skipped: null });
            continue;
          }
        }
        const read = this.readInto(f.path);
        if (!('buf' in read)) {
          const { size, mtimeMs, oversized } = read;
          const skipped = oversized ? `${mib(size)}, more than the ${mib(BUDGET.candidateBytes)} bound for a file that mentions skbs: not read` : null;
          loads.push({ path: f.path, size, mtimeMs, reused: false, candidate: oversized, hash: null, nonUtf8: false, error: null, skipped });
          continue;
        }
        const { buf, size, mtimeMs } = read;
        h.candidate = isCandidate(buf);
        const hash = h.candidate ? createHash('sha1').update(buf).digest('hex') : null;
        // Touched but not changed (a checkout, a copy): the content hash says the stored summaries still hold.
        if (k !== undefined && k.candidate && hash !== null && hash === k.hash) {
          for (const n of k.searched) h.searched.add(n);
          loads.push({ path: f.path, size, mtimeMs, reused: true, candidate: true, hash, nonUtf8: false, error: null, skipped: null });
          continue;
        }
        h.file = { path: f.path };
        if (h.candidate) h.scan = new FileScan(f.path, buf.toString('latin1'));
        loads.push({ path: f.path, size, mtimeMs, reused: false, candidate: h.candidate, hash, nonUtf8: h.candidate && !isUtf8(buf), error: null, skipped: null });
      } catch (err) {
        loads.push({ path: f.path, size: 0, mtimeMs: 0, reused: false, candidate: false, hash: null, nonUtf8: false, error: messageOf(err), skipped: null });
      } finally {
        if (++pending === 500) {
          this.progress(pending);
          pending = 0;
        }
      }
    }
    this.progress(pending);
    return { type: 'loaded', files: loads };
  }

  /**
   * One round: search every candidate for the names it was not searched for yet. The lists of new
   * names are built once per round and shared by the files, so a round costs the files' text plus
   * the new names, not files × names (a tree of 10,000 wrappers ran the threads out of memory).
   */
  /**
   * Make the held files of `list` that hold one of their names candidates: they did not mention skbs,
   * but the main thread found that they may define or call a name the search needs. Each is then
   * searched for every name so far, as if it had been a candidate from the start.
   */
  private promote(list: readonly Promotion[], promoted: Array<{ path: string; hash: string }>, errors: Array<{ path: string; error: string }>): Set<Held> {
    const fresh = new Set<Held>();
    for (const p of list) {
      const h = this.held.get(p.path);
      if (h === undefined || h.candidate) continue;
      try {
        const read = this.readInto(p.path);
        if (!('buf' in read)) continue;
        if (!p.names.some((n) => read.buf.indexOf(n) >= 0)) continue;
        const hash = createHash('sha1').update(read.buf).digest('hex');
        h.candidate = true;
        h.file = { path: p.path };
        h.searched.clear();
        h.scan = new FileScan(p.path, read.buf.toString('latin1'));
        promoted.push({ path: p.path, hash });
        fresh.add(h);
      } catch (err) {
        errors.push({ path: p.path, error: messageOf(err) });
      }
    }
    return fresh;
  }

  /** The names of each held candidate's `#include` lines, for the files asked. */
  private includes(files: readonly string[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const f of files) {
      const h = this.held.get(f);
      if (h === undefined || !h.candidate) continue;
      try {
        if (h.scan === null) {
          const read = this.readInto(f);
          if (!('buf' in read)) continue;
          h.scan = new FileScan(f, read.buf.toString('latin1'));
        }
        out[f] = h.scan.includes();
      } catch {
        // Unreadable since it was loaded: the round's scan reports it.
      }
    }
    return out;
  }

  private scan(global: string[], local: Record<string, string[]>, sources: string[], promote: readonly Promotion[] = [], includesOf: readonly string[] = []): ToMain {
    const summaries: FileSummary[] = [];
    const errors: Array<{ path: string; error: string }> = [];
    const promoted: Array<{ path: string; hash: string }> = [];
    const fresh = this.promote(promote, promoted, errors);
    const newAll = global.filter((n) => !this.doneAll.has(n));
    const newAllSet = new Set(newAll);
    const newSources = sources.filter((n) => !this.doneSources.has(n) && !this.doneAll.has(n) && !newAllSet.has(n));
    const forC = [...newAll.filter((n) => !this.doneSources.has(n)), ...newSources];
    const reusedAll = newAll.filter((n) => !this.knownAll.has(n));
    const reusedC = forC.filter((n) => !this.knownAll.has(n) && !this.knownSources.has(n));
    const searchedByAll = (n: string, reused: boolean, isC: boolean): boolean => this.doneAll.has(n) || newAllSet.has(n)
      || (isC && (this.doneSources.has(n) || newSources.includes(n))) || (reused && (this.knownAll.has(n) || (isC && this.knownSources.has(n))));
    // One set per list of names: the files of a round share the lists.
    const nameSets = new WeakMap<readonly string[], Set<string>>();
    for (const h of this.held.values()) {
      if (!h.candidate) continue;
      const isC = h.file.path.endsWith('.c');
      const reused = h.file.known !== undefined;
      let names = reused ? (isC ? reusedC : reusedAll) : (isC ? forC : newAll);
      // Promoted this round: every name so far, not only the new ones.
      if (fresh.has(h)) names = [...new Set([...this.doneAll, ...newAll, ...(isC ? [...this.doneSources, ...newSources] : [])])];
      // Files with names of their own (searched as statics, or by a previous run) filter the shared list.
      if (h.searched.size > 0 && names.length > 0) names = names.filter((n) => !h.searched.has(n));
      const own = (local[h.file.path] ?? []).filter((n) => !h.searched.has(n) && !searchedByAll(n, reused, isC));
      for (const n of own) h.searched.add(n);
      if (own.length > 0) names = [...names, ...own];
      if (names.length === 0) continue;
      if (h.scan === null) {
        try {
          const read = this.readInto(h.file.path);
          if (!('buf' in read)) throw new Error(`grew to ${mib(read.size)} since it was indexed, more than the ${mib(BUDGET.candidateBytes)} bound`);
          h.scan = new FileScan(h.file.path, read.buf.toString('latin1'));
        } catch (err) {
          errors.push({ path: h.file.path, error: messageOf(err) });
          h.candidate = false;
          continue;
        }
      }
      let set = nameSets.get(names);
      if (set === undefined) nameSets.set(names, (set = new Set(names)));
      const s = h.scan.scan(set);
      if (s.functions.length > 0 || s.macros.length > 0 || s.parseErrors > 0 || s.skipped.length > 0) summaries.push(s);
    }
    for (const n of newAll) this.doneAll.add(n);
    for (const n of newSources) this.doneSources.add(n);
    return { type: 'scanned', summaries, errors, promoted, includes: this.includes(includesOf) };
  }
}
