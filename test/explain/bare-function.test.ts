// A location that names a function and no offset (SystemTap's symname(), a bare name typed to explain): ranked from
// source on the bundled sample, and exact with --vmlinux when the compiled function holds a single drop call.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import { callsInFunction } from '../../src/explain/drop-calls.ts';
import { explainExact } from '../../src/explain/exact.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { openForRead, type Db } from '../../src/index/open.ts';
import { pickTree } from '../../src/index/read.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { fixture, runCli } from '../helpers/fixture.ts';
import { callReturnOffsets } from '../helpers/objdump.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-bare-'));
const handles: Db[] = [];
after(() => {
  for (const h of handles) h.close();
  rmSync(dir, { recursive: true, force: true });
});

async function explainerOf(tree: string, name: string): Promise<Explainer> {
  const db = join(dir, `${name}.sqlite`);
  await buildIndex(tree, { db });
  const handle = openForRead(db);
  handles.push(handle);
  return new Explainer(handle, pickTree(handle, undefined, db));
}

let sample: Explainer;
before(async () => {
  sample = await explainerOf(fixture('sample'), 'sample');
});

const NO_OFFSET = /no offset in the input .*cannot be told from it.*symdata\(l\) instead of symname\(l\) in dropwatch\.stp, or record with dropwatch -l kas, or with perf record -e skb:kfree_skb/;

test('a bare function name lists every site it reaches, says the line cannot be told, and how to get the offset', () => {
  const e = sample.explain(parseLocation('netlink_unicast'));
  assert.equal(e.offset, null);
  assert.equal(e.exact, false);
  const sites = e.candidates.map((c) => `${c.file}:${c.line}`).sort();
  // netlink_unicast_kernel (static, line 97) frees on every path: its own consume and drop are the sites.
  assert.deepEqual(sites, ['net/netlink/af_netlink.c:101', 'net/netlink/af_netlink.c:34', 'net/netlink/af_netlink.c:51', 'net/netlink/af_netlink.c:72', 'net/netlink/af_netlink.c:74', 'net/netlink/af_netlink.c:93']);
  assert.ok(e.candidates.filter((c) => c.line === 72 || c.line === 74).every((c) => c.calledAt?.line === 97 && c.calledAt.function === 'netlink_unicast'));
  assert.ok(e.notes.some((n) => NO_OFFSET.test(n)), e.notes.join('\n'));
  // Nothing compares an offset: no candidate's evidence speaks of a position in the function.
  assert.ok(e.candidates.every((c) => c.evidence.every((ev) => !ev.includes('offset at'))));
});

test('without an offset the rest of what is known still ranks: the reason, then the event', () => {
  const byReason = sample.explain(parseLocation('__udp4_lib_rcv reason: NO_SOCKET'));
  assert.equal(`${byReason.candidates[0]?.file}:${byReason.candidates[0]?.line}`, 'net/ipv4/udp.c:126');
  assert.ok((byReason.candidates[0]?.score ?? 0) > 0.5);
  const plain = sample.explain(parseLocation('__udp4_lib_rcv'));
  assert.ok((plain.candidates[0]?.score ?? 1) < 0.5, 'with nothing else known no site stands out');
  // A consume site of a kfree_skb location ranks below the drops.
  const ip = sample.explain(parseLocation('ip_protocol_deliver_rcu'));
  assert.equal(ip.candidates[ip.candidates.length - 1]?.kind, 'consume');
});

test('a function with a single site and no helpers says that from source the call is the line', () => {
  const e = sample.explain(parseLocation('ip_rcv_finish_core.isra.0'));
  assert.deepEqual(e.candidates.map((c) => `${c.file}:${c.line}`), ['net/ipv4/ip_input.c:129']);
  assert.equal(e.exact, false);
  assert.ok(e.notes.some((n) => /holds a single drop site in the source and reaches no other through helpers/.test(n)), e.notes.join('\n'));
});

test('dropsite explain takes a bare function name on the command line', async () => {
  const db = join(dir, 'sample.sqlite');
  const r = await runCli(['explain', 'netlink_unicast', '--db', db, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const [e] = JSON.parse(r.stdout) as Array<{ function: string; offset: number | null; candidates: unknown[]; notes: string[] }>;
  assert.equal(e?.function, 'netlink_unicast');
  assert.equal(e?.offset, null);
  assert.equal(e?.candidates.length, 5);
  assert.ok(e?.notes.some((n) => NO_OFFSET.test(n)));
});

function hasBinutils(): boolean {
  try {
    for (const tool of ['gcc', 'objdump', 'addr2line']) execFileSync(tool, ['--version']);
    return true;
  } catch {
    return false;
  }
}
const skipExact = hasBinutils() ? false : 'gcc and binutils are needed to compile the exact-mode fixture (.ci/run installs them)';

/** Return-address offsets of the calls of kfree_skb_reason in `fn`, read from objdump by the test itself. */
function returnOffsets(bin: string, fn: string): number[] {
  const calls = callReturnOffsets(bin, fn, 'kfree_skb_reason');
  assert.ok(calls !== null, `${fn} in the symbol table`);
  return calls.offsets;
}

test('--vmlinux: a function whose machine code holds one drop call is exact without an offset; several are listed', { skip: skipExact }, async () => {
  const tree = fixture('exact');
  const bin = join(dir, 'demo');
  execFileSync('gcc', ['-g', '-O2', '-fno-optimize-sibling-calls', '-o', bin, ...['rcv.c', 'skbuff.c', 'forward.c'].map((f) => join(tree, 'net/core', f))]);
  const ex = await explainerOf(tree, 'exact');
  const [single, several] = await explainExact(ex, [parseLocation('demo_forward'), parseLocation('demo_rcv')], bin, '6.1.0');
  const forward = readFileSync(join(tree, 'net/core/forward.c'), 'utf8').split('\n');
  assert.equal(single?.exact, true);
  assert.deepEqual(single?.candidates.map((c) => `${c.file}:${c.line}`), [`net/core/forward.c:${forward.findIndex((l) => l.includes('kfree_skb(skb);')) + 1}`]);
  const [only] = returnOffsets(bin, 'demo_forward');
  assert.ok(only !== undefined);
  assert.ok(single?.notes.some((n) => n.includes('holds a single call') && n.includes(`its return address +0x${only.toString(16)}`)), single?.notes.join('\n'));

  assert.equal(several?.exact, false);
  const offsets = returnOffsets(bin, 'demo_rcv');
  assert.equal(offsets.length, 3);
  const listed = several?.notes.find((n) => n.includes('calls to functions that report their caller')) ?? '';
  for (const o of offsets) assert.ok(listed.includes(`+0x${o.toString(16)} (call kfree_skb_reason, net/core/rcv.c:`), listed);
  assert.equal(several?.candidates.length, 4, 'the source ranking still lists the sites');
});

test('machine-code calls of an unlinked object are named by their relocations', { skip: skipExact }, async () => {
  const obj = join(dir, 'forward.o');
  execFileSync('gcc', ['-O2', '-c', '-o', obj, fixture('exact', 'net', 'core', 'forward.c')]);
  const sym = /^([0-9a-f]+) ([0-9a-f]+) T demo_forward$/m.exec(execFileSync('nm', ['-S', obj], { encoding: 'utf8' }));
  assert.ok(sym !== null);
  const calls = await callsInFunction(obj, 'demo_forward', BigInt(`0x${sym[1] ?? '0'}`), parseInt(sym[2] ?? '0', 16));
  assert.deepEqual(calls.map((c) => [c.target, c.isJump]).sort(), [['consume_skb', false], ['kfree_skb_reason', false]]);
  assert.ok(calls.every((c) => c.returnAddress > c.address));
});

test('objdump text: calls, tail jumps and indirect calls are told apart; jumps inside the function are not calls', async () => {
  const { parseCalls } = await import('../../src/explain/drop-calls.ts');
  // Shaped like `objdump -d --no-show-raw-insn` of a linked vmlinux (hand-written).
  const text = [
    'ffffffff81a00000 <ip_drop_demo>:',
    'ffffffff81a00000:\tendbr64',
    'ffffffff81a00004:\ttest   %esi,%esi',
    'ffffffff81a00006:\tjne    ffffffff81a00018 <ip_drop_demo+0x18>',
    'ffffffff81a00008:\tcall   *%rax',
    'ffffffff81a0000a:\tmov    $0x2,%esi',
    'ffffffff81a0000f:\tcall   ffffffff81b00000 <kfree_skb_reason>',
    'ffffffff81a00014:\txor    %eax,%eax',
    'ffffffff81a00016:\tret',
    'ffffffff81a00018:\tmov    $0x10,%esi',
    'ffffffff81a0001d:\tjmp    ffffffff81b00000 <kfree_skb_reason>',
    '',
    'ffffffff81a00030 <next_function>:',
    'ffffffff81a00030:\tcall   ffffffff81b00000 <kfree_skb_reason>',
  ].join('\n');
  const calls = parseCalls(text, 'ip_drop_demo', 0xffffffff81a00022n);
  assert.deepEqual(calls.map((c) => [c.address.toString(16), c.returnAddress.toString(16), c.target, c.isJump]), [
    ['ffffffff81a00008', 'ffffffff81a0000a', '', false],
    ['ffffffff81a0000f', 'ffffffff81a00014', 'kfree_skb_reason', false],
    ['ffffffff81a0001d', 'ffffffff81a00022', 'kfree_skb_reason', true],
  ]);
});
