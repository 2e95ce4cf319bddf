// SystemTap's dropwatch.stp, in each variant of the script (symname, symdata, %p), on hand-written recordings in the
// script's real format with malformed lines among them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DropAggregator } from '../../src/build-report.ts';
import { parseSymbolMap } from '../../src/locate/kallsyms.ts';
import { type DropRecord, type RecordingItem, type SkippedRecord, detectFormat, readRecording } from '../../src/locate/recording.ts';
import { fixture } from '../helpers/fixture.ts';

const text = (name: string): string => readFileSync(fixture('locate', 'recordings', name), 'utf8');

async function read(name: string, format: 'auto' | 'systemtap' = 'auto'): Promise<RecordingItem[]> {
  const items: RecordingItem[] = [];
  for await (const item of readRecording(text(name).split('\n'), { format })) items.push(item);
  return items;
}

const drops = (items: RecordingItem[]): DropRecord[] => items.filter((i): i is DropRecord => i.kind === 'drop');
const skips = (items: RecordingItem[]): SkippedRecord[] => items.filter((i): i is SkippedRecord => i.kind === 'skipped');
/** `Tue Dec  1 09:30:05 2026` as the script prints it (ctime(), GMT). */
const gmt = (iso: string): number => Date.parse(`${iso}Z`) / 1000;

describe('SystemTap dropwatch.stp', () => {
  it('is detected from its lines, whatever the variant', () => {
    for (const name of ['systemtap-symname.txt', 'systemtap-symdata.txt', 'systemtap-pointer.txt']) {
      assert.equal(detectFormat(text(name).split('\n')), 'systemtap', name);
    }
  });

  it('reads symname(): a function name and no offset, the interval clock as the timestamp', async () => {
    const items = await read('systemtap-symname.txt');
    const got = drops(items).map((d) => [d.lineNo, d.symbol, d.offset, d.address, d.count, d.timestamp, d.timestampUnit ?? 'seconds']);
    assert.deepEqual(got, [
      [4, 'unix_stream_recvmsg', null, null, 15, gmt('2026-12-01T09:30:05'), 'seconds'],
      [5, 'netlink_unicast', null, null, 3, gmt('2026-12-01T09:30:05'), 'seconds'],
      [6, '__udp4_lib_rcv', null, null, 2, gmt('2026-12-01T09:30:05'), 'seconds'],
      [10, '__udp4_lib_rcv', null, null, 9, gmt('2026-12-01T09:30:10'), 'seconds'],
      [11, 'unix_stream_recvmsg', null, null, 4, gmt('2026-12-01T09:30:10'), 'seconds'],
      // symname() of an address it cannot name is the address in hex.
      [12, '', null, 0xffffffffc0a41234n, 1, gmt('2026-12-01T09:30:10'), 'seconds'],
      [18, '__udp4_lib_rcv', null, null, 6, gmt('2026-12-01T09:30:15'), 'seconds'],
    ]);
    assert.ok(drops(items).every((d) => d.event === 'kfree_skb' && d.reason === null && d.size === null && d.module === null));
    assert.deepEqual(skips(items).map((s) => [s.lineNo, s.why]), [
      [9, 'a message from stap, not a drop line'],
      [13, 'not a dropwatch.stp line ("N packets dropped at …", a ctime line or a banner)'],
      [14, 'nothing follows "packets dropped at"'],
      [15, '"tcp v4 rcv" is not SYMBOL+OFFSET[/SIZE] or an address'],
      [19, 'not a dropwatch.stp line ("N packets dropped at …", a ctime line or a banner)'],
    ]);
  });

  it('reads symdata(): offset, size and module, with [kernel] as no module and (inexact) dropped', async () => {
    const items = await read('systemtap-symdata.txt');
    const got = drops(items).map((d) => [d.lineNo, d.symbol, d.function, d.offset, d.size, d.module, d.address, d.count]);
    assert.deepEqual(got, [
      [4, '__udp4_lib_rcv', '__udp4_lib_rcv', 0x4bc, 0xd00, null, null, 12],
      [5, 'ip_rcv_finish_core.isra.0', 'ip_rcv_finish_core', 0x1de, 0x440, null, null, 3],
      [6, 'tun_net_xmit', 'tun_net_xmit', 0x2b1, 0x5f0, 'tun', null, 2],
      // A symbol symdata() could not name inside a known module: the address (for --kallsyms) and the module.
      [7, '', '', null, null, 'nf_tables', 0xffffffffc0a41234n, 1],
      [10, '__udp4_lib_rcv', '__udp4_lib_rcv', 0x4bc, 0xd00, null, null, 4],
      [11, 'tcp_v4_rcv', 'tcp_v4_rcv', 0x9c7, 0x1010, null, null, 1],
    ]);
    assert.deepEqual(skips(items).map((s) => s.lineNo), [12, 13]);
    assert.match(skips(items)[0]?.why ?? '', /offset 0xe00 is beyond the function size 0xd00/);
  });

  it('reads %p addresses and counts blank-line intervals when the script prints no clock', async () => {
    const items = await read('systemtap-pointer.txt');
    const got = drops(items).map((d) => [d.lineNo, d.address, d.count, d.timestamp, d.timestampUnit]);
    assert.deepEqual(got, [
      [3, 0xffffffff817a3a6cn, 5, 1, 'interval'],
      [4, 0xffffffff817a1fa1n, 1, 1, 'interval'],
      [6, 0xffffffff817a3a6cn, 3, 2, 'interval'],
      // Interval 3 was empty: two blank lines in a row.
      [9, 0xffffffff817a3a6cn, 2, 4, 'interval'],
      [10, 0xffffffffdeadbeefn, 1, 4, 'interval'],
      [11, 0xffffffff817a3a6cn, 4, 4, 'interval'],
    ]);
    assert.deepEqual(skips(items).map((s) => s.lineNo), [12]);
  });

  it('names %p addresses with --kallsyms, and sums them per location and interval', async () => {
    const agg = new DropAggregator(parseSymbolMap(readFileSync(fixture('locate', 'kallsyms-sample.txt'), 'latin1')));
    for (const item of await read('systemtap-pointer.txt')) agg.add(item);
    const view = agg.view(null, { title: 't', source: 's', format: 'systemtap', top: 10, allCandidates: false, context: 0 });
    assert.deepEqual(view.rows.map((r) => [r.location, r.count, r.firstSeen, r.lastSeen]), [
      ['__udp4_lib_rcv+0x4bc', 14, 1, 4],
      ['0xffffffffdeadbeef', 1, 4, 4],
      ['tcp_v4_rcv+0x91', 1, 1, 1],
    ]);
    assert.equal(view.timelineUnit, 'interval');
    assert.deepEqual(view.timeline, [{ start: 1, count: 6 }, { start: 2, count: 3 }, { start: 4, count: 7 }]);
    assert.equal(view.totals.skippedLines, 1);
  });

  it('keeps reading after every kind of bad line, and never throws on mutations', async () => {
    const lines = text('systemtap-symname.txt').split('\n');
    for (let seed = 1; seed <= 200; seed++) {
      const mutated = lines.map((l, i) => ((i * 7 + seed) % 5 === 0 ? l.slice(0, (seed * 13) % (l.length + 1)) + '\u0000x'.slice(seed % 2) : l));
      const items: RecordingItem[] = [];
      for await (const item of readRecording(mutated, { format: 'systemtap' })) items.push(item);
      const consumed = new Set(items.map((i) => i.lineNo));
      assert.ok(items.every((i) => i.kind === 'skipped' || (Number.isInteger(i.count) && i.count >= 0)));
      assert.ok(consumed.size <= lines.length);
    }
  });
});
