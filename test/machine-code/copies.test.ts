// Copies of a site's block (fixtures/machine-code/copies): gcc copies an exit label's free into each path
// that jumps there, so the code holds more drop calls than the source has sites; the calls left over by a
// one-call-per-site match go to the site they fit, with a note and the evidence saying so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explainer } from '../../src/explain/explain.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { fakeImage } from '../helpers/fake-image.ts';
import { MachineCode } from '../../src/machine-code/index.ts';
import { assemble } from '../helpers/assemble.ts';
import { indexFixtureForTests } from '../helpers/indexed-fixture.ts';

const TEXT = 0xffffffff81000000n;
const STUBS = ['kfree_skb_reason', 'resp_parse', 'resp_apply', 'resp_queue', 'resp_get_param'];
const stubAddress = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;

const PUSH_RBX = [0x53];
const POP_RBX = [0x5b];
const MOV_RBX_RSI = [0x48, 0x89, 0xf3];
const MOV_RDI_RBX = [0x48, 0x89, 0xdf];
const REASON_2 = [0xbe, 0x02, 0x00, 0x00, 0x00]; // mov $2,%esi (NOT_SPECIFIED)
const TEST_EAX = [0x85, 0xc0];
const XOR_EAX = [0x31, 0xc0];
const EINVAL = [0xb8, 0xea, 0xff, 0xff, 0xff]; // mov $-22,%eax
const RET = [0xc3];
const FREE = [MOV_RDI_RBX, REASON_2, { call: 'kfree_skb_reason' }];

// resp_handle: the exit label's free three times (one per goto), then resp_version's two frees.
const FN = TEXT + 0x1000n;
const fn = assemble(FN, [
  PUSH_RBX, MOV_RBX_RSI,
  { call: 'resp_parse' }, TEST_EAX, { jne: 'exit1' },
  { call: 'resp_apply' }, TEST_EAX, { jne: 'exit2' },
  { call: 'resp_queue' }, TEST_EAX, { jne: 'exit3' },
  { call: 'resp_get_param' }, TEST_EAX, { jne: 'out' },
  TEST_EAX, { je: 'ok' },
  ...FREE, EINVAL, POP_RBX, RET,
  { label: 'ok' }, ...FREE, XOR_EAX, POP_RBX, RET,
  { label: 'out' }, POP_RBX, RET,
  { label: 'exit1' }, ...FREE, POP_RBX, RET,
  { label: 'exit2' }, ...FREE, POP_RBX, RET,
  { label: 'exit3' }, ...FREE, POP_RBX, RET,
].map((p) => p as never), stubAddress);

const image = fakeImage([
  ...STUBS.map((name) => ({ name, address: stubAddress(name), bytes: RET })),
  { name: 'resp_handle', address: FN, bytes: fn.bytes },
], [], null);

let ex: Explainer;
let code: MachineCode;
indexFixtureForTests('dropsite-mc-copies-', ['machine-code', 'copies'], (fx) => {
  ({ explainer: ex } = fx);
  code = fx.codeFor(image);
});

/** The return address of the free in the block at `label` (after mov %rbx,%rdi; mov $2,%esi; call). */
const retAt = (label: string): number => (fn.labels.get(label) ?? 0) + 3 + 5 + 5;
const at = (ret: number): string => `resp_handle+0x${ret.toString(16)}/0x${fn.bytes.length.toString(16)}`;

test('five drop calls for three sites: the exit label\'s three copies all go to its line, each said to be a copy', () => {
  for (const label of ['exit1', 'exit2', 'exit3']) {
    const e = ex.explain(parseLocation(at(retAt(label))), { code });
    assert.equal(e.method, 'machine-code', e.notes.join('\n'));
    const c = e.candidates[0];
    assert.equal(`${c?.file}:${c?.line}`, 'drivers/net/resp/resp.c:51', `${label}: ${e.candidates.map((x) => `${x.line} ${x.score}`).join(', ')}`);
    assert.ok(e.notes.some((n) => n.includes('resp_handle has 5 drop calls, and a match of one call per candidate site places only 3: 2 are copies gcc made of a site\'s block')), e.notes.join('\n'));
  }
  const e = ex.explain(parseLocation(at(retAt('exit3'))), { code });
  assert.ok(e.candidates[0]?.evidence.some((x) => /taken as a copy of this site's code for \d+%/.test(x)), e.candidates[0]?.evidence.join('\n'));
});

test('the helper\'s own frees stay with the helper\'s lines: the copies take nothing from them', () => {
  const einval = (fn.labels.get('ok') ?? 0) - EINVAL.length - POP_RBX.length - RET.length;
  for (const ret of [einval, retAt('ok')]) {
    const e = ex.explain(parseLocation(at(ret)), { code });
    const c = e.candidates[0];
    assert.ok(c !== undefined && c.file === 'drivers/net/resp/resp.c' && (c.line === 22 || c.line === 27), `+0x${ret.toString(16)}: ${e.candidates.map((x) => `${x.line} ${x.score}`).join(', ')}`);
  }
});
