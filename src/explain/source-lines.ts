// Source lines of an indexed tree, read once per file: what the renderers show around each site.
// The cache is bounded (a batch of 200,000 locations can name thousands of files): the files used
// least recently go first once the cached text passes CACHE_CHARS.
import { join } from 'node:path';
import { LIMITS, readRegularText } from '../io/regular-file.ts';

const CACHE_CHARS = 64 * 1024 * 1024;

/** A reader of `file`'s lines (index 0 is line 1), or null when the file cannot be read. */
export function sourceLines(root: string, maxChars = CACHE_CHARS): (file: string) => string[] | null {
  // A Map keeps insertion order: re-inserting on each use makes its first key the least recently used.
  const cache = new Map<string, { lines: string[] | null; chars: number }>();
  let chars = 0;
  return (file) => {
    const hit = cache.get(file);
    if (hit !== undefined) {
      cache.delete(file);
      cache.set(file, hit);
      return hit.lines;
    }
    let entry: { lines: string[] | null; chars: number };
    try {
      const text = readRegularText(join(root, file), LIMITS.source, file);
      entry = { lines: text.split('\n'), chars: text.length };
    } catch {
      entry = { lines: null, chars: 0 };
    }
    cache.set(file, entry);
    chars += entry.chars;
    for (const [k, v] of cache) {
      if (chars <= maxChars || k === file) break;
      cache.delete(k);
      chars -= v.chars;
    }
    return entry.lines;
  };
}
