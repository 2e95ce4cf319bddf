// Source lines of an indexed tree, read once per file: what the renderers show around each site.
import { join } from 'node:path';
import { LIMITS, readRegularText } from '../io/regular-file.ts';

/** A reader of `file`'s lines (index 0 is line 1), or null when the file cannot be read. */
export function sourceLines(root: string): (file: string) => string[] | null {
  const cache = new Map<string, string[] | null>();
  return (file) => {
    if (!cache.has(file)) {
      try {
        cache.set(file, readRegularText(join(root, file), LIMITS.source, file).split('\n'));
      } catch {
        cache.set(file, null);
      }
    }
    return cache.get(file) ?? null;
  };
}
