// The perf path on the running kernel, as root: `perf record -e skb:kfree_skb -a` while UDP datagrams go to a closed
// port on 127.0.0.1, stopped with SIGINT, then `perf script` through `dropsite report`: the drops show up in
// __udp4_lib_rcv with reason NO_SOCKET, explained against an indexed tree that defines it.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixture, runCli } from '../helpers/fixture.ts';
import { sendToClosedPort } from '../helpers/live-drops.ts';

/** Debian's linux-perf installs the real binary as /usr/bin/perf (6.1 records fine on newer kernels). */
function perfVersion(): string | null {
  try {
    return execFileSync('perf', ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

const isRoot = process.getuid?.() === 0;
const version = isRoot ? perfVersion() : null;
const skip = !isRoot ? 'perf record -a needs root (CI runs as root)' : version === null ? 'perf is not installed (apt-get install linux-perf; .ci/run installs it)' : false;
// Both define __udp4_lib_rcv with its NO_SOCKET drop (test/live/watch.test.ts uses the same choice).
const tree = process.env.DROPSITE_KERNEL_TREE !== undefined && process.env.DROPSITE_KERNEL_TREE !== '' ? process.env.DROPSITE_KERNEL_TREE : fixture('sample');
const dir = mkdtempSync(join(tmpdir(), 'dropsite-perf-'));
const db = join(dir, 'index.sqlite');
let recorder: ChildProcess | null = null;

after(() => {
  // Never leave perf running, whatever failed above.
  if (recorder !== null && recorder.exitCode === null && recorder.signalCode === null) recorder.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

before(async () => {
  if (skip !== false) return;
  const r = await runCli(['index', tree, '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

test('perf record -e skb:kfree_skb, then perf script through dropsite report: __udp4_lib_rcv with NO_SOCKET', { skip, timeout: 120_000 }, async () => {
  const data = join(dir, 'perf.data');
  const child = spawn('perf', ['record', '-e', 'skb:kfree_skb', '-a', '-o', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  recorder = child;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  // perf record writes its file and then re-raises the SIGINT it got: it dies of the signal once the data is safe.
  const exited = new Promise<string>((resolve) => child.on('close', (code, signal) => resolve(signal ?? `exit ${code ?? '?'}`)));
  // perf writes the file's header once its events are open; give it a moment more to start recording.
  const until = Date.now() + 20_000;
  while (sizeOf(data) === 0 && child.exitCode === null && Date.now() < until) await sleep(50);
  assert.ok(sizeOf(data) > 0, `perf record did not start: ${stderr}`);
  await sleep(1000);
  for (let round = 0; round < 5; round++) {
    await sendToClosedPort(10);
    await sleep(100);
  }
  await sleep(300);
  child.kill('SIGINT');
  const stopped = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
  assert.notEqual(stopped, 'timeout', 'perf record stops on SIGINT');
  assert.ok(stopped === 'SIGINT' || stopped === 'exit 0', `perf record ended with ${stopped}: ${stderr}`);
  assert.match(stderr, /perf record: Captured and wrote/);

  const script = await new Promise<string>((resolve, reject) => {
    execFile('perf', ['script', '-i', data], { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 }, (err, stdout, serr) => (err === null ? resolve(stdout) : reject(new Error(`perf script: ${serr}`))));
  });
  const text = join(dir, 'perf-script.txt');
  writeFileSync(text, script);
  const r = await runCli(['report', text, '--db', db, '--as', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { format: string; rows: Array<{ function: string; offset: number | null; reason: string | null; count: number; candidates: Array<{ file: string }> }> };
  const row = view.rows.find((x) => x.function === '__udp4_lib_rcv' && x.reason === 'NO_SOCKET');
  assert.ok(row !== undefined, `rows: ${JSON.stringify(view.rows.map((x) => [x.function, x.reason, x.count]))}; first lines: ${script.split('\n').slice(0, 3).join(' | ')}`);
  assert.ok(row.count >= 10, `only ${row.count} of the 50 datagrams were recorded`);
  assert.ok(row.offset !== null, 'perf script prints func+0xOFF');
  assert.equal(row.candidates[0]?.file, 'net/ipv4/udp.c');
  // The table says the same.
  const table = await runCli(['report', text, '--db', db]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /__udp4_lib_rcv\+0x[0-9a-f]+\s+NO_SOCKET\s+net\/ipv4\/udp\.c:/);
});
