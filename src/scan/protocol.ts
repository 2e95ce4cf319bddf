// Messages between the scanning threads and the main thread.
import type { FileSummary } from './summary.ts';

export interface WorkerFile {
  path: string;
  /** What a previous run learnt about this file; used when its size and mtime are unchanged. */
  known?: { size: number; mtimeMs: number; hash: string | null; candidate: boolean; searched: string[] };
}

/**
 * The names a previous run searched for: every candidate file for `all`, every .c file also for
 * `sources`, and each file for its own `searched` extras (WorkerFile.known). Kept per tree, not per
 * file: a tree of 10,000 wrappers would otherwise store 10,000 names for each of its files.
 */
export interface SearchedNames {
  all: string[];
  sources: string[];
}

export interface FileLoad {
  path: string;
  size: number;
  mtimeMs: number;
  /** The previous run's results still hold (same size and mtime). */
  reused: boolean;
  candidate: boolean;
  hash: string | null;
  nonUtf8: boolean;
  error: string | null;
  /** Over a bound of the scanner's work (budget.ts): why the file was not read. */
  skipped: string | null;
}

export type ToWorker =
  | { type: 'load'; files: WorkerFile[]; known: SearchedNames }
  | { type: 'scan'; global: string[]; local: Record<string, string[]>; sources: string[] }
  | { type: 'finish' };

export type ToMain =
  | { type: 'progress'; done: number }
  | { type: 'loaded'; files: FileLoad[] }
  | { type: 'scanned'; summaries: FileSummary[]; errors: Array<{ path: string; error: string }> }
  | { type: 'finished'; searched: SearchedNames; extra: Record<string, string[]> };
