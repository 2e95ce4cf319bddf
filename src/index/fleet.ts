// Indexes shipped to a fleet: `--db` names one index file (holding one or several trees) or a directory of them, and
// a host takes the tree whose version matches its running kernel. Built once per kernel version on a build machine
// (`dropsite index`), the files are only read here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IndexError } from '../errors.ts';
import { openForRead, type Db } from './open.ts';
import { listTrees, type TreeRow } from './read.ts';

/** How well the chosen tree fits the running kernel: same x.y.z, same x.y, or not at all (the newest is taken). */
export type KernelMatch = 'version' | 'major-minor' | 'none';

export interface IndexChoice {
  db: Db;
  file: string;
  tree: TreeRow;
  match: KernelMatch;
  /** Files of a directory that are not readable indexes, with why: reported, never fatal. */
  skipped: string[];
}

/** `6.1.0-56-amd64` → [6, 1, 0]; `6.18.44-fc` → [6, 18, 44]. Debian's release string carries the ABI (6.1.0), not the upstream patch level. */
function versionParts(v: string): number[] {
  return (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v)?.slice(1) ?? []).filter((x) => x !== undefined).map(Number);
}

export function kernelMatch(release: string, treeVersion: string | null): KernelMatch {
  if (treeVersion === null) return 'none';
  const r = versionParts(release);
  const t = versionParts(treeVersion);
  if (r.length < 2 || t.length < 2 || r[0] !== t[0] || r[1] !== t[1]) return 'none';
  return r.length === 3 && t.length === 3 && r[2] === t[2] ? 'version' : 'major-minor';
}

const RANK: Record<KernelMatch, number> = { version: 2, 'major-minor': 1, none: 0 };

/**
 * Open the index (or the best index of a directory) for the running kernel `release`. `selector` (--tree) overrides
 * the version match. Throws IndexError when there is no readable index at all; a mismatch is `match: 'none'`.
 */
export function chooseIndexForKernel(path: string, release: string, selector?: string): IndexChoice {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // openForRead says "no index at …"
  }
  const files = isDir ? readdirSync(path).filter((n) => !n.startsWith('.')).sort().map((n) => join(path, n)) : [path];
  const skipped: string[] = [];
  let best: { db: Db; file: string; tree: TreeRow; match: KernelMatch } | null = null;
  for (const file of files) {
    if (isDir && !statSync(file).isFile()) continue;
    let db: Db;
    try {
      db = openForRead(file);
    } catch (err) {
      if (!isDir) throw err;
      skipped.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    let keep = false;
    for (const tree of listTrees(db)) {
      const isSelected = selector !== undefined && (tree.root === selector || tree.version === selector || (tree.version?.startsWith(`${selector}.`) ?? false));
      const match = kernelMatch(release, tree.version);
      const better = best === null
        || (selector !== undefined ? isSelected && !isSelectedTree(best.tree, selector) : RANK[match] > RANK[best.match] || (RANK[match] === RANK[best.match] && tree.indexedAt > best.tree.indexedAt));
      if (!better) continue;
      if (best !== null && best.db !== db) best.db.close();
      best = { db, file, tree, match };
      keep = true;
    }
    if (!keep) db.close();
  }
  if (best === null) {
    throw new IndexError(isDir ? `no dropsite index in ${path}${skipped.length > 0 ? ` (${skipped.length} other file(s) skipped)` : ''}` : `index ${path} holds no tree`, {
      hint: 'build one per kernel version with `dropsite index <tree> --db FILE` and copy the files there',
    });
  }
  if (selector !== undefined && !isSelectedTree(best.tree, selector)) {
    best.db.close();
    throw new IndexError(`no indexed tree in ${path} matches --tree ${selector}`);
  }
  return { ...best, skipped };
}

function isSelectedTree(tree: TreeRow, selector: string): boolean {
  return tree.root === selector || tree.version === selector || (tree.version?.startsWith(`${selector}.`) ?? false);
}
