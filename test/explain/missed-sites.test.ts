// No drop site may escape the index: one hand-written kernel-style tree (fixtures/scan/missed-sites) with
// each mechanism that used to hide the true line, and the line the debug info would name (the innermost
// frame outside the generic drop functions) asserted first.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { openForRead, type Db } from '../../src/index/open.ts';
import { pickTree } from '../../src/index/read.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { fixture, runCli } from '../helpers/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-missed-'));
let db: Db;
let ex: Explainer;
before(async () => {
  const file = join(dir, 'missed.sqlite');
  await buildIndex(fixture('scan', 'missed-sites'), { db: file });
  db = openForRead(file);
  ex = new Explainer(db, pickTree(db, undefined, file));
});
after(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const top = (text: string): string => {
  const c = ex.explain(parseLocation(text)).candidates[0];
  return c === undefined ? 'nothing' : `${c.file}:${c.line}`;
};

test('a static helper that drops with a reason: its own free, once per call, with the call shown', () => {
  const e = ex.explain(parseLocation('rx_queue_ofo+0x30/0x80 reason: TCP_OFOMERGE'));
  const first = e.candidates[0];
  assert.equal(`${first?.file}:${first?.line}`, 'net/ipv4/tcp_rx.c:19');
  assert.deepEqual(first?.calledAt, { file: 'net/ipv4/tcp_rx.c', line: 35, function: 'rx_queue_ofo' });
  assert.deepEqual(first?.via, ['rx_toss']);
  assert.ok(first?.evidence.some((x) => x.includes('rx_toss frees the packet it is given')), first?.evidence.join('; '));
  // The other call of rx_toss stays a candidate of its own (same line, another call), ruled out by its reason.
  const other = e.candidates.find((c) => c.calledAt?.line === 30);
  assert.ok(other !== undefined && other.line === 19 && other.score < 0.1 && other.reasons.includes('PROTO_MEM'));
  // The calls themselves are no longer candidates: the debug info never names them.
  assert.ok(!e.candidates.some((c) => c.line === 30 || c.line === 35));
});

test('a function passed as a pointer and called by inline code is a site or a helper of the caller', () => {
  // skb_ring_free_one reaches the call `destroy(skb)` three inline functions down.
  const ring = ex.explain(parseLocation('ring_change_len+0x40/0x90'));
  assert.equal(`${ring.candidates[0]?.file}:${ring.candidates[0]?.line}`, 'include/linux/pkt_ring.h:32');
  assert.equal(ring.candidates[0]?.api, 'skb_ring_free_one');
  assert.deepEqual(ring.candidates[0]?.via, ['skb_ring_resize', 'pkt_ring_resize', 'pkt_ring_drain']);
  // ring_drop_one is handed to aqm_dequeue() without the packet among the arguments.
  const aqm = ex.explain(parseLocation('ring_dequeue+0x30/0x90'));
  assert.equal(`${aqm.candidates[0]?.file}:${aqm.candidates[0]?.line}`, 'net/sched/sch_ring.c:28');
  assert.ok(aqm.candidates[0]?.evidence.some((x) => x.includes('passed as a function to aqm_dequeue()')), aqm.candidates[0]?.evidence.join('; '));
});

test('a header inline emitted out of line: the extern wrapper it calls is inlined, its free is the line', () => {
  const e = ex.explain(parseLocation('out_discard+0x13/0x20'));
  assert.equal(`${e.candidates[0]?.file}:${e.candidates[0]?.line}`, 'net/core/out_discard.c:17');
  assert.deepEqual(e.candidates[0]?.calledAt, { file: 'include/net/out_discard.h', line: 20, function: 'out_discard' });
});

test('a function whose only job is to free (an output or xmit function) names its own free', () => {
  assert.equal(top('out_discard_finish+0x10/0x20'), 'net/core/out_discard.c:17');
  assert.equal(top('sink_xmit+0x10/0x20'), 'drivers/net/sink.c:15');
});

test('a drop three helpers deep is a candidate', () => {
  const e = ex.explain(parseLocation('sink_redirect+0x50/0x90'));
  assert.equal(`${e.candidates[0]?.file}:${e.candidates[0]?.line}`, 'include/linux/netdev_fwd.h:23');
  assert.deepEqual(e.candidates[0]?.via, ['sink_redirect_no_mac', 'sink_rx_no_mac', '__fwd_skb_checked']);
});

test('the call that reached an inlined wrapper is printed, in text and in JSON', async () => {
  const file = join(dir, 'cli.sqlite');
  assert.equal((await runCli(['index', fixture('scan', 'missed-sites'), '--db', file, '-q'])).code, 0);
  const text = await runCli(['explain', '--db', file, 'rx_queue_ofo+0x30/0x80 reason: TCP_OFOMERGE']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /1\. net\/ipv4\/tcp_rx\.c:19 .* called at net\/ipv4\/tcp_rx\.c:35 in rx_queue_ofo\(\)/);
  // The wrapper's line is the same for every call: the calling line is shown under it, with its text.
  assert.match(text.stdout, /called at net\/ipv4\/tcp_rx\.c:35 in rx_queue_ofo\(\):\n\s+> 35 \|\s+rx_toss\(sk, skb, SKB_DROP_REASON_TCP_OFOMERGE\);/);
  const json = await runCli(['explain', '--db', file, '--json', 'rx_queue_ofo+0x30/0x80 reason: TCP_OFOMERGE']);
  assert.equal(json.code, 0, json.stderr);
  assert.match(json.stdout, /"calledAt":\s*\{[^}]*"line":\s*35/);
});

test('a static helper called last by an extern function: the tail-called drop at the caller names the helper\'s own free', () => {
  // rx_established (another file) ends with rx_toss(), inlined there: the debug info names rx_toss's free.
  const e = ex.explain(parseLocation('rx_v4_do_rcv+0x20/0x40 reason: PKT_TOO_SMALL'));
  const first = e.candidates[0];
  assert.equal(`${first?.file}:${first?.line}`, 'net/ipv4/tcp_rx.c:19');
  assert.deepEqual(first?.via, ['rx_established', 'rx_toss']);
  assert.deepEqual(first?.calledAt, { file: 'net/ipv4/tcp_rx.c', line: 54, function: 'rx_established' });
  assert.ok(first?.evidence.some((x) => x.includes('rx_established is not inlined here and ends with this free')), first?.evidence.join('; '));
});

test('a header that never names packets is read where a file hands it a packet destructor', () => {
  // obj_ring.h is only reached through skb_objring.h's #include: its `destroy(ptr)` is the site.
  const e = ex.explain(parseLocation('tapq_destruct+0x30/0x60'));
  assert.equal(top('tapq_destruct+0x30/0x60'), 'include/linux/obj_ring.h:30');
  assert.equal(e.candidates[0]?.api, '__skb_objring_destroy_skb');
  assert.deepEqual(e.candidates[0]?.via, ['obj_ring_cleanup']);
  // The header's own inline user (skb_objring_cleanup) binds the same call to the destructor.
  assert.ok(ex.explain(parseLocation('skb_objring_cleanup+0x10/0x40')).candidates.some((c) => c.file === 'include/linux/obj_ring.h' && c.line === 30));
});

test('a file that never names packets is read when it calls an extern function of its directory that ends by freeing', () => {
  const e = ex.explain(parseLocation('qcore_free_space+0x20/0x50'));
  assert.equal(top('qcore_free_space+0x20/0x50'), 'fs/qwarn/netlink.c:23');
  assert.equal(e.candidates[0]?.function, 'qwarn_send');
  assert.ok(e.candidates[0]?.evidence.some((x) => x.includes('qwarn_send is not inlined here and ends with this free')), e.candidates[0]?.evidence.join('; '));
});
