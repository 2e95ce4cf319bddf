// The constants of the conditions that lead to a drop, on a hand-written kernel-style tree
// (fixtures/machine-code/conditions) and hand-assembled x86-64: macros and enum constants resolved through
// the headers a file includes, the N-1 form of `x >= N`, the labels of a switch's case, the immediates the
// code compares before branching (or falling) into a drop call, and three identical frees told apart by them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FunctionCode } from '../../src/binary/index.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { sourceLines } from '../../src/explain/source-lines.ts';
import { type Db } from '../../src/index/open.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { findDropCalls } from '../../src/machine-code/calls.ts';
import { evaluate } from '../../src/kernel/c-constant.ts';
import { ConstantScope, conditionConstants, fileDefinitions, guardHits } from '../../src/machine-code/conditions.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import { caseLines } from '../../src/machine-code/guards.ts';
import { MachineCode } from '../../src/machine-code/index.ts';
import { readErrnoTable } from '../../src/machine-code/source-features.ts';
import { assemble, type Part } from '../helpers/assemble.ts';
import { fakeImage, type Fn } from '../helpers/fake-image.ts';
import { layeredFixture } from '../helpers/fixture-tree.ts';
import { indexFixture } from '../helpers/indexed-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-mc-conditions-'));
const ROOT = layeredFixture(dir, 'machine-code', 'conditions');
const lines = sourceLines(ROOT);
const FILE = 'net/core/frame_rx.c';

test('macro values: literals with suffixes, shifts and sums, names of other macros; a cast or a call is no constant', () => {
  const names = new Map([['A', 4n], ['B', 16n]]);
  const resolve = (n: string): bigint | null => names.get(n) ?? null;
  assert.equal(evaluate('(1UL << 3)', resolve), 8n);
  assert.equal(evaluate('(A + 2 * B) | 0x100', resolve), 292n);
  assert.equal(evaluate('-A', resolve), -4n);
  assert.equal(evaluate('010', resolve), 8n);
  assert.equal(evaluate('((u8)3)', resolve), null);
  assert.equal(evaluate('BIT(3)', resolve), null);
  assert.equal(evaluate('C + 1', resolve), null);
});

test('a file sees the #defines and enum constants of the headers it includes, through a uapi header and a macro of macros', () => {
  const scope = new ConstantScope(lines);
  assert.equal(scope.value(FILE, 'FRAME_MAX_LEN'), 1500n, 'include/linux/frame.h includes the uapi header');
  assert.equal(scope.value(FILE, 'FRAME_MIN_LEN'), 14n, 'its own macro of a continued macro of the header');
  // `#define FRAME_CTRL FRAME_CTRL` after the enum item: the item's value (FRAME_DATA = 0x10, then 17).
  assert.equal(scope.value(FILE, 'FRAME_CTRL'), 17n);
  assert.equal(scope.value(FILE, 'FRAME_MGMT'), 18n);
  assert.equal(scope.value(FILE, 'NO_SUCH_NAME'), null);
  assert.equal(scope.value('include/uapi/linux/frame.h', 'FRAME_MIN_LEN'), null, 'a header does not see the .c file that includes it');
});

test('the constants of a condition: N and N-1 next to a relational operator, N alone for ==, != and case; never 0, 1 or -1', () => {
  const scope = new ConstantScope(lines);
  const errnos = readErrnoTable(lines);
  const c = (text: string): Array<[number, string]> => [...conditionConstants(text, FILE, scope, errnos)].map(([k, v]) => [k, v.text]);
  assert.deepEqual(c('if (skb->len < FRAME_MIN_LEN) {'), [[14, 'FRAME_MIN_LEN (14)'], [13, 'FRAME_MIN_LEN (14) - 1']]);
  assert.deepEqual(c('if (err != -EMSGSIZE)'), [[0xffffffa6, '-EMSGSIZE (-90)']]);
  assert.deepEqual(c('case FRAME_CTRL:'), [[17, 'FRAME_CTRL (17)']]);
  assert.deepEqual(c('if (n == 1 || m > 0 || x == -1 || len >= 0x40)'), [[0x40, '0x40 (64)'], [0x3f, '0x40 (64) - 1']]);
  assert.deepEqual(c('if (x << 4 || p->n > 2)'), [[4, '4'], [2, '2']], 'a shift is no comparison; 2 - 1 is trivial');
  // One source constant counts once, whether the code compares it as N or as N-1.
  const site = conditionConstants('if (len >= FRAME_MAX_LEN)', FILE, scope, errnos);
  assert.deepEqual(guardHits([1500, 1499, 0, 7], site).map((h) => h.value), [1500]);
});

test('case labels: a case block\'s own labels; under default, every case of its switch', () => {
  const all = lines(FILE) ?? [];
  const lineOf = (text: string): number => all.findIndex((l) => l.includes(text)) + 1;
  const ctrl = lineOf('case FRAME_CTRL:');
  assert.deepEqual(caseLines(all, ctrl + 1, lineOf('int frame_rx(')), [ctrl]);
  assert.deepEqual(caseLines(all, lineOf('default:') + 1, lineOf('int frame_rx(')), [ctrl]);
  assert.deepEqual(caseLines(all, lineOf('if (skb->len > FRAME_MAX_LEN)') + 1, lineOf('int frame_rx(')), [], 'not in a switch');
});

const TEXT = 0xffffffff81000000n;
const STUBS = ['kfree_skb_reason', 'frame_deliver'];
const stubAddress = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;
const LOAD_LEN = [0x8b, 0x47, 0x08]; // mov 0x8(%rdi),%eax
const FREE: Part[] = [[0xbe, 0x02, 0x00, 0x00, 0x00], { call: 'kfree_skb_reason' }, [0x31, 0xc0, 0xc3]]; // mov $2,%esi; call; xor %eax,%eax; ret

// frame_rx: the three frees laid out in the reverse of their source order, each a jump target.
const RX = TEXT + 0x1000n;
const rx = assemble(RX, [
  LOAD_LEN,
  [0x3d, 0xdc, 0x05, 0x00, 0x00], { ja: 'big' }, //   cmp $0x5dc,%eax (FRAME_MAX_LEN)
  [0x83, 0xf8, 0x0d], { jbe: 'small' }, //            cmp $0xd,%eax (FRAME_MIN_LEN - 1)
  [0x83, 0xfe, 0x11], { je: 'ctrl' }, //              cmp $0x11,%esi (FRAME_CTRL)
  { jmp: 'frame_deliver' },
  { label: 'ctrl' }, ...FREE,
  { label: 'small' }, ...FREE,
  { label: 'big' }, ...FREE,
], stubAddress);
// frame_tx: `if (err != -EMSGSIZE) kfree_skb(skb);` laid out inline, after the je that skips it.
const TX = TEXT + 0x2000n;
const tx = assemble(TX, [
  [0x83, 0xfe, 0xa6], { je: 'out' }, //               cmp $-90,%esi
  [0xbe, 0x02, 0x00, 0x00, 0x00], { call: 'kfree_skb_reason' },
  { label: 'out' }, [0x89, 0xf0, 0xc3], //            mov %esi,%eax; ret
], stubAddress);

const fns: Fn[] = [
  ...STUBS.map((name) => ({ name, address: stubAddress(name), bytes: [0xc3] })),
  { name: 'frame_rx', address: RX, bytes: rx.bytes },
  { name: 'frame_tx', address: TX, bytes: tx.bytes },
];
const codeOf = (f: Fn): FunctionCode => ({ name: f.name, address: f.address, size: f.bytes.length, sizeExact: true, bytes: Uint8Array.from(f.bytes), relocated: [] });
const image = fakeImage(fns);
const namer = { byAddress: (a: bigint): string | null => image.resolve(a)?.name ?? null };
const callees = new Map([['kfree_skb_reason', { name: 'kfree_skb_reason', reasonArg: 1, skbArg: 0 }]]);

test('the immediates compared before the branches into a drop call, and before the jcc an inline drop falls through from', () => {
  const calls = findDropCalls(decodeFunction(codeOf(fns[2] as Fn), namer), callees, { noreturn: new Set(), hiddenEdges: [] });
  assert.deepEqual(calls.map((c) => ({ compared: c.guard.compared, edges: c.guard.edges })), [{ compared: [0x11], edges: 1 }, { compared: [0xd], edges: 1 }, { compared: [0x5dc], edges: 1 }]);
  // The field a branch tests (field-offsets.ts): `mov 0x8(%rdi),%eax` right before `cmp $0x5dc,%eax; ja big`; the
  // other two compares test registers, and the load is not right before them.
  assert.deepEqual(calls.map((c) => c.guard.fields), [[], [], [{ disp: 8, imm: null }]]);
  const inline = findDropCalls(decodeFunction(codeOf(fns[3] as Fn), namer), callees, { noreturn: new Set(), hiddenEdges: [] });
  assert.equal(inline[0]?.entry, null, 'no jump target: no entry facts');
  assert.deepEqual(inline[0]?.guard, { compared: [0xffffffa6], edges: 1, fields: [] });
});

let db: Db;
let ex: Explainer;
let code: MachineCode;
before(async () => {
  const fx = await indexFixture(join(dir, 'indexed'), 'machine-code', 'conditions');
  ({ db, explainer: ex } = fx);
  code = fx.codeFor(image);
});
after(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('three identical frees laid out against their source order: each is the site whose condition compares what the code does', () => {
  const all = lines(FILE) ?? [];
  const siteAfter = (text: string): string => `${FILE}:${all.findIndex((l) => l.includes(text)) + 2}`;
  const size = rx.bytes.length.toString(16);
  const ret = (label: string): string => ((rx.labels.get(label) ?? 0) + 10).toString(16);
  const expected: Array<[string, string, string]> = [
    ['big', siteAfter('if (skb->len > FRAME_MAX_LEN)'), 'the code compares $0x5dc before branching here, as this site\'s condition `if (skb->len > FRAME_MAX_LEN) {` (FRAME_MAX_LEN (1500))'],
    ['small', siteAfter('if (skb->len < FRAME_MIN_LEN)'), 'the code compares $0xd before branching here, as this site\'s condition `if (skb->len < FRAME_MIN_LEN) {` (FRAME_MIN_LEN (14) - 1)'],
    ['ctrl', siteAfter('case FRAME_CTRL:'), 'the code compares $0x11 before branching here, as this site\'s condition `case FRAME_CTRL:` (FRAME_CTRL (17))'],
  ];
  for (const [label, where, evidence] of expected) {
    for (const form of [`frame_rx+0x${ret(label)}/0x${size}`, `frame_rx+${ret(label)}`]) {
      const e = ex.explain(parseLocation(form), { code });
      assert.equal(e.method, 'machine-code', e.notes.join('\n'));
      const c = e.candidates[0];
      assert.equal(`${c?.file}:${c?.line}`, where, `${form}: ${JSON.stringify(e.candidates.map((x) => [x.line, x.score, x.evidence]))} ${e.notes.join('\n')}`);
      assert.ok(c?.evidence.includes(`machine code: ${evidence}`), (c?.evidence ?? []).join('\n'));
    }
  }
});

test('an inline drop after the je that skips it: the compare before that je is its condition\'s -EMSGSIZE', () => {
  const ret = (tx.labels.get('out') ?? 0).toString(16);
  const e = ex.explain(parseLocation(`frame_tx+0x${ret}/0x${tx.bytes.length.toString(16)}`), { code });
  assert.equal(e.method, 'machine-code', e.notes.join('\n'));
  const c = e.candidates[0];
  assert.equal(c?.line, (lines(FILE) ?? []).findIndex((l) => l.includes('if (err != -EMSGSIZE)')) + 2);
  assert.ok(c?.evidence.includes('machine code: the code compares $0xffffffa6 before branching here, as this site\'s condition `if (err != -EMSGSIZE)` (-EMSGSIZE (-90))'), (c?.evidence ?? []).join('\n'));
});

test('an #include that climbs out of the tree is not followed', () => {
  const d = fileDefinitions('net/core/x.c', ['#include "../../../../etc/passwd.h"', '#include <../../../x.h>', '#include "local.h"', '#include <asm/bitops.h>']);
  assert.deepEqual(d.includes, ['net/core/local.h', 'arch/x86/include/asm/bitops.h', 'arch/x86/include/generated/asm/bitops.h', 'include/asm-generic/bitops.h', 'arch/x86/include/uapi/asm/bitops.h']);
});
