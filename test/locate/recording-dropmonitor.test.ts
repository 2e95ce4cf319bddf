// perf's net_dropmonitor.py table, on a hand-written recording in the script's real "%25s %25s %25s" layout: symbols
// with decimal offsets, raw decimal addresses (named with --kallsyms), and malformed rows among them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DropAggregator } from '../../src/build-report.ts';
import { parseSymbolMap } from '../../src/locate/kallsyms.ts';
import { type DropRecord, type RecordingItem, type SkippedRecord, detectFormat, readRecording } from '../../src/locate/recording.ts';
import { fixture } from '../helpers/fixture.ts';

const text = readFileSync(fixture('locate', 'recordings', 'net-dropmonitor.txt'), 'utf8');

async function read(lines: string[]): Promise<RecordingItem[]> {
  const items: RecordingItem[] = [];
  for await (const item of readRecording(lines, { format: 'auto' })) items.push(item);
  return items;
}

const drops = (items: RecordingItem[]): DropRecord[] => items.filter((i): i is DropRecord => i.kind === 'drop');
const skips = (items: RecordingItem[]): SkippedRecord[] => items.filter((i): i is SkippedRecord => i.kind === 'skipped');

describe('perf net_dropmonitor', () => {
  it('is detected from its header and banners (the rows alone say nothing)', () => {
    assert.equal(detectFormat(text.split('\n')), 'net-dropmonitor');
    assert.equal(detectFormat(text.split('\n').slice(3)), null);
  });

  it('reads symbols with decimal offsets and raw decimal addresses; malformed rows are counted', async () => {
    const items = await read(text.split('\n'));
    assert.deepEqual(drops(items).map((d) => [d.lineNo, d.symbol, d.function, d.offset, d.size, d.address, d.count]), [
      [4, '__udp4_lib_rcv', '__udp4_lib_rcv', 0x4bc, null, null, 40],
      [5, 'ip_rcv_finish_core.isra.0', 'ip_rcv_finish_core', 0x1de, null, null, 3],
      [6, 'netlink_unicast', 'netlink_unicast', 500, null, null, 2],
      // No kallsyms entry below the address: the script prints the address in decimal, offset 0.
      [7, '', '', null, null, 0xffffffff817a1fa1n, 6],
      [8, 'tcp_v4_rcv', 'tcp_v4_rcv', 145, null, null, 1],
      // kallsyms read without root (every address 0): the offset is the address itself.
      [11, '', '', null, null, 0xffffffff817a3a6cn, 5],
    ]);
    assert.ok(drops(items).every((d) => d.event === 'kfree_skb' && d.reason === null && d.timestamp === null && d.module === null));
    assert.deepEqual(skips(items).map((s) => [s.lineNo, s.why.replace(/ \(expected .*\)$/, '')]), [
      [9, 'offset "0x91" is not a decimal number'],
      [10, 'not three columns'],
      [12, 'offset 99999999 is implausible for a function (the script\'s kallsyms lookup went wrong)'],
      [13, 'count "many" is not a decimal number'],
    ]);
  });

  it('names the raw addresses with --kallsyms', async () => {
    const agg = new DropAggregator(parseSymbolMap(readFileSync(fixture('locate', 'kallsyms-sample.txt'), 'latin1')));
    for (const item of await read(text.split('\n'))) agg.add(item);
    const view = agg.view(null, { title: 't', source: 's', format: 'net-dropmonitor', top: 10, allCandidates: false, context: 0 });
    // A named address joins the row of the same symbol+offset the script named itself.
    assert.deepEqual(view.rows.map((r) => [r.location, r.count]), [
      ['__udp4_lib_rcv+0x4bc', 45],
      ['tcp_v4_rcv+0x91', 7],
      ['ip_rcv_finish_core.isra.0+0x1de', 3],
      ['netlink_unicast+0x1f4', 2],
    ]);
    assert.equal(view.timeline, null);
    assert.equal(view.totals.skippedLines, 4);
  });

  it('reads an empty table (no drops) as no records and no skipped lines', async () => {
    const items = await read(['Starting trace (Ctrl-C to dump results)', 'Gathering kallsyms data', `${'LOCATION'.padStart(25)} ${'OFFSET'.padStart(25)} ${'COUNT'.padStart(25)}`]);
    assert.deepEqual(items, []);
  });
});
