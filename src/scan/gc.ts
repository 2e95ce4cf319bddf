// An explicit garbage collection between scan rounds. tree-sitter trees hold native memory that V8
// does not count, and each round leaves large short-lived maps behind, so V8 collects too late and a
// whole-tree index would pass 1 GiB. Worker threads cannot be started with --expose-gc, hence the flag.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let cached: ((minor?: boolean) => void) | null | undefined;

/** A full collection, or with `minor` only the young generation (cheap: where parse trees die). */
export function garbageCollector(): ((minor?: boolean) => void) | null {
  if (cached !== undefined) return cached;
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  cached = typeof gc === 'function' ? (minor?: boolean): void => { gc(minor === true ? { type: 'minor' } : undefined); } : null;
  return cached;
}
