// `dropsite report` as a user runs it: every recording format, every output format, bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixture, runCli } from '../helpers/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-report-cli-'));
const db = join(dir, 'index.sqlite');
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  const r = await runCli(['index', fixture('sample'), '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

interface View {
  format: string;
  totals: { events: number; drops: number; locations: number; skippedLines: number };
  rows: Array<{ location: string; function: string; reason: string | null; count: number; inIndex: boolean; candidates: Array<{ file: string; line: number }> }>;
  skipped: Array<{ lineNo: number; why: string }>;
}

const json = async (args: string[]): Promise<View> => {
  const r = await runCli(['report', '--db', db, '--as', 'json', ...args]);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as View;
};

test('the bundled dropwatch session: counts summed, rows explained against the sample tree', async () => {
  const v = await json([fixture('sample', 'recording', 'dropwatch.txt')]);
  const udp = v.rows.find((r) => r.location === '__udp4_lib_rcv+0x4bc');
  assert.ok(udp !== undefined && udp.count >= 10);
  assert.equal(udp.candidates[0]?.file, 'net/ipv4/udp.c');
  assert.equal(v.totals.drops, v.rows.reduce((a, r) => a + r.count, 0), 'every drop is in a shown row (fewer than --top locations)');
  assert.ok(v.rows.some((r) => r.location.startsWith('0xffffffffc')), 'a broken module symbol keeps its raw address');
});

test('each recording format is detected and read', async () => {
  const cases: Array<[string, number]> = [
    ['dropwatch-1.5.4-summary.txt', 1], ['dropwatch-packet.txt', 1], ['tracefs-6.2.txt', 1], ['tracefs-6.11-rx-sk.txt', 1],
    ['perf-6.2.txt', 1], ['bpftrace-map.txt', 1], ['bcc-tcpdrop.txt', 1], ['retis.json', 1],
  ];
  for (const [name, min] of cases) {
    const v = await json([fixture('locate', 'recordings', name)]);
    assert.ok(v.totals.events >= min, `${name}: ${v.totals.events} events`);
    assert.ok(v.rows.length > 0, name);
  }
});

test('malformed lines are counted and shown, the rest is reported', async () => {
  const f = join(dir, 'mixed.txt');
  const good = '          <idle>-0       [001] ..s1. 100.000001: kfree_skb: skbaddr=0000000001fff167 rx_sk=0000000000000000 protocol=2048 location=__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET';
  writeFileSync(f, [good, good, '\u0000\u0001\u0002garbage', 'x'.repeat(1_000_000), good, good.slice(0, 60)].join('\n'));
  const v = await json(['--format', 'tracefs', f]);
  assert.equal(v.totals.drops, 3);
  assert.ok(v.totals.skippedLines >= 2, JSON.stringify(v.skipped));
  assert.ok(v.skipped.some((s) => s.lineNo === 3));
  assert.ok(v.skipped.some((s) => s.lineNo === 4 && /too long/.test(s.why)));
  const table = await runCli(['report', '--db', db, '--format', 'tracefs', f]);
  assert.match(table.stdout, /skipped/i);
});

test('output formats: table, Markdown, HTML file, JSON', async () => {
  const rec = fixture('sample', 'recording', 'dropwatch.txt');
  const t = await runCli(['report', '--db', db, rec]);
  assert.match(t.stdout, /__udp4_lib_rcv\+0x4bc/);
  assert.match(t.stdout, /net\/ipv4\/udp\.c:\d+/);
  const md = await runCli(['report', '--db', db, '--as', 'md', rec]);
  assert.match(md.stdout, /^\| *# *\| *Drops/m);
  const out = join(dir, 'report.html');
  const h = await runCli(['report', '--db', db, '-o', out, rec]);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stderr, /wrote html report/);
  const html = readFileSync(out, 'utf8');
  assert.match(html, /^<!DOCTYPE html>/i);
  assert.ok(!/https?:\/\//.test(html), 'self-contained');
});

test('bad input: missing file, a directory, nothing recognisable', async () => {
  const missing = await runCli(['report', '--db', db, join(dir, 'nope.txt')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read recording .*nope\.txt: no such file/);
  const d = await runCli(['report', '--db', db, dir]);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /is a directory, expected a regular file/);
  const junk = join(dir, 'junk.txt');
  writeFileSync(junk, 'hello\nworld\n');
  const j = await runCli(['report', '--db', db, junk]);
  assert.equal(j.code, 1);
  assert.match(j.stderr, /no drop record in 2 line/);
  const fmt = await runCli(['report', '--db', db, '--format', 'pcap', junk]);
  assert.equal(fmt.code, 2);
});
