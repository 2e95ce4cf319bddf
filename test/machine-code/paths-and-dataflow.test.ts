// The paths into a drop block and where the freed buffer comes from, on hand-assembled x86-64 and on
// hand-written kernel-style source: the call a branch into the block tests, the conditions and gotos that
// lead to a site, a buffer traced back through copies and a stack spill, a freed field set to NULL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionCode } from '../../src/binary/index.ts';
import { findDropCalls } from '../../src/machine-code/calls.ts';
import { callArgument, clearedAfter, sourceValue } from '../../src/machine-code/dataflow.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import { conditionLines, entryLines, gotoLines, labelAbove } from '../../src/machine-code/guards.ts';

const BASE = 0xffffffff81a00000n;
const DROP = BASE + 0x1000n;
const CLONE = BASE + 0x2000n;

function call(at: number, to: bigint): number[] {
  const v = Number(to - (BASE + BigInt(at + 5))) >>> 0;
  return [0xe8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

function code(bytes: number[]): FunctionCode {
  return { name: 'rcv_like', address: BASE, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [] };
}

const namer = { byAddress: (a: bigint): string | null => (a === DROP ? 'sk_skb_reason_drop' : a === CLONE ? 'skb_clone' : null) };
const callees = new Map([['sk_skb_reason_drop', { name: 'sk_skb_reason_drop', reasonArg: 2, skbArg: 1 }]]);
const flow = { noreturn: new Set<string>(), hiddenEdges: [] };

// 0: mov %rsi,(%rsp)      spill the skb parameter
// 4: call skb_clone
// 9: mov %rax,%rbx
// c: test %rax,%rax
// f: je 0x21              the clone failed: free the original
// 11: mov %rbx,%rsi; xor %edi,%edi; mov $2,%edx; 1b: call drop (the clone); 20: ret
// 21: mov (%rsp),%rsi; xor %edi,%edi; mov $2,%edx; 2c: call drop (the spilled parameter); 31: ret
const spillAndClone = [
  0x48, 0x89, 0x34, 0x24,
  ...call(0x04, CLONE),
  0x48, 0x89, 0xc3,
  0x48, 0x85, 0xc0,
  0x74, 0x10,
  0x48, 0x89, 0xde, 0x31, 0xff, 0xba, 0x02, 0x00, 0x00, 0x00, ...call(0x1b, DROP), 0xc3,
  0x48, 0x8b, 0x34, 0x24, 0x31, 0xff, 0xba, 0x02, 0x00, 0x00, 0x00, ...call(0x2c, DROP), 0xc3,
];

test('a branch into a drop block: the call whose result it tests is the entry call; a block that falls in has none', () => {
  const calls = findDropCalls(decodeFunction(code(spillAndClone), namer), callees, flow);
  assert.deepEqual(calls.map((c) => c.ret), [0x20, 0x31]);
  // The first block follows the je without a join: its condition is already its own straight line.
  assert.equal(calls[0]?.entry, null);
  assert.deepEqual(calls[1]?.entry?.calls, ['skb_clone']);
  assert.equal(calls[1]?.entry?.edges, 1);
});

test('the freed buffer traced back: the clone through two register copies, the parameter through a stack spill', () => {
  const calls = findDropCalls(decodeFunction(code(spillAndClone), namer), callees, flow);
  // The call's instruction comes along (index 1, after the spill): the same function called twice is two origins.
  assert.deepEqual(calls[0]?.skb, [{ kind: 'call', name: 'skb_clone', at: 1 }]);
  // %rsi, argument 2 of the function (index 1), stored at (%rsp) before the clone and loaded back.
  assert.deepEqual(calls[1]?.skb, [{ kind: 'param', index: 1 }]);
});

test('kfree_skb(p->skb); p->skb = NULL; shows as a load of the field and a store of 0 to it after the call', () => {
  const bytes = [
    0x49, 0x8b, 0xb4, 0x24, 0x00, 0x01, 0x00, 0x00, // 0: mov 0x100(%r12),%rsi
    0xba, 0x02, 0x00, 0x00, 0x00, //                   8: mov $2,%edx
    0x31, 0xff, //                                     d: xor %edi,%edi
    ...call(0x0f, DROP), //                            f: call drop
    0x49, 0xc7, 0x84, 0x24, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 14: movq $0,0x100(%r12)
    0x49, 0x8b, 0x34, 0x24, //                         20: mov (%r12),%rsi
    0xba, 0x02, 0x00, 0x00, 0x00, 0x31, 0xff, ...call(0x2b, DROP), // 24: the next one, not cleared
    0xc3,
  ];
  const calls = findDropCalls(decodeFunction(code(bytes), namer), callees, flow);
  assert.deepEqual(calls[0]?.skb, [{ kind: 'load', disp: 0x100 }]);
  assert.equal(calls[0]?.clearsField, true);
  assert.deepEqual(calls[1]?.skb, [{ kind: 'load', disp: 0 }]);
  assert.equal(calls[1]?.clearsField, false);
});

const source = [
  'static int rcv_like(struct sock *sk, struct sk_buff *skb)', // 1
  '{', //                                                         2
  '\tstruct sk_buff *nskb;', //                                   3
  '\tint err;', //                                                4
  '', //                                                          5
  '\tnskb = skb_clone(skb, GFP_ATOMIC);', //                      6
  '\tif (!nskb)', //                                              7
  '\t\tgoto drop;', //                                            8
  '\terr = queue_it(sk, nskb);', //                               9
  '\tif (err < 0) {', //                                          10
  '\t\tkfree_skb(nskb);', //                                      11
  '\t\treturn err;', //                                           12
  '\t}', //                                                       13
  '\tif (pskb_trim(skb, 8))', //                                  14
  '\t\tgoto drop;', //                                            15
  '\tkfree_skb(sk->sk_rx_skb);', //                               16
  '\tsk->sk_rx_skb = NULL;', //                                   17
  '\treturn 0;', //                                               18
  'drop:', //                                                     19
  '\tkfree_skb(skb);', //                                         20
  '\treturn -ENOMEM;', //                                         21
  '}', //                                                         22
];
const lines = (f: string): string[] | null => (f === 'net/rcv_like.c' ? source : null);

test('the conditions on the paths into a site: its own if with the assignment it tests, or every goto to its label', () => {
  // kfree_skb(nskb) under `if (err < 0) {`: the condition, and `err = queue_it(…)` whose result it tests.
  assert.deepEqual(conditionLines(source, 11, 1), [9, 10]);
  // `if (!nskb) goto drop;` over two lines: the condition and the clone it tests.
  assert.deepEqual(conditionLines(source, 8, 1), [6, 7]);
  // a statement under no if
  assert.deepEqual(conditionLines(source, 16, 1), []);
  assert.deepEqual(labelAbove(source, 20, 1), { label: 'drop', line: 19 });
  assert.equal(labelAbove(source, 16, 1), null);
  assert.deepEqual(gotoLines(source, 20, 1), { label: 'drop', gotos: [8, 15] });
  assert.deepEqual(entryLines(lines, 'net/rcv_like.c', 20, 1), { label: 'drop', gotos: 2, lines: [6, 7, 14] });
});

test('what a site frees: a variable assigned from a call, a parameter, a field set to NULL after the free', () => {
  assert.equal(callArgument('\t\tkfree_skb_reason(skb, SKB_DROP_REASON_NOMEM);', 'kfree_skb_reason', 0), 'skb');
  assert.equal(callArgument('\tsk_skb_reason_drop(sk, list_first(&q->head), reason);', 'sk_skb_reason_drop', 1), 'list_first(&q->head)');
  assert.equal(callArgument('\tkfree_skb(', 'kfree_skb', 0), null);
  assert.deepEqual(sourceValue(source, 1, 11, 'nskb'), { kind: 'variable', name: 'nskb', assignedFrom: ['skb_clone'], param: false, fromPointer: null });
  assert.deepEqual(sourceValue(source, 1, 20, 'skb'), { kind: 'variable', name: 'skb', assignedFrom: [], param: true, fromPointer: null });
  assert.deepEqual(sourceValue(source, 1, 16, 'sk->sk_rx_skb'), { kind: 'member', field: 'sk_rx_skb' });
  assert.equal(clearedAfter(source, 16, 'sk->sk_rx_skb'), true);
  assert.equal(clearedAfter(source, 11, 'nskb'), false);
});

const shared = [
  'static bool rx_like(struct net_device *dev, struct sk_buff **pskb)', // 1
  '{', //                                                                2
  '\tstruct sk_buff *skb;', //                                           3
  '', //                                                                 4
  '\tskb = *pskb = share_it(*pskb, GFP_ATOMIC);', //                     5
  '\tif (!(dev->flags & IFF_UP)) {', //                                  6
  '\t\tkfree_skb(skb);', //                                              7
  '\t\t*pskb = NULL;', //                                                8
  '\t\treturn false;', //                                                9
  '\t}', //                                                              10
  '\tnskb = skb_clone(skb, GFP_ATOMIC);', //                             11
  '\tif (likely(nskb))', //                                              12
  '\t\tconsume_skb(skb);', //                                            13
  '\telse', //                                                           14
  '\t\tkfree_skb(skb);', //                                              15
  '\tif (nskb->len > 8) {', //                                           16
  '\t\tkfree_skb(nskb);', //                                             17
  '\t} else {', //                                                       18
  '\t\tconsume_skb(nskb);', //                                           19
  '\t\tnskb = NULL;', //                                                 20
  '\t}', //                                                              21
  '\treturn true;', //                                                   22
  '}', //                                                                23
];

test("a site under `else` is entered through its if's condition, taken the other way", () => {
  // `else kfree_skb(skb);`: the if's condition and the clone it tests, as for the consume under the if.
  assert.deepEqual(conditionLines(shared, 15, 1), [11, 12]);
  assert.deepEqual(conditionLines(shared, 13, 1), [11, 12]);
  // `} else {` over a braced if body.
  assert.deepEqual(conditionLines(shared, 19, 1), [16]);
});

test('a local variable freed and the memory it was loaded from cleared after (`*pskb = NULL`) counts as a cleared field', () => {
  assert.equal(clearedAfter(shared, 7, 'skb', 2, 1), true);
  // the slot must be where the variable came from: `nskb` has no such link, and a local set to NULL is no field
  assert.equal(clearedAfter(shared, 19, 'nskb', 2, 1), false);
  // without the function's start, only a freed field itself counts (as before)
  assert.equal(clearedAfter(shared, 7, 'skb'), false);
});

test('a local variable loaded from an array element and that element cleared after the free counts as a cleared field', () => {
  const loop = [
    'static int close_rings(struct net_device *dev)', //            1
    '{', //                                                           2
    '\tfor (i = 0; i < TX_RING_SIZE; i++) {', //                     3
    '\t\tstruct sk_buff *skb = np->tx_info[i].skb;', //              4
    '\t\tif (skb == NULL)', //                                       5
    '\t\t\tcontinue;', //                                            6
    '\t\tdev_kfree_skb(skb);', //                                    7
    '\t\tnp->tx_info[i].skb = NULL;', //                             8
    '\t\tdev_kfree_skb(other);', //                                  9
    '\t\tnp->tx_info[i].skb = NULL;', //                             10
    '\t}', //                                                         11
    '}', //                                                            12
  ];
  assert.equal(clearedAfter(loop, 7, 'skb', 2, 1), true);
  // `other` was never loaded from that element
  assert.equal(clearedAfter(loop, 9, 'other', 2, 1), false);
});
