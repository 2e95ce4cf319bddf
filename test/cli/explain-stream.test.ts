// `explain --stdin` streams: a long input is answered batch by batch in bounded memory, with the same
// bytes as one answer; 200,000 unknown names cost little because the nearest-name search is indexed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NameIndex } from '../../src/explain/nearest-names.ts';
import { fixture } from '../helpers/fixture.ts';
import { runCliTimed } from '../helpers/hostile.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-stream-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'index.sqlite');
before(async () => {
  assert.equal((await runCliTimed(['index', fixture('sample'), '--db', db, '--quiet'])).code, 0);
});

const LOCATIONS = ['__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET', 'tcp_v4_rcv+0x91/0x13f0', 'no_such_function_at_all+0x10/0x100'];
const lines = (n: number): string => `${Array.from({ length: n }, (_, i) => LOCATIONS[i % LOCATIONS.length]).join('\n')}\n`;

test('30,000 lines on stdin in a 48 MB heap (the whole input and its answers held at once need ten times that)', { timeout: 120_000 }, async () => {
  const r = await runCliTimed(['explain', '--db', db, '--stdin'], { input: lines(30_000), nodeArgs: ['--max-old-space-size=48'], timeoutMs: 110_000 });
  assert.equal(r.timedOut, false);
  assert.equal(r.code, 0, r.stderr.slice(0, 500));
  assert.equal(r.stdout.match(/^__udp4_lib_rcv\+0x4bc\/0xd00 /gm)?.length, 10_000);
});

test('batches join into the same text and JSON as one answer', { timeout: 60_000 }, async () => {
  const n = 4_500; // three batches
  const text = await runCliTimed(['explain', '--db', db, '--stdin'], { input: lines(n) });
  const one = await runCliTimed(['explain', '--db', db, ...LOCATIONS.flatMap((l) => l.split(' '))]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(text.stdout, Array.from({ length: n / LOCATIONS.length }, () => one.stdout).join('\n'), 'the text of one answer, repeated');
  const json = await runCliTimed(['explain', '--db', db, '--stdin', '--json'], { input: lines(n) });
  const all = JSON.parse(json.stdout) as Array<{ function: string }>;
  assert.equal(all.length, n);
  const single = JSON.parse((await runCliTimed(['explain', '--db', db, '--json', ...LOCATIONS.flatMap((l) => l.split(' '))])).stdout) as unknown[];
  assert.deepEqual(all.slice(0, 3), single);
  assert.deepEqual(all.slice(-3), single);
  assert.equal(json.stdout, `${JSON.stringify(all, null, 2)}\n`, 'byte for byte what JSON.stringify of the whole array gives');
});

/** The plain definition, to check the index against. */
function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function bruteNearest(names: readonly string[], name: string): string[] {
  const limit = Math.max(2, Math.floor(name.length / 4));
  return names.filter((n) => Math.abs(n.length - name.length) <= limit).map((n) => ({ n, d: levenshtein(name, n) }))
    .filter((x) => x.d <= limit).sort((a, b) => a.d - b.d || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0)).slice(0, 5).map((x) => x.n);
}

// Kernel-like names from a few parts, so that many share bigrams and some are one edit apart.
const PARTS = ['skb', 'tcp', 'udp', 'ip', 'rcv', 'xmit', 'sk', 'dev', 'queue', 'drop', 'v4', 'v6', 'lib', 'do', 'finish', 'core', 'nf', 'hook', 'a', 'x'];
function makeNames(n: number, seed: number): string[] {
  let s = seed;
  const rnd = (k: number): number => {
    s = (s * 48271) % 2147483647;
    return s % k;
  };
  const out = new Set<string>();
  while (out.size < n) out.add(Array.from({ length: 2 + rnd(4) }, () => PARTS[rnd(PARTS.length)]).join('_') + (rnd(3) === 0 ? String(rnd(100)) : ''));
  return [...out];
}

test('nearest names: the bigram index gives what comparing against every name gives', () => {
  const names = makeNames(3000, 7);
  const queries = [...makeNames(400, 99), 'tcp_v4_rcv', 'udp_rcv', 'ab', 'x', '', 'skb_drop_reason_'.repeat(3)];
  const index = new NameIndex(names);
  for (const q of queries) assert.deepEqual(index.nearest(q), bruteNearest(names, q), q);
});

test('nearest names: 200,000 distinct unknown names against 10,000 indexed ones in seconds', { timeout: 60_000 }, () => {
  const index = new NameIndex(makeNames(10_000, 3));
  const started = performance.now();
  for (let i = 0; i < 200_000; i++) index.nearest(`unknown_fn_${i}_x`);
  const ms = performance.now() - started;
  // Comparing each against every name took about 30 ms a lookup: 200,000 lookups would be 100 minutes.
  assert.ok(ms < 30_000, `${Math.round(ms)} ms`);
});
