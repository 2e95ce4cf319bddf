// Helpers gcc inlines only by its own judgement (src/explain/candidates.ts judgedHelper, rank.ts outOfLineFactor): a
// static function of a .c file, not declared inline and called from several places, is inlined only when it is short;
// and an inline function of a header is inlined wherever it is called (rank.ts SOURCE_TUNING.headerChainFactor).
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
  // judged_rx's own free (68), judged_short's (54), judged_parse's two (30, 36).
  assert.deepEqual(e.candidates.map((c) => c.line).sort((a, b) => a - b), [30, 36, 54, 68]);
  for (const line of [30, 36]) {
    const c = at(line);
    assert.ok(c?.evidence.some((x) => x === 'judged_parse is a static function called from 2 places, 27 lines long and not declared inline: gcc inlines such a function only when it is short, so its drops are most often reported in its own code'), JSON.stringify(c?.evidence));
  }
  // The short helper (8 lines) and the function's own site carry no such factor, and rank above the long helper's sites.
  assert.ok(!(at(54)?.evidence.some((x) => x.includes('gcc inlines such a function only when')) ?? true));
  assert.deepEqual(e.candidates.slice(0, 2).map((c) => c.line).sort((a, b) => a - b), [54, 68]);
  // The factor is the long helpers' (more than SOURCE_TUNING.staticMedium lines): the same helper's weight without it is above the short one's.
  const short = at(54)?.score ?? 0;
  const long = at(30)?.score ?? 0;
  assert.ok(long < short * SOURCE_TUNING.staticLongFactor * 1.25 && long > short * SOURCE_TUNING.staticLongFactor * 0.75, `${long} ${short}`);
});

test('the factor is the helper\'s: from its other caller its sites weigh as little, and the short helper comes first', () => {
  const e = explain('judged_rx_other+0x10/0x40');
  assert.equal(e.candidates[0]?.line, 54);
  assert.ok(e.candidates.filter((c) => c.line === 30 || c.line === 36).every((c) => c.evidence.some((x) => x.includes('gcc inlines such a function only when'))));
});

test('a header inline called from two places weighs as an inline, not as a helper gcc may keep out of line', () => {
  const e = explain('judged_rx_checked+0x20/0x60');
  const inHeader = e.candidates.find((c) => c.file === 'include/linux/judged_util.h');
  const own = e.candidates.find((c) => c.file === FILE && c.line === 88);
  assert.ok(inHeader !== undefined && own !== undefined, JSON.stringify(e.candidates.map((c) => `${c.file}:${c.line}`)));
  assert.ok(inHeader.evidence.includes('judged_check is an inline function of a header: inlined wherever called unless gcc finds it too long'), JSON.stringify(inHeader.evidence));
  // Its weight against the function's own site is the factor, within what the offset term moves (0.85 to 1).
  const ratio = inHeader.score / own.score;
  assert.ok(ratio > SOURCE_TUNING.headerChainFactor * 0.85 && ratio < SOURCE_TUNING.headerChainFactor / 0.85, String(ratio));
});
