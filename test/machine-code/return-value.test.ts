// The value a function returns right after a drop (return-value.ts): on hand-assembled x86-64, the constant
// %eax holds where the path after the drop call returns (set after the call, or before it in a register the
// call keeps, past a jump to a shared exit and the stack protector's check), and on hand-written source the
// constant of the site's `return`, through a goto and a variable assigned on the way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionCode } from '../../src/binary/index.ts';
import { findDropCalls } from '../../src/machine-code/calls.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import { sourceReturn } from '../../src/machine-code/return-value.ts';
import { assemble } from '../helpers/assemble.ts';

const BASE = 0xffffffff81a00000n;
const ADDR: Record<string, bigint> = { sk_skb_reason_drop: BASE + 0x1000n, netif_rx: BASE + 0x2000n, __stack_chk_fail: BASE + 0x3000n, __x86_return_thunk: BASE + 0x4000n };
const namer = { byAddress: (a: bigint): string | null => Object.entries(ADDR).find(([, v]) => v === a)?.[0] ?? null };
const callees = new Map([['sk_skb_reason_drop', { name: 'sk_skb_reason_drop', reasonArg: 2, skbArg: 1 }]]);
const flow = { noreturn: new Set(['__stack_chk_fail']), hiddenEdges: [] };
const addressOf = (n: string): bigint => ADDR[n] ?? 0n;

const DROP_ARGS = [0x48, 0x89, 0xde, 0x31, 0xff, 0xba, 0x02, 0x00, 0x00, 0x00]; // mov %rbx,%rsi; xor %edi,%edi; mov $2,%edx

function returnsOf(parts: Parameters<typeof assemble>[1]): Array<number[] | null> {
  const { bytes } = assemble(BASE, parts, addressOf);
  const code: FunctionCode = { name: 'rcv_like', address: BASE, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [] };
  return findDropCalls(decodeFunction(code, namer), callees, flow).map((c) => c.returns);
}

test('the code: %eax set after the drop call, before it in a kept register, or left to another call', () => {
  const returns = returnsOf([
    [0x48, 0x85, 0xdb], { je: 'second' }, //               test %rbx,%rbx; je second
    DROP_ARGS, { call: 'sk_skb_reason_drop' },
    [0x31, 0xc0], { jmp: '__x86_return_thunk' }, //        xor %eax,%eax; ret: returns 0
    { label: 'second' },
    [0x41, 0xbc, 0xea, 0xff, 0xff, 0xff], //               mov $-EINVAL,%r12d (before the call, kept by it)
    DROP_ARGS, { call: 'sk_skb_reason_drop' },
    [0x48, 0x8b, 0x44, 0x24, 0x08], //                     mov 0x8(%rsp),%rax: the stack canary
    [0x65, 0x48, 0x2b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00], // sub %gs:0x28,%rax
    { jne: 'fail' },
    [0xeb, 0x05], //                                       jmp over the failure, to the shared exit
    { label: 'fail' }, { call: '__stack_chk_fail' },
    [0x44, 0x89, 0xe0, 0xc3], //                           mov %r12d,%eax; ret: returns -EINVAL
    DROP_ARGS, { call: 'sk_skb_reason_drop' },
    { call: 'netif_rx' }, [0xc3], //                       the return value is another call's
    DROP_ARGS, { call: 'sk_skb_reason_drop' },
    [0x85, 0xc0], { je: 'second' }, [0xc3], //             a branch on the way: not one value
  ]);
  assert.deepEqual(returns, [[0], [0xffffffea], null, null]);
});

const source = [
  'static int rcv_like(struct sk_buff *skb)', //                1
  '{', //                                                       2
  '\tint ret = NET_RX_DROP;', //                                3
  '\tif (!skb->dev) {', //                                      4
  '\t\tkfree_skb(skb);', //                                     5
  '\t\treturn 0;', //                                           6
  '\t}', //                                                     7
  '\tif (skb->len < 4) {', //                                   8
  '\t\tkfree_skb(skb);', //                                     9
  '\t\tdev->stats.rx_dropped++;', //                           10
  '\t\treturn -EINVAL;', //                                    11
  '\t}', //                                                    12
  '\tif (skb->len > 1500)', //                                 13
  '\t\tgoto drop;', //                                         14
  '\tif (skb->protocol == 0) {', //                            15
  '\t\tkfree_skb(skb);', //                                    16
  '\t\tret = NET_RX_SUCCESS;', //                              17
  '\t\tgoto out;', //                                          18
  '\t}', //                                                    19
  '\tfor (;;) {', //                                           20
  '\t\tkfree_skb(skb);', //                                    21
  '\t\tcontinue;', //                                          22
  '\t}', //                                                    23
  'drop:', //                                                  24
  '\tkfree_skb(skb);', //                                      25
  'out:', //                                                   26
  '\treturn ret;', //                                          27
  '}', //                                                      28
];

test('the source: the return after a site, through a goto and a variable assigned on the way', () => {
  const defs: Record<string, bigint> = { NET_RX_DROP: 1n, NET_RX_SUCCESS: 0n, '0': 0n, '-EINVAL': -22n };
  const resolve = (e: string): bigint | null => defs[e] ?? null;
  assert.deepEqual(sourceReturn(source, 5, resolve), { text: '0', value: 0 });
  // A counter bump on the way; -EINVAL as the u32 the code loads.
  assert.deepEqual(sourceReturn(source, 9, resolve), { text: '-EINVAL', value: 0xffffffea });
  // `ret = NET_RX_SUCCESS; goto out;` then `return ret;`.
  assert.deepEqual(sourceReturn(source, 16, resolve), { text: 'ret (= NET_RX_SUCCESS)', value: 0 });
  // The loop goes on: no return right after it.
  assert.equal(sourceReturn(source, 21, resolve), null);
  // `return ret;` with ret not assigned after the site: not known here.
  assert.equal(sourceReturn(source, 25, resolve), null);
});

test('the source: past the end of the site\'s if block and its else, to the return of the function', () => {
  const lines = [
    'static int queue_like(struct sk_buff *skb)', // 1
    '{', //                                          2
    '\tint err;', //                                 3
    '\tif (skb->len > 3) {', //                      4
    '\t\tkfree_skb(skb);', //                        5
    '\t\terr = -ENOBUFS;', //                        6
    '\t} else {', //                                 7
    '\t\tif (skb->dev) {', //                        8
    '\t\t\tskb->mark = 0;', //                       9
    '\t\t}', //                                      10
    '\t\terr = 0;', //                               11
    '\t}', //                                        12
    '\tspin_unlock_bh(&lock);', //                   13
    '\treturn err;', //                              14
    '}', //                                          15
  ];
  const resolve = (e: string): bigint | null => (e === '-ENOBUFS' ? -105n : e === '0' ? 0n : null);
  assert.deepEqual(sourceReturn(lines, 5, resolve), { text: 'err (= -ENOBUFS)', value: 0xffffff97 });
});

test('the code: a value set before the call on two paths that join before it is either of them', () => {
  const returns = returnsOf([
    [0x48, 0x85, 0xdb], { je: 'zero' }, //                 test %rbx,%rbx; je zero
    [0x41, 0xbc, 0x01, 0x00, 0x00, 0x00], [0xeb, 0x06], // mov $1,%r12d; jmp over the other
    { label: 'zero' },
    [0x41, 0xbc, 0x00, 0x00, 0x00, 0x00], //               mov $0,%r12d
    DROP_ARGS, { call: 'sk_skb_reason_drop' },
    [0x44, 0x89, 0xe0, 0xc3], //                           mov %r12d,%eax; ret
  ]);
  assert.deepEqual(returns, [[0, 1]]);
});
