// A layered fixture tree (fixture-tree.ts) indexed into its own database, with the Explainer over it and a
// MachineCode for a hand-assembled image: the setup every small machine-code and ranking test shares.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { sourceLines } from '../../src/explain/source-lines.ts';
import { openForRead, type Db } from '../../src/index/open.ts';
import { allSites, listApis, listReasons, pickTree, type TreeRow } from '../../src/index/read.ts';
import type { CodeImage } from '../../src/machine-code/code-image.ts';
import { MachineCode } from '../../src/machine-code/index.ts';
import { reasonsByValue } from '../../src/kernel/drop-reasons.ts';
import { layeredFixture } from './fixture-tree.ts';

export interface IndexedFixture {
  db: Db;
  tree: TreeRow;
  explainer: Explainer;
  /** The machine code of `image` against this index, as openMachineCode would build it (no modules). */
  codeFor(image: CodeImage): MachineCode;
}

/** Lays `fixtures/<parts…>` over the kernel base in `into`, indexes it into `into/index.sqlite` and opens it. */
export async function indexFixture(into: string, ...parts: string[]): Promise<IndexedFixture> {
  const file = join(into, 'index.sqlite');
  await buildIndex(layeredFixture(into, ...parts), { db: file });
  const db = openForRead(file);
  const tree = pickTree(db, undefined, file);
  const reasons = reasonsByValue(listReasons(db, tree.id));
  const codeFor = (image: CodeImage): MachineCode =>
    new MachineCode({ image, modulesDir: null, apis: listApis(db, tree.id), reasons, lines: sourceLines(tree.root), treeRoot: tree.root, sites: allSites(db, tree.id) });
  return { db, tree, explainer: new Explainer(db, tree), codeFor };
}

/**
 * `indexFixture` for the tests of one file: indexed into a fresh temporary directory (named from `prefix`) before
 * they run, `ready` given the fixture; its database closed and the directory removed after them.
 */
export function indexFixtureForTests(prefix: string, parts: readonly string[], ready: (fx: IndexedFixture) => void): void {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let db: Db | undefined;
  before(async () => {
    const fx = await indexFixture(dir, ...parts);
    db = fx.db;
    ready(fx);
  });
  after(() => {
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });
}
