// Twin blocks (src/explain/twin-blocks.ts): sites of one function whose free and next statement are the same
// code. gcc keeps one copy of them, so source-only ranking spends its first three candidates on other code.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import { CandidateSource } from '../../src/explain/candidates.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { rankCandidates } from '../../src/explain/rank.ts';
import { blockText, findTwins } from '../../src/explain/twin-blocks.ts';
import { openForRead, type Db } from '../../src/index/open.ts';
import { pickTree } from '../../src/index/read.ts';
import { parseLocation } from '../../src/locate/location.ts';
import type { DropSite } from '../../src/model.ts';
import { layeredFixture } from '../helpers/fixture-tree.ts';

const FILE = 'net/ipv4/twin_send.c';
const dir = mkdtempSync(join(tmpdir(), 'dropsite-twins-'));
let db: Db;
let explainer: Explainer;
let source: CandidateSource;
before(async () => {
  const path = join(dir, 'twins.sqlite');
  await buildIndex(layeredFixture(dir, 'explain', 'twin-blocks'), { db: path });
  db = openForRead(path);
  const tree = pickTree(db, undefined, path);
  explainer = new Explainer(db, tree);
  source = new CandidateSource(db, tree.id);
});
after(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (text: string): string[] => text.split('\n');
const site = (line: number, extra: Partial<DropSite> = {}): DropSite => ({
  file: 'net/x.c', line, endLine: line, column: 3, function: 'f', functionStartLine: 1, api: 'kfree_skb', reasonText: null, reason: 'NOT_SPECIFIED',
  reasons: ['NOT_SPECIFIED'], kind: 'drop', via: [], reportedIn: null, tail: false, ...extra,
});

test('a block is the free call to its semicolon and the next line of code, comments and spaces left out', () => {
  const src = lines('int f(void)\n{\n\tkfree_skb_reason(skb,\n\t\t\t SKB_DROP_REASON_NOT_SPECIFIED);\n\t/* why */\n\n\treturn  -EINVAL;\n}');
  assert.equal(blockText(src, { line: 3, endLine: 4 }), 'kfree_skb_reason(skb,SKB_DROP_REASON_NOT_SPECIFIED);|return-EINVAL;');
  assert.equal(blockText(src, { line: 40, endLine: 40 }), null);
});

test('twins share a group, a function and a block; other sites and sites reached another way have none', () => {
  const src = lines('x\n\tkfree_skb(skb);\n\treturn -EINVAL;\n\tkfree_skb(skb);\n\treturn -EINVAL;\n\tkfree_skb(skb);\n\treturn -EIO;\n\tkfree_skb(skb);\n\treturn -EINVAL;');
  const read = (): string[] => src;
  const t = findTwins([
    { site: site(2), group: 'g' }, { site: site(4), group: 'g' }, { site: site(6), group: 'g' }, { site: site(8), group: 'other' }, { site: site(8), group: null },
  ], read);
  assert.deepEqual(t[0]?.lines, [2, 4]);
  assert.equal(t[0]?.key, t[1]?.key);
  assert.equal(t[0]?.text, 'kfree_skb(skb); return-EINVAL;');
  assert.deepEqual([t[2], t[3], t[4]], [null, null, null]);
  // The same call text reached by other reasons (`drop_reason = …;` set differently before it) is other code.
  assert.deepEqual(findTwins([{ site: site(2), group: 'g' }, { site: site(4, { reasons: ['NO_SOCKET'] }), group: 'g' }], read), [null, null]);
  // The same function seen through an unreadable file: nothing is said.
  assert.deepEqual(findTwins([{ site: site(2), group: 'g' }, { site: site(4), group: 'g' }], () => null), [null, null]);
});

test('of two sites with the same code, the later-ranked weighs less, so the top three cover the other checks', () => {
  const q = parseLocation('twin_send+0x70/0x80');
  const loc = { ...q, reason: 'NOT_SPECIFIED' };
  const e = explainer.explain(loc);
  const top3 = e.candidates.slice(0, 3).map((c) => `${c.file}:${c.line}`);
  // Lines 27 and 31 are twins (kfree_skb(skb); return -EINVAL;): only one of them is listed among the first three.
  assert.ok(top3.includes(`${FILE}:23`), `the EMSGSIZE check is among the first three: ${top3.join(', ')}`);
  assert.ok(top3.includes(`${FILE}:36`));
  assert.equal(top3.filter((l) => l === `${FILE}:27` || l === `${FILE}:31`).length, 1);
  const demoted = e.candidates.find((c) => c.line === 27);
  assert.ok(demoted?.evidence.some((x) => x.includes(`the same code (kfree_skb(skb); return-EINVAL;) as twin_send.c:31`)), JSON.stringify(demoted?.evidence));
  // Without the twins (the ranking before them), the three later lines fill the top three and line 23 is left out:
  // the first candidate is the same either way.
  const fn = source.functions('twin_send');
  const raw = fn.flatMap((r) => source.sitesFor(r));
  const plain = rankCandidates({ offset: 0x70, size: 0x80, reason: 'NOT_SPECIFIED', event: 'kfree_skb', eventGiven: false, isCold: false }, raw, 'twin_send');
  assert.deepEqual(plain.slice(0, 3).map((c) => c.line), [36, 31, 27]);
  assert.equal(e.candidates[0]?.line, plain[0]?.line);
});

test('frees written the same way but followed by different code are not twins', () => {
  const e = explainer.explain({ ...parseLocation('twin_release+0x20/0x40'), reason: 'NOT_SPECIFIED' });
  assert.deepEqual(e.candidates.map((c) => c.line).sort(), [48, 51]);
  assert.ok(e.candidates.every((c) => !c.evidence.some((x) => x.includes('the same code'))));
  assert.equal(e.candidates[0]?.score, e.candidates[1]?.score);
});

test('a free that ends its function weighs less as a call of it: gcc makes it a jump, reported in the caller', () => {
  // dropwatch form (no size): the offset says nothing, and without this the tie would go to the later line.
  const e = explainer.explain(parseLocation('twin_deliver+0x20'));
  assert.deepEqual(e.candidates.map((c) => c.line), [60, 64]);
  const last = e.candidates[1];
  assert.ok(last?.evidence.some((x) => x.includes('the last thing twin_deliver does')), JSON.stringify(last?.evidence));
  assert.ok((last?.score ?? 1) < (e.candidates[0]?.score ?? 0));
});
