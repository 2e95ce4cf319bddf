// A full stdout (`> /dev/full`) is a one-line error with exit 1; a reader that goes away (`| head`)
// ends the command quietly with exit 0. Neither prints a stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, fixture } from '../helpers/fixture.ts';
import { isOneLineError, runCliTimed } from '../helpers/hostile.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-stdout-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'index.sqlite');
before(async () => {
  assert.equal((await runCliTimed(['index', fixture('sample'), '--db', db, '--quiet'])).code, 0);
});

const COMMANDS: string[][] = [
  ['sites', '--db', db],
  ['sites', '--db', db, '--json'],
  ['explain', '--db', db, '__udp4_lib_rcv+0x4bc/0xd00'],
  ['explain', '--db', db, '--json', '__udp4_lib_rcv+0x4bc/0xd00'],
  ['report', '--db', db, fixture('sample', 'recording', 'dropwatch.txt')],
  ['report', '--db', db, '--as', 'html', fixture('sample', 'recording', 'dropwatch.txt')],
];

/** Run with stdout on `stdout` (a descriptor), or on a pipe whose reader closes at once. */
function runWith(args: readonly string[], stdout: number | 'closed-pipe'): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', stdout === 'closed-pipe' ? 'pipe' : stdout, 'pipe'], env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' } });
    if (stdout === 'closed-pipe') child.stdout?.destroy();
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('stdout on /dev/full: one line naming the cause, exit 1', { timeout: 60_000 }, async () => {
  const full = openSync('/dev/full', 'w');
  try {
    for (const args of COMMANDS) {
      const r = await runWith(args, full);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(isOneLineError(r.stderr), `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /cannot write to standard output: no space left on device/);
    }
  } finally {
    closeSync(full);
  }
});

test('a reader that closes the pipe: no output on stderr, exit 0', { timeout: 60_000 }, async () => {
  for (const args of COMMANDS) {
    const r = await runWith(args, 'closed-pipe');
    assert.equal(r.stderr, '', args.join(' '));
    assert.equal(r.code, 0, args.join(' '));
  }
});
