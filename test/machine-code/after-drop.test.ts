// What follows a drop (after-drop.ts): on hand-assembled x86-64, the memory writes and the boundary on the
// straight path after a drop call (a counter bump, a store, a call, a return, through a jump to a shared exit);
// on hand-written source, the site's next statements; and in explain, two error labels of one function
// (fixtures/machine-code/after-drop, after net/ipv6/sit.c) that free and count in opposite orders, told apart
// by whether the code bumps the counter after the call, against the order of their code in the function.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Explainer } from '../../src/explain/explain.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { afterConflict, codeAfter, sourceAfter } from '../../src/machine-code/after-drop.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import type { MachineCode } from '../../src/machine-code/index.ts';
import { assemble } from '../helpers/assemble.ts';
import { fakeImage, type Fn } from '../helpers/fake-image.ts';
import { indexFixtureForTests } from '../helpers/indexed-fixture.ts';

const TEXT = 0xffffffff81000000n;
const LOCK_INCQ = [0xf0, 0x48, 0xff, 0x83, 0x60, 0x02, 0x00, 0x00]; // lock incq 0x260(%rbx)
const ADDQ_1 = [0x48, 0x83, 0x83, 0x70, 0x02, 0x00, 0x00, 0x01]; //  addq $1,0x270(%rbx)
const MOVL_STATE = [0xc7, 0x43, 0x10, 0x03, 0x00, 0x00, 0x00]; //    movl $3,0x10(%rbx)
const MOVQ_NULL = [0x48, 0xc7, 0x43, 0x18, 0x00, 0x00, 0x00, 0x00]; // movq $0,0x18(%rbx): a cleared pointer
const SPILL = [0x48, 0x89, 0x44, 0x24, 0x08]; //                     mov %rax,0x8(%rsp)
const MOV_RBX_RDI = [0x48, 0x89, 0xdf];
const REASON_2 = [0xbe, 0x02, 0x00, 0x00, 0x00]; // mov $2,%esi (NOT_SPECIFIED)
const TEST_EAX = [0x85, 0xc0];
const XOR_EAX = [0x31, 0xc0];
const RET = [0xc3];

const STUBS = ['kfree_skb_reason', 'tun6_send', 'netif_wake'];
const stubAddress = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;
const stubs: Fn[] = STUBS.map((name) => ({ name, address: stubAddress(name), bytes: RET }));
const namer = { byAddress: (a: bigint): string | null => STUBS.find((n) => stubAddress(n) === a) ?? null };

/** The code-side facts after each call of kfree_skb_reason in `parts`. */
function afterEach(parts: Parameters<typeof assemble>[1]): ReturnType<typeof codeAfter>[] {
  const { bytes } = assemble(TEXT, parts, stubAddress);
  const fn = decodeFunction({ name: 'f', address: TEXT, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [] }, namer);
  return fn.insns.flatMap((x, i) => (x.callee === 'kfree_skb_reason' ? [codeAfter(fn.insns, fn.at, i)] : []));
}

test('the code: a counter bump, a store, a cleared pointer and a spill after the call, through a jump to the exit', () => {
  const [bump, plain, store, call, jumped] = afterEach([
    { call: 'kfree_skb_reason' }, LOCK_INCQ, XOR_EAX, RET,
    { call: 'kfree_skb_reason' }, MOVQ_NULL, SPILL, XOR_EAX, RET,
    { call: 'kfree_skb_reason' }, MOVL_STATE, RET,
    { call: 'kfree_skb_reason' }, { call: 'netif_wake' }, RET,
    { call: 'kfree_skb_reason' }, [0xeb, 0x03], TEST_EAX, RET, //   jmp over to the shared exit
    ADDQ_1, XOR_EAX, RET,
  ]);
  assert.deepEqual([...(bump?.writes ?? [])], ['count']);
  assert.equal(bump?.end, 'ret');
  assert.deepEqual([...(plain?.writes ?? [])], [], 'a store of 0 and a stack slot are no store of the source');
  assert.equal(plain?.stack, true);
  assert.deepEqual([...(store?.writes ?? [])], ['write']);
  assert.equal(call?.end, 'call');
  assert.deepEqual([...(jumped?.writes ?? [])], ['count'], 'the jump to the shared exit is followed');
});

const source = [
  'static int f(struct sk_buff *skb, struct net_device *dev)', // 1
  '{', //                                                        2
  '\tif (!skb->dev) {', //                                       3
  '\t\tkfree_skb(skb);', //                                      4
  '\t\tdev->stats.tx_dropped++;', //                             5
  '\t\treturn 0;', //                                            6
  '\t}', //                                                      7
  '\tif (!dev->up) {', //                                        8
  '\t\tkfree_skb(skb);', //                                      9
  '\t\tret = -ENODEV;', //                                      10
  '\t\tgoto out;', //                                           11
  '\t}', //                                                     12
  '\twhile ((skb = skb_dequeue(&dev->q)) != NULL)', //          13
  '\t\tkfree_skb(skb);', //                                     14
  '\tif (dev->state) {', //                                     15
  '\t\tkfree_skb(skb);', //                                     16
  '\t\tdev->state = DEV_IDLE;', //                              17
  '\t} else {', //                                              18
  '\t\tnetif_wake(dev);', //                                    19
  '\t}', //                                                     20
  'out:', //                                                    21
  '\treturn ret;', //                                           22
  '}', //                                                       23
];

test('the source: a counter bump, a return past a local assignment and a goto, a loop body, a store past the else', () => {
  const bump = sourceAfter(source, 4, true);
  assert.deepEqual([...bump.writes], ['count']);
  assert.equal(bump.at, 5);
  const ret = sourceAfter(source, 9, true);
  assert.deepEqual([[...ret.writes], ret.end], [[], 'ret']);
  assert.equal(sourceAfter(source, 9, false).end, 'unknown', 'an inlined helper\'s return is its caller\'s business');
  assert.equal(sourceAfter(source, 14, true).end, 'loop');
  const store = sourceAfter(source, 16, true);
  assert.deepEqual([[...store.writes], store.end], [['write'], 'ret']);
  // Scope-based cleanup calls at the return what the source does not show.
  const guarded = ['static int g(struct sk_buff *skb)', '{', '\tguard(mutex)(&lock);', '\tkfree_skb(skb);', '\treturn 0;', '}'];
  assert.equal(sourceAfter(guarded, 4, true).end, 'unknown');
});

test('the conflicts: a count on one side only, a call where the site returns; agreement and unknowns say nothing', () => {
  const code = (writes: Array<'count' | 'write'>, end: 'ret' | 'call' | 'branch'): ReturnType<typeof codeAfter> => ({ writes: new Set(writes), end, at: 0 });
  const src = (writes: Array<'count' | 'write'>, end: 'ret' | 'call' | 'branch' | 'unknown'): ReturnType<typeof codeAfter> => ({ writes: new Set(writes), end, at: 5 });
  assert.equal(afterConflict(code([], 'ret'), src(['count'], 'ret')), 'count-missing');
  assert.equal(afterConflict(code(['count'], 'ret'), src([], 'ret')), 'count-extra');
  assert.equal(afterConflict(code([], 'call'), src([], 'ret')), 'call-extra');
  assert.equal(afterConflict(code(['count'], 'ret'), src(['count'], 'ret')), null);
  assert.equal(afterConflict(code(['count'], 'ret'), src([], 'branch')), null, 'gcc may thread the branch after the site');
  assert.equal(afterConflict(code([], 'branch'), src(['count'], 'ret')), null);
});

// tun6_xmit: the tx_err block (count, then free) laid out before the tx_error block (free, then count), the
// other way round from the source, so that the place in the function points at the wrong label for each.
const FN = TEXT + 0x1000n;
const fn = assemble(FN, [
  MOV_RBX_RDI, TEST_EAX, { je: 'tx_error' }, TEST_EAX, { je: 'tx_err' },
  { call: 'tun6_send' }, XOR_EAX, RET,
  { label: 'tx_err' }, LOCK_INCQ, MOV_RBX_RDI, REASON_2, { call: 'kfree_skb_reason' }, XOR_EAX, RET,
  { label: 'tx_error' }, MOV_RBX_RDI, REASON_2, { call: 'kfree_skb_reason' }, LOCK_INCQ, XOR_EAX, RET,
], stubAddress);
const image = fakeImage([...stubs, { name: 'tun6_xmit', address: FN, bytes: fn.bytes }]);
const firstRet = (fn.labels.get('tx_err') ?? 0) + LOCK_INCQ.length + MOV_RBX_RDI.length + REASON_2.length + 5;
const secondRet = (fn.labels.get('tx_error') ?? 0) + MOV_RBX_RDI.length + REASON_2.length + 5;

let ex: Explainer;
let code: MachineCode;
indexFixtureForTests('dropsite-mc-after-', ['machine-code', 'after-drop'], (fx) => {
  ({ explainer: ex } = fx);
  code = fx.codeFor(image);
});

test('explain: the label that counts after its free takes the call with the counter bump after it', () => {
  const size = fn.bytes.length.toString(16);
  const one = ex.explain(parseLocation(`tun6_xmit+0x${firstRet.toString(16)}/0x${size}`), { code });
  assert.equal(one.method, 'machine-code', one.notes.join('\n'));
  assert.equal(`${one.candidates[0]?.file}:${one.candidates[0]?.line}`, 'net/ipv6/tun6_xmit.c:25', one.candidates.map((c) => `${c.file}:${c.line} ${c.score}`).join(', '));
  const against = one.candidates.find((c) => c.line === 19);
  assert.ok(against?.evidence.some((e) => e === 'machine code: the code returns after the drop without bumping a counter, but this site bumps one right after it (line 20: `DEV_STATS_INC(dev, tx_errors);`)'), against?.evidence.join('\n'));
  const two = ex.explain(parseLocation(`tun6_xmit+0x${secondRet.toString(16)}/0x${size}`), { code });
  assert.equal(`${two.candidates[0]?.file}:${two.candidates[0]?.line}`, 'net/ipv6/tun6_xmit.c:19');
  const other = two.candidates.find((c) => c.line === 25);
  assert.ok(other?.evidence.some((e) => e.startsWith('machine code: the code bumps a counter right after the drop (at +0x') && e.endsWith("), but this site's function returns without one")), other?.evidence.join('\n'));
});
