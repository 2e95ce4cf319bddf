// The assignment of a function's drop calls to candidate sites (src/machine-code/assign.ts): one call per
// site, and the calls left over as copies gcc made of a site's block.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { softAssign, softAssignWithCopies, unplacedCalls } from '../../src/machine-code/assign.ts';

const argmax = (row: readonly number[], m: number): number => row.slice(0, m).reduce((b, x, j, r) => (x > (r[b] ?? -1) ? j : b), 0);

// Four copies of an exit label's free (each fits site 0 best, site 2 nearly as well), a call that fits site 1,
// and a site 3 that no call fits (a helper not in this code): weights as the NFC digital handlers measure.
const COPIES = [
  [2, 0.0014, 1.5, 0.03],
  [0.016, 4, 0.012, 0.0002],
  [2, 0.0014, 1.5, 0.03],
  [2, 0.0014, 1.5, 0.03],
  [2, 0.0014, 1.5, 0.03],
];

test('a call that fits no site of its own is left over by the one-call-per-site match', () => {
  assert.equal(unplacedCalls(COPIES, [1, 1, 1, 1], 0.1), 2, 'sites 0 and 2 take one copy each, site 1 its call: two copies are left');
  assert.equal(unplacedCalls(COPIES, [1, 1, 3, 1], 0.1), 0, 'a site whose wrapper frees three times takes three');
  assert.equal(unplacedCalls([[1, 0], [0, 1]], [1, 1], 0.1), 0, 'one call per site: nothing left');
  // The match moves a call to make room (call 0 fits both, call 1 only site 0).
  assert.equal(unplacedCalls([[1, 1], [1, 0.01]], [1, 1], 0.1), 0);
  assert.equal(unplacedCalls([[0, 0], [1, 1]], [1, 1], 0.1), 0, 'a call that fits nothing is a missed site, not a copy');
});

test('without copies, the capped site pushes the copies onto a site none of them fits; with copies they stay', () => {
  const plain = softAssign(COPIES, [1, 1, 1, 1], 0.02);
  // Site 0 can take one call: the other copies' shares go to sites 2 and 3 alike, weight 0.03 or 1.5.
  const row = plain[0] ?? [];
  assert.ok(Math.abs((row[0] ?? 0) - (row[3] ?? 0)) < 0.02, `a tie between the fitting site and the unfitting one: ${row.map((x) => x.toFixed(2)).join(' ')}`);
  const { p, copy } = softAssignWithCopies(COPIES, [1, 1, 1, 1], 0.02, { count: unplacedCalls(COPIES, [1, 1, 1, 1], 0.1), weight: 1 });
  for (const i of [0, 2, 3, 4]) {
    assert.equal(argmax(p[i] ?? [], 4), 0, `copy ${i} → the exit label's site: ${(p[i] ?? []).map((x) => x.toFixed(2)).join(' ')}`);
    assert.ok((p[i]?.[3] ?? 1) < 0.05, 'the site no call fits takes almost nothing');
    assert.ok((copy[i]?.[0] ?? 0) > 0.2, 'part of it as a copy of site 0');
  }
  assert.equal(argmax(p[1] ?? [], 4), 1);
  // Rows still sum to 1 (sites and "no site"), the copies' shares folded into their sites.
  for (const r of p) assert.ok(Math.abs(r.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  assert.equal(p[0]?.length, 5);
});

test('no copies: the same assignment as before', () => {
  const w = [[10, 1], [1, 1]];
  assert.deepEqual(softAssignWithCopies(w, [1, 1], 0.001, null).p, softAssign(w, [1, 1], 0.001));
  assert.deepEqual(softAssignWithCopies(w, [1, 1], 0.001, { count: 0, weight: 1 }).p, softAssign(w, [1, 1], 0.001));
});
