// The machine-code ranking mechanisms on hand-assembled x86-64 and a hand-written kernel-style tree
// (fixtures/machine-code/ranking): two same-named static functions told apart by a bare offset, a WARN's
// trap that the kernel resumes after (its __bug_table line as evidence), a freed field traced to the calls
// its file assigns to it, an indirect call's result, the calls on the branch after a drop, and stack
// adjustments that are no errno.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explainer } from '../../src/explain/explain.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { bugEntriesIn, readBugTable } from '../../src/machine-code/bug-table.ts';
import { findDropCalls } from '../../src/machine-code/calls.ts';
import { fieldAssignments, sourceValue, valueOrigins } from '../../src/machine-code/dataflow.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import { MachineCode } from '../../src/machine-code/index.ts';
import { assemble } from '../helpers/assemble.ts';
import { fakeImage, type Fn } from '../helpers/fake-image.ts';
import { indexFixtureForTests } from '../helpers/indexed-fixture.ts';

const TEXT = 0xffffffff81000000n;
const DATA = 0xffffffff82000000n;


const MOV_RBX_RDI = [0x48, 0x89, 0xdf];
const REASON_2 = [0xbe, 0x02, 0x00, 0x00, 0x00]; // mov $2,%esi (NOT_SPECIFIED)
const TEST_EAX = [0x85, 0xc0];
const TEST_RAX = [0x48, 0x85, 0xc0];
const XOR_EAX = [0x31, 0xc0];
const ENETDOWN = [0xb8, 0x9c, 0xff, 0xff, 0xff]; // mov $-100,%eax
const RET = [0xc3];
const UD2 = [0x0f, 0x0b];
const pad = (n: number): number[] => new Array<number>(n).fill(0xcc);

// The functions the fixture's code calls, at fixed addresses (one-byte stubs).
const STUBS = ['kfree_skb_reason', 'tunnel_v4_ready', 'tunnel_v4_report', 'tunnel_v6_ready', 'tunnel_v6_report', 'event_prep_header', 'event_reserve', 'event_queue'];
const stubAddress = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;
const stubs: Fn[] = STUBS.map((name) => ({ name, address: stubAddress(name), bytes: RET }));

// reg_tunnel_xmit, net/ipv4/tunnel_reg.c: 0x2b bytes, its drop calls return to +0x18 and +0x25.
const V4 = TEXT + 0x1000n;
const v4 = assemble(V4, [
  { call: 'tunnel_v4_ready' }, TEST_EAX, { je: 'down' },
  { call: 'tunnel_v4_report' }, REASON_2, { call: 'kfree_skb_reason' }, XOR_EAX, RET,
  { label: 'down' }, REASON_2, { call: 'kfree_skb_reason' }, ENETDOWN, RET,
], (n) => stubAddress(n));
// reg_tunnel_xmit, net/ipv6/tunnel_reg6.c: 0x50 bytes, its drop calls return to +0x1b and +0x2d.
const V6 = TEXT + 0x2000n;
const v6 = assemble(V6, [
  { call: 'tunnel_v6_ready' }, TEST_EAX, { je: 'down' },
  { call: 'tunnel_v6_report' }, MOV_RBX_RDI, REASON_2, { call: 'kfree_skb_reason' }, XOR_EAX, RET, pad(2),
  { label: 'down' }, MOV_RBX_RDI, REASON_2, { call: 'kfree_skb_reason' }, ENETDOWN, RET, pad(0x1d),
], (n) => stubAddress(n));

// event_send, net/core/warn_event.c: `je` to a WARN's ud2, then the free; `je` to the second free.
const EV = TEXT + 0x3000n;
const ev = assemble(EV, [
  { call: 'event_prep_header' }, TEST_RAX, { je: 'warn' },
  { call: 'event_reserve' }, TEST_RAX, { je: 'nores' },
  { call: 'event_queue' }, RET,
  { label: 'warn' }, UD2, REASON_2, { call: 'kfree_skb_reason' }, RET,
  { label: 'nores' }, REASON_2, { call: 'kfree_skb_reason' }, RET,
], (n) => stubAddress(n));
const warnAt = EV + BigInt(ev.labels.get('warn') ?? 0);

// __bug_table: one 12-byte entry (s32 ud2, s32 file, u16 line, u16 flags: BUGFLAG_WARNING | TAINT_WARN << 8).
const FILE_NAME = DATA + 0x100n;
const BUGS = DATA;
function bugTableBytes(entries: Array<{ ud2: bigint; line: number; flags: number }>): Uint8Array {
  const b = new Uint8Array(12 * entries.length);
  const v = new DataView(b.buffer);
  entries.forEach((e, i) => {
    const at = BUGS + BigInt(12 * i);
    v.setInt32(12 * i, Number(e.ud2 - at), true);
    v.setInt32(12 * i + 4, Number(FILE_NAME - (at + 4n)), true);
    v.setUint16(12 * i + 8, e.line, true);
    v.setUint16(12 * i + 10, e.flags, true);
  });
  return b;
}
const bugBytes = bugTableBytes([{ ud2: warnAt, line: 16, flags: 0x901 }]);
const fileName = Uint8Array.from([...new TextEncoder().encode('net/core/warn_event.c\0'), ...new Array<number>(160).fill(0)]);

const image = fakeImage([
  ...stubs,
  { name: 'reg_tunnel_xmit', address: V4, bytes: v4.bytes },
  { name: 'reg_tunnel_xmit', address: V6, bytes: v6.bytes },
  { name: 'event_send', address: EV, bytes: ev.bytes },
], [{ address: BUGS, bytes: bugBytes }, { address: FILE_NAME, bytes: fileName }], { address: BUGS, bytes: bugBytes });

let ex: Explainer;
let code: MachineCode;
indexFixtureForTests('dropsite-mc-ranking-', ['machine-code', 'ranking'], (fx) => {
  ({ explainer: ex } = fx);
  code = fx.codeFor(image);
});

const first = (text: string): { where: string; evidence: string[]; notes: string[] } => {
  const e = ex.explain(parseLocation(text), { code });
  assert.equal(e.method, 'machine-code', e.notes.join('\n'));
  const c = e.candidates[0];
  return { where: `${c?.file}:${c?.line}`, evidence: c?.evidence ?? [], notes: e.notes };
};

test('two static functions of one name: a bare offset past the smaller one is in the larger one, whose calls name its file', () => {
  assert.equal(v4.bytes.length, 0x2b);
  const r = first('reg_tunnel_xmit+2d');
  assert.equal(r.where, 'net/ipv6/tunnel_reg6.c:12');
  assert.ok(r.notes.some((n) => n.includes('2 functions of the image are named reg_tunnel_xmit') && n.includes('only in the one at') && n.includes('(80 bytes)')), r.notes.join('\n'));
  assert.ok(r.notes.some((n) => n.includes('net/ipv6/tunnel_reg6.c 2')), 'the IPv6 body calls both functions the code calls');
});

test('two static functions of one name: an offset inside both is the one where it is a drop call\'s return address', () => {
  const r = first('reg_tunnel_xmit+1b');
  assert.equal(r.where, 'net/ipv6/tunnel_reg6.c:17');
  assert.ok(r.notes.some((n) => n.includes('is the return address of a drop call only in the one at')), r.notes.join('\n'));
  // With its size (the perf form), each is named directly, and no such note is needed.
  const sized = ex.explain(parseLocation('reg_tunnel_xmit+0x25/0x2b'), { code });
  assert.equal(`${sized.candidates[0]?.file}:${sized.candidates[0]?.line}`, 'net/ipv4/tunnel_reg.c:12');
  assert.ok(!sized.notes.some((n) => n.includes('functions of the image are named')));
});

test('__bug_table: the 12-byte layout is the one whose addresses land on ud2; a WARN names its file and line', () => {
  const entries = readBugTable({ address: BUGS, bytes: bugBytes }, (a, l) => image.bytesAt(a, l));
  assert.deepEqual(entries, [{ address: warnAt, file: 'net/core/warn_event.c', line: 16, warning: true }]);
  assert.deepEqual([...bugEntriesIn(entries ?? [], EV, EV + BigInt(ev.bytes.length)).keys()], [ev.labels.get('warn')]);
  // A table whose addresses point anywhere but at ud2 is no bug table.
  const wrong = bugTableBytes([{ ud2: EV, line: 1, flags: 1 }]);
  assert.equal(readBugTable({ address: BUGS, bytes: wrong }, (a, l) => image.bytesAt(a, l)), null);
});

test('a WARN\'s ud2 falls through: the free after it is entered by the branch on what event_prep_header returned', () => {
  const fn = decodeFunction({ name: 'event_send', address: EV, size: ev.bytes.length, sizeExact: true, bytes: Uint8Array.from(ev.bytes), relocated: [] }, { byAddress: (a) => image.resolve(a)?.name ?? null });
  const callees = new Map([['kfree_skb_reason', { name: 'kfree_skb_reason', reasonArg: 1, skbArg: 0 }]]);
  const warn = ev.labels.get('warn') ?? 0;
  const without = findDropCalls(fn, callees, { noreturn: new Set(), hiddenEdges: [] });
  assert.equal(without[0]?.entry, null, 'a trap that stops: nothing leads into the block');
  const resumed = findDropCalls(fn, callees, { noreturn: new Set(), hiddenEdges: [], resumes: new Set([warn]) });
  assert.deepEqual(resumed[0]?.entry?.calls, ['event_prep_header']);
  assert.deepEqual(resumed[0]?.warnings, [warn]);
  assert.deepEqual(resumed[1]?.warnings, []);
  assert.deepEqual(resumed[0]?.reasons, { values: [2], complete: true });
});

test('a WARN on the way into a drop: its __bug_table line in the site\'s block is the evidence, in explain', () => {
  const ret = (ev.labels.get('warn') ?? 0) + UD2.length + REASON_2.length + 5;
  const r = first(`event_send+0x${ret.toString(16)}/0x${ev.bytes.length.toString(16)}`);
  assert.equal(r.where, 'net/core/warn_event.c:17');
  assert.ok(r.evidence.some((x) => x === 'machine code: the drop follows the trap of a WARN at net/core/warn_event.c:16 (its __bug_table entry in the image), inside this site\'s block'), r.evidence.join('\n'));
  const other = first(`event_send+0x${(ev.bytes.length - 1).toString(16)}/0x${ev.bytes.length.toString(16)}`);
  assert.equal(other.where, 'net/core/warn_event.c:23');
});

test('a freed field: the calls its file assigns to that field, wherever they are', () => {
  const file = [
    'static void deliver_one(struct sock *sk, struct bcast_data *p)',
    '{',
    '\tif (p->skb2 == NULL)',
    '\t\tp->skb2 = skb_clone(p->skb, p->allocation);',
    '\telse',
    '\t\tp->other = skb_get(p->skb);',
    '}',
    'int broadcast(struct sk_buff *skb)',
    '{',
    '\tstruct bcast_data info;',
    '\tinfo.skb2 = NULL;',
    '\tconsume_skb(info.skb2);',
    '}',
  ];
  assert.deepEqual(sourceValue(file, 8, 12, 'info.skb2'), { kind: 'member', field: 'skb2' });
  assert.deepEqual(fieldAssignments(file, 'skb2'), ['skb_clone']);
  assert.deepEqual(fieldAssignments(file, 'other'), ['skb_get']);
});

test('an indirect call\'s result is its own origin, and a source assignment through a pointer says so', () => {
  // 0: call *%rax; 2: mov %rax,%rdi; 5: ret
  const bytes = [0xff, 0xd0, 0x48, 0x89, 0xc7, 0xc3];
  const fn = decodeFunction({ name: 'vrf_rcv_like', address: TEXT, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [] }, null);
  assert.deepEqual(valueOrigins(fn.insns, (i) => (i > 0 ? [i - 1] : []), 2, 7), [{ kind: 'icall' }]);
  const src = [
    'static struct sk_buff *vrf_rcv_like(struct sk_buff *skb, struct net_device *dev)',
    '{',
    '\tskb = dev->l3mdev_ops->l3mdev_l3_rcv(dev, skb, family);',
    '\tif (!skb)',
    '\t\treturn NULL;',
    '\tkfree_skb(skb);',
    '}',
  ];
  const v = sourceValue(src, 1, 6, 'skb');
  assert.equal(v.kind === 'variable' ? v.fromPointer : null, 'dev->l3mdev_ops->l3mdev_l3_rcv');
  assert.equal(v.kind === 'variable' ? v.param : null, true);
});

test('the calls on the first branch after a drop are its neighbours; a stack adjustment\'s immediate is no errno', () => {
  const SIG = TEXT + 0x4000n;
  const f = assemble(TEXT, [
    [0x48, 0x83, 0xc4, 0x80], //           add $-0x80,%rsp
    REASON_2, { call: 'kfree_skb_reason' },
    TEST_EAX, { jne: 'sig' }, XOR_EAX, RET,
    { label: 'sig' }, { call: 'send_sig' }, RET,
  ], (n) => (n === 'send_sig' ? SIG : stubAddress(n)));
  const fn = decodeFunction({ name: 'stream_send_like', address: TEXT, size: f.bytes.length, sizeExact: true, bytes: Uint8Array.from(f.bytes), relocated: [] }, { byAddress: (a) => (a === SIG ? 'send_sig' : image.resolve(a)?.name ?? null) });
  assert.deepEqual(fn.insns[0]?.imms, []);
  const calls = findDropCalls(fn, new Map([['kfree_skb_reason', { name: 'kfree_skb_reason', reasonArg: 1, skbArg: 0 }]]), { noreturn: new Set(), hiddenEdges: [] });
  assert.deepEqual(calls[0]?.neighbours, ['send_sig']);
  assert.ok(!(calls[0]?.imms ?? []).includes(0xffffff80));
});
