// explain on hand-written trees: ranking from source on the bundled sample, and exact mode against a
// small kernel-style program compiled with debug info here, so that its DWARF is real.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import { explainExact } from '../../src/explain/exact.ts';
import { Explainer, type LocationQuery } from '../../src/explain/explain.ts';
import { openForRead, type Db } from '../../src/index/open.ts';
import { pickTree } from '../../src/index/read.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { fixture } from '../helpers/fixture.ts';
import { callReturnOffsets } from '../helpers/objdump.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-explain-'));
let sampleDb: Db;
let sample: Explainer;
after(() => {
  sampleDb?.close();
  rmSync(dir, { recursive: true, force: true });
});
before(async () => {
  const db = join(dir, 'sample.sqlite');
  await buildIndex(fixture('sample'), { db });
  sampleDb = openForRead(db);
  sample = new Explainer(sampleDb, pickTree(sampleDb, undefined, db));
});

const query = (text: string, opts: { decimal?: boolean } = {}): LocationQuery => parseLocation(text, opts.decimal === true ? { offsetBase: 'decimal' } : {});

/** An explainer over a fresh index of a fixture tree, for the length of `use`. */
async function withExplainer(tree: string, name: string, use: (ex: Explainer) => Promise<void> | void): Promise<void> {
  const db = join(dir, `${name}.sqlite`);
  await buildIndex(tree, { db });
  const handle = openForRead(db);
  try {
    await use(new Explainer(handle, pickTree(handle, undefined, db)));
  } finally {
    handle.close();
  }
}

test('the reason picks the site it reaches among several in one function', () => {
  const a = sample.explain(query('__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET'));
  assert.equal(`${a.candidates[0]?.file}:${a.candidates[0]?.line}`, 'net/ipv4/udp.c:126');
  assert.ok(a.candidates[0]?.evidence.some((e) => e.includes('reason NO_SOCKET matches')));
  // UDP_CSUM reaches the drop: label of __udp4_lib_rcv and a site of an inlined helper: both rank high.
  const b = sample.explain(query('__udp4_lib_rcv+0x4bc/0xd00 reason: UDP_CSUM'));
  assert.ok(b.candidates.slice(0, 2).some((c) => `${c.file}:${c.line}` === 'net/ipv4/udp.c:142'));
  const other = b.candidates.find((c) => c.line === 126);
  assert.ok(other !== undefined && other.score < 0.1, 'the NO_SOCKET-only site is very unlikely for UDP_CSUM');
  assert.ok(other.evidence.some((e) => e.includes('cannot reach')));
  for (const e of [a, b]) {
    const total = e.candidates.reduce((s, c) => s + c.score, 0);
    assert.ok(total <= 1.001 && e.candidates.every((c) => c.score >= 0 && c.score <= 1));
  }
});

test('sites inside inlined helpers are candidates, with the helper chain', () => {
  const e = sample.explain(query('tcp_data_queue+0x2c1/0x800 reason: TCP_OFOMERGE'));
  const top = e.candidates[0];
  // tcp_drop_reason (static, inlined) decides the drop: its own free is the line, reached through the
  // TCP_OFOMERGE call of tcp_data_queue_ofo, which is shown as where it was called.
  assert.equal(`${top?.file}:${top?.line}`, 'net/ipv4/tcp_input.c:17');
  assert.deepEqual(top?.via, ['tcp_data_queue_ofo', 'tcp_drop_reason']);
  assert.deepEqual(top?.calledAt, { file: 'net/ipv4/tcp_input.c', line: 42, function: 'tcp_data_queue_ofo' });
  assert.deepEqual(top?.reasons, ['TCP_OFOMERGE']);
  const ip = sample.explain(query('ip_rcv+1d4'));
  assert.ok(ip.candidates.length >= 2);
  // ip_rcv holds no site itself: they come through ip_rcv_core, or through ip_rcv_finish, its NF_HOOK okfn.
  assert.ok(ip.candidates.every((c) => c.via[0] === 'ip_rcv_core' || c.via[0] === 'ip_rcv_finish'), JSON.stringify(ip.candidates.map((c) => c.via)));
  assert.ok(ip.candidates.some((c) => c.via.join('/') === 'ip_rcv_finish/ip_rcv_finish_core'), 'the okfn and its helper');
  assert.ok(ip.candidates.some((c) => c.via.join('/') === 'ip_rcv_core/skb_share_check'), 'two levels deep');
  assert.ok(ip.notes.some((n) => n.includes('no function size')));
});

test('the event separates consume from drop, and .cold turns the offset off', () => {
  const c = sample.explain(query('ip_protocol_deliver_rcu+0x10/0x200 event: consume_skb'));
  assert.equal(c.candidates[0]?.kind, 'consume');
  assert.equal(c.candidates[0]?.line, 44);
  const d = sample.explain(query('ip_protocol_deliver_rcu+0x10/0x200'));
  assert.equal(d.candidates[0]?.kind, 'drop');
  const cold = sample.explain(query('ip_rcv_finish_core.isra.0.cold+0x10/0x40'));
  assert.equal(cold.function, 'ip_rcv_finish_core');
  assert.ok(cold.candidates[0]?.evidence.some((e) => e.includes('cold part')));
});

test('a location inside a drop function points at its callers', () => {
  const e = sample.explain(query('__dev_kfree_skb_any+0x30/0x80'));
  assert.ok(e.notes.some((n) => n.includes('is a drop function')));
  const callers = e.candidates.filter((c) => c.role === 'caller');
  assert.ok(callers.some((c) => c.file === 'drivers/net/ethernet/acme/acme_main.c'), 'the driver calls dev_kfree_skb_any, reported inside __dev_kfree_skb_any');
});

test('a symbol the tree does not have is a result with notes, not an error', () => {
  const e = sample.explain(query('udp_rcvv+0x10/0x40'));
  assert.deepEqual(e.candidates, []);
  assert.ok(e.notes.some((n) => n.includes('nearest names') && n.includes('udp_rcv')), e.notes.join('\n'));
  const m = sample.explain(query('nf_hook_slow+0x9b/0x130 [nf_tables]'));
  assert.ok(m.notes.some((n) => n.includes('module nf_tables')));
});

test('exact mode maps the debug info of a compiled program onto the indexed sites', { skip: hasGcc() ? false : 'gcc and binutils are needed to compile the exact-mode fixture (.ci/run installs them)' }, async () => {
  const tree = fixture('exact');
  const bin = join(dir, 'demo');
  execFileSync('gcc', ['-g', '-O2', '-fno-optimize-sibling-calls', '-o', bin, join(tree, 'net/core/rcv.c'), join(tree, 'net/core/skbuff.c')]);
  await withExplainer(tree, 'exact', async (explainer) => {
    // Real locations: the return address after each call of kfree_skb_reason in demo_rcv.
    const calls = callReturnOffsets(bin, 'demo_rcv', 'kfree_skb_reason');
    assert.ok(calls !== null, 'demo_rcv in the symbol table');
    const { size, offsets } = calls;
    assert.ok(offsets.length >= 3, `three calls of kfree_skb_reason in demo_rcv, found ${offsets.length}`);
    const queries = offsets.map((o) => query(`demo_rcv+0x${o.toString(16)}/0x${size.toString(16)}`));
    const results = await explainExact(explainer, queries, bin, '6.1.0');
    const source = readFileSync(join(tree, 'net/core/rcv.c'), 'utf8').split('\n');
    const lineOf = (text: string): number => source.findIndex((l) => l.includes(text)) + 1;
    const expected = new Set([lineOf('SKB_DROP_REASON_PKT_TOO_SMALL'), lineOf('SKB_DROP_REASON_NO_SOCKET'), lineOf('kfree_skb(skb);')]);
    const got = new Set(results.map((r) => {
      assert.equal(r.exact, true);
      const c = r.candidates[0];
      assert.ok(c !== undefined && c.role === 'site', JSON.stringify(r));
      return c.line;
    }));
    assert.deepEqual(got, expected);
    const helper = results.find((r) => r.candidates[0]?.line === lineOf('SKB_DROP_REASON_PKT_TOO_SMALL'));
    assert.deepEqual(helper?.candidates[0]?.via, ['rcv_check_len']);
    await assert.rejects(explainExact(explainer, queries.slice(0, 1), join(tree, 'Makefile'), '6.1.0'), /not an ELF file|no symbol table|nm failed|not in the symbol table|no line information/);
  });
});

function hasGcc(): boolean {
  try {
    execFileSync('gcc', ['--version']);
    execFileSync('addr2line', ['--version']);
    return true;
  } catch {
    return false;
  }
}

test('a drop at the end of an extern function is reported at its caller: the tail call', async () => {
  await withExplainer(fixture('scan', 'tail-calls'), 'tail', (ex) => {
    // ip_local_deliver inlines ip_local_deliver_finish, which calls ip_protocol_deliver_rcu (another file).
    const e = ex.explain(query('ip_local_deliver+0x3a/0x80 reason: IP_NOPROTO'));
    const top = e.candidates[0];
    assert.equal(`${top?.file}:${top?.line}`, 'net/ipv4/ip_input.c:27');
    assert.deepEqual(top?.via, ['ip_local_deliver_finish', 'ip_protocol_deliver_rcu']);
    assert.ok(top?.evidence.some((x) => x.includes('as a jump')), top?.evidence.join('; '));
    const other = ex.explain(query('ip_rcv_other+0x1c/0x40 reason: OTHERHOST'));
    assert.equal(`${other.candidates[0]?.file}:${other.candidates[0]?.line}`, 'net/ipv4/ip_input.c:55');
    // ip_check_header() returns after freeing: its drop is reported inside it, never at its caller.
    const checked = ex.explain(query('ip_rcv_checked+0x10/0x40'));
    assert.deepEqual(checked.candidates, []);
    // Inside ip_check_header itself, its own site is the answer.
    assert.equal(ex.explain(query('ip_check_header+0x20/0x40')).candidates[0]?.line, 36);
  });
});

test('a static function passed to NF_HOOK() is a candidate of the caller, marked as a callback', async () => {
  await withExplainer(fixture('scan', 'helpers'), 'helpers', (ex) => {
    const e = ex.explain(query('ip_forward+0x40/0x100 reason: PKT_TOO_SMALL'));
    const top = e.candidates[0];
    assert.equal(`${top?.file}:${top?.line}`, 'net/ipv4/ip_forward.c:18');
    assert.deepEqual(top?.via, ['ip_forward_finish']);
    assert.ok(top?.evidence.some((x) => x.includes('passed as a function to NF_HOOK()')), top?.evidence.join('; '));
    // INIT_WORK() stores its function: the work function's free is no candidate of ip_forward_init.
    assert.deepEqual(ex.explain(query('ip_forward_init+0x10/0x40')).candidates, []);
  });
});
