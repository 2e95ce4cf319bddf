// The calls on the paths that join a drop call's straight line (path-calls.ts), on hand-assembled x86-64: an
// if body laid out of line whose call jumps back into the line before a free (the layout gcc gives
// `if (c) flush(); if (slot) { kfree_skb(skb); goto out; }`), read back through its joins; and the ranking that
// tells two same-reason frees apart by those calls (fixtures/machine-code/path-calls).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionCode } from '../../src/binary/index.ts';
import type { Explainer } from '../../src/explain/explain.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { findDropCalls } from '../../src/machine-code/calls.ts';
import { decodeFunction, type Insn } from '../../src/machine-code/decode.ts';
import type { MachineCode } from '../../src/machine-code/index.ts';
import { pathCalls } from '../../src/machine-code/path-calls.ts';
import { assemble, type Part } from '../helpers/assemble.ts';
import { fakeImage, type Fn } from '../helpers/fake-image.ts';
import { indexFixtureForTests } from '../helpers/indexed-fixture.ts';

const TEXT = 0xffffffff81000000n;
const RX = TEXT + 0x1000n;
const STUBS = ['kfree_skb_reason', 'reo_lock', 'reo_unlock', 'reo_flush'];
const stubAt = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;

const REASON_2 = [0xbe, 0x02, 0x00, 0x00, 0x00]; // mov $2,%esi (NOT_SPECIFIED)
const RET = [0xc3];

/** Assembles `parts` at `at`; a jump or call to one of its labels goes there (two passes: the sizes do not depend on the targets). */
function build(at: bigint, parts: Part[]): { bytes: number[]; labels: Map<string, number> } {
  const first = assemble(at, parts, (n) => (STUBS.includes(n) ? stubAt(n) : at));
  return assemble(at, parts, (n) => {
    const l = first.labels.get(n);
    return l === undefined ? stubAt(n) : at + BigInt(l);
  });
}

// reo_rx (fixtures/machine-code/path-calls/drivers/net/reo/reo_rx.c): the early free at `early` (line 30), the
// slot-in-use free on the line after `join` (line 39), reo_flush's if body out of line at `flush`.
const rx = build(RX, [
  { call: 'reo_lock' },
  [0x39, 0xc2], { ja: 'early' }, //                       cmp %eax,%edx; ja early
  [0x39, 0xca], { jbe: 'flush' }, //                      cmp %ecx,%edx; jbe flush
  { label: 'join' },
  [0x83, 0xe2, 0x3f], //                                  and $0x3f,%edx
  [0x48, 0x83, 0x3c, 0xd7, 0x00], { je: 'store' }, //     cmpq $0,(%rdi,%rdx,8); je store
  REASON_2, { call: 'kfree_skb_reason' },
  { label: 'out' },
  { call: 'reo_unlock' }, RET,
  { label: 'store' },
  [0x48, 0x89, 0x34, 0xd7], { jmp: 'out' }, //           mov %rsi,(%rdi,%rdx,8); jmp out
  { label: 'flush' },
  { call: 'reo_flush' }, { jmp: 'join' },
  { label: 'early' },
  REASON_2, { call: 'kfree_skb_reason' }, { jmp: 'out' },
]);
const label = (n: string): number => rx.labels.get(n) ?? -1;
/** Return addresses of the two frees: the slot-in-use one (after `join`) and the early one. */
const AT_SLOT = label('out');
const AT_EARLY = label('early') + 5 + 5;

const names = new Map(STUBS.map((n) => [stubAt(n), n]));
const code: FunctionCode = { name: 'reo_rx', address: RX, size: rx.bytes.length, sizeExact: true, bytes: Uint8Array.from(rx.bytes), relocated: [] };
const decoded = decodeFunction(code, { byAddress: (a) => names.get(a) ?? null });
const callees = new Map([['kfree_skb_reason', { name: 'kfree_skb_reason', reasonArg: 1, skbArg: 0 }]]);
const isDrop = (x: Insn): boolean => x.callee === 'kfree_skb_reason';

test('the free after the join: reo_flush, called in the out-of-line body that jumps back, is two joins back; reo_lock too, through the fall-through', () => {
  const calls = findDropCalls(decoded, callees, { noreturn: new Set(), hiddenEdges: [] });
  const slot = calls.find((c) => c.ret === AT_SLOT);
  const early = calls.find((c) => c.ret === AT_EARLY);
  assert.ok(slot !== undefined && early !== undefined, JSON.stringify(calls.map((c) => c.ret)));
  assert.deepEqual(slot.pathCalls.map((p) => [p.name, p.joins]).sort(), [['reo_flush', 2], ['reo_lock', 2]]);
  assert.equal(slot.pathCalls.find((p) => p.name === 'reo_flush')?.off, label('flush'));
  // Neither call is on the free's own straight line (its neighbours).
  assert.ok(!slot.neighbours.includes('reo_flush') && !slot.neighbours.includes('reo_lock'), slot.neighbours.join());
  // The early free: only the line that branches to it, back to the function's entry.
  assert.deepEqual(early.pathCalls.map((p) => [p.name, p.joins]), [['reo_lock', 1]]);
});

test('the walk is bounded: one join back, or a small budget, does not reach reo_flush; a drop call on the way ends the path', () => {
  const calls = findDropCalls(decoded, callees, { noreturn: new Set(), hiddenEdges: [] });
  const slot = calls.find((c) => c.ret === AT_SLOT);
  assert.ok(slot !== undefined);
  const graph = {
    predecessors: (i: number): number[] => {
      const out: number[] = [];
      const prev = decoded.insns[i - 1];
      if (prev !== undefined && prev.flow !== 'jmp' && prev.flow !== 'ret') out.push(i - 1);
      decoded.insns.forEach((x, k) => {
        if ((x.flow === 'jmp' || x.flow === 'jcc') && x.local !== null && decoded.at.get(x.local) === i) out.push(k);
      });
      return out;
    },
    isJoin: (i: number): boolean => decoded.insns.some((x) => (x.flow === 'jmp' || x.flow === 'jcc') && x.local !== null && decoded.at.get(x.local) === i),
  };
  const start = slot.index - 1; // the `mov $2,%esi` after `je store`
  const walk = { isDrop, fallsThrough: (x: Insn): boolean => x.flow !== 'jmp' && x.flow !== 'ret', ignore: (): boolean => false };
  assert.deepEqual(pathCalls(decoded.insns, graph, start, { ...walk, maxJoins: 2, budget: 32 }).map((p) => p.name).sort(), ['reo_flush', 'reo_lock']);
  assert.deepEqual(pathCalls(decoded.insns, graph, start, { ...walk, maxJoins: 1, budget: 32 }), []);
  assert.deepEqual(pathCalls(decoded.insns, graph, start, { ...walk, maxJoins: 2, budget: 3 }), []);
  assert.deepEqual(pathCalls(decoded.insns, graph, start, { ...walk, ignore: (n) => n === 'reo_lock', maxJoins: 2, budget: 32 }).map((p) => p.name), ['reo_flush']);
  // From the exit (`out`, joined by both frees and the store): the frees end their paths (else reo_lock would be two
  // joins back, through the early free's line); only the store's path goes on, and meets both calls three joins back.
  const out = decoded.at.get(label('out')) ?? -1;
  assert.deepEqual(pathCalls(decoded.insns, graph, out, { ...walk, maxJoins: 2, budget: 32 }), []);
  assert.deepEqual(pathCalls(decoded.insns, graph, out, { ...walk, maxJoins: 3, budget: 32 }).map((p) => [p.name, p.joins]).sort(), [['reo_flush', 3], ['reo_lock', 3]]);
});

test('a loop back into the line is read once: the walk ends', () => {
  // top: call reo_flush; test %eax,%eax; jne top; mov $2,%esi; call kfree_skb_reason; ret
  const loop = build(RX, [{ call: 'reo_lock' }, { label: 'top' }, { call: 'reo_flush' }, [0x85, 0xc0], { jne: 'top' }, REASON_2, { call: 'kfree_skb_reason' }, RET]);
  const fn = decodeFunction({ ...code, size: loop.bytes.length, bytes: Uint8Array.from(loop.bytes) }, { byAddress: (a) => names.get(a) ?? null });
  const [c] = findDropCalls(fn, callees, { noreturn: new Set(), hiddenEdges: [] });
  assert.ok(c !== undefined);
  assert.deepEqual(c.pathCalls.map((p) => [p.name, p.joins]), [['reo_flush', 1], ['reo_lock', 2]]);
});

let ex: Explainer;
let mc: MachineCode;
indexFixtureForTests('dropsite-mc-path-calls-', ['machine-code', 'path-calls'], (fx) => {
  ({ explainer: ex } = fx);
  const stubs: Fn[] = STUBS.map((name) => ({ name, address: stubAt(name), bytes: RET }));
  mc = fx.codeFor(fakeImage([...stubs, { name: 'reo_rx', address: RX, bytes: rx.bytes }]));
});

const explain = (ret: number): ReturnType<Explainer['explain']> => ex.explain(parseLocation(`reo_rx+0x${ret.toString(16)}/0x${rx.bytes.length.toString(16)}`), { code: mc });

test('two same-reason frees: the one whose path calls reo_flush in the source is the free reached through the out-of-line call', () => {
  const slot = explain(AT_SLOT);
  assert.equal(slot.method, 'machine-code');
  const first = slot.candidates[0];
  assert.equal(`${first?.file}:${first?.line}`, 'drivers/net/reo/reo_rx.c:39', JSON.stringify(slot.candidates.map((c) => [c.line, c.score])));
  const path = first?.evidence.find((t) => t.includes('on the path into this drop'));
  assert.ok(path?.includes(`reo_flush (called at +0x${label('flush').toString(16)}, 2 joins back)`) && path.includes('reo_flush() at line 35') && path.endsWith('before this site'), first?.evidence.join('\n'));
  assert.ok((first?.score ?? 0) > (slot.candidates[1]?.score ?? 0));
  // The early free's path has reo_lock only, as both sites' paths do in the source: no path-call evidence decides it.
  const early = explain(AT_EARLY);
  assert.equal(`${early.candidates[0]?.file}:${early.candidates[0]?.line}`, 'drivers/net/reo/reo_rx.c:30');
  assert.ok(!early.candidates[0]?.evidence.some((t) => t.includes('reo_flush')), early.candidates[0]?.evidence.join('\n'));
});
