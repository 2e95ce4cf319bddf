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

/** A file to read although it does not mention skbs, if its text holds one of `names`. */
export interface Promotion {
  path: string;
  names: string[];
}

export type ToWorker =
  | { type: 'load'; files: WorkerFile[]; known: SearchedNames }
  | {
    type: 'scan'; global: string[]; local: Record<string, string[]>; sources: string[];
    /**
     * Files that do not mention skbs but may define or call a name the search needs (Promotion): each is
     * read, and becomes a candidate searched for every name so far if its text holds one of `names`.
     */
    promote: Promotion[];
    /** Candidate files whose `#include` lines the main thread needs (the headers a hand-off call may lead into). */
    includesOf: string[];
  }
  | { type: 'finish' };

export type ToMain =
  | { type: 'progress'; done: number }
  | { type: 'loaded'; files: FileLoad[] }
  | {
    type: 'scanned'; summaries: FileSummary[]; errors: Array<{ path: string; error: string }>;
    /** Files promoted to candidates this round, with their content hash. */
    promoted: Array<{ path: string; hash: string }>;
    /** Per file of `includesOf` this thread holds: the names its `#include` lines give (`linux/ptr_ring.h`, `"x.h"` as `./x.h`). */
    includes: Record<string, string[]>;
  }
  | { type: 'finished'; searched: SearchedNames; extra: Record<string, string[]> };
