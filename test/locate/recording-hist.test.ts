// The tracefs hist reader on hand-written hist files (this machine's kernel has no CONFIG_HIST_TRIGGERS, so
// no live hist), and `dropsite report` naming the numbered reasons from the indexed tree's enum.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nameReasonValue } from '../../src/locate/recording-hist.ts';
import { type DropRecord, type RecordingItem, detectFormat, readRecording } from '../../src/locate/recording.ts';
import { fixture, runCli } from '../helpers/fixture.ts';

const read = async (path: string): Promise<RecordingItem[]> => {
  const out: RecordingItem[] = [];
  for await (const item of readRecording(readFileSync(path, 'utf8').split('\n'), { format: 'auto' })) out.push(item);
  return out;
};
const drops = (items: RecordingItem[]): DropRecord[] => items.filter((i): i is DropRecord => i.kind === 'drop');

describe('tracefs hist files', () => {
  it('keys=location.sym-offset,reason: one record per entry, the hitcount as its count, the reason as its number', async () => {
    const path = fixture('locate', 'recordings', 'hist-6.1-location-reason.txt');
    assert.equal(detectFormat(readFileSync(path, 'utf8').split('\n')), 'tracefs-hist');
    const items = await read(path);
    assert.deepEqual(items.filter((i) => i.kind === 'skipped'), []);
    assert.deepEqual(drops(items).map((d) => [d.lineNo, d.symbol, d.offset, d.size, d.module, d.address, d.reason, d.count]), [
      [6, 'tun_queue_purge', 0x8d, 0x110, 'tun', 0xffffffffc05bcaedn, '1', 600],
      [7, 'udp_queue_rcv_one_skb', 0x40b, 0x580, null, 0xffffffff9f4ba8dbn, '15', 298],
      [8, '__udp4_lib_rcv', 0x4bc, 0xd00, null, 0xffffffff9f4bc53cn, '2', 41],
      [9, 'ip_rcv_finish_core', 0x1f2, 0x4a0, null, 0xffffffff9f3f0a12n, '10', 3],
    ]);
  });

  it('keys=stacktrace,reason: the first frame after the drop functions, and a full table is reported', async () => {
    const items = await read(fixture('locate', 'recordings', 'hist-6.1-stacktrace.txt'));
    assert.deepEqual(drops(items).map((d) => [d.lineNo, d.symbol, d.offset, d.module, d.reason, d.count, d.event]), [
      [6, '__udp4_lib_rcv', 0x4bc, null, '2', 41, 'kfree_skb'],
      [18, 'tun_queue_purge', 0x8d, 'tun', '1', 600, 'kfree_skb'],
    ]);
    const skipped = items.filter((i) => i.kind === 'skipped');
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]?.kind === 'skipped' ? skipped[0].why : '', /hist table was full: the kernel did not count 12 events/);
  });

  it('a stacktrace key on consume_skb, .sym and .hex locations, a truncated entry', async () => {
    const text = [
      '{ stacktrace:',
      '         consume_skb+0x3c/0xa0',
      '         netlink_recvmsg+0x1f4/0x410',
      '} hitcount:          7',
      '{ location: [ffffffff9f4bc53c] __udp4_lib_rcv                                , reason:          2 } hitcount:          5',
      '{ location: ffffffff9f4bc53c, reason:          2 } hitcount:          4',
      '{ reason:          2 } hitcount:          9',
      '{ stacktrace:',
      '         kfree_skb_reason+0x8e/0x120',
    ];
    const items: RecordingItem[] = [];
    for await (const item of readRecording(text, { format: 'tracefs-hist' })) items.push(item);
    assert.deepEqual(drops(items).map((d) => [d.symbol, d.offset, d.address, d.reason, d.count, d.event]), [
      ['netlink_recvmsg', 0x1f4, null, null, 7, 'consume_skb'],
      ['__udp4_lib_rcv', null, 0xffffffff9f4bc53cn, '2', 5, 'kfree_skb'],
      ['', null, 0xffffffff9f4bc53cn, '2', 4, 'kfree_skb'],
    ]);
    assert.deepEqual(items.filter((i) => i.kind === 'skipped').map((i) => [i.lineNo, i.kind === 'skipped' ? i.why : '']), [
      [7, 'hist entry has no location key (keys=location.sym-offset or keys=stacktrace)'],
      [8, 'stacktrace entry ends without "} hitcount: N" (truncated?)'],
    ]);
  });

  it('numbers are named from the enum given; unknown numbers and names stay as they are', () => {
    const enumValues = new Map([[1, 'NOT_SPECIFIED'], [2, 'NO_SOCKET'], [0x10002, 'OPENVSWITCH_FULL']]);
    assert.equal(nameReasonValue('2', enumValues), 'NO_SOCKET');
    assert.equal(nameReasonValue('0x10002', enumValues), 'OPENVSWITCH_FULL');
    assert.equal(nameReasonValue('99', enumValues), '99');
    assert.equal(nameReasonValue('NO_SOCKET', enumValues), 'NO_SOCKET');
    assert.equal(nameReasonValue(null, enumValues), null);
  });
});

describe('dropsite report on a hist file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropsite-hist-'));
  const db = join(dir, 'index.sqlite');
  before(async () => {
    const r = await runCli(['index', fixture('sample'), '--db', db, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names reason 3 NO_SOCKET from the sample tree\'s enum and points at the closed-port drop in net/ipv4/udp.c', async () => {
    const r = await runCli(['report', fixture('report', 'hist-sample', 'hist.txt'), '--db', db, '--as', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout) as { format: string; totals: { drops: number }; rows: Array<{ function: string; reason: string; count: number; candidates: Array<{ file: string; line: number }> }> };
    assert.equal(view.totals.drops, 43);
    const rows = view.rows.map((x) => [x.function, x.reason, x.count, x.candidates[0]?.file]);
    assert.deepEqual(rows, [['__udp4_lib_rcv', 'NO_SOCKET', 41, 'net/ipv4/udp.c'], ['__udp4_lib_rcv', 'UDP_CSUM', 2, 'net/ipv4/udp.c']]);
    // The kfree_skb_reason(skb, drop_reason) after `drop_reason = SKB_DROP_REASON_NO_SOCKET;`.
    assert.equal(view.rows[0]?.candidates[0]?.line, 126);
  });
});
