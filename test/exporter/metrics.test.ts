// The exporter's counting and exposition, in process: the series cap, unresolved drops, both exposition formats,
// and the textfile checked by Debian's promtool.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DropMetrics } from '../../src/exporter/index.ts';
import { intervalRows } from '../../src/exporter/jsonl.ts';
import type { DropCount, LocationLabels } from '../../src/exporter/metrics.ts';
import { writeTextfile } from '../../src/exporter/textfile.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const drop = (symbol: string, offset: number, reason: string, count = 1): DropCount => ({
  location: `${symbol}+0x${offset.toString(16)}`, symbol, function: symbol, isCold: false, offset, size: null, module: null, reason, event: 'kfree_skb', count,
});
/** Known functions resolve to a made-up line of a made-up file; `mystery_*` functions are not in the "index". */
const resolve = (d: DropCount): LocationLabels => d.function.startsWith('mystery_')
  ? { function: d.function, file: '', line: '', method: 'none', resolved: false }
  : { function: d.function, file: `net/${d.function}.c`, line: String(100 + (d.offset ?? 0)), method: 'source', resolved: true };
const info = { kernel: '6.1.0-56-amd64', tree_version: '6.1.192', index: '/var/lib/dropsite/6.1.sqlite', source: 'trace_pipe' };

const value = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? Number.NaN);

describe('dropsite metrics', () => {
  it('counts per (location, reason), with the top candidate as file and line', async () => {
    const m = new DropMetrics({ resolve, maxSeries: 100, info });
    for (let i = 0; i < 5; i++) m.add(drop('__udp4_lib_rcv', 0x4bc, 'NO_SOCKET'));
    m.add(drop('__udp4_lib_rcv', 0x4bc, 'UDP_CSUM', 3));
    const text = await m.registry({ openMetrics: false, withProcessMetrics: false }).metrics();
    assert.equal(value(text, /^dropsite_drops_total\{location="__udp4_lib_rcv\+0x4bc",function="__udp4_lib_rcv",reason="NO_SOCKET",event="kfree_skb",file="net\/__udp4_lib_rcv.c",line="1312",method="source"\} (\d+)$/m), 5);
    assert.equal(value(text, /^dropsite_drops_total\{[^}]*reason="UDP_CSUM"[^}]*\} (\d+)$/m), 3);
    assert.match(text, /^dropsite_info\{kernel="6.1.0-56-amd64",tree_version="6.1.192",index="\/var\/lib\/dropsite\/6.1.sqlite",source="trace_pipe"\} 1$/m);
    assert.doesNotMatch(text, /process_cpu/, 'no process metrics unless asked');
  });

  it('--max-series: new locations past the cap fold into location="other", counted in dropsite_series_dropped_total', async () => {
    const m = new DropMetrics({ resolve, maxSeries: 3, info });
    for (let off = 0; off < 10; off++) m.add(drop('tcp_v4_rcv', off, 'NO_SOCKET', 2));
    m.add(drop('tcp_v4_rcv', 9, 'NO_SOCKET', 2)); // a refused location again: counted once in series_dropped
    m.add(drop('tcp_v4_rcv', 1, 'NO_SOCKET', 1)); // a series that exists keeps counting
    m.add(drop('ip_rcv_core', 4, 'IP_CSUM', 1)); // another reason past the cap: its own "other"
    const text = await m.registry({ openMetrics: false, withProcessMetrics: false }).metrics();
    const series = text.split('\n').filter((l) => l.startsWith('dropsite_drops_total{'));
    assert.equal(series.length, 5, series.join('\n'));
    assert.equal(series.filter((l) => !l.includes('location="other"')).length, 3);
    assert.equal(value(text, /^dropsite_drops_total\{location="tcp_v4_rcv\+0x1"[^}]*\} (\d+)$/m), 3);
    assert.equal(value(text, /^dropsite_drops_total\{location="other",function="",reason="NO_SOCKET",event="kfree_skb",file="",line="",method="none"\} (\d+)$/m), 16);
    assert.equal(value(text, /^dropsite_drops_total\{location="other",[^}]*reason="IP_CSUM"[^}]*\} (\d+)$/m), 1);
    assert.equal(value(text, /^dropsite_series_dropped_total (\d+)$/m), 8);
    assert.equal(m.drops, 24);
  });

  it('locations the index does not know are counted unresolved by reason, and still as drops', async () => {
    const m = new DropMetrics({ resolve, maxSeries: 1, info });
    m.add(drop('mystery_rx', 0x10, 'NOT_SPECIFIED', 4));
    m.add(drop('mystery_rx', 0x10, 'NOT_SPECIFIED', 1));
    m.add(drop('mystery_tx', 0x20, 'NOT_SPECIFIED', 2)); // past the cap, and unresolved
    const text = await m.registry({ openMetrics: false, withProcessMetrics: false }).metrics();
    assert.equal(value(text, /^dropsite_drops_unresolved_total\{reason="NOT_SPECIFIED"\} (\d+)$/m), 7);
    assert.equal(value(text, /^dropsite_drops_total\{location="mystery_rx\+0x10",function="mystery_rx",[^}]*method="none"\} (\d+)$/m), 5);
  });

  it('OpenMetrics: the same counts, counter families without _total, and # EOF', async () => {
    const m = new DropMetrics({ resolve, maxSeries: 10, info });
    m.add(drop('__udp4_lib_rcv', 0x4bc, 'NO_SOCKET', 7));
    const om = await m.registry({ openMetrics: true, withProcessMetrics: true }).metrics();
    assert.match(om, /^# TYPE dropsite_drops counter$/m);
    assert.match(om, /^dropsite_drops_total\{location="__udp4_lib_rcv\+0x4bc",[^}]*\} 7$/m);
    assert.match(om, /^process_cpu_user_seconds_total \d/m);
    assert.ok(om.endsWith('# EOF\n'));
    // The Prometheus-text registry of the same state is not renamed by the OpenMetrics one.
    const prom = await m.registry({ openMetrics: false, withProcessMetrics: false }).metrics();
    assert.match(prom, /^# TYPE dropsite_drops_total counter$/m);
  });

  it('jsonl rows: only series that grew, with the interval count and the running total', () => {
    const m = new DropMetrics({ resolve, maxSeries: 10, info });
    const last = new Map();
    m.add(drop('__udp4_lib_rcv', 0x4bc, 'NO_SOCKET', 3));
    m.add(drop('tcp_v4_rcv', 0x1, 'NO_SOCKET', 1));
    const at = { time: new Date('2026-12-01T10:00:00Z'), host: 'web-1', intervalS: 10 };
    assert.deepEqual(intervalRows(m.series(), last, at).map((r) => [r.host, r.location, r.count, r.total, r.line]), [
      ['web-1', '__udp4_lib_rcv+0x4bc', 3, 3, 1312], ['web-1', 'tcp_v4_rcv+0x1', 1, 1, 101],
    ]);
    m.add(drop('__udp4_lib_rcv', 0x4bc, 'NO_SOCKET', 2));
    assert.deepEqual(intervalRows(m.series(), last, at).map((r) => [r.location, r.count, r.total]), [['__udp4_lib_rcv+0x4bc', 2, 5]]);
  });
});

const PROMTOOL = '/usr/bin/promtool';

describe('textfile', () => {
  it('is written whole by rename, leaves no temporary file, and passes promtool check metrics', { skip: existsSync(PROMTOOL) ? false : 'needs Debian\'s prometheus package (promtool); .ci/run installs it' }, async () => {
    const m = new DropMetrics({ resolve, maxSeries: 2, info });
    for (let off = 0; off < 4; off++) m.add(drop('tcp_v4_rcv', off, 'NO_SOCKET'));
    m.add(drop('mystery_rx', 0x10, 'NOT_SPECIFIED'));
    const path = join(dir, 'dropsite.prom');
    writeTextfile(path, await m.registry({ openMetrics: false, withProcessMetrics: false }).metrics());
    writeTextfile(path, await m.registry({ openMetrics: false, withProcessMetrics: false }).metrics());
    assert.deepEqual(readdirSync(dir), ['dropsite.prom']);
    const text = readFileSync(path, 'utf8');
    const r = await new Promise<{ code: number; out: string }>((done) => {
      const child = execFile(PROMTOOL, ['check', 'metrics'], (err, stdout, stderr) => done({ code: err === null ? 0 : Number(err.code ?? 1), out: stdout + stderr }));
      child.stdin?.end(text);
    });
    assert.equal(r.code, 0, r.out);
  });

  it('a path that cannot be written is one clear error naming it', () => {
    assert.throws(() => writeTextfile(join(dir, 'no-such-dir', 'x.prom'), 'x 1\n'), /^OutputError: --textfile .*no-such-dir\/x\.prom: cannot write in .*no-such-dir: no such file or directory/);
  });
});
