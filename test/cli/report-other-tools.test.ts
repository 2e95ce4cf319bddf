// dropsite report on what SystemTap's dropwatch.stp and perf's net_dropmonitor.py print: detected without --format,
// rows without offsets explained as the function's sites with the reason said plainly, raw addresses named with
// --kallsyms, and an interval timeline when the recording has no clock.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixture, runCli } from '../helpers/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-report-tools-'));
const db = join(dir, 'index.sqlite');
const recording = (name: string): string => fixture('locate', 'recordings', name);
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  const r = await runCli(['index', fixture('sample'), '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

interface Row { location: string; function: string; offset: number | null; count: number; candidates: Array<{ file: string; line: number }>; notes: string[]; firstSeen: number | null }
interface View { rows: Row[]; warnings: string[]; totals: { skippedLines: number; drops: number }; timeline: Array<{ start: number; count: number }> | null; timelineUnit?: string }

test('dropwatch.stp symname(): rows without offsets list the function\'s sites and say the line cannot be told', async () => {
  const r = await runCli(['report', recording('systemtap-symname.txt'), '--db', db, '--as', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as View;
  const udp = view.rows.find((x) => x.function === '__udp4_lib_rcv');
  assert.ok(udp !== undefined);
  assert.equal(udp.location, '__udp4_lib_rcv');
  assert.equal(udp.offset, null);
  assert.equal(udp.count, 17);
  assert.deepEqual(udp.candidates.map((c) => `${c.file}:${c.line}`).sort(), ['net/ipv4/udp.c:126', 'net/ipv4/udp.c:142', 'net/ipv4/udp.c:74']);
  assert.ok(udp.notes.some((n) => /no offset in the input .*cannot be told/.test(n)), udp.notes.join('\n'));
  assert.ok(view.warnings.some((w) => /3 of the top locations name a function without an offset/.test(w) && /symdata\(l\)/.test(w)), view.warnings.join('\n'));
  assert.equal(view.totals.skippedLines, 5);
  assert.equal(view.timelineUnit, undefined, 'the ctime lines are a real clock');
  const table = await runCli(['report', recording('systemtap-symname.txt'), '--db', db]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /warning: 3 of the top locations name a function without an offset/);
  assert.match(table.stdout, /5 input lines skipped/);
});

test('dropwatch.stp %p without a clock: addresses named with --kallsyms, a timeline of intervals', async () => {
  const r = await runCli(['report', recording('systemtap-pointer.txt'), '--db', db, '--as', 'json', '--kallsyms', fixture('locate', 'kallsyms-sample.txt')]);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as View;
  assert.equal(view.rows[0]?.location, '__udp4_lib_rcv+0x4bc');
  assert.equal(view.rows[0]?.count, 14);
  assert.equal(view.timelineUnit, 'interval');
  const html = await runCli(['report', recording('systemtap-pointer.txt'), '--db', db, '--as', 'html', '--kallsyms', fixture('locate', 'kallsyms-sample.txt')]);
  assert.equal(html.code, 0, html.stderr);
  assert.match(html.stdout, /Drops per reporting interval \(the recording has no clock/);
  assert.match(html.stdout, /seen in intervals 1 to 4/);
});

test('net_dropmonitor: detected, decimal offsets read, raw decimal addresses named with --kallsyms', async () => {
  const bare = await runCli(['report', recording('net-dropmonitor.txt'), '--db', db, '--as', 'json']);
  assert.equal(bare.code, 0, bare.stderr);
  const unnamed = JSON.parse(bare.stdout) as View;
  assert.equal(unnamed.rows[0]?.location, '__udp4_lib_rcv+0x4bc');
  assert.ok(unnamed.rows.some((x) => x.location === '0xffffffff817a1fa1' && x.notes.some((n) => n.includes('--kallsyms'))));
  const named = await runCli(['report', recording('net-dropmonitor.txt'), '--db', db, '--as', 'json', '--kallsyms', fixture('locate', 'kallsyms-sample.txt')]);
  const view = JSON.parse(named.stdout) as View;
  assert.deepEqual(view.rows.map((x) => [x.location, x.count]), [['__udp4_lib_rcv+0x4bc', 45], ['tcp_v4_rcv+0x91', 7], ['ip_rcv_finish_core.isra.0+0x1de', 3], ['netlink_unicast+0x1f4', 2]]);
  assert.equal(view.totals.skippedLines, 4);
  const forced = await runCli(['report', recording('net-dropmonitor.txt'), '--db', db, '--format', 'net-dropmonitor', '--as', 'json']);
  assert.equal(forced.code, 0, forced.stderr);
});
