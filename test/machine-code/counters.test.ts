// Which counter a drop bumps (counters.ts): on hand-written source, the counter statements of each site's block
// before its free and after it (through the tree's own macro for DEV_STATS_INC, read from a header the file
// includes), as field accesses; on hand-assembled x86-64, the displacement of each counter bump on the straight
// line into the drop call and on the straight path after it; and the weighing of the two.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findDropCalls } from '../../src/machine-code/calls.ts';
import { ConstantScope } from '../../src/machine-code/conditions.ts';
import { counterFactor, countersAfter, countersBefore, statementCounters, type SiteCounters } from '../../src/machine-code/counters.ts';
import { decodeFunction } from '../../src/machine-code/decode.ts';
import { assemble } from '../helpers/assemble.ts';

// The shape of include/linux/netdevice.h's stats macros (6.1 and 6.12).
const HEADER = [
  '#define DEV_STATS_INC(DEV, FIELD) atomic_long_inc(&(DEV)->stats.__##FIELD)',
  '#define DEV_STATS_ADD(DEV, FIELD, VAL) \\',
  '\t\tatomic_long_add((VAL), &(DEV)->stats.__##FIELD)',
];
const SOURCE = [
  '#include <linux/netdevice.h>', //                                 1
  'static netdev_tx_t tnl_xmit(struct sk_buff *skb, struct net_device *dev)', // 2
  '{', //                                                            3
  '\tint err;', //                                                   4
  '', //                                                             5
  '\tif (unlikely(!skb->dev)) {', //                                  6
  '\t\tnetdev_dbg(dev, "no tunnel metadata\\n");', //                7
  '\t\tdev_kfree_skb(skb);', //                                      8
  '\t\tDEV_STATS_INC(dev, tx_dropped);', //                          9
  '\t\treturn NETDEV_TX_OK;', //                                    10
  '\t}', //                                                         11
  '\terr = tnl_xmit_skb(skb, dev);', //                              12
  '\tif (likely(!err))', //                                         13
  '\t\treturn NETDEV_TX_OK;', //                                    14
  '', //                                                            15
  '\tif (err != -EMSGSIZE)', //                                     16
  '\t\tdev_kfree_skb(skb);', //                                     17
  '', //                                                            18
  '\tif (err == -ELOOP)', //                                        19
  '\t\tDEV_STATS_INC(dev, collisions);', //                         20
  '\telse if (err == -ENETUNREACH)', //                             21
  '\t\tDEV_STATS_INC(dev, tx_carrier_errors);', //                  22
  '', //                                                            23
  '\tDEV_STATS_INC(dev, tx_errors);', //                            24
  '\treturn NETDEV_TX_OK;', //                                      25
  '}', //                                                           26
  'static void tnl_rx(struct tnl *t, struct sk_buff *skb)', //     27
  '{', //                                                           28
  '\tif (!t->up) {', //                                            29
  '\t\tt->dev->stats.rx_dropped++;', //                             30
  '\t\ttrace_tnl_drop(t, skb);', //                                 31
  '\t\tkfree_skb(skb);', //                                         32
  '\t\tgoto out;', //                                               33
  '\t}', //                                                         34
  '\tif (t->busy)', //                                             35
  '\t\tkfree_skb(skb);', //                                         36
  '\telse', //                                                      37
  '\t\tu64_stats_inc(&t->stats->rx_packets);', //                   38
  '\tif (t->err) {', //                                             39
  '\t\tDEV_STATS_ADD(t->dev, rx_bytes, skb->len);', //              40
  '\t\tkfree_skb(skb);', //                                         41
  '\t}', //                                                         42
  'out:', //                                                        43
  '\tthis_cpu_inc(t->pcpu->drops);', //                             44
  '}', //                                                           45
];
const files = new Map<string, string[]>([['include/linux/netdevice.h', HEADER], ['drivers/net/tnl.c', SOURCE]]);
const scope = new ConstantScope((f) => files.get(f) ?? null);
const macro = (name: string): ReturnType<ConstantScope['macro']> => scope.macro('drivers/net/tnl.c', name);

test('counter statements as field accesses: the tree\'s DEV_STATS_* macros, ++ and +=, and the bump calls', () => {
  assert.deepEqual(statementCounters('DEV_STATS_INC(dev, tx_dropped);', macro), ['dev->stats.__tx_dropped']);
  assert.deepEqual(statementCounters('DEV_STATS_ADD(t->dev, rx_bytes, skb->len);', macro), ['t->dev->stats.__rx_bytes']);
  assert.deepEqual(statementCounters('dev->stats.tx_dropped++;', macro), ['dev->stats.tx_dropped']);
  assert.deepEqual(statementCounters('++priv->drops;', macro), ['priv->drops']);
  assert.deepEqual(statementCounters('stats->rx_bytes += len;', macro), ['stats->rx_bytes']);
  assert.deepEqual(statementCounters('u64_stats_inc(&tstats->rx_dropped);', macro), ['tstats->rx_dropped']);
  assert.deepEqual(statementCounters('atomic_long_inc(&session->stats.rx_errors);', macro), ['session->stats.rx_errors']);
  assert.deepEqual(statementCounters('this_cpu_inc(t->pcpu->drops);', macro), ['t->pcpu->drops']);
  assert.deepEqual(statementCounters('priv->stats[i]++;', macro), [null], 'a counter, but no plain field');
  assert.deepEqual(statementCounters('n++;', macro), [], 'a local in a register');
  assert.deepEqual(statementCounters('kfree_skb(skb);', macro), []);
  // Without the header in scope, DEV_STATS_INC is an unknown call: no counter is made up.
  assert.deepEqual(statementCounters('DEV_STATS_INC(dev, tx_dropped);', () => null), []);
});

const fields = (w: ReturnType<typeof countersAfter>): string[] => w.counters.map((c) => `${c.line}:${c.access}`);

test('after a site: its next counters to the return, those of the if bodies on the way, an else it is not in skipped, a goto followed', () => {
  const first = countersAfter(SOURCE, 8, true, macro);
  assert.deepEqual(fields(first), ['9:dev->stats.__tx_dropped']);
  assert.equal(first.closed, true);
  const late = countersAfter(SOURCE, 17, true, macro);
  assert.deepEqual(fields(late), ['20:dev->stats.__collisions', '22:dev->stats.__tx_carrier_errors', '24:dev->stats.__tx_errors']);
  assert.equal(late.closed, true);
  // An inlined helper's site: its caller goes on after the return, so the window is never whole.
  assert.equal(countersAfter(SOURCE, 8, false, macro).closed, false);
  // `if (t->busy) kfree_skb(skb); else u64_stats_inc(…);`: the else is the other path; then an if body's counter.
  const busy = countersAfter(SOURCE, 36, true, macro);
  assert.deepEqual(fields(busy), ['40:t->dev->stats.__rx_bytes', '44:t->pcpu->drops']);
  assert.equal(busy.closed, true, 'the function ends');
  // `kfree_skb(skb); goto out;` reaches the label's counter.
  assert.deepEqual(fields(countersAfter(SOURCE, 32, true, macro)), ['44:t->pcpu->drops']);
});

test('before a site: the counters of its block back to its opening, stopping at a static branch (a tracepoint) where another path joins', () => {
  const opened = countersBefore(SOURCE, 41, 27, macro);
  assert.deepEqual(opened.counters.map((c) => c.access), ['t->dev->stats.__rx_bytes']);
  assert.equal(opened.closed, true);
  const traced = countersBefore(SOURCE, 32, 27, macro);
  assert.deepEqual(traced.counters, [], 'rx_dropped++ is before the tracepoint, whose static branch joins the straight line');
  assert.equal(traced.closed, true);
  // The body of a braceless if: nothing before it in its block.
  assert.deepEqual(countersBefore(SOURCE, 17, 2, macro), { counters: [], unnamed: 0, closed: true });
  assert.deepEqual(countersBefore(SOURCE, 8, 2, macro).counters, [], 'netdev_dbg is dynamic debug: a static branch');
  // Two frees in a row: the code's straight line into the second call starts after the first.
  const twice = ['{', '\tdev->stats.rx_packets++;', '\tconsume_skb(local_skb);', '\tconsume_skb(skb);'];
  const isFree = (t: string): boolean => /\bconsume_skb\s*\(/.test(t);
  assert.deepEqual(countersBefore(twice, 3, 0, macro, isFree).counters.map((c) => c.access), ['dev->stats.rx_packets']);
  assert.deepEqual(countersBefore(twice, 4, 0, macro, isFree), { counters: [], unnamed: 0, closed: true });
});

// Code: a counter bump before the call (after the last branch), one before that branch, and one on the shared exit.
const TEXT = 0xffffffff81000000n;
const DROP = TEXT + 0x10000n;
const LOCK_INCQ_260 = [0xf0, 0x48, 0xff, 0x83, 0x60, 0x02, 0x00, 0x00]; // lock incq 0x260(%rbx)
const LOCK_INCQ_270 = [0xf0, 0x48, 0xff, 0x83, 0x70, 0x02, 0x00, 0x00]; // lock incq 0x270(%rbx)
const ADDQ_1_2A8 = [0x48, 0x83, 0x83, 0xa8, 0x02, 0x00, 0x00, 0x01]; //    addq $1,0x2a8(%rbx)
const INCQ_INDEXED = [0x48, 0xff, 0x44, 0xc3, 0x10]; //                    incq 0x10(%rbx,%rax,8)
const TEST_EAX = [0x85, 0xc0];
const RET = [0xc3];

test('the code: counter bumps on the straight line into the call, back to its branch, and on the path after it through a jump', () => {
  const { bytes } = assemble(TEXT, [
    LOCK_INCQ_270, TEST_EAX, { je: 'skip' }, ADDQ_1_2A8, INCQ_INDEXED, { call: 'kfree_skb_reason' },
    [0xeb, 0x01], RET, // jmp over a ret to the shared exit
    LOCK_INCQ_260, { label: 'skip' }, RET,
  ], () => DROP);
  const fn = decodeFunction({ name: 'f', address: TEXT, size: bytes.length, sizeExact: true, bytes: Uint8Array.from(bytes), relocated: [] }, { byAddress: (a) => (a === DROP ? 'kfree_skb_reason' : null) });
  const calls = findDropCalls(fn, new Map([['kfree_skb_reason', { name: 'kfree_skb_reason', reasonArg: 1, skbArg: 0 }]]), { noreturn: new Set(), hiddenEdges: [] });
  assert.equal(calls.length, 1);
  const c = calls[0];
  assert.deepEqual(c?.bumpsBefore.map((b) => b.disp), [0x2a8], 'the bump before the branch is another path\'s; an indexed one is no field');
  assert.deepEqual(c?.after.bumps?.map((b) => b.disp), [0x260]);
});

const site = (key: string, before: Array<[number, string]>, after: Array<[number, string]>, complete = true): SiteCounters => ({
  key, name: key,
  before: { at: new Map(before.map(([d, f]) => [d, { field: f, line: 1 }])), complete, any: before.length > 0 },
  after: { at: new Map(after.map(([d, f]) => [d, { field: f, line: 2 }])), complete, any: after.length > 0 },
});
const W = { match: 3, mismatch: 1 / 3, maxMatches: 2 };

test('weighing: a distinct counter matches, another site\'s counter contradicts a whole window, a shared one says nothing', () => {
  const dropped = site('a.c:1025', [], [[0x270, 'net_device.stats.__tx_dropped']]);
  const errors = site('a.c:1046', [], [[0x2a0, 'net_device.stats.__collisions'], [0x260, 'net_device.stats.__tx_errors']]);
  const sites = [dropped, errors];
  const code = { before: [], after: [{ off: 0x41f, disp: 0x260 }] };
  const ev: string[] = [];
  assert.equal(counterFactor(code, sites, 1, W, 'x.ko', ev), 3);
  assert.match(ev[0] ?? '', /bumps the counter at 0x260\(…\) right after the call \(at \+0x41f\), the offset of net_device\.stats\.__tx_errors in x\.ko's BTF, as this site does after its free \(line 2\) and a\.c:1025 does not/);
  const against: string[] = [];
  assert.ok(Math.abs(counterFactor(code, sites, 0, W, 'x.ko', against) - 1 / 3) < 1e-9);
  assert.match(against[0] ?? '', /which a\.c:1046 bumps after its free; this site bumps net_device\.stats\.__tx_dropped there instead/);
  // Not whole (a helper's site, or a field BTF could not resolve): no contradiction.
  assert.equal(counterFactor(code, [site('a.c:1025', [], [[0x270, 'x']], false), errors], 0, W, 'x.ko', null), 1);
  // Every candidate bumps it: nothing to tell apart.
  assert.equal(counterFactor(code, [site('a.c:1', [], [[0x260, 'x']]), site('a.c:2', [], [[0x260, 'x']])], 0, W, 'x.ko', null), 1);
  // The same line listed twice (a helper called at two lines) is not its own rival.
  assert.equal(counterFactor(code, [errors, errors], 0, W, 'x.ko', null), 1);
  // Before the call too, and at most maxMatches matches.
  const both = { before: [{ off: 0x10, disp: 0x2a8 }], after: [{ off: 0x20, disp: 0x260 }, { off: 0x28, disp: 0x2a0 }] };
  const rich = site('a.c:9', [[0x2a8, 'q.rxdropped']], [[0x260, 'e'], [0x2a0, 'c']]);
  assert.equal(counterFactor(both, [rich, dropped], 0, W, 'x.ko', null), 9);
});
