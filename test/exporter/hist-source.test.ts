// The hist-trigger source against a stand-in for its tracefs instance: this machine's kernel has no
// CONFIG_HIST_TRIGGERS (no events/skb/kfree_skb/hist), so the kernel side cannot run here. The stand-in serves
// hist text in the kernel's format (fixtures/locate/recordings/hist-6.1-*.txt show it) and records what the
// source does to it; the counting, reason naming, recovery and clean-up are dropsite's own code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DropMetrics } from '../../src/exporter/index.ts';
import { HIST_TRIGGER, HistSource, hasHistTriggers, type HistInstance } from '../../src/exporter/hist-trigger.ts';

class StandInInstance implements HistInstance {
  readonly path = '/sys/kernel/tracing/instances/dropsite-test';
  present = false;
  trigger: string | null = null;
  hist = '';
  removed = 0;
  exists(): boolean { return this.present; }
  create(): void {
    if (this.present) throw new Error('EEXIST');
    this.present = true;
  }
  hasTrigger(): boolean { return this.trigger !== null; }
  setTrigger(): void {
    if (!this.present) throw new Error('ENOENT');
    this.trigger = HIST_TRIGGER;
    this.hist = histText([]); // a new trigger starts with an empty table
  }
  readHist(): string {
    if (!this.present || this.trigger === null) throw new Error('ENOENT');
    return this.hist;
  }
  remove(): void {
    this.trigger = null;
    this.present = false;
    this.hist = '';
    this.removed++;
  }
}

const entry = (addr: string, sym: string, reason: number, hits: number): string =>
  `{ location: [${addr}] ${sym.padEnd(55)}, reason: ${String(reason).padStart(10)} } hitcount: ${String(hits).padStart(10)}`;
const histText = (entries: string[], dropped = 0): string => [
  '# event histogram', '#', `# trigger info: ${HIST_TRIGGER} [active]`, '#', '', ...entries, '', 'Totals:',
  `    Hits: 0`, `    Entries: ${entries.length}`, `    Dropped: ${dropped}`, '',
].join('\n');

// 6.1's enum skb_drop_reason: NOT_SPECIFIED 1, NO_SOCKET 2.
const reasonNames = new Map([[1, 'NOT_SPECIFIED'], [2, 'NO_SOCKET']]);
const info = { kernel: '6.1.0-56-amd64', tree_version: '6.1.192', index: 'x', source: 'hist' };
const resolve = (): { function: string; file: string; line: string; method: 'source'; resolved: boolean } => ({ function: 'f', file: 'net/ipv4/udp.c', line: '2552', method: 'source', resolved: true });

function setUp(): { inst: StandInInstance; metrics: DropMetrics; source: HistSource; logs: string[] } {
  const inst = new StandInInstance();
  const metrics = new DropMetrics({ resolve, maxSeries: 100, info });
  const logs: string[] = [];
  const source = new HistSource(inst, { metrics, reasonNames, log: (t) => logs.push(t) });
  return { inst, metrics, source, logs };
}

const counts = (m: DropMetrics): Array<[string, string, number]> => m.series().map((s) => [s.labels.location, s.labels.reason, s.count]);

describe('hist source', () => {
  it('this machine: the probe looks for events/skb/kfree_skb/hist', () => {
    assert.equal(hasHistTriggers('/nonexistent'), false);
  });

  it('installs its trigger, counts what grew each interval, names reasons from the enum', async () => {
    const { inst, metrics, source } = setUp();
    source.start();
    assert.equal(inst.trigger, HIST_TRIGGER);
    inst.hist = histText([entry('ffffffff9f4bc53c', '__udp4_lib_rcv+0x4bc/0xd00', 2, 40)]);
    await source.check();
    inst.hist = histText([entry('ffffffff9f4bc53c', '__udp4_lib_rcv+0x4bc/0xd00', 2, 55), entry('ffffffffc05bcaed', 'tun_queue_purge+0x8d/0x110 [tun]', 1, 6)]);
    await source.check();
    assert.deepEqual(counts(metrics), [['__udp4_lib_rcv+0x4bc', 'NO_SOCKET', 55], ['tun_queue_purge+0x8d [tun]', 'NOT_SPECIFIED', 6]]);
    assert.equal(metrics.drops, 61);
  });

  it('an instance that disappears is set up again and counted; counters keep growing, the Dropped count is lost events', async () => {
    const { inst, metrics, source, logs } = setUp();
    source.start();
    inst.hist = histText([entry('ffffffff9f4bc53c', '__udp4_lib_rcv+0x4bc/0xd00', 2, 10)], 3);
    await source.check();
    inst.remove(); // someone removed our instance (another tool's clean-up)
    await source.check();
    assert.equal(inst.present, true);
    assert.equal(inst.trigger, HIST_TRIGGER);
    assert.match(logs.join('\n'), /was lost \(instance-gone\): set up again/);
    inst.hist = histText([entry('ffffffff9f4bc53c', '__udp4_lib_rcv+0x4bc/0xd00', 2, 4)], 2); // a fresh table
    await source.check();
    assert.deepEqual(counts(metrics), [['__udp4_lib_rcv+0x4bc', 'NO_SOCKET', 14]]);
    assert.equal(metrics.restarts, 1);
    assert.equal(metrics.lost, 5);
    assert.equal(source.status().ok, true);
  });

  it('a table cleared under it counts anew, and a failed re-creation is retried, never thrown', async () => {
    const { inst, metrics, source } = setUp();
    source.start();
    inst.hist = histText([entry('ffffffff9f4bc53c', '__udp4_lib_rcv+0x4bc/0xd00', 2, 10)]);
    await source.check();
    inst.hist = histText([entry('ffffffff9f4bc53c', '__udp4_lib_rcv+0x4bc/0xd00', 2, 3)]);
    await source.check();
    assert.deepEqual(counts(metrics), [['__udp4_lib_rcv+0x4bc', 'NO_SOCKET', 13]]);
    inst.remove();
    inst.create = () => { throw new Error('EACCES'); };
    await source.check();
    assert.equal(source.status().ok, false);
    assert.match(source.status().problem ?? '', /setting it up again failed: EACCES/);
  });

  it('stop reads the last interval, then removes the trigger and the instance', async () => {
    const { inst, metrics, source } = setUp();
    source.start();
    inst.hist = histText([entry('ffffffff9f4bc53c', '__udp4_lib_rcv+0x4bc/0xd00', 2, 9)]);
    await source.stop();
    assert.equal(metrics.drops, 9);
    assert.equal(inst.present, false);
    assert.equal(inst.trigger, null);
    assert.equal(inst.removed, 1);
  });
});
