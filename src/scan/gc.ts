// An explicit garbage collection in each scanning thread between rounds. tree-sitter trees hold native
// memory that V8 does not count, so V8 collects them late: without it a whole-tree index peaked at
// 965 MiB, with it at about 830 MiB (Debian 6.1, 2 threads). Worker threads cannot be started with --expose-gc, hence the flag.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let cached: (() => void) | null | undefined;

/** A full collection; null when the runtime does not offer one. */
export function garbageCollector(): (() => void) | null {
  if (cached !== undefined) return cached;
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  cached = typeof gc === 'function' ? (): void => { gc(); } : null;
  return cached;
}
