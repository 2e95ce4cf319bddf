import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import {
  type DropRecord,
  type RecordingFormat,
  type RecordingItem,
  type SkippedRecord,
  detectFormat,
  readRecording,
} from '../../src/locate/recording.ts';
import { ROOT, fixture } from '../helpers/fixture.ts';

const run = promisify(execFile);

const recording = (name: string): string => fixture('locate', 'recordings', name);

/** Read a fixture the way `dropsite report` does: readline over a file stream. */
async function readFixture(name: string, format: RecordingFormat | 'auto' = 'auto'): Promise<RecordingItem[]> {
  const lines = createInterface({ input: createReadStream(recording(name)), crlfDelay: Number.POSITIVE_INFINITY });
  return collect(readRecording(lines, { format }));
}

async function collect(items: AsyncIterable<RecordingItem>): Promise<RecordingItem[]> {
  const all: RecordingItem[] = [];
  for await (const item of items) all.push(item);
  return all;
}

const drops = (items: RecordingItem[]): DropRecord[] => items.filter((item): item is DropRecord => item.kind === 'drop');
const skips = (items: RecordingItem[]): SkippedRecord[] => items.filter((item): item is SkippedRecord => item.kind === 'skipped');

/** A whole expected record: symbol and lineNo given, `function` defaults to the symbol, the rest to "unknown". */
function drop(lineNo: number, symbol: string, fields: Partial<DropRecord> = {}): DropRecord {
  return {
    kind: 'drop',
    lineNo,
    symbol,
    function: symbol,
    isCold: false,
    offset: null,
    size: null,
    module: null,
    address: null,
    reason: null,
    event: 'kfree_skb',
    count: 1,
    timestamp: null,
    ...fields,
  };
}

function assertSkipped(items: RecordingItem[], expected: Array<[lineNo: number, why: RegExp]>): void {
  const skipped = skips(items);
  assert.deepEqual(skipped.map((item) => item.lineNo), expected.map(([lineNo]) => lineNo));
  for (const [i, [, why]] of expected.entries()) assert.match(skipped[i]?.why ?? '', why);
  for (const item of skipped) assert.ok(item.line.length <= 200);
}

describe('detectFormat', () => {
  const cases: Array<[string, RecordingFormat]> = [
    ['dropwatch-1.5.4-summary.txt', 'dropwatch'],
    ['dropwatch-packet.txt', 'dropwatch'],
    ['tracefs-5.17-hashed.txt', 'tracefs'],
    ['tracefs-6.2.txt', 'tracefs'],
    ['tracefs-6.11-rx-sk.txt', 'tracefs'],
    ['tracefs-consume.txt', 'tracefs'],
    ['perf-6.2.txt', 'perf'],
    ['perf-5.x-raw-g.txt', 'perf'],
    ['bpftrace-map.txt', 'bpftrace'],
    ['bcc-tcpdrop.txt', 'bpftrace'],
    ['retis.json', 'retis-json'],
  ];
  for (const [name, format] of cases) {
    it(`detects ${name} as ${format}`, () => {
      const lines = readFileSync(recording(name), 'utf8').split('\n').slice(0, 50);
      assert.equal(detectFormat(lines), format);
    });
  }

  it('returns null when no line is recognised', () => {
    assert.equal(detectFormat([]), null);
    assert.equal(detectFormat(['', 'hello world', 'tcp_v4_rcv+0x10']), null);
  });

  it('goes with the majority, and with the first seen on a tie', () => {
    const tracefs = '  <idle>-0  [000] ..s1.  1.000001: kfree_skb: skbaddr=0000000012345678 protocol=2048 location=tcp_v4_rcv+0x9c7/0x1010 reason: NO_SOCKET';
    const dropwatch = '1 drops at tcp_v4_rcv+9c7 (0xffffffff81b8a5e7) [software]';
    assert.equal(detectFormat([dropwatch, tracefs, tracefs]), 'tracefs');
    assert.equal(detectFormat([dropwatch, tracefs]), 'dropwatch');
  });
});

describe('dropwatch', () => {
  it('reads summary mode of 1.5.4: banners ignored, broken module lookups kept as addresses, hardware skipped', async () => {
    const items = await readFixture('dropwatch-1.5.4-summary.txt');
    assert.deepEqual(drops(items), [
      drop(6, '__udp4_lib_rcv', { offset: 0x4bc, address: 0xffffffff88c81ffcn, count: 3 }),
      drop(7, 'ip_rcv_finish_core.isra.0', { function: 'ip_rcv_finish_core', offset: 0x1de, address: 0xffffffff88c221een }),
      drop(8, 'net_tx_action', { offset: 0, address: 0xffffffff88b41d70n, count: 2 }),
      // `__init_scratch_end+36ed1aed`: the kallsyms lookup of dropwatch ≤ 1.5.4 went wrong; only the address is true.
      drop(9, '', { address: 0xffffffffc0cd1aedn }),
      drop(10, '', { address: 0xffffffff81572ec8n, count: 4 }),
      // Before 1.5.2: no [software] suffix; the first releases printed no address either.
      drop(12, 'tcp_v4_do_rcv', { offset: 0x8e, address: 0xffffffff8178619en, count: 33 }),
      drop(13, 'skb_queue_purge', { offset: 0x18 }),
      drop(14, 'br_stp_rcv', { offset: 0x61, address: 0xffffffffc2e70651n, count: 2 }),
    ]);
    assertSkipped(items, [
      [11, /^hardware drop: no kernel code location$/],
      [15, /not a dropwatch line/],
    ]);
    assert.deepEqual(await readFixture('dropwatch-1.5.4-summary.txt', 'dropwatch'), items);
  });

  it('reads packet-mode blocks with reason, module and timestamp', async () => {
    const items = await readFixture('dropwatch-packet.txt');
    assert.deepEqual(drops(items), [
      drop(9, 'ip_rcv_finish_core.isra.0', {
        function: 'ip_rcv_finish_core',
        offset: 0x1de,
        size: 0x440,
        address: 0xffffffff96b6294en,
        reason: 'IP_INADDRERRORS',
        timestamp: Date.UTC(2022, 11, 22, 13, 14, 21) / 1000 + 0.00516584,
      }),
      drop(18, 'nft_do_chain', {
        offset: 0x93c,
        size: 0xa70,
        module: 'nf_tables',
        address: 0xffffffffc0a1b93cn,
        reason: 'NETFILTER_DROP',
        timestamp: Date.UTC(2022, 11, 1, 9, 5, 7) / 1000 + 1e-9,
      }),
      // The last block has no terminating blank line and no reason (kernels before 5.18).
      drop(37, 'tcp_v4_rcv', {
        offset: 0x9c7,
        size: 0x1010,
        address: 0xffffffff96b9a5e7n,
        timestamp: Date.UTC(2022, 11, 22, 13, 14, 23) / 1000 + 0.5,
      }),
    ]);
    assertSkipped(items, [[28, /^hardware drop: no kernel code location$/]]);
  });

  it('ignores prompts with commands, ^C echoes and help text', async () => {
    const items = await collect(readRecording([
      'dropwatch> help',
      'Command Syntax:',
      'exit\t\t\t\t - Quit dropwatch',
      '\talertlimit <number>\t - capture only this many alert packets',
      'dropwatch> set alertlimit 2',
      'dropwatch> ',
      '^C',
      '^CGot a stop message',
      'dropwatch> 2 drops at tcp_v4_rcv+9c7 (0xffffffff81b8a5e7) [software]',
    ], { format: 'dropwatch' }));
    assert.deepEqual(items, [drop(9, 'tcp_v4_rcv', { offset: 0x9c7, address: 0xffffffff81b8a5e7n, count: 2 })]);
  });
});

describe('tracefs', () => {
  it('skips hashed pre-6.2 locations, unless a <stack trace> follows the event', async () => {
    const items = await readFixture('tracefs-5.17-hashed.txt');
    assert.deepEqual(drops(items), [
      drop(15, 'ip_error', { timestamp: 68117391.627057 }),
      drop(21, 'tcp_validate_incoming', { reason: 'TCP_INVALID_SEQUENCE', timestamp: 650.000001 }),
    ]);
    assertSkipped(items, [
      [13, /^location 0000000074cd1243 is a hashed %p pointer.*before 6\.2.*cannot be resolved/],
      [14, /hashed %p pointer/],
    ]);
  });

  it('reads 6.2 %pS locations with size, module, reason and timestamp', async () => {
    const items = await readFixture('tracefs-6.2.txt');
    assert.deepEqual(drops(items), [
      drop(5, 'ip_rcv_finish_core.isra.0', {
        function: 'ip_rcv_finish_core', offset: 0x1de, size: 0x440, reason: 'IP_INADDRERRORS', timestamp: 1021.11847,
      }),
      drop(6, 'nft_do_chain', {
        offset: 0x93c, size: 0xa70, module: 'nf_tables', reason: 'NETFILTER_DROP', timestamp: 1021.500012,
      }),
      drop(7, 'tcp_v4_rcv', { offset: 0x9c7, size: 0x1010, reason: 'NO_SOCKET', timestamp: 1022.0001 }),
      // A subsystem reason is not in the core table, so tracefs prints it in hex.
      drop(8, '__udp4_lib_rcv', { offset: 0x4bc, size: 0xd00, reason: '0x30002', timestamp: 1023.25 }),
    ]);
    assertSkipped(items, [
      [9, /^event sched_switch is not skb:kfree_skb/],
      [10, /^the ring buffer of CPU 2 lost 17 events$/],
    ]);
  });

  it('reads 6.11 lines with rx_sk=', async () => {
    const items = await readFixture('tracefs-6.11-rx-sk.txt', 'tracefs');
    assert.deepEqual(items, [
      drop(1, 'ip_rcv_finish_core', { offset: 0x233, size: 0x360, reason: 'IP_LOCAL_SOURCE', timestamp: 164463.161391 }),
      drop(2, '__dev_queue_xmit', { offset: 0x10f0, size: 0x1450, reason: 'CAKE_OVERLIMIT', timestamp: 848.656964 }),
      drop(3, 'tcp_v4_do_rcv.cold', {
        function: 'tcp_v4_do_rcv', isCold: true, offset: 0x12, size: 0x80, reason: 'TCP_CSUM', timestamp: 849.000001,
      }),
    ]);
  });

  it('reads consume_skb with a location (6.3+) and skips it without one', async () => {
    const items = await readFixture('tracefs-consume.txt');
    assert.deepEqual(drops(items), [
      drop(1, 'skb_free_datagram', { offset: 0x1d, size: 0x40, event: 'consume_skb', timestamp: 1022.0002 }),
      drop(3, 'tcp_v4_rcv', { offset: 0x9c7, size: 0x1010, reason: 'NO_SOCKET', timestamp: 1022.0004 }),
    ]);
    assertSkipped(items, [[2, /^consume_skb event without location=/]]);
  });

  it('places a hashed event from a stack printed with sym-offset and sym-addr', async () => {
    const items = await collect(readRecording([
      '  <idle>-0  [001] ..s1.  9.000001: kfree_skb: skbaddr=0000000012345678 protocol=2048 location=0000000074cd1243 reason: NETFILTER_DROP',
      '  <idle>-0  [001] ..s1.  9.000002: <stack trace>',
      ' => kfree_skb_reason+0x9f/0x120 <ffffffff81a4b2c1>',
      ' => nft_do_chain+0x93c/0xa70 [nf_tables] <ffffffffc0a1b93c>',
      ' => nf_hook_slow+0x44/0xc0 <ffffffff81b5f2a3>',
      '  <idle>-0  [001] ..s1.  9.000003: kfree_skb: skbaddr=0000000012345678 protocol=2048 location=0000000074cd1243 reason: NO_SOCKET',
      '  <idle>-0  [001] ..s1.  9.000004: <stack trace>',
      ' => kfree_skb_reason',
    ], { format: 'tracefs' }));
    assert.deepEqual(drops(items), [drop(1, 'nft_do_chain', {
      offset: 0x93c, size: 0xa70, module: 'nf_tables', address: 0xffffffffc0a1b93cn, reason: 'NETFILTER_DROP', timestamp: 9.000001,
    })]);
    assertSkipped(items, [[6, /hashed %p pointer/]]);
  });

  it('reads trace-cmd report lines (libtraceevent: no /size, raw addresses)', async () => {
    const items = await collect(readRecording([
      'cpus=4',
      '          <idle>-0     [001]  5012.345678: kfree_skb:            skbaddr=0xffff8881 protocol=2048 location=tcp_v4_rcv+0x9c7 reason: NO_SOCKET',
      '          <idle>-0     [001]  5012.345679: kfree_skb:            skbaddr=0xffff8881 protocol=2048 location=0xffffffff81b8a5e7 reason: NO_SOCKET',
    ], { format: 'tracefs' }));
    assert.deepEqual(items, [
      drop(2, 'tcp_v4_rcv', { offset: 0x9c7, reason: 'NO_SOCKET', timestamp: 5012.345678 }),
      drop(3, '', { address: 0xffffffff81b8a5e7n, reason: 'NO_SOCKET', timestamp: 5012.345679 }),
    ]);
  });
});

describe('perf script', () => {
  it('reads 6.2+ lines (func+0xoff, no size) and ignores -g callchains after them', async () => {
    const items = await readFixture('perf-6.2.txt');
    assert.deepEqual(items, [
      drop(1, 'dev_kfree_skb_any_reason', { offset: 0x2e, reason: 'NOT_SPECIFIED', timestamp: 12814.337522 }),
      drop(2, 'kfree_skb_list_reason', { offset: 0x1e, reason: 'QDISC_DROP', timestamp: 81.002597 }),
      drop(3, '__dev_queue_xmit', { offset: 0x10f0, reason: 'CAKE_OVERLIMIT', timestamp: 848.656964 }),
      drop(4, 'raw_rcv', { offset: 0x20e, reason: 'SOCKET_RCVBUF', timestamp: 506428.431856 }),
      drop(5, 'can_rcv', { offset: 0x4b, reason: 'CAN_RX_INVALID_FRAME', timestamp: 3893.271264 }),
      drop(6, 'tcp_v4_rcv', { offset: 0x9c7, reason: 'NO_SOCKET', timestamp: 3893.3 }),
      drop(11, 'skb_free_datagram', { offset: 0x1d, event: 'consume_skb', timestamp: 3893.4 }),
    ]);
  });

  it('names raw ≤5.16 addresses from the -g callchain', async () => {
    const items = await readFixture('perf-5.x-raw-g.txt', 'perf');
    assert.deepEqual(items, [
      // The frame at the location's address names it.
      drop(6, 'skb_release_data', { offset: 0xb1, address: 0xffffffff816ea931n, timestamp: 330543.363561 }),
      // That frame is [unknown]: the address stays, for kallsyms.
      drop(11, '', { address: 0xffffffffc004b52cn, timestamp: 1004.578402 }),
      // No frame at the address: the first frame after the drop functions, with its own address.
      drop(16, 'nf_hook_slow', { offset: 0x44, address: 0xffffffffc0a1b800n, timestamp: 1005.000001 }),
      drop(21, 'nft_do_chain', { offset: 0x93d, module: 'nf_tables', address: 0xffffffffc0a1b93dn, timestamp: 1005.000002 }),
      // No callchain at all.
      drop(24, '', { address: 0xffffffff81572ec8n, timestamp: 1005.000003 }),
    ]);
  });
});

describe('bpftrace and BCC', () => {
  it('reads kstack maps: first frame after the drop functions, decimal offsets, map counts', async () => {
    const items = await readFixture('bpftrace-map.txt');
    assert.deepEqual(drops(items), [
      drop(4, 'tcp_v4_rcv', { offset: 2503, count: 17 }),
      drop(10, '__udp4_lib_rcv', { offset: 1212, count: 3 }),
      // Tracing frames above the drop function are passed over too; the reason comes from the rest of the key.
      drop(15, 'ip_rcv_finish_core.isra.0', { function: 'ip_rcv_finish_core', offset: 478, reason: 'NO_SOCKET', count: 2 }),
      drop(22, '', { address: 0xffffffffc0a1b93cn, count: 5 }),
      drop(30, '__udp4_lib_rcv', { offset: 1212, reason: 'NO_SOCKET', count: 9 }),
      drop(31, 'tcp_v4_rcv', { count: 4 }),
    ]);
    assertSkipped(items, [
      [27, /every frame of the stack is a drop function/],
      [32, /^map value without a stack key$/],
      [33, /ends without "\]: COUNT" \(truncated\?\)/],
    ]);
  });

  it('reads BCC tcpdrop events: hex offsets, b\'…\' frames, REASON (CODE) column', async () => {
    const items = await readFixture('bcc-tcpdrop.txt');
    assert.deepEqual(drops(items), [
      drop(2, 'tcp_drop', { offset: 0x1, timestamp: 20 * 3600 + 49 * 60 + 6 }),
      drop(8, 'tcp_rcv_state_process', { offset: 0x1e4, timestamp: 20 * 3600 + 49 * 60 + 7 }),
      drop(14, 'nft_do_chain', { offset: 0x93c, reason: 'NETFILTER_DROP', timestamp: 14 * 3600 + 46 * 60 + 49 }),
    ]);
    assertSkipped(items, [[19, /every frame of the stack is a drop function/]]);
  });

  it('reads printed kstacks without a map, and kstack(perf) frames', async () => {
    const items = await collect(readRecording([
      'Attaching 1 probe...',
      '',
      '        kfree_skb_reason+1',
      '        tcp_v4_do_rcv+315',
      '',
      '\tffffffff81a4b2c1 kfree_skb_reason+1',
      '\tffffffff81b8a5e7 tcp_v4_rcv+2503',
      '        [inlined] tcp_drop_reason@net/ipv4/tcp_input.c:4800',
      '',
    ], { format: 'bpftrace' }));
    assert.deepEqual(items, [
      drop(3, 'tcp_v4_do_rcv', { offset: 315 }),
      drop(6, 'tcp_v4_rcv', { offset: 2503, address: 0xffffffff81b8a5e7n }),
    ]);
  });
});

describe('retis JSON', () => {
  it('reads skb-drop events: first stack frame after the drop functions, reason, ns timestamp', async () => {
    const items = await readFixture('retis.json');
    assert.deepEqual(drops(items), [
      drop(2, 'nft_do_chain', { offset: 0x93c, reason: 'NETFILTER_DROP', timestamp: 136.852333279 }),
      drop(3, 'ovs_dp_process_packet', { offset: 0x25c, reason: 'openvswitch/LAST_ACTION', timestamp: 136.8524 }),
      // A `retis sort` series: the drop event of the array.
      drop(6, 'tcp_v4_rcv', { offset: 0x9c7, reason: 'NO_SOCKET', timestamp: 136.8527005 }),
    ]);
    assertSkipped(items, [
      [4, /no kernel stack_trace/],
      [5, /without a skb-drop section/],
      [7, /^not valid JSON/],
    ]);
  });

  it('skips JSON that is not a retis event', async () => {
    const items = await collect(readRecording(['42', '"text"', 'null', '[1, 2]', '{"skb-drop": 3}'], { format: 'retis-json' }));
    assert.equal(skips(items).length, 5);
    assert.equal(drops(items).length, 0);
  });
});

describe('malformed input', () => {
  it('skips binary garbage, NUL bytes and escape sequences line by line', async () => {
    const items = await readFixture('garbage-bytes.txt');
    assert.deepEqual(drops(items).map((item) => [item.lineNo, item.symbol]), [[1, 'ip_rcv_finish_core.isra.0'], [6, 'tcp_v4_rcv']]);
    assertSkipped(items, [
      [2, /^binary data \(control character U\+007F/],
      [3, /^binary data \(invalid UTF-8/],
      [4, /^binary data \(control character U\+0000 at column 4\)$/],
      [5, /^binary data \(control character U\+001B/],
    ]);
  });

  it('skips a half-written last line', async () => {
    const items = await readFixture('truncated-last-line.txt');
    assert.equal(drops(items).length, 1);
    assertSkipped(items, [[2, /beyond the function size.*truncated/]]);
  });

  it('skips a 1 MB line with a short excerpt, in every format and while detecting', async () => {
    const huge = `1 drops at tcp_v4_rcv+9c7 ${'x'.repeat(1024 * 1024)}`;
    const good = '1 drops at tcp_v4_rcv+9c7 (0xffffffff81b8a5e7) [software]';
    for (const format of ['auto', 'dropwatch', 'tracefs', 'perf', 'bpftrace', 'retis-json'] as const) {
      const items = await collect(readRecording([good, huge, good], { format }));
      const skipped = skips(items).find((item) => item.lineNo === 2);
      assert.match(skipped?.why ?? '', /^line too long \(1048602 characters/, format);
      assert.equal(skipped?.line, huge.slice(0, 200));
      if (format === 'auto' || format === 'dropwatch') assert.deepEqual(drops(items).map((item) => item.lineNo), [1, 3]);
    }
  });

  it('strips CR from CRLF files', async () => {
    const items = await collect(readRecording(['Initializing kallsyms db\r', '3 drops at tcp_v4_rcv+9c7 (0xffffffff81b8a5e7) [software]\r'], { format: 'auto' }));
    assert.deepEqual(items, [drop(2, 'tcp_v4_rcv', { offset: 0x9c7, address: 0xffffffff81b8a5e7n, count: 3 })]);
  });

  it('never throws on random mutations of every fixture, in every format', async () => {
    const names = [
      'dropwatch-1.5.4-summary.txt', 'dropwatch-packet.txt', 'tracefs-5.17-hashed.txt', 'tracefs-6.2.txt', 'perf-5.x-raw-g.txt',
      'perf-6.2.txt', 'bpftrace-map.txt', 'bcc-tcpdrop.txt', 'retis.json',
    ];
    const source = names.flatMap((name) => readFileSync(recording(name), 'utf8').split('\n'));
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = ' \t+/x0123456789abcdef[]()@:=,.-_\'"{}\u0000\ufffd\u00e9\ud83d';
    const mutated: string[] = [];
    for (let round = 0; round < 4000; round++) {
      const line = source[random(source.length)] ?? '';
      const chars = [...line];
      for (let edits = random(4); edits >= 0; edits--) {
        const at = random(chars.length + 1);
        const op = random(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[random(alphabet.length)] ?? '');
        else chars.length = Math.min(chars.length, at);
      }
      mutated.push(chars.join(''));
    }
    for (const format of ['auto', 'dropwatch', 'tracefs', 'perf', 'bpftrace', 'retis-json'] as const) {
      const items = await collect(readRecording(mutated, { format }));
      for (const item of items) {
        assert.ok(item.lineNo >= 1 && item.lineNo <= mutated.length);
        if (item.kind === 'skipped') assert.ok(item.line.length <= 200 && item.why !== '');
        else assert.ok(item.symbol !== '' || item.address !== null, `record without location at ${item.lineNo}`);
      }
    }
  });
});

describe('auto detection', () => {
  it('sniffs line by line when the first lines name no format', async () => {
    const lines = [
      ...Array.from({ length: 60 }, (_, i) => `unrelated log line ${i}`),
      '2 drops at tcp_v4_rcv+9c7 (0xffffffff81b8a5e7) [software]',
      '  <idle>-0  [000] ..s1.  7.5: kfree_skb: skbaddr=0000000012345678 protocol=2048 location=__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET',
      '@[',
      '        kfree_skb_reason+1',
      '        ip_rcv+212',
      ']: 4',
      'drop at: tcp_v4_do_rcv+0x8e/0x1f0 (0xffffffff8178619e)',
      'origin: software',
      'drop reason: TCP_CSUM',
      '        kfree_skb_reason+1',
      '        udp_rcv+29',
      // Indented, but a tracefs event: it ends the open stack instead of joining it.
      '  <idle>-0  [000] ..s1.  7.75: kfree_skb: skbaddr=0000000012345678 protocol=2048 location=tcp_v4_rcv+0x9c7/0x1010 reason: NO_SOCKET',
    ];
    const items = await collect(readRecording(lines, { format: 'auto' }));
    assert.equal(skips(items).length, 60);
    assert.match(skips(items)[0]?.why ?? '', /no reader recognises this line/);
    assert.deepEqual(drops(items), [
      drop(61, 'tcp_v4_rcv', { offset: 0x9c7, address: 0xffffffff81b8a5e7n, count: 2 }),
      drop(62, '__udp4_lib_rcv', { offset: 0x4bc, size: 0xd00, reason: 'NO_SOCKET', timestamp: 7.5 }),
      drop(63, 'ip_rcv', { offset: 212, count: 4 }),
      drop(67, 'tcp_v4_do_rcv', { offset: 0x8e, size: 0x1f0, address: 0xffffffff8178619en, reason: 'TCP_CSUM' }),
      drop(70, 'udp_rcv', { offset: 29 }),
      drop(72, 'tcp_v4_rcv', { offset: 0x9c7, size: 0x1010, reason: 'NO_SOCKET', timestamp: 7.75 }),
    ]);
  });

  it('replays the lines it held back, in order, with their line numbers', async () => {
    const lines = Array.from({ length: 120 }, (_, i) => (i % 3 === 2 ? '' : `${i + 1} drops at tcp_v4_rcv+9c7 (0xffffffff81b8a5e7) [software]`));
    const items = await collect(readRecording(lines, { format: 'auto' }));
    assert.equal(items.length, 80);
    assert.deepEqual(items.map((item) => item.lineNo), lines.flatMap((line, i) => (line === '' ? [] : [i + 1])));
    assert.ok(drops(items).every((item) => item.count === item.lineNo));
  });

  it('accepts an async source and lets the consumer stop early', async () => {
    async function* source(): AsyncGenerator<string> {
      for (let i = 0; i < 1000; i++) yield '1 drops at tcp_v4_rcv+9c7 (0xffffffff81b8a5e7) [software]';
    }
    let seen = 0;
    for await (const item of readRecording(source(), { format: 'auto' })) {
      assert.equal(item.kind, 'drop');
      seen += 1;
      if (seen === 3) break;
    }
    assert.equal(seen, 3);
  });
});

describe('streaming', () => {
  it('reads 1,000,000 tracefs lines in bounded memory', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', `${ROOT}test/locate/recording-stream.ts`, '1000000'], { cwd: ROOT });
    const result = JSON.parse(stdout) as { lines: number; drops: number; skipped: number; seconds: number; linesPerSecond: number; heapBefore: number; peakHeap: number };
    console.log(`recording: ${result.lines} tracefs lines in ${result.seconds.toFixed(2)} s = ${result.linesPerSecond} lines/s, ` +
      `peak heap ${(result.peakHeap / 1e6).toFixed(1)} MB (${(result.heapBefore / 1e6).toFixed(1)} MB before)`);
    assert.equal(result.drops, 999_000);
    assert.equal(result.skipped, 1000);
    assert.ok(result.peakHeap < 100 * 1024 * 1024, `heap grew to ${result.peakHeap} bytes`);
    // Throughput is printed, not asserted: timings belong to bench/ (npm run bench -- --only report), never to a test.
  });

  it('keeps only the open block: a 200,000-frame stack, a 200,000-field packet block', async () => {
    function* stack(): Generator<string> {
      yield '@[';
      yield '        kfree_skb_reason+1';
      for (let i = 0; i < 200_000; i++) yield `        frame_${i}+${i}`;
      yield ']: 7';
    }
    assert.deepEqual(await collect(readRecording(stack(), { format: 'auto' })), [drop(1, 'frame_0', { offset: 0, count: 7 })]);
    function* packet(): Generator<string> {
      yield 'drop at: tcp_v4_rcv+0x9c7/0x1010 (0xffffffff96b9a5e7)';
      for (let i = 0; i < 200_000; i++) yield 'protocol: 0x800';
    }
    assert.deepEqual(await collect(readRecording(packet(), { format: 'auto' })), [
      drop(1, 'tcp_v4_rcv', { offset: 0x9c7, size: 0x1010, address: 0xffffffff96b9a5e7n }),
    ]);
  });
});
