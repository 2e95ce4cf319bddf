// The source lines on a drop site's path (src/machine-code/site-path.ts), on hand-written kernel-style source
// (fixtures/machine-code/site-path/eeprom_like.c): a preceding if-body that cannot fall through into the site
// is left out with its condition kept, nested too; its lines do not count against the window; forward, the
// statement that ends the path counts past a blank line. Each case is compared with the plain block
// (blockAround), which reads the lines as they stand.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { endsInJump, pathBefore, sitePath } from '../../src/machine-code/site-path.ts';
import { blockAround, sourceFeatures, textFeatures, type LineReader } from '../../src/machine-code/source-features.ts';

const FILE = 'fixtures/machine-code/site-path/eeprom_like.c';
const all = readFileSync(FILE, 'utf8').split('\n');
const lines: LineReader = (f) => (f === FILE ? all : null);
const errnos = new Map([['EINVAL', 22], ['ENOMEM', 12], ['EBUSY', 16]]);
const lineOf = (text: string, from = 1): number => all.findIndex((l, i) => i + 1 >= from && l.includes(text)) + 1;
const opts = { maxBefore: 10, after: 3 };

function pathFeatures(line: number, floor: number): ReturnType<typeof textFeatures> {
  const p = sitePath(all, line, line, floor, opts);
  return textFeatures(errnos, new Map(), [...p.lines].sort((a, b) => a[0] - b[0]).map(([, t]) => t).join('\n'));
}

test('a site after a nested if whose body returns: that body (and its -EINVAL) is not on its path, its condition is', () => {
  const floor = lineOf('static int eeprom_like_read');
  const inner = lineOf('dev_kfree_skb(skb);', floor);
  const outer = lineOf('dev_kfree_skb(skb);', inner + 1);
  // The plain block of the function-level free reaches back into the nested block and holds its -EINVAL.
  const [from, to] = blockAround(lines, FILE, outer, outer, floor, 10, 3);
  assert.ok(sourceFeatures(lines, errnos, new Map(), FILE, from, to).errnos.has((-22) >>> 0));
  const p = sitePath(all, outer, outer, floor, opts);
  const f = pathFeatures(outer, floor);
  assert.ok(!f.errnos.has((-22) >>> 0), 'the -EINVAL of the nested block is not on this path');
  assert.ok(f.calls.has('le32_to_cpu') && f.calls.has('memcpy'), 'the outer if-body falls through: its statements stay');
  assert.match(p.lines.get(inner - 1) ?? '', /if \(addr > dev->size\)/, 'the condition of the left-out body stays');
  // Both bodies that return are left out: the nested one, and `if (ret) return ret;` above it.
  const early = lineOf('return ret;', floor);
  assert.deepEqual(p.dropped, [[inner - 1, inner + 2], [early, early]]);
  // Forward: past the blank line, the path ends in `return 0`.
  assert.deepEqual(p.end, { line: outer + 2, kind: 'return', value: '0' });
  // The nested site itself keeps its own -EINVAL.
  assert.ok(pathFeatures(inner, floor).errnos.has((-22) >>> 0));
  assert.deepEqual(sitePath(all, inner, inner, floor, opts).end, { line: inner + 1, kind: 'return', value: '-EINVAL' });
});

test('a left-out body does not count against the window: the statement before its condition is still read', () => {
  const floor = lineOf('static int frag_like_submit');
  const site = lineOf('kfree_skb(nskb);', floor);
  const [from, to] = blockAround(lines, FILE, site, site, floor, 10, 3);
  const plain = sourceFeatures(lines, errnos, new Map(), FILE, from, to);
  assert.ok(plain.calls.has('netdev_err') && plain.errnos.has((-12) >>> 0), 'the plain block holds the other path\'s message and errno');
  const f = pathFeatures(site, floor);
  assert.ok(!f.calls.has('netdev_err') && f.strings.length === 0 && !f.errnos.has((-12) >>> 0));
  assert.ok(f.calls.has('frag_like_consolidate'), 'the condition is evaluated on the way');
  // Eleven lines up, but seven of them are the left-out body.
  assert.ok(f.calls.has('frag_like_prepare') && site - lineOf('frag_like_prepare(queue, nskb);', floor) > 10);
});

test('in a loop: a body ending in continue, BUG() or goto is off the path; the next statement counts past a blank line', () => {
  const floor = lineOf('static int loop_like_flush');
  const site = lineOf('consume_skb(skb);', floor);
  const p = sitePath(all, site, site, floor, opts);
  const f = pathFeatures(site, floor);
  assert.ok(!f.calls.has('loop_like_count') && !f.calls.has('BUG'));
  for (const c of ['loop_like_valid', 'loop_like_stale', 'loop_like_keep', 'loop_like_done']) assert.ok(f.calls.has(c), c);
  assert.equal(p.dropped.length, 3);
  // No jump in its straight line: the next statement alone ends what is read.
  assert.deepEqual(p.end, { line: site + 2, kind: 'other', value: null });
  // The plain block stops at the blank line and misses it.
  const [, to] = blockAround(lines, FILE, site, site, floor, 10, 3);
  assert.equal(to, site);
});

test('whether a body can fall through: its last statement, an if/else whose every branch jumps, a call that never returns', () => {
  assert.equal(endsInJump('{ a(); return -EINVAL; }'), true);
  assert.equal(endsInJump('{ if (x) return 1; b(); }'), false);
  assert.equal(endsInJump('{ if (x) { return 1; } else { goto out; } }'), true);
  assert.equal(endsInJump('{ if (x) return 1; }'), false, 'without an else the if falls through');
  assert.equal(endsInJump('BUG();'), true);
  assert.equal(endsInJump('{ fatal_like(dev); }', new Set(['fatal_like'])), true);
  assert.equal(endsInJump('{ }'), false);
});

const CLIMB = readFileSync('fixtures/machine-code/site-path/climb_like.c', 'utf8').split('\n');
const climbLine = (text: string, from = 1): number => CLIMB.findIndex((l, i) => i + 1 >= from && l.includes(text)) + 1;
const before = (fn: string, nth = 1, max = 20): Set<string> => {
  const floor = climbLine(`static ${fn === 'climb_if' ? 'void' : 'int'} ${fn}(`);
  let site = floor;
  for (let k = 0; k < nth; k++) site = climbLine('kfree_skb(skb);', site + 1);
  // Preprocessor lines blank, as the machine code reads them (an #ifdef inside a function is not a block).
  const clean = CLIMB.map((l) => (/^\s*#/.test(l) ? '' : l));
  const lines = pathBefore(clean, site, floor, { maxBefore: max, levels: 3 });
  assert.ok([...lines.keys()].every((n) => n > floor && n < site), 'only lines before the site, inside its function');
  return textFeatures(errnos, new Map(), [...lines.values()].join('\n')).calls;
};

test('the lines before a site climb out of its if block: the if body that falls through stays, the one that jumps goes, the #ifdef is not a block', () => {
  const calls = before('climb_if');
  for (const n of ['climb_flush', 'climb_count', 'climb_lock']) assert.ok(calls.has(n), `${n} is on the path: ${[...calls].join(', ')}`);
  assert.ok(!calls.has('climb_unlock'), 'after the site');
  // Its own block alone (sitePath) stops at the condition `if (dev->slot) {`.
  const site = climbLine('kfree_skb(skb);');
  const own = sitePath(CLIMB, site, site, climbLine('static void climb_if('), { maxBefore: 20, after: 0 });
  assert.ok(![...own.lines.values()].some((t) => t.includes('climb_flush')));
  // The window bounds the climb: 4 lines back reach the condition and the #ifdef'd call, not the flush.
  const near = before('climb_if', 1, 4);
  assert.ok(near.has('climb_count') && !near.has('climb_flush') && !near.has('climb_lock'), [...near].join(', '));
});

test('an else branch climbs to the first if of its chain, past the other bodies; a case to its switch; a label ends the climb', () => {
  const e = before('climb_else');
  assert.ok(e.has('climb_other') && e.has('climb_prepare'), [...e].join(', '));
  assert.ok(!e.has('climb_mode_one') && !e.has('climb_mode_two'), 'the bodies of the other branches are not on the path');
  const s = before('climb_switch');
  assert.ok(s.has('climb_check') && s.has('climb_prepare'), [...s].join(', '));
  assert.ok(!s.has('climb_kind_one'), 'another case is not on the path');
  const l = before('climb_label');
  assert.ok(!l.has('climb_prepare') && !l.has('climb_check'), `the paths into a label are its gotos: ${[...l].join(', ')}`);
});
