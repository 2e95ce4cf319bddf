// The constant arguments of the call whose result is freed (src/machine-code/call-arguments.ts): which of the
// freed variable's assignments reach a site, what each passes, and how the code's argument registers compare.
// The source lines are hand-written in the style of net/bluetooth/hci_sock.c's send_monitor_replay().
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assignedCall, compareArguments, originArguments, reachingAssignments, sourceCallArguments } from '../../src/machine-code/call-arguments.ts';

const SRC = [
  'static void replay(struct sock *sk)', //          1
  '{', //                                             2
  '\tlist_for_each_entry(dev, &dev_list, list) {', // 3
  '\t\tstruct sk_buff *skb;', //                      4
  '', //                                              5
  '\t\tskb = make_event(dev, EV_REG);', //            6
  '\t\tif (!skb)', //                                 7
  '\t\t\tcontinue;', //                               8
  '\t\tif (queue(sk, skb))', //                       9
  '\t\t\tkfree_skb(skb);', //                         10
  '', //                                              11
  '\t\tskb = make_event(dev,', //                     12
  '\t\t\t\t EV_OPEN);', //                           13
  '\t\tif (queue(sk, skb))', //                       14
  '\t\t\tkfree_skb(skb);', //                         15
  '', //                                              16
  '\t\tif (test_bit(UP, &dev->flags))', //            17
  '\t\t\tskb = make_event(dev, EV_UP);', //           18
  '\t\telse if (setup(dev))', //                      19
  '\t\t\tskb = make_event(dev, EV_SETUP);', //        20
  '\t\telse', //                                      21
  '\t\t\tskb = NULL;', //                             22
  '', //                                              23
  '\t\tif (skb) {', //                                24
  '\t\t\tif (queue(sk, skb))', //                     25
  '\t\t\t\tkfree_skb(skb);', //                       26
  '\t\t}', //                                         27
  '\t}', //                                           28
  '}', //                                             29
];
const VALUES: Record<string, bigint> = { EV_REG: 1n, EV_UP: 3n, EV_OPEN: 7n, EV_SETUP: 9n, NULL: 0n };
const value = (e: string): bigint | null => VALUES[e.trim()] ?? null;

test('the assignment that reaches a site is the nearest one; a brace-less if/else chain brings all its arms', () => {
  assert.deepEqual(reachingAssignments(SRC, 1, 10, 'skb').map((a) => a.line), [6]);
  // The assignment before it (line 6) is dead there: line 12 assigns unconditionally. Its text is joined over two lines.
  assert.deepEqual(reachingAssignments(SRC, 1, 15, 'skb'), [{ line: 12, text: 'skb = make_event(dev, EV_OPEN);' }]);
  assert.deepEqual(reachingAssignments(SRC, 1, 26, 'skb').map((a) => a.line), [18, 20, 22]);
  assert.deepEqual(reachingAssignments(SRC, 1, 5, 'skb'), []);
});

test('an assignment from a call gives its callee and argument texts; anything else gives null', () => {
  assert.deepEqual(assignedCall('skb = make_event(dev, EV_UP);', 'skb'), { callee: 'make_event', args: ['dev', 'EV_UP'] });
  assert.deepEqual(assignedCall('nskb = skb_clone(skb, GFP_ATOMIC);', 'nskb'), { callee: 'skb_clone', args: ['skb', 'GFP_ATOMIC'] });
  assert.equal(assignedCall('skb = NULL;', 'skb'), null);
  assert.equal(assignedCall('skb == make_event(dev, EV_UP)', 'skb'), null);
  const chain = sourceCallArguments(SRC, 1, 26, 'skb', value);
  assert.deepEqual(chain?.map((a) => [a.line, a.callee, a.args]), [[18, 'make_event', [null, 3n]], [20, 'make_event', [null, 9n]]]);
});

test('the code\'s argument constants are read at each call whose result is freed, over every path', () => {
  // Two calls of make_event reach the freed register: one with $3 in %esi, one with $9; %edi is not a constant.
  const constants = (at: number, family: number): { values: number[]; complete: boolean } =>
    family === 6 ? { values: at === 40 ? [3] : [9], complete: true } : { values: [], complete: false };
  const got = originArguments([{ kind: 'call', name: 'make_event', at: 40 }, { kind: 'call', name: 'make_event', at: 52 }, { kind: 'load', disp: 8 }, { kind: 'call', name: 'other' }], constants);
  assert.deepEqual(got, [
    { name: 'make_event', args: [null, [3], null, null, null, null] },
    { name: 'make_event', args: [null, [9], null, null, null, null] },
  ]);
});

test('every value of the code among the site\'s is a match, none of them a conflict; unknown positions and other callees say nothing', () => {
  const code = (v: number[]): Array<{ name: string; args: Array<number[] | null> }> => [{ name: 'make_event', args: [null, v] }];
  const reg = sourceCallArguments(SRC, 1, 10, 'skb', value) ?? [];
  const open = sourceCallArguments(SRC, 1, 15, 'skb', value) ?? [];
  const up = sourceCallArguments(SRC, 1, 26, 'skb', value) ?? [];
  assert.deepEqual(compareArguments(code([1]), reg), { matches: [{ callee: 'make_event', position: 1, values: [1] }], conflicts: [] });
  assert.deepEqual(compareArguments(code([1]), open), { matches: [], conflicts: [{ callee: 'make_event', position: 1, values: [1], site: [7n] }] });
  // Both arms of the chain: the code's two calls ($3 and $9) are this site's.
  assert.equal(compareArguments(code([3, 9]), up).matches.length, 1);
  // Only one of the code's values is the site's: neither a match nor a conflict.
  assert.deepEqual(compareArguments(code([1, 3]), up), { matches: [], conflicts: [] });
  // A .constprop copy has other parameters: not compared.
  assert.deepEqual(compareArguments([{ name: 'make_event.constprop.0', args: [null, [7]] }], reg), { matches: [], conflicts: [] });
  // An argument the code does not know is left out.
  assert.deepEqual(compareArguments(code([]).map((c) => ({ ...c, args: [null, null] })), reg), { matches: [], conflicts: [] });
});
