// Which files of a tree are C sources to index. A plain directory walk: it stats nothing (the
// threads that read the files stat them), follows no symlink (so a loop cannot trap it), and
// reports directories it cannot read instead of failing.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Top-level folders that hold no kernel code that runs (userspace tools, docs, build scripts). */
export const SKIPPED_DIRS = ['tools', 'scripts', 'samples', 'Documentation'] as const;

export interface Discovery {
  /** Tree-relative POSIX paths, sorted. */
  paths: string[];
  unreadableDirs: Array<{ path: string; error: string }>;
}

export function discoverSources(root: string, opts: { includeAll?: boolean } = {}): Discovery {
  const skipped = new Set<string>(opts.includeAll === true ? [] : SKIPPED_DIRS);
  const paths: string[] = [];
  const unreadableDirs: Array<{ path: string; error: string }> = [];
  const walk = (rel: string): void => {
    let entries;
    try {
      entries = readdirSync(rel === '' ? root : join(root, rel), { withFileTypes: true });
    } catch (err) {
      unreadableDirs.push({ path: rel === '' ? '.' : rel, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    for (const e of entries) {
      const name = e.name;
      if (name.startsWith('.')) continue;
      const path = rel === '' ? name : `${rel}/${name}`;
      if (e.isDirectory()) {
        if (rel === '' && skipped.has(name)) continue;
        walk(path);
      } else if (e.isFile() && (name.endsWith('.c') || name.endsWith('.h'))) {
        paths.push(path);
      }
    }
  };
  walk('');
  paths.sort();
  return { paths, unreadableDirs };
}
