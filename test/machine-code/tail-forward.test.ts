// A call of an out-of-line function whose own code ends with a jump to a drop function (a tail call): the drop
// is reported at the return from that call, in its caller. Hand-assembled x86-64 for a kernel-style tree
// (fixtures/machine-code/tail-forward) where a driver frees through the inline wrapper of another file's free.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Explainer } from '../../src/explain/explain.ts';
import { type Db } from '../../src/index/open.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { MachineCode } from '../../src/machine-code/index.ts';
import { assemble, type Part } from '../helpers/assemble.ts';
import { indexFixture } from '../helpers/indexed-fixture.ts';
import { fakeImage, type Fn } from '../helpers/fake-image.ts';

const TEXT = 0xffffffff81000000n;


const REASON_2 = [0xbe, 0x02, 0x00, 0x00, 0x00]; // mov $2,%esi (NOT_SPECIFIED)
const TEST_EAX = [0x85, 0xc0];
const XOR_EAX = [0x31, 0xc0];
const BUSY = [0xb8, 0x10, 0x00, 0x00, 0x00]; // mov $0x10,%eax (NETDEV_TX_BUSY)
const RET = [0xc3];

const STUBS = ['kfree_skb_reason', 'netif_count_free', 'fix_ring_space', 'fix_ring_post'];
const FREE = TEXT + 0x2000n;
const XMIT = TEXT + 0x1000n;
const addressOf = (name: string): bigint => (name === 'netif_free_skb_reason' ? FREE : TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n);
const stubs: Fn[] = STUBS.map((name) => ({ name, address: addressOf(name), bytes: RET }));

// fix_start_xmit: `if (!fix_ring_space(dev)) { netif_free_skb(skb); … }`, then `fix_ring_post(); kfree_skb(skb);`.
const xmit = assemble(XMIT, [
  { call: 'fix_ring_space' }, TEST_EAX, { je: 'full' },
  { call: 'fix_ring_post' }, REASON_2, { call: 'kfree_skb_reason' }, XOR_EAX, RET,
  { label: 'full' }, REASON_2, { call: 'netif_free_skb_reason' }, BUSY, RET,
], addressOf).bytes;
// Return address of the call of netif_free_skb_reason, and of the call of kfree_skb_reason.
const AT_FORWARD = 5 + 2 + 2 + 5 + 5 + 5 + 2 + 1 + 5 + 5;
const AT_KFREE = 5 + 2 + 2 + 5 + 5 + 5;

/** Three builds of netif_free_skb_reason: its free as a jump (a tail call), as a call, and both on two paths. */
const builds: Record<'tail' | 'call' | 'both', Part[]> = {
  tail: [{ call: 'netif_count_free' }, { jmp: 'kfree_skb_reason' }],
  call: [{ call: 'netif_count_free' }, { call: 'kfree_skb_reason' }, RET],
  both: [{ call: 'fix_ring_space' }, TEST_EAX, { je: 'last' }, { call: 'kfree_skb_reason' }, RET, { label: 'last' }, { jmp: 'kfree_skb_reason' }],
};

const dir = mkdtempSync(join(tmpdir(), 'dropsite-mc-tail-forward-'));
let db: Db;
let ex: Explainer;
const codes = new Map<string, MachineCode>();
before(async () => {
  const fx = await indexFixture(dir, 'machine-code', 'tail-forward');
  ({ db, explainer: ex } = fx);
  for (const [k, parts] of Object.entries(builds)) {
    const image = fakeImage([...stubs, { name: 'fix_start_xmit', address: XMIT, bytes: xmit }, { name: 'netif_free_skb_reason', address: FREE, bytes: assemble(FREE, parts, addressOf).bytes }]);
    codes.set(k, fx.codeFor(image));
  }
});
after(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const codeOf = (build: string): MachineCode => {
  const c = codes.get(build);
  assert.ok(c !== undefined);
  return c;
};
const explain = (build: 'tail' | 'call' | 'both', offset: number): ReturnType<Explainer['explain']> =>
  ex.explain(parseLocation(`fix_start_xmit+0x${offset.toString(16)}/0x${xmit.length.toString(16)}`), { code: codeOf(build) });

test('source only: the call of the wrapper of another file\'s free is said to be reported inside that free', () => {
  const e = ex.explain(parseLocation(`fix_start_xmit+0x${AT_FORWARD.toString(16)}/0x${xmit.length.toString(16)}`));
  const wrapper = e.candidates.find((c) => c.line === 13);
  assert.ok(wrapper?.evidence.some((t) => t.includes('reported inside netif_free_skb_reason')), JSON.stringify(e.candidates));
});

test('the callee ends with a jump to the drop function: its call is a drop call, the wrapper\'s site is first, with the reason the call passes', () => {
  const e = explain('tail', AT_FORWARD);
  assert.equal(e.method, 'machine-code');
  const c = e.candidates[0];
  assert.equal(`${c?.file}:${c?.line}`, 'drivers/net/fix/fix_main.c:13', e.notes.join('\n'));
  assert.ok(c?.evidence.some((t) => t.includes('netif_free_skb_reason ends with a jump to kfree_skb_reason (a tail call), so its drops are reported here')), c?.evidence.join('\n'));
  assert.ok(!c?.evidence.some((t) => t.includes('reported inside')), c?.evidence.join('\n'));
  assert.ok(e.notes.some((n) => n.includes(`at the return from its call at +0x${(AT_FORWARD - 5).toString(16)}`)), e.notes.join('\n'));
  assert.ok(!e.notes.some((n) => n.includes('not the return address of a drop call')));
  assert.equal(e.reason, 'NOT_SPECIFIED');
  // The plain kfree_skb() call is still told apart.
  assert.equal(`${explain('tail', AT_KFREE).candidates[0]?.line}`, '18');
});

test('the callee calls the drop function and returns: its drops are reported inside it, not at its call', () => {
  const e = explain('call', AT_FORWARD);
  assert.ok(e.notes.some((n) => n.includes('is not the return address of a drop call')), e.notes.join('\n'));
  assert.ok(!e.notes.some((n) => n.includes('a tail call')));
});

test('the callee has a tail-jump path and a calling path: the note says the drop may be reported either way', () => {
  const e = explain('both', AT_FORWARD);
  assert.equal(`${e.candidates[0]?.file}:${e.candidates[0]?.line}`, 'drivers/net/fix/fix_main.c:13');
  assert.ok(e.notes.some((n) => n.includes('(a tail call)') && n.includes('may also be reported inside netif_free_skb_reason')), e.notes.join('\n'));
});
