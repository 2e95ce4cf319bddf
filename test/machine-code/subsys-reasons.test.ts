// Subsystem drop reasons (src/kernel/drop-reasons.ts): enums whose members come from a list macro expanded
// by the enum's own one-argument macro, from a base that is a constant expression of another header's
// members and #defines (`SUBSYS_X << SUBSYS_SHIFT`), in fixtures/machine-code/subsys-reasons (after
// net/openvswitch/drop.h and net/mac80211/drop.h). The index lists their values, sites name them, and the
// reason the code loads picks the site among two of one function.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Explainer } from '../../src/explain/explain.ts';
import type { Db } from '../../src/index/open.ts';
import { allSites, listReasons } from '../../src/index/read.ts';
import { evaluateConstant } from '../../src/kernel/c-constant.ts';
import { parseConstants, parseDropReasons, reasonsByValue } from '../../src/kernel/drop-reasons.ts';
import { parseLocation } from '../../src/locate/location.ts';
import type { MachineCode } from '../../src/machine-code/index.ts';
import type { TreeRow } from '../../src/index/read.ts';
import { assemble } from '../helpers/assemble.ts';
import { fakeImage, type Fn } from '../helpers/fake-image.ts';
import { indexFixtureForTests } from '../helpers/indexed-fixture.ts';

const TEXT = 0xffffffff81000000n;
const RET = [0xc3];
const XOR_EAX = [0x31, 0xc0];
const TEST_EDX = [0x85, 0xd2];
const MOV_RBX_RDI = [0x48, 0x89, 0xdf];
const reasonLoad = (value: number): number[] => [0xbe, value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, (value >>> 24) & 0xff]; // mov $value,%esi

const STUBS = ['kfree_skb_reason'];
const stubAddress = (name: string): bigint => TEXT + 0x10000n + BigInt(STUBS.indexOf(name)) * 0x10n;
const stubs: Fn[] = STUBS.map((name) => ({ name, address: stubAddress(name), bytes: RET }));

// vsw_execute with its blocks the other way round from the source: LAST_ACTION (0x20001) first, METER (0x20003) next.
const FN = TEXT + 0x1000n;
const fn = assemble(FN, [
  MOV_RBX_RDI, TEST_EDX, { je: 'meter' },
  MOV_RBX_RDI, reasonLoad(0x20001), { call: 'kfree_skb_reason' }, { label: 'last_ret' }, XOR_EAX, RET,
  { label: 'meter' }, MOV_RBX_RDI, reasonLoad(0x20003), { call: 'kfree_skb_reason' }, { label: 'meter_ret' }, XOR_EAX, RET,
], stubAddress);
const image = fakeImage([...stubs, { name: 'vsw_execute', address: FN, bytes: fn.bytes }]);

let db: Db;
let tree: TreeRow;
let ex: Explainer;
let code: MachineCode;
indexFixtureForTests('dropsite-mc-subsys-', ['machine-code', 'subsys-reasons'], (fx) => {
  ({ db, tree, explainer: ex } = fx);
  code = fx.codeFor(image);
});

test('constant expressions: shifts, ors, casts to a type and known names; anything else is unknown', () => {
  const env = new Map([['A', 2], ['SHIFT', 16]]);
  assert.equal(evaluateConstant('A << SHIFT', env), 0x20000);
  assert.equal(evaluateConstant('(A << SHIFT) | 0x3', env), 0x20003);
  assert.equal(evaluateConstant('(__force some_t)A', env), 2);
  assert.equal(evaluateConstant('(u32)0xffff0000U', env), 0xffff0000);
  assert.equal(evaluateConstant('B << SHIFT', env), null, 'B is not known');
  assert.equal(evaluateConstant('f(A)', env), null);
});

test('the index lists the subsystem values: list-macro members after a shifted base, pasted names and their aliases', () => {
  const reasons = listReasons(db, tree.id);
  const of = (enumName: string): Array<[string, number]> => reasons.filter((r) => r.enumName === enumName).map((r) => [r.name, r.value]);
  assert.deepEqual(of('vsw_drop_reason'), [['VSW_DROP_LAST_ACTION', 0x20001], ['VSW_DROP_ACTION_ERROR', 0x20002], ['VSW_DROP_METER', 0x20003]]);
  // The reserved base names (`___X`, `__BASE`) are left out; their values count.
  assert.deepEqual(of('___wlan_drop_reason'), []);
  assert.deepEqual(of('wlan_drop_reason'), [['RX_CONTINUE', 1], ['RX_DROP_U_REPLAY', 0x10001], ['RX_DROP_U_NO_KEY', 0x10002]]);
  const last = reasons.find((r) => r.name === 'VSW_DROP_LAST_ACTION');
  assert.equal(last?.line, 13, 'the line of the list item that names it');
  const byValue = reasonsByValue(reasons);
  assert.equal(byValue.get(1), 'CONSUMED', 'an alias of a core value never renames it');
  assert.equal(byValue.get(0x20001), 'VSW_DROP_LAST_ACTION');
  assert.equal(byValue.get(2), 'NOT_SPECIFIED');
});

test('a site passing a subsystem constant carries it as its reason', () => {
  const sites = allSites(db, tree.id).filter((s) => s.file === 'net/vswitch/actions.c');
  assert.deepEqual(sites.map((s) => [s.line, s.reasons]), [[13, ['VSW_DROP_METER']], [17, ['VSW_DROP_LAST_ACTION']]]);
});

test('explain: the subsystem reason the code loads picks its site, against the order of the code', () => {
  const size = fn.bytes.length.toString(16);
  const at = (label: string): string => `vsw_execute+0x${(fn.labels.get(label) ?? 0).toString(16)}/0x${size}`;
  const last = ex.explain(parseLocation(at('last_ret')), { code });
  assert.equal(last.method, 'machine-code', last.notes.join('\n'));
  assert.equal(`${last.candidates[0]?.file}:${last.candidates[0]?.line}`, 'net/vswitch/actions.c:17', last.candidates.map((c) => `${c.file}:${c.line} ${c.score}`).join(', '));
  assert.ok(last.candidates[0]?.evidence.some((e) => e.includes('loads reason VSW_DROP_LAST_ACTION')), last.candidates[0]?.evidence.join('\n'));
  const meter = ex.explain(parseLocation(at('meter_ret')), { code });
  assert.equal(`${meter.candidates[0]?.file}:${meter.candidates[0]?.line}`, 'net/vswitch/actions.c:13');
  // tracefs prints a subsystem value as its number: it names the same reason, so the right site keeps its place.
  for (const printed of ['0x20001', '131073']) {
    const given = ex.explain(parseLocation(`${at('last_ret')} reason: ${printed}`), { code });
    assert.equal(given.reason, 'VSW_DROP_LAST_ACTION');
    assert.equal(`${given.candidates[0]?.file}:${given.candidates[0]?.line}`, 'net/vswitch/actions.c:17');
    assert.ok(!given.candidates[0]?.evidence.some((e) => e.includes('cannot reach this call')), given.candidates[0]?.evidence.join('\n'));
  }
});

// The real 6.12 tree (CI sets DROPSITE_KERNEL_TREE_612): openvswitch's reasons get their values.
const TREE_612 = process.env.DROPSITE_KERNEL_TREE_612;
test('6.12: openvswitch\'s list-macro reasons are subsystem 3 << 16 | n', { skip: TREE_612 === undefined ? 'DROPSITE_KERNEL_TREE_612 is not set (CI sets it to the unpacked linux-source-6.12)' : false }, () => {
  const root = TREE_612 ?? '';
  assert.ok(existsSync(join(root, 'net/openvswitch/drop.h')), `${root} has net/openvswitch/drop.h`);
  const env = new Map<string, number>();
  for (const f of ['include/net/dropreason-core.h', 'include/net/dropreason.h']) parseConstants(readFileSync(join(root, f), 'latin1'), env);
  const ovs = parseDropReasons(readFileSync(join(root, 'net/openvswitch/drop.h'), 'latin1'), 'net/openvswitch/drop.h', env);
  const byName = new Map(ovs.map((r) => [r.name, r.value]));
  assert.equal(byName.get('OVS_DROP_LAST_ACTION'), 0x30001);
  assert.equal(byName.get('OVS_DROP_ACTION_ERROR'), 0x30002);
  assert.ok(ovs.length >= 10 && ovs.every((r) => r.value > 0x30000 && r.value < 0x40000), ovs.map((r) => `${r.name}=${r.value}`).join(', '));
  const mac = parseDropReasons(readFileSync(join(root, 'net/mac80211/drop.h'), 'latin1'), 'net/mac80211/drop.h', env);
  assert.equal(mac.find((r) => r.name === 'RX_DROP_U_MIC_FAIL')?.value, 0x10001);
});
