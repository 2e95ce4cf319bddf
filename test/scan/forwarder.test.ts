// A function of a .c file that only forwards its caller's free is a generic drop function, told by what
// its body does (src/scan/forwarder.ts): the two eras of the driver free (6.12's dev_kfree_skb_any_reason,
// 6.1's __dev_kfree_skb_any) and look-alikes that decide something themselves, in fixtures/scan/forwarder.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isGenericDropApi } from '../../src/kernel/drop-functions.ts';
import { FileScan } from '../../src/scan/file-scan.ts';
import { scanTree } from '../../src/scan/scan-tree.ts';
import { layeredFixture } from '../helpers/fixture-tree.ts';

// Laid over fixtures/kernel-base; its skbuff.c, skbuff.h and dropreason.h replace the base's (both free
// functions, the packet's refcount, both reason enums).
const tmp = mkdtempSync(join(tmpdir(), 'dropsite-forwarder-'));
const dir = layeredFixture(tmp, 'scan', 'forwarder');
after(() => rmSync(tmp, { recursive: true, force: true }));
const calledNames = (text: string): Set<string> => new Set(Array.from(text.matchAll(/\b([A-Za-z_]\w*)\s*\(/g), (m) => m[1] ?? ''));

test('the body shape: one call, or an if/else chain of single calls whose conditions only test', () => {
  const text = readFileSync(`${dir}/net/core/dev.c`, 'latin1');
  const fns = new Map(new FileScan('net/core/dev.c', text).scan(calledNames(text)).functions.map((f) => [f.name, f]));
  const shape = (name: string): { frees: string[]; tests: string[] } | null => {
    const fn = fns.get(name);
    assert.ok(fn !== undefined, `${name} is summarised`);
    return fn.forward === undefined ? null : { frees: fn.forward.frees.map((i) => fn.calls[i]?.callee ?? '?'), tests: fn.forward.tests };
  };
  // 6.12: the context tests are calls without arguments, so no name is tested.
  assert.deepEqual(shape('dev_kfree_skb_any_reason'), { frees: ['dev_kfree_skb_irq_reason', 'kfree_skb_reason'], tests: [] });
  assert.deepEqual(shape('__dev_kfree_skb_any'), { frees: ['__dev_kfree_skb_irq', 'kfree_skb', 'consume_skb'], tests: ['reason', 'SKB_REASON_DROPPED'] });
  assert.deepEqual(shape('netdev_free_reason'), { frees: ['kfree_skb_reason'], tests: [] });
  // The shape alone says nothing of who picks the reason: these have it, and are told apart later.
  assert.deepEqual(shape('dev_drop_full_ring'), { frees: ['kfree_skb_reason'], tests: [] });
  assert.deepEqual(shape('netpoll_free_skb'), { frees: ['dev_kfree_skb_irq_reason', 'kfree_skb'], tests: [] });
  assert.deepEqual(shape('dev_kfree_skb_default'), { frees: ['kfree_skb_reason'], tests: [] });
  // No shape: a body of several statements, a test calling with an argument, a declaration.
  assert.equal(shape('dev_kfree_skb_irq_reason'), null);
  assert.equal(shape('dev_kfree_skb_unshared'), null, 'skb_shared(skb) reads the packet');
  assert.equal(shape('dev_kfree_skb_saved'), null, 'a variable of its own');
});

test('forwarders are generic drop functions; static helpers, own reasons, other work and computed choices are not', async () => {
  const { resolution } = await scanTree(dir);
  const apis = new Map(resolution.apis.map((a) => [a.name, a]));
  const forwarders = resolution.apis.filter((a) => a.forwarder).map((a) => a.name).sort();
  assert.deepEqual(forwarders, ['__dev_kfree_skb_any', 'dev_kfree_skb_any_reason', 'netdev_free_reason']);
  for (const name of forwarders) assert.ok(isGenericDropApi(apis.get(name)), `${name} is generic`);
  const decided = {
    dev_drop_full_ring: 'passes a reason of its own',
    netpoll_free_skb: 'tests only the context and passes reasons of its own',
    dev_kfree_skb_unshared: 'tests the packet',
    dev_kfree_skb_default: 'computes the reason it passes',
    dev_kfree_skb_saved: 'tests a variable of its own',
    dst_discard_out: 'returns a value after the free, no reason from its caller',
    qdisc_drop_counted: 'counts the drop before the free',
    tcp_drop_reason: 'is static',
  };
  for (const [name, why] of Object.entries(decided)) {
    const a = apis.get(name);
    assert.equal(a?.role, 'wrapper', `${name} is a wrapper`);
    assert.equal(a.forwarder, false, `${name} ${why}`);
    assert.equal(isGenericDropApi(a), false, `${name} is not generic: it ${why}`);
  }
  // The deferred frees stay generic as the frees that report at net_tx_action.
  for (const name of ['dev_kfree_skb_irq_reason', '__dev_kfree_skb_irq']) {
    assert.equal(apis.get(name)?.role, 'seed', name);
    assert.ok(isGenericDropApi(apis.get(name)), `${name} is generic`);
  }
  // A header inline calling a forwarder is a plain site (its caller's line is the answer); calling a
  // wrapper that decides, it reaches that wrapper's own free, compiled into the wrapper's file.
  const wrapperEdges = resolution.edges.filter((e) => e.kind === 'wrapper').map((e) => `${e.caller} -> ${e.callee}`).sort();
  assert.ok(wrapperEdges.includes('dev_rx_drop_ring -> dev_drop_full_ring'), wrapperEdges.join(', '));
  assert.ok(!wrapperEdges.some((e) => e.endsWith('-> dev_kfree_skb_any_reason')), wrapperEdges.join(', '));
  const driver = resolution.sites.filter((s) => s.file === 'drivers/net/ethernet/acme/acme_main.c').map((s) => `${s.line} ${s.api} ${s.reasons.join('|')}`);
  assert.deepEqual(driver, ['12 dev_kfree_skb_any_reason FULL_RING', '16 dev_consume_skb_any ', '23 dev_rx_drop_ring FULL_RING', '27 dev_kfree_skb_any NOT_SPECIFIED']);
});
