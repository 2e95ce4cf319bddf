// Whether the source files an answer shows are still the ones that were indexed. Lines added to a
// file after indexing shift every site below them: explain would mark the wrong line as the drop.
// Compared like the index's own cache: size and mtime, then the content hash when only those moved.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { LIMITS, readRegularFile } from '../io/regular-file.ts';
import type { Db } from './open.ts';
import type { TreeRow } from './read.ts';

/** The files among `files` (tree-relative) that changed or went away since `tree` was indexed. */
export function changedSinceIndexed(db: Db, tree: TreeRow, files: Iterable<string>): string[] {
  const row = db.prepare('SELECT size, mtime_ms, hash FROM file_cache WHERE tree_id = ? AND path = ?');
  const changed: string[] = [];
  for (const file of new Set(files)) {
    const stored = row.get(tree.id, file) as { size: number; mtime_ms: number; hash: string | null } | undefined;
    if (stored === undefined) continue;
    const path = join(tree.root, file);
    try {
      const st = statSync(path);
      if (st.size === stored.size && Math.trunc(st.mtimeMs) === stored.mtime_ms) continue;
      if (st.size === stored.size && stored.hash !== null
        && createHash('sha1').update(readRegularFile(path, LIMITS.source)).digest('hex') === stored.hash) continue;
    } catch {
      // Gone, or no longer a readable regular file: changed too.
    }
    changed.push(file);
  }
  return changed.sort();
}

/** The one warning for them, or null. */
export function changedWarning(tree: TreeRow, changed: readonly string[]): string | null {
  if (changed.length === 0) return null;
  const named = changed.slice(0, 3).join(', ') + (changed.length > 3 ? ` and ${changed.length - 3} more` : '');
  return `${changed.length === 1 ? 'a file' : `${changed.length} files`} shown changed since ${tree.root} was indexed (${named}): `
    + `line numbers and marked lines may be wrong; run \`dropsite index ${tree.root}\` to update the index`;
}
