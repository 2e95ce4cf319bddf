// `dropsite explain` as a user runs it: every input form, bad input, --stdin, JSON.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, fixture, runCli } from '../helpers/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-explain-cli-'));
const db = join(dir, 'index.sqlite');
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  const r = await runCli(['index', fixture('sample'), '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

function withStdin(args: readonly string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

interface Json { input: string; symbol: string; function: string; offset: number | null; size: number | null; reason: string | null; event: string; exact: boolean; candidates: Array<Record<string, unknown>>; notes: string[] }

test('every location form gives the same function and offset', async () => {
  const forms: Array<[string[], number, number | null]> = [
    [['__udp4_lib_rcv+0x4bc/0xd00', 'reason:', 'NO_SOCKET'], 0x4bc, 0xd00],
    [['__udp4_lib_rcv+4bc'], 0x4bc, null],
    [['--decimal', '__udp4_lib_rcv+1212'], 1212, null],
    [['swapper 0 [001] 1.0: skb:kfree_skb: skbaddr=0xffff rx_sk=(nil) protocol=2048 location=__udp4_lib_rcv+0x4bc reason: NO_SOCKET'], 0x4bc, null],
    [['12 drops at __udp4_lib_rcv+4bc (0xffffffff81b78f65) [software]'], 0x4bc, null],
  ];
  for (const [words, offset, size] of forms) {
    const r = await runCli(['explain', '--db', db, '--json', ...words]);
    assert.equal(r.code, 0, `${words.join(' ')}: ${r.stderr}`);
    const [e] = JSON.parse(r.stdout) as Json[];
    assert.equal(e?.function, '__udp4_lib_rcv', words.join(' '));
    assert.equal(e?.offset, offset);
    assert.equal(e?.size, size);
    assert.ok((e?.candidates.length ?? 0) > 0);
    assert.deepEqual(Object.keys(e?.candidates[0] ?? {}).slice(0, 8), ['file', 'line', 'endLine', 'function', 'api', 'reason', 'reasons', 'kind']);
  }
});

test('terminal output shows the ranked lines with their source', async () => {
  const r = await runCli(['explain', '--db', db, '__udp4_lib_rcv+0x4bc/0xd00', 'reason:', 'NO_SOCKET', '--context', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^__udp4_lib_rcv\+0x4bc\/0xd00 {2}\(reason NO_SOCKET, from source\)$/m);
  assert.match(r.stdout, /^ {2}1\. net\/ipv4\/udp\.c:126 {2}__udp4_lib_rcv\(\) calls kfree_skb_reason/m);
  assert.match(r.stdout, /^ {6}> 126 \| .*kfree_skb_reason\(skb, drop_reason\);$/m);
});

test('bad locations: a one-line error naming the bad part, exit 1', async () => {
  const cases: Array<[string, RegExp]> = [
    ['+0x', /bad location "\+0x"/],
    ['foo+zz', /offset "zz"/],
    ['', /empty|give a location/],
    ['tcp v4 rcv+0x10', /space|symbol/],
    ['x'.repeat(10_000), /bad location "x{10,60}…"/],
  ];
  for (const [input, re] of cases) {
    const r = await runCli(['explain', '--db', db, input]);
    assert.equal(r.code, 1, `${input.slice(0, 20)} → ${r.code} ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(r.stderr.split('\n')[0]!.length < 300, 'the error is one short line');
  }
  const ev = await runCli(['explain', '--db', db, '--event', 'drop', 'udp_rcv+0x10']);
  assert.equal(ev.code, 2);
  assert.match(ev.stderr, /--event drop: expected kfree_skb or consume_skb/);
  const raw = await runCli(['explain', '--db', db, '0xffffffff81a2b3c4']);
  assert.equal(raw.code, 1);
  assert.match(raw.stderr, /raw address/);
  assert.match(raw.stderr, /--kallsyms/);
});

test('--stdin answers every good line and reports the bad ones by number', async () => {
  const lines = ['__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET', 'foo+zz', '', '# a comment', 'tcp_v4_rcv+0x91/0x13f0 reason: NO_SOCKET', '\u0000\u0001binary'];
  const r = await withStdin(['explain', '--db', db, '--stdin', '--json'], lines.join('\n'));
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Json[];
  assert.deepEqual(out.map((e) => e.function), ['__udp4_lib_rcv', 'tcp_v4_rcv']);
  assert.match(r.stderr, /stdin line 2: bad location "foo\+zz"/);
  assert.match(r.stderr, /stdin line 6: /);
  assert.match(r.stderr, /skipped 2 unparsable line\(s\); answered 2/);
});

test('raw addresses resolve through a saved kallsyms', async () => {
  // tcp_v4_rcv starts at ffffffff817a1f10 in the sample map and the next symbol at ffffffff817a3300.
  const r = await runCli(['explain', '--db', db, '--json', '--kallsyms', fixture('locate', 'kallsyms-sample.txt'), 'ffffffff817a1fa1', 'reason:', 'NO_SOCKET']);
  assert.equal(r.code, 0, r.stderr);
  const [e] = JSON.parse(r.stdout) as Json[];
  assert.equal(e?.function, 'tcp_v4_rcv');
  assert.equal(e?.offset, 0x91);
  assert.equal(e?.size, 0x13f0);
  assert.equal(e?.candidates[0]?.file, 'net/ipv4/tcp_ipv4.c');
  const sized = await runCli(['explain', '--db', db, '--json', '--kallsyms', fixture('locate', 'kallsyms-sample.txt'), 'tcp_v4_rcv+91']);
  assert.equal((JSON.parse(sized.stdout) as Json[])[0]?.size, 0x13f0, 'kallsyms gives the size of a named function');
});

test('a missing index is an error; an unknown symbol is a result', async () => {
  const none = await runCli(['explain', '--db', join(dir, 'none.sqlite'), 'udp_rcv+0x10']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no index at/);
  const unknown = await runCli(['explain', '--db', db, '--json', 'no_such_function+0x10']);
  assert.equal(unknown.code, 0);
  const [e] = JSON.parse(unknown.stdout) as Json[];
  assert.equal(e?.candidates.length, 0);
  assert.match(e?.notes.join(' ') ?? '', /no drop site in the indexed tree/);
});
