// A recording with 200,000 distinct reasons, locations or seconds: every report section keeps the
// --top cap (with an "N more … not shown" line), every format renders it, and the work stays linear.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DropAggregator } from '../../src/build-report.ts';
import type { DropRecord } from '../../src/locate/recording-model.ts';
import { RENDERERS } from '../../src/report/formats.ts';
import type { ReportFormat } from '../../src/report/view.ts';
import { fixture } from '../helpers/fixture.ts';
import { runCliTimed } from '../helpers/hostile.ts';

const N = 200_000;
const record = (symbol: string, reason: string, timestamp: number): DropRecord => ({
  kind: 'drop', lineNo: 1, symbol, function: symbol, isCold: false, offset: 0x4bc, size: 0xd00, module: null, address: null,
  reason, event: 'kfree_skb', count: 1, timestamp,
});
const OPTS = { title: 't', source: 's', format: 'tracefs', top: 20, allCandidates: false, context: 3 };
const FORMATS: ReportFormat[] = ['table', 'md', 'html', 'json'];

for (const [what, make] of [
  ['distinct reasons', (i: number) => record('__udp4_lib_rcv', `REASON_${i}`, 1000 + i / 1000)],
  ['distinct locations', (i: number) => record(`fn_${i}`, 'NO_SOCKET', 1000 + i / 1000)],
  ['distinct seconds (a recording of two days)', (i: number) => record('__udp4_lib_rcv', `R${i % 50}`, i)],
] as const) {
  test(`${N} ${what}: every format renders a capped report in linear time`, { timeout: 30_000 }, () => {
    const agg = new DropAggregator();
    for (let i = 0; i < N; i++) agg.add(make(i));
    const started = performance.now();
    const view = agg.view(null, OPTS);
    assert.ok(view.rows.length <= 20 && view.byReason.length <= 20 && (view.timeline?.length ?? 0) <= 60);
    if (what === 'distinct reasons') assert.deepEqual(view.byReasonRest, { reasons: N - 20, drops: N - 20 });
    if (what === 'distinct locations') assert.deepEqual(view.rest, { locations: N - 20, drops: N - 20 });
    for (const f of FORMATS) {
      const out = RENDERERS[f](view, { width: 120, color: false, allCandidates: false });
      assert.ok(out.length < 200_000, `${f} is ${out.length} characters: not capped`);
      if (what === 'distinct reasons' && f !== 'json') assert.match(out, /199980 more reasons with 199980 drops not shown/, f);
      if (what === 'distinct locations' && f !== 'json') assert.match(out, /199980 more locations with 199980 drops not shown/, f);
    }
    const ms = performance.now() - started;
    assert.ok(ms < 10_000, `view and four renderings took ${Math.round(ms)} ms`);
  });
}

test('the terminal table of a 50,000-reason recording, end to end, in seconds', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropsite-many-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'index.sqlite');
  assert.equal((await runCliTimed(['index', fixture('sample'), '--db', db, '--quiet'])).code, 0);
  const rec = join(dir, 'reasons.txt');
  const lines: string[] = [];
  for (let i = 0; i < 50_000; i++) lines.push(`  nc-1 [001] ..s1. ${1000 + i / 1000}: kfree_skb: skbaddr=0000000001fff167 protocol=2048 location=__udp4_lib_rcv+0x4bc/0xd00 reason: R${i}`);
  writeFileSync(rec, `${lines.join('\n')}\n`);
  const r = await runCliTimed(['report', '--db', db, rec], { timeoutMs: 30_000 });
  assert.equal(r.timedOut, false, 'the table took more than 30 s');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /… and 49980 more reasons with 49980 drops not shown/);
  assert.ok(r.stdout.split('\n').length < 100, 'the reasons section is capped');
});
