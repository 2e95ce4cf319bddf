// The drop-call reader on hand-assembled x86-64: the reason constants that reach the callee's reason
// register over every path, a value from the caller (not constant), and what the assignment does with
// a call that clearly belongs to one site.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionCode } from '../../src/binary/index.ts';
import { mergedSites, softAssign } from '../../src/machine-code/assign.ts';
import { findDropCalls } from '../../src/machine-code/calls.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import { blockAround, normaliseCallName, sourceFeatures } from '../../src/machine-code/source-features.ts';

const BASE = 0xffffffff81a00000n;
const DROP = BASE + 0x1000n;
const ICMP = BASE + 0x2000n;

function rel32(from: number, to: bigint): number[] {
  const v = Number(to - (BASE + BigInt(from))) >>> 0;
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

function code(bytes: number[]): FunctionCode {
  return { name: 'udp_like_rcv', address: BASE, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [] };
}

const namer = { byAddress: (a: bigint): string | null => (a === DROP ? 'sk_skb_reason_drop' : a === ICMP ? '__icmp_send' : null) };
const callees = new Map([['sk_skb_reason_drop', { name: 'sk_skb_reason_drop', reasonArg: 2, skbArg: 1 }]]);
const flow = { noreturn: new Set<string>(), hiddenEdges: [] };

test('two constants joining before the call give the set {3, 5}, and the call after __icmp_send names it as a neighbour', () => {
  // 0: test %edi,%edi; 2: je 0xb; 4: mov $3,%edx; 9: jmp 0x15; b: call __icmp_send; 10: mov $5,%edx; 15: call drop; 1a: ret
  const fixed = [
    0x85, 0xff, 0x74, 0x07, 0xba, 0x03, 0x00, 0x00, 0x00, 0xeb, 0x0a,
    0xe8, ...rel32(0x10, ICMP),
    0xba, 0x05, 0x00, 0x00, 0x00,
    0xe8, ...rel32(0x1a, DROP),
    0xc3,
  ];
  const fn = decodeFunction(code(fixed), namer);
  const calls = findDropCalls(fn, callees, flow);
  assert.equal(calls.length, 1);
  const c = calls[0];
  assert.ok(c !== undefined);
  assert.equal(c.ret, 0x1a);
  assert.equal(c.callee, 'sk_skb_reason_drop');
  assert.deepEqual(c.reasons, { values: [3, 5], complete: true });
  assert.deepEqual(c.neighbours, ['__icmp_send']);
});

test('a reason register that comes from the caller is not a constant', () => {
  const b = [
    0x89, 0xf2, //                 0: mov %esi,%edx
    0xe8, ...rel32(0x07, DROP), // 2: call sk_skb_reason_drop
    0xc3,
  ];
  const calls = findDropCalls(decodeFunction(code(b), namer), callees, flow);
  assert.deepEqual(calls[0]?.reasons, { values: [], complete: false });
});

test('an errno return after the drop is among the call\'s immediates', () => {
  const b = [
    0xba, 0x02, 0x00, 0x00, 0x00, //   0: mov $2,%edx
    0xe8, ...rel32(0x0a, DROP), //     5: call sk_skb_reason_drop
    0xb8, 0xa6, 0xff, 0xff, 0xff, //   a: mov $-EMSGSIZE,%eax
    0xc3,
  ];
  const calls = findDropCalls(decodeFunction(code(b), namer), callees, flow);
  assert.ok(calls[0]?.imms.includes(0xffffffa6));
});

test('the soft assignment gives a site that another call fits clearly to the call that fits it', () => {
  // call 0 fits site A strongly and B weakly; call 1 fits A and B equally: call 1 goes to B.
  const p = softAssign([[10, 1], [1, 1]], [1, 1], 0.001);
  assert.ok((p[0]?.[0] ?? 0) > 0.7);
  assert.ok((p[1]?.[1] ?? 0) > 0.6, `call 1 → B: ${p[1]?.[1]}`);
});

test('source names meet symbol names: spin_unlock and _raw_spin_unlock, icmp_send and __icmp_send', () => {
  assert.equal(normaliseCallName('_raw_spin_unlock'), normaliseCallName('spin_unlock'));
  assert.equal(normaliseCallName('__icmp_send'), normaliseCallName('icmp_send'));
  assert.equal(normaliseCallName('ip_rcv_core.isra.0'), 'ip_rcv_core');
});

test('a site\'s block: its condition, the statements before it and the errno it returns', () => {
  const file = [
    'static int udp_like_rcv(struct sk_buff *skb)',
    '{',
    '\tif (skb->len > MAX) {',
    '\t\tnet_warn_ratelimited("udp: packet too long\\n");',
    '\t\tkfree_skb(skb);',
    '\t\treturn -EMSGSIZE;',
    '\t}',
    '\tif (!pskb_may_pull(skb, 8)) {',
    '\t\tkfree_skb(skb);',
    '\t\treturn -EINVAL;',
    '\t}',
    '}',
  ];
  const lines = (f: string): string[] | null => (f === 'net/udp_like.c' ? file : null);
  const [from, to] = blockAround(lines, 'net/udp_like.c', 5, 5, 1, 10, 3);
  assert.deepEqual([from, to], [3, 6]);
  const f = sourceFeatures(lines, new Map([['EMSGSIZE', 90], ['EINVAL', 22]]), new Map(), 'net/udp_like.c', from, to);
  assert.equal(f.errnos.get(0xffffffa6), 'EMSGSIZE');
  assert.ok(!f.errnos.has((-22) >>> 0));
  assert.deepEqual(f.strings, ['udp: packet too long\n']);
  assert.ok(f.calls.has('net_warn_ratelimited'));
});

test('merged blocks: two sites that free the same way share the only call; not when each has its call, or the split is one-sided', () => {
  const key = ['kfree_skb\0', 'kfree_skb\0', 'kfree_skb_reason\0SKB_DROP_REASON_NOMEM'];
  // One call for two identical sites, split about evenly by the assignment (its last entry: no site).
  const p = softAssign([[1, 1, 0.01]], [1, 1, 1], 0.02);
  assert.deepEqual(mergedSites(p[0] ?? [], key, 1), [0, 1]);
  assert.deepEqual(mergedSites([0.3, 0.6, 0.1], key, 1), [1, 0], 'best first');
  assert.deepEqual(mergedSites([0.45, 0.45, 0.1], key, 2), [], 'two calls for the two sites: nothing merged');
  assert.deepEqual(mergedSites([0.9, 0.05, 0.05], key, 1), [], 'the call clearly belongs to one site');
  assert.deepEqual(mergedSites([0.4, 0.1, 0.5], key, 1), [], 'the best site has no twin');
  assert.deepEqual(mergedSites([0.5, 0.5, 0], ['', '', 'x'], 1), [], 'sites that cannot merge (behind helpers) are left out');
});

test('in a module, a string loaded as a relocated immediate (mov $0x0,%rsi + R_X86_64_32S) is a data reference of the drop call', () => {
  // 0: mov $0x0,%rsi (imm32 filled by R_X86_64_32S .rodata.str1.8+0x978 at 3); 7: call netdev_err (PLT32 at 8);
  // c: xor %edi,%edi; e: mov $2,%edx; 13: call sk_skb_reason_drop (PLT32 at 0x14); 18: ret
  const bytes = [
    0x48, 0xc7, 0xc6, 0x00, 0x00, 0x00, 0x00,
    0xe8, 0x00, 0x00, 0x00, 0x00,
    0x31, 0xff,
    0xba, 0x02, 0x00, 0x00, 0x00,
    0xe8, 0x00, 0x00, 0x00, 0x00,
    0xc3,
  ];
  const relocTargets = new Map([[3, '.rodata.str1.8+0x978'], [8, 'netdev_err'], [0x14, 'sk_skb_reason_drop']]);
  const fn = decodeFunction({ name: 'xgbe_like_rx', address: 0n, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [[3, 7], [8, 12], [0x14, 0x18]], relocTargets, section: '.text' }, null);
  const calls = findDropCalls(fn, callees, flow);
  assert.equal(calls.length, 1);
  const c = calls[0];
  assert.ok(c !== undefined);
  assert.equal(c.ret, 0x18);
  assert.deepEqual(c.reasons, { values: [2], complete: true });
  assert.deepEqual(c.neighbours, ['netdev_err']);
  assert.deepEqual(c.dataRefs, ['.rodata.str1.8+0x978']);
});

test('an array element freed through an index register and cleared through it counts as a cleared field; a plain field at the same displacement does not', () => {
  // `dev_kfree_skb(np->rx_info[i].skb); np->rx_info[i].skb = NULL;` in a loop, as starfire's netdev_close has it:
  //  0: mov 0xa20(%rbp,%rbx,2),%rsi; 8: mov $2,%edx; d: call drop; 12: movq $0,0xa20(%rbp,%rbx,2); 1e: ret
  const indexed = [
    0x48, 0x8b, 0xb4, 0x5d, 0x20, 0x0a, 0x00, 0x00,
    0xba, 0x02, 0x00, 0x00, 0x00,
    0xe8, ...rel32(0x12, DROP),
    0x48, 0xc7, 0x84, 0x5d, 0x20, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xc3,
  ];
  const [c] = findDropCalls(decodeFunction(code(indexed), namer), callees, flow);
  assert.deepEqual(c?.skb, [{ kind: 'load', disp: 0xa20, indexed: true }]);
  assert.equal(c?.clearsField, true);
  // The same load, then `movq $0,0xa20(%rbp)`: another memory (no index), not the element freed.
  const other = [...indexed.slice(0, 18), 0x48, 0xc7, 0x85, 0x20, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc3];
  const [d] = findDropCalls(decodeFunction(code(other), namer), callees, flow);
  assert.equal(d?.clearsField, false);
});
