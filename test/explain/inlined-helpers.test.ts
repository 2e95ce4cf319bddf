// Sites inside static helpers inlined into the function a location names (src/explain/candidates.ts, rank.ts,
// twin-blocks.ts): a fourth helper level below helpers that are all called once, and twins across helpers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { openForRead, type Db } from '../../src/index/open.ts';
import { pickTree } from '../../src/index/read.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { layeredFixture } from '../helpers/fixture-tree.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-inlined-'));
let db: Db;
let explainer: Explainer;
before(async () => {
  const path = join(dir, 'inlined.sqlite');
  await buildIndex(layeredFixture(dir, 'explain', 'inlined-helpers'), { db: path });
  db = openForRead(path);
  explainer = new Explainer(db, pickTree(db, undefined, path));
});
after(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const explain = (loc: string) => explainer.explain({ ...parseLocation(loc), reason: 'NOT_SPECIFIED' });

test('the same block in two inlined helpers is one twin group: the lower-scored copy makes room for other code', () => {
  const e = explain('fwd_xmit+0x40/0x80');
  // fwd_check_mac (line 20) and fwd_check_len (line 29) both free and return -ERANGE; the function's own checks are 40 and 54.
  assert.deepEqual(e.candidates.map((c) => c.line), [29, 40, 54, 20]);
  const twin = e.candidates[3];
  assert.ok(twin?.evidence.some((x) => x.includes('the same code (kfree_skb(skb); return-ERANGE;) as fwd_path.c:29 (in fwd_check_len, inlined into the same function)')), JSON.stringify(twin?.evidence));
  // Without the twin rule, line 20 would rank above line 54: each check's own weight is its position alone.
  const weight = (line: number): number => e.candidates.find((c) => c.line === line)?.score ?? 0;
  assert.ok(weight(20) / 0.85 > weight(54), `${weight(20)} ${weight(54)}`);
});

test('twins in two helpers scored the same (called from one line) are both kept: nothing says which copy gcc keeps', () => {
  const e = explain('fwd_either+0x20/0x40');
  assert.deepEqual(e.candidates.map((c) => c.line).sort(), [64, 73]);
  assert.equal(e.candidates[0]?.score, e.candidates[1]?.score);
  assert.ok(e.candidates.every((c) => !c.evidence.some((x) => x.includes('the same code'))));
});

test('a fourth helper level is followed below helpers that are all static and called once, not below others', () => {
  const deep = explain('fwd_deep+0x10/0x20');
  const inner = deep.candidates.find((c) => c.function === 'fwd_level4');
  assert.deepEqual(inner?.via, ['fwd_level1', 'fwd_level2', 'fwd_level3', 'fwd_level4']);
  assert.ok(inner?.evidence.some((x) => x.includes('fwd_level1, fwd_level2, fwd_level3, fwd_level4 are static and called once: always inlined')), JSON.stringify(inner?.evidence));
  // fwd_twice1 is called twice, so it may stay out of line: its callees' frees four levels down are not guessed at.
  const shallow = explain('fwd_shallow+0x10/0x20');
  assert.deepEqual(shallow.candidates.map((c) => c.function), ['fwd_shallow']);
});
