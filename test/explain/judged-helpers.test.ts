// Helpers gcc inlines only by its own judgement (src/explain/candidates.ts judgedHelper, rank.ts outOfLineFactor): a
// static function of a .c file, not declared inline and called from several places, is inlined only when it is short.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { SOURCE_TUNING } from '../../src/explain/rank.ts';
import { openForRead, type Db } from '../../src/index/open.ts';
import { pickTree } from '../../src/index/read.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { layeredFixture } from '../helpers/fixture-tree.ts';

const FILE = 'drivers/net/judged_rx.c';
const dir = mkdtempSync(join(tmpdir(), 'dropsite-judged-'));
let db: Db;
let explainer: Explainer;
before(async () => {
  const path = join(dir, 'judged.sqlite');
  await buildIndex(layeredFixture(dir, 'explain', 'judged-helpers'), { db: path });
  db = openForRead(path);
  explainer = new Explainer(db, pickTree(db, undefined, path));
});
after(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const explain = (loc: string) => explainer.explain({ ...parseLocation(loc), reason: 'NOT_SPECIFIED' }, { maxCandidates: 10 });

test('a long static helper called from two places weighs less than a short one: gcc keeps it out of line', () => {
  const e = explain('judged_rx+0x40/0x80');
  const at = (line: number) => e.candidates.find((c) => c.file === FILE && c.line === line);
  // judged_rx's own free (67), judged_short's (53), judged_parse's two (29, 35).
  assert.deepEqual(e.candidates.map((c) => c.line).sort((a, b) => a - b), [29, 35, 53, 67]);
  for (const line of [29, 35]) {
    const c = at(line);
    assert.ok(c?.evidence.some((x) => x === 'judged_parse is a static function called from 2 places, 27 lines long and not declared inline: gcc inlines such a function only when it is short, so its drops are most often reported in its own code'), JSON.stringify(c?.evidence));
  }
  // The short helper (8 lines) and the function's own site carry no such factor, and rank above the long helper's sites.
  assert.ok(!(at(53)?.evidence.some((x) => x.includes('gcc inlines such a function only when')) ?? true));
  assert.deepEqual(e.candidates.slice(0, 2).map((c) => c.line).sort((a, b) => a - b), [53, 67]);
  // The factor is the long helpers' (more than SOURCE_TUNING.staticMedium lines): the same helper's weight without it is above the short one's.
  const short = at(53)?.score ?? 0;
  const long = at(29)?.score ?? 0;
  assert.ok(long < short * SOURCE_TUNING.staticLongFactor * 1.25 && long > short * SOURCE_TUNING.staticLongFactor * 0.75, `${long} ${short}`);
});

test('the factor is the helper\'s: from its other caller its sites weigh as little, and the short helper comes first', () => {
  const e = explain('judged_rx_other+0x10/0x40');
  assert.equal(e.candidates[0]?.line, 53);
  assert.ok(e.candidates.filter((c) => c.line === 29 || c.line === 35).every((c) => c.evidence.some((x) => x.includes('gcc inlines such a function only when'))));
});
