// Field offsets from the image's BTF (src/machine-code/field-offsets.ts) on hand-assembled x86-64 and a
// hand-written kernel-style tree (fixtures/machine-code/field-offsets): two look-alike drop blocks told apart
// by the field the branch into each tests (`cmpl $0x5,0x10(%rdi)` is `ring->state == 5`) and by the field
// each frees (`mov 0x8(%rbx),%rdi` is `ring->tail_skb`, through `skb = ring->tail_skb;`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explainer } from '../../src/explain/explain.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { assignedAccess, conditionAccesses, declaredStruct, elementAccess, elementDisplacement, fieldAccess, fromNetdevPriv, netdevPrivOffset } from '../../src/machine-code/field-offsets.ts';
import { Btf } from '../../src/binary/btf.ts';
import { MachineCode } from '../../src/machine-code/index.ts';
import { assemble } from '../helpers/assemble.ts';
import { buildBtf } from '../helpers/btf-builder.ts';
import { fakeImage, type Fn } from '../helpers/fake-image.ts';
import { indexFixtureForTests } from '../helpers/indexed-fixture.ts';

const TEXT = 0xffffffff81000000n;
const RET = [0xc3];
const REASON_2 = [0xbe, 0x02, 0x00, 0x00, 0x00]; // mov $2,%esi
const STUBS = ['kfree_skb_reason', 'ring_queue', 'ring_reset'];
const stubAddress = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;
const stubs: Fn[] = STUBS.map((name) => ({ name, address: stubAddress(name), bytes: RET }));

// ring_drop: cmpl $0x5,0x10(%rdi); je stopped; cmpl $0x0,0x14(%rdi); jne mode; call ring_queue; ret;
// stopped: mov %rsi,%rdi; mov $2,%esi; call kfree_skb_reason; ret; mode: the same.
const DROP = TEXT + 0x1000n;
const FREE = [[0x48, 0x89, 0xf7], REASON_2, { call: 'kfree_skb_reason' }, RET];
const drop = assemble(DROP, [
  [0x83, 0x7f, 0x10, 0x05], { je: 'stopped' },
  [0x83, 0x7f, 0x14, 0x00], { jne: 'mode' },
  { call: 'ring_queue' }, RET,
  { label: 'stopped' }, ...FREE as never[],
  { label: 'mode' }, ...FREE as never[],
], stubAddress);
// ring_flush: push %rbx; mov %rdi,%rbx; mov (%rbx),%rdi; mov $2,%esi; call kfree_skb_reason; mov %rbx,%rdi;
// call ring_reset; mov 0x8(%rbx),%rdi; mov $2,%esi; call kfree_skb_reason; mov %rbx,%rdi; call ring_reset; pop %rbx; ret.
const FLUSH = TEXT + 0x2000n;
const flush = assemble(FLUSH, [
  [0x53], [0x48, 0x89, 0xfb], [0x48, 0x8b, 0x3b], REASON_2, { call: 'kfree_skb_reason' }, [0x48, 0x89, 0xdf], { call: 'ring_reset' },
  [0x48, 0x8b, 0x7b, 0x08], REASON_2, { call: 'kfree_skb_reason' }, [0x48, 0x89, 0xdf], { call: 'ring_reset' }, [0x5b], RET,
], stubAddress);

const btf = buildBtf([
  { name: 'sk_buff', size: 0x80, members: [{ name: 'len', type: 'int', offset: 0x70 }] },
  { name: 'ring', size: 0x18, members: [{ name: 'head_skb', type: 'ptr:sk_buff', offset: 0 }, { name: 'tail_skb', type: 'ptr:sk_buff', offset: 8 }, { name: 'state', type: 'int', offset: 0x10 }, { name: 'mode', type: 'int', offset: 0x14 }] },
]);
const fns = [...stubs, { name: 'ring_drop', address: DROP, bytes: drop.bytes }, { name: 'ring_flush', address: FLUSH, bytes: flush.bytes }];
const withTypes = { ...fakeImage(fns), btf: () => btf.bytes };
const withoutTypes = fakeImage(fns);

let ex: Explainer;
let code: MachineCode;
let plain: MachineCode;
indexFixtureForTests('dropsite-mc-field-offsets-', ['machine-code', 'field-offsets'], (fx) => {
  ({ explainer: ex } = fx);
  code = fx.codeFor(withTypes);
  plain = fx.codeFor(withoutTypes);
});

const ranked = (text: string, mc: MachineCode): Array<{ where: string; score: number; evidence: string[] }> => {
  const e = ex.explain(parseLocation(text), { code: mc });
  assert.equal(e.method, 'machine-code', e.notes.join('\n'));
  return e.candidates.map((c) => ({ where: `${c.file}:${c.line}`, score: c.score, evidence: c.evidence }));
};
const ret = (a: { labels: Map<string, number> }, label: string): number => (a.labels.get(label) ?? 0) + 3 + 5 + 5;

test('the source side: a field access, the struct its base is declared as, the field a variable was assigned from', () => {
  assert.deepEqual(fieldAccess('ddev -> chaining_skb'), { base: 'ddev', steps: [{ op: '->', name: 'chaining_skb' }] });
  assert.equal(fieldAccess('skb'), null);
  assert.equal(fieldAccess('np->rx_info[i].skb'), null, 'an index is no fixed displacement');
  const lines = ['void f(struct nfc_digital_dev *ddev, int x)', '{', '\tstruct sk_buff *skb = ddev->saved_skb;', '\tkfree_skb(skb);'];
  assert.equal(declaredStruct(lines, 1, 4, 'ddev'), 'nfc_digital_dev');
  assert.equal(declaredStruct(lines, 1, 4, 'x'), null);
  assert.equal(assignedAccess(lines, 1, 4, 'skb'), 'ddev->saved_skb');
  assert.deepEqual(conditionAccesses('if (le64_to_cpu(hdr->dst_cid) == vsock->guest_cid && !dev->ops->probe(dev))'), ['hdr->dst_cid', 'vsock->guest_cid']);
});

test('look-alike blocks: the field the branch into each tests picks its site, with the BTF offset as evidence', () => {
  const size = `/0x${drop.bytes.length.toString(16)}`;
  const stopped = ranked(`ring_drop+0x${ret(drop, 'stopped').toString(16)}${size}`, code);
  assert.equal(stopped[0]?.where, 'net/core/ring_drop.c:21');
  assert.ok(stopped[0]?.evidence.includes('machine code: the code tests the field at 0x10(…) against $0x5 before branching here, the offset of ring->state (struct ring) in the image\'s BTF, as this site\'s condition `if (ring->state == 5) {` reads it'), stopped[0]?.evidence.join('\n'));
  const mode = ranked(`ring_drop+0x${ret(drop, 'mode').toString(16)}${size}`, code);
  assert.equal(mode[0]?.where, 'net/core/ring_drop.c:25');
  // Without the image's BTF the two blocks read alike: only the weak layout prior (the later site) leans.
  const before = ranked(`ring_drop+0x${ret(drop, 'stopped').toString(16)}${size}`, plain);
  assert.equal(before[0]?.where, 'net/core/ring_drop.c:25', JSON.stringify(before));
  assert.ok((before[0]?.score ?? 0) < 0.6, JSON.stringify(before));
  assert.ok((stopped[0]?.score ?? 0) > (stopped[1]?.score ?? 0) * 1.5, JSON.stringify(stopped));
});

test('look-alike frees: the displacement the freed buffer is loaded from is the site\'s field, a variable through its assignment', () => {
  const size = `/0x${flush.bytes.length.toString(16)}`;
  const calls = [...flush.bytes.keys()].filter((i) => flush.bytes[i] === 0xe8).map((i) => i + 5);
  const [head, , tail] = calls;
  const first = ranked(`ring_flush+0x${(head ?? 0).toString(16)}${size}`, code);
  assert.equal(first[0]?.where, 'net/core/ring_drop.c:35');
  assert.ok(first[0]?.evidence.includes('machine code: frees the buffer loaded from 0x0(…), the offset of this site\'s ring->head_skb (struct ring) in the image\'s BTF'), first[0]?.evidence.join('\n'));
  const second = ranked(`ring_flush+0x${(tail ?? 0).toString(16)}${size}`, code);
  assert.equal(second[0]?.where, 'net/core/ring_drop.c:37');
  assert.ok(second[0]?.evidence.includes('machine code: frees the buffer loaded from 0x8(…), the offset of this site\'s skb = ring->tail_skb (struct ring) in the image\'s BTF'), second[0]?.evidence.join('\n'));
  assert.ok(second[1]?.evidence.includes('machine code: frees the buffer loaded from 0x8(…), but this site\'s ring->head_skb (struct ring) is at 0x0 in the image\'s BTF'), second[1]?.evidence.join('\n'));
});

test('an array element: the member\'s offset plus the element\'s field, through an index register (a literal index folds in); past netdev_priv when the base is the private area', () => {
  assert.deepEqual(elementAccess('np->rx_info[i].skb'), { base: 'np', steps: [{ op: '->', name: 'rx_info', index: 'i' }, { op: '.', name: 'skb', index: null }] });
  assert.equal(elementAccess('np->rx_skb'), null, 'no index: a plain field (fieldAccess)');
  assert.equal(elementAccess('np->ring[i + 1].skb'), null, 'an expression as the index is not read');
  const types = Btf.parse(buildBtf([
    { name: 'sk_buff', size: 0x80, members: [{ name: 'len', type: 'int', offset: 0x70 }] },
    { name: 'ring_info', size: 0x18, members: [{ name: 'mapping', type: 'int', offset: 0 }, { name: 'skb', type: 'ptr:sk_buff', offset: 8 }] },
    { name: 'priv', size: 0x400, members: [{ name: 'rx_info', type: 'arr:16:ring_info', offset: 0x20 }, { name: 'tx_skbuff', type: 'arr:32:ptr:sk_buff', offset: 0x200 }] },
    { name: 'net_device', size: 0x9e8, members: [{ name: 'flags', type: 'int', offset: 0 }] },
  ]).bytes, 'test BTF');
  const at = (expr: string): ReturnType<typeof elementDisplacement> => elementDisplacement(types, 'priv', elementAccess(expr)?.steps ?? []);
  assert.deepEqual(at('np->rx_info[i].skb'), { disp: 0x28, indexed: true });
  assert.deepEqual(at('np->tx_skbuff[entry]'), { disp: 0x200, indexed: true });
  assert.deepEqual(at('np->rx_info[2].skb'), { disp: 0x20 + 2 * 0x18 + 8, indexed: false });
  assert.deepEqual(at('np->tx_skbuff[3]'), { disp: 0x200 + 3 * 8, indexed: false });
  assert.equal(at('np->rx_info[RX_HEAD].skb'), null, 'a macro index is not resolved');
  assert.equal(at('np->mapping[i]'), null, 'no such member');
  // sizeof(struct net_device) 0x9e8 rounded up to NETDEV_ALIGN (32)
  assert.equal(netdevPrivOffset(types), 0xa00);
  const fn = ['static int close(struct net_device *dev)', '{', '\tstruct priv *np = netdev_priv(dev);', '\tstruct priv *other = dev->ml_priv;', '\tkfree_skb(np->rx_info[0].skb);'];
  assert.equal(fromNetdevPriv(fn, 1, 5, 'np'), true);
  assert.equal(fromNetdevPriv(fn, 1, 5, 'other'), false);
});
