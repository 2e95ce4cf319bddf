// Three facts about drops inside inlined helpers, each on its own inputs: which helpers the code calls out of line
// (out-of-line.ts: a clone of the whole function is, an ipa-split `.part.N` is not, and `__foo` is not `foo`); the
// constants a call's argument registers receive (call-arguments.ts) on hand-assembled x86-64, against a source
// call's constant arguments; and a call through a pointer bound to a drop function elsewhere, where the location's
// chain passes another function (pointer-target.ts), on hand-written source lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CodeSite } from '../../src/explain/explain.ts';
import type { DropSite, FunctionRecord } from '../../src/model.ts';
import { argumentAgreement, codeArguments } from '../../src/machine-code/call-arguments.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import { inlinedCopies, MAX_INLINED_COPIES, outOfLineHelpers } from '../../src/machine-code/out-of-line.ts';
import { POINTER_OTHER_TARGET, pointerTargets } from '../../src/machine-code/pointer-target.ts';
import { assemble, type Part } from '../helpers/assemble.ts';

test('out of line: a call of the helper or of a whole clone of it (constprop, isra) is; an ipa-split part (for its own sites) and a same name with other underscores are not', () => {
  const called = new Set(['send_frame', 'build_msg.constprop.0', 'fill.isra.0', '__beacon_tx.part.0', 'tx_frame', 'kfree_skb_reason']);
  assert.deepEqual(outOfLineHelpers(['send_frame', 'build_msg', 'fill', '__tx_frame', 'other', '__beacon_tx'], called), ['send_frame', 'build_msg', 'fill']);
  assert.deepEqual(outOfLineHelpers(['beacon_tx'], new Set(['beacon_tx.part.0.constprop.0'])), []);
  // The split helper's head is inlined, but a helper it calls further is most often in its out-of-line tail.
  assert.deepEqual(outOfLineHelpers(['__beacon_tx', 'recv_cb'], called), ['__beacon_tx']);
  assert.deepEqual(outOfLineHelpers([], called), []);
});

test('inlined copies: a helper gcc split (only its .part is called) holds one copy of its head per call in the caller\'s source', () => {
  const body = '\tif (ema) {\n\t\tfor (i = 0; i < n; i++)\n\t\t\t__beacon_tx(conf, bcn[i]);\n\t} else {\n\t\t__beacon_tx(conf, skb);\n\t}\n\tops->__beacon_tx(x); /* __beacon_tx_done() */\n';
  assert.equal(inlinedCopies(body, '__beacon_tx', new Set(['__beacon_tx.part.0', 'consume_skb'])), 2);
  // Called whole by name, or not split at all: one copy, as any site.
  assert.equal(inlinedCopies(body, '__beacon_tx', new Set(['__beacon_tx.part.0', '__beacon_tx'])), 1);
  assert.equal(inlinedCopies(body, '__beacon_tx', new Set(['consume_skb'])), 1);
  assert.equal(inlinedCopies('a(1); a(2); a(3); a(4); a(5); a(6);', 'a', new Set(['a.part.1'])), MAX_INLINED_COPIES);
});

const TEXT = 0xffffffff81000000n;
const STUBS = ['create_event', 'queue_rcv'];
const stubAt = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;
const decode = (parts: Part[]): ReturnType<typeof decodeFunction> => {
  const { bytes } = assemble(TEXT, parts, stubAt);
  return decodeFunction({ name: 'f', address: TEXT, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [] }, { byAddress: (a) => STUBS.find((n) => stubAt(n) === a) ?? null });
};
const callIndex = (fn: ReturnType<typeof decodeFunction>, name: string, nth = 0): number => fn.insns.map((x, i) => (x.callee === name ? i : -1)).filter((i) => i >= 0)[nth] ?? -1;

test('call arguments: the constants loaded into the argument registers in the straight line before a call', () => {
  const fn = decode([
    [0xbe, 0x07, 0x00, 0x00, 0x00], // mov $7,%esi
    [0x48, 0x89, 0xdf], //             mov %rbx,%rdi
    [0x31, 0xd2], //                   xor %edx,%edx
    { call: 'create_event' },
    [0x85, 0xc0], //                   test %eax,%eax
    { je: 'out' },
    [0xbe, 0x01, 0x00, 0x00, 0x00], // mov $1,%esi: before the branch, not on the second call's line
    { label: 'out' },
    [0x48, 0x89, 0xc6], //             mov %rax,%rsi
    { call: 'create_event' },
    [0xc3],
  ]);
  const first = codeArguments(fn.insns, callIndex(fn, 'create_event'));
  assert.deepEqual([...first].sort(), [[1, 7], [2, 0]]); // %rdi is a register copy: not a constant
  const second = codeArguments(fn.insns, callIndex(fn, 'create_event', 1));
  assert.deepEqual([...second], []); // %esi is set from %rax, and the line starts at the label's branch
});

test('call arguments: the source call\'s constant arguments against the code\'s, by position', () => {
  const defs = new Map([['HCI_DEV_REG', 1n], ['HCI_DEV_OPEN', 7n]]);
  const constant = (e: string): bigint | null => defs.get(e) ?? (/^\d+$/.test(e) ? BigInt(e) : null);
  const code = new Map([[1, 7], [2, 0]]);
  const open = argumentAgreement(code, 'skb = create_event(hdev, HCI_DEV_OPEN,\n 0);', 'create_event', constant);
  assert.deepEqual(open.same.map((x) => x.text), ['HCI_DEV_OPEN', '0']);
  assert.deepEqual(open.differ, []);
  const reg = argumentAgreement(code, 'skb = create_event(hdev, HCI_DEV_REG, flags);', 'create_event', constant);
  assert.deepEqual(reg.differ.map((x) => [x.arg, x.code, x.source, x.text]), [[1, 7, 1, 'HCI_DEV_REG']]);
  assert.deepEqual(argumentAgreement(code, 'other(hdev, HCI_DEV_OPEN);', 'create_event', constant), { same: [], differ: [] });
});

const FILE_H = 'include/linux/ring.h';
const FILE_C = 'drivers/net/vdev.c';
const SOURCES = new Map<string, string[]>([
  [FILE_H, ['static inline void ring_cleanup(struct ring *r, void (*destroy)(void *))', '{', '\tvoid *ptr;', '\twhile ((ptr = ring_consume(r)))', '\t\tdestroy(ptr);', '}']],
  [FILE_C, [
    'static void vdev_ptr_free(void *ptr)', '{', '\tkfree_skb(ptr);', '}', '',
    'static void vdev_del(struct vdev *v)', '{', '\tring_cleanup(&v->ring, vdev_ptr_free);', '}', '',
    'static void vdev_del_all(struct vdev *v)', '{', '\tring_cleanup(&v->ring, vdev_ptr_free);', '\tring_cleanup(&v->other, __skb_destroy);', '}',
  ]],
]);
const lines = (file: string): string[] | null => SOURCES.get(file) ?? null;
const fnRecord = (name: string, start: number, end: number): FunctionRecord => ({ file: FILE_C, name, startLine: start, endLine: end, startByte: 0, endByte: 0, isStatic: true, isInline: false, isMacro: false });
const dropSite = (file: string, line: number, fn: string, api: string): DropSite => ({ file, line, endLine: line, column: 1, function: fn, functionStartLine: 1, api, reasonText: null, reason: 'NOT_SPECIFIED', reasons: ['NOT_SPECIFIED'], kind: 'drop', via: [], reportedIn: null, tail: false });
const codeSite = (site: DropSite, fn: FunctionRecord, via: string[], passedTo: string | null): CodeSite => ({ site, via, role: 'site', fn, anchorLine: fn.startLine + 2, prior: 1, tailCallOf: null, calledAt: null, passedTo });

test('pointer target: the bound `destroy(ptr)` gives way where the chain passes another function to the inline code that calls it', () => {
  const del = fnRecord('vdev_del', 6, 9);
  const pointer = codeSite(dropSite(FILE_H, 5, 'ring_cleanup', '__skb_destroy'), del, ['ring_cleanup'], null);
  const target = codeSite(dropSite(FILE_C, 3, 'vdev_ptr_free', 'kfree_skb'), del, ['vdev_ptr_free'], 'ring_cleanup');
  const v = pointerTargets([pointer, target], lines);
  assert.deepEqual(v.factors, [POINTER_OTHER_TARGET, 1]);
  assert.match(v.evidence[0] ?? '', /calls through a pointer \(`destroy\(ptr\);`\), bound to __skb_destroy only where a caller passes it; here vdev_ptr_free is passed to ring_cleanup\(\)/);
  assert.equal(v.evidence[1], null);
  // Without a candidate whose chain passes a function there, the pointer site stays as it is.
  assert.deepEqual(pointerTargets([pointer], lines).factors, [1]);
});

test('pointer target: nothing changes where the location\'s function passes the bound drop function itself, or the site names its drop function', () => {
  const all = fnRecord('vdev_del_all', 11, 15);
  const pointer = codeSite(dropSite(FILE_H, 5, 'ring_cleanup', '__skb_destroy'), all, ['ring_cleanup'], null);
  const target = codeSite(dropSite(FILE_C, 3, 'vdev_ptr_free', 'kfree_skb'), all, ['vdev_ptr_free'], 'ring_cleanup');
  assert.deepEqual(pointerTargets([pointer, target], lines).factors, [1, 1]);
  const del = fnRecord('vdev_del', 6, 9);
  const direct = codeSite(dropSite(FILE_C, 3, 'vdev_ptr_free', 'kfree_skb'), del, ['ring_cleanup', 'vdev_ptr_free'], null);
  const other = codeSite(dropSite(FILE_C, 3, 'vdev_ptr_free', 'kfree_skb'), del, ['vdev_ptr_free'], 'ring_cleanup');
  assert.deepEqual(pointerTargets([direct, other], lines).factors, [1, 1]);
});
