// The state of one scanning thread (or of the main thread, for small trees): its share of the
// tree's files, the candidate files' text, and which names were searched in each.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LIMITS, openRegularFile } from '../io/regular-file.ts';
import { FileScan, isCandidate } from './file-scan.ts';
import type { FileLoad, ToMain, ToWorker, WorkerFile } from './protocol.ts';
import type { FileSummary } from './summary.ts';

interface Held {
  file: WorkerFile;
  scan: FileScan | null;
  candidate: boolean;
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

  handle(msg: ToWorker): ToMain {
    if (msg.type === 'load') return this.load(msg.files);
    if (msg.type === 'scan') return this.scan(msg.global, msg.local, msg.sources);
    const searched: Record<string, string[]> = {};
    for (const h of this.held.values()) if (h.candidate) searched[h.file.path] = [...h.searched];
    return { type: 'finished', searched };
  }

  /** One buffer reused for every read: allocating a gigabyte of short-lived buffers costs more than reading it. */
  private buffer = Buffer.allocUnsafe(1 << 20);

  private readInto(path: string): { buf: Buffer; size: number; mtimeMs: number } {
    // A FIFO or a device swapped in after discovery must not block or flood the thread: checked open.
    const { fd } = openRegularFile(join(this.root, path), LIMITS.source, path);
    try {
      const st = fstatSync(fd);
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
            h.candidate = k.candidate;
            for (const n of k.searched) h.searched.add(n);
            loads.push({ path: f.path, size: k.size, mtimeMs: k.mtimeMs, reused: true, candidate: k.candidate, hash: null, nonUtf8: false, error: null });
            continue;
          }
        }
        const { buf, size, mtimeMs } = this.readInto(f.path);
        h.candidate = isCandidate(buf);
        const hash = h.candidate ? createHash('sha1').update(buf).digest('hex') : null;
        // Touched but not changed (a checkout, a copy): the content hash says the stored summaries still hold.
        if (k !== undefined && k.candidate && hash !== null && hash === k.hash) {
          for (const n of k.searched) h.searched.add(n);
          loads.push({ path: f.path, size, mtimeMs, reused: true, candidate: true, hash, nonUtf8: false, error: null });
          continue;
        }
        h.file = { path: f.path };
        if (h.candidate) h.scan = new FileScan(f.path, buf.toString('latin1'));
        loads.push({ path: f.path, size, mtimeMs, reused: false, candidate: h.candidate, hash, nonUtf8: h.candidate && !isUtf8(buf), error: null });
      } catch (err) {
        loads.push({ path: f.path, size: 0, mtimeMs: 0, reused: false, candidate: false, hash: null, nonUtf8: false, error: messageOf(err) });
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

  private scan(global: string[], local: Record<string, string[]>, sources: string[]): ToMain {
    const summaries: FileSummary[] = [];
    const errors: Array<{ path: string; error: string }> = [];
    for (const h of this.held.values()) {
      if (!h.candidate) continue;
      const own = local[h.file.path] ?? [];
      const names = [...global, ...own, ...(h.file.path.endsWith('.c') ? sources : [])].filter((n) => !h.searched.has(n));
      if (names.length === 0) continue;
      for (const n of names) h.searched.add(n);
      if (h.scan === null) {
        try {
          h.scan = new FileScan(h.file.path, this.readInto(h.file.path).buf.toString('latin1'));
          for (const n of h.file.known?.searched ?? []) h.scan.searched.add(n);
        } catch (err) {
          errors.push({ path: h.file.path, error: messageOf(err) });
          h.candidate = false;
          continue;
        }
      }
      const s = h.scan.scan(names, own);
      if (s.functions.length > 0 || s.macros.length > 0 || s.parseErrors > 0) summaries.push(s);
    }
    return { type: 'scanned', summaries, errors };
  }
}
