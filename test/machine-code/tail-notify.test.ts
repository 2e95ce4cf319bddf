// A drop reported at the caller of a function that ends with a free: fixnl_event_notify ends with nlmsg_free() (a
// jump to kfree_skb_reason), and fix_radar_event calls it from a file that never names a packet buffer. The indexer
// reads that file only because its folder holds the tail-freeing function and it names it (scan-tree.ts); the
// machine code shows the call's callee tail-jumps to the drop function: its tail frees are the candidates, called at
// the calling line, with or without the index's record of the caller.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explainer } from '../../src/explain/explain.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { MachineCode } from '../../src/machine-code/index.ts';
import { assemble } from '../helpers/assemble.ts';
import { fakeImage, type Fn as ImageFunction } from '../helpers/fake-image.ts';
import { indexFixtureForTests } from '../helpers/indexed-fixture.ts';

const TEXT = 0xffffffff81000000n;
const REASON_2 = [0xbe, 0x02, 0x00, 0x00, 0x00]; // mov $2,%esi (NOT_SPECIFIED)
const TEST_EAX = [0x85, 0xc0];
const RET = [0xc3];

const STUBS = ['kfree_skb_reason', 'fixnl_new', 'fixnl_put_event', 'fixnl_multicast', 'fix_mark_unavailable', 'fix_reschedule'];
const EVENT = TEXT + 0x1000n;
const NOTIFY = TEXT + 0x2000n;
const HOOK = TEXT + 0x3000n;
const addressOf = (name: string): bigint => (name === 'fixnl_event_notify' ? NOTIFY : TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n);
const stubs: ImageFunction[] = STUBS.map((name) => ({ name, address: addressOf(name), bytes: RET }));

// fix_radar_event: fix_mark_unavailable(); fixnl_event_notify(); fix_reschedule().
const event = assemble(EVENT, [{ call: 'fix_mark_unavailable' }, { call: 'fixnl_event_notify' }, { call: 'fix_reschedule' }, RET], addressOf).bytes;
const AT_NOTIFY = 10;
// fix_hook_event (drivers/fixev/hook.c, a folder the indexer never reads): fixnl_event_notify(); return.
const hook = assemble(HOOK, [{ call: 'fixnl_event_notify' }, RET], addressOf).bytes;
// fixnl_event_notify: the message, its attribute, the multicast; at the error label `jmp kfree_skb_reason`.
const notify = assemble(NOTIFY, [
  { call: 'fixnl_new' }, TEST_EAX, { je: 'out' }, { call: 'fixnl_put_event' }, TEST_EAX, { jne: 'fail' },
  { call: 'fixnl_multicast' }, { label: 'out' }, RET, { label: 'fail' }, REASON_2, { jmp: 'kfree_skb_reason' },
], addressOf).bytes;

let ex: Explainer;
let code: MachineCode;
indexFixtureForTests('dropsite-mc-tail-notify-', ['machine-code', 'tail-notify'], (fx) => {
  ({ explainer: ex } = fx);
  const image = fakeImage([...stubs, { name: 'fix_radar_event', address: EVENT, bytes: event }, { name: 'fixnl_event_notify', address: NOTIFY, bytes: notify }, { name: 'fix_hook_event', address: HOOK, bytes: hook }]);
  code = fx.codeFor(image);
});

const location = `fix_radar_event+0x${AT_NOTIFY.toString(16)}/0x${event.length.toString(16)}`;

test('from source alone: the caller, in a file that never names skbs, is read for its call of the tail-freeing function', () => {
  assert.equal(ex.functionRecords('fix_radar_event').length, 1);
  const e = ex.explain(parseLocation(location));
  const c = e.candidates[0];
  assert.equal(`${c?.file}:${c?.line}`, 'net/fixnl/notify.c:25', JSON.stringify(e, null, 1));
  assert.deepEqual(c?.calledAt, { file: 'net/fixnl/event.c', line: 13, function: 'fix_radar_event' });
  assert.ok(c?.evidence.some((t) => t.includes('reported at the return from the call of fixnl_event_notify at net/fixnl/event.c:13')), c?.evidence.join('\n'));
});

test('the machine code shows the callee ends with a jump to the free: its tail free is the site, called at the calling line', () => {
  const e = ex.explain(parseLocation(location), { code });
  assert.equal(e.method, 'machine-code');
  const c = e.candidates[0];
  assert.equal(`${c?.file}:${c?.line}`, 'net/fixnl/notify.c:25', JSON.stringify(e, null, 1));
  assert.deepEqual(c?.calledAt, { file: 'net/fixnl/event.c', line: 13, function: 'fix_radar_event' });
  assert.deepEqual(c?.via, ['fixnl_event_notify']);
  assert.ok(c?.evidence.some((t) => t.includes('reported at the return from the call of fixnl_event_notify at net/fixnl/event.c:13')), c?.evidence.join('\n'));
  assert.ok(e.notes.some((n) => n.includes('fixnl_event_notify ends with a jump to kfree_skb_reason (a tail call)')), e.notes.join('\n'));
  // The tree is the right one: no advice to index another.
  assert.ok(!e.notes.some((n) => n.includes('has no drop site in the indexed tree') || n.includes('index the tree')), e.notes.join('\n'));
  assert.equal(e.candidates.length, 1);
});

test('a caller the index has no record of: the machine code alone gives the tail free, and says the calling line is unknown', () => {
  assert.equal(ex.functionRecords('fix_hook_event').length, 0);
  const bare = ex.explain(parseLocation(`fix_hook_event+0x5/0x${hook.length.toString(16)}`));
  assert.equal(bare.candidates.length, 0);
  const e = ex.explain(parseLocation(`fix_hook_event+0x5/0x${hook.length.toString(16)}`), { code });
  assert.equal(e.method, 'machine-code');
  const c = e.candidates[0];
  assert.equal(`${c?.file}:${c?.line}`, 'net/fixnl/notify.c:25', JSON.stringify(e, null, 1));
  assert.equal(c?.calledAt ?? null, null);
  assert.ok(e.notes.some((n) => n.includes('fixnl_event_notify ends with a jump to kfree_skb_reason (a tail call)')), e.notes.join('\n'));
  assert.ok(!e.notes.some((n) => n.includes('index the tree')), e.notes.join('\n'));
});

test('a location that returns from no drop call: the machine code says so, and the source ranking stands', () => {
  // +0x5 returns from the call of fix_mark_unavailable, which frees nothing.
  const e = ex.explain(parseLocation(`fix_radar_event+0x5/0x${event.length.toString(16)}`), { code });
  assert.ok(e.notes.some((n) => n.includes('is not the return address of a drop call') && n.includes('ranked from source')), e.notes.join('\n'));
  assert.ok(!e.candidates.some((c) => c.evidence.some((t) => t.startsWith('machine code:') && t.includes('reported at the return'))), JSON.stringify(e.candidates));
});
