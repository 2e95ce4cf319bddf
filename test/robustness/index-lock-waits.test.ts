// A writer waits for every lock it meets, not only the first. Found by the concurrent-writers row of
// hostile-inputs.test.ts: with three `index` runs on one --db, one in four runs failed at once with
// "it is locked by another process", because a pragma ran before the write lock was taken (it fails
// at once while another writer commits) and COMMIT had no busy timeout (it fails at once while any
// reader holds the file). The second is made deterministic here by holding a read lock from a second
// connection; the first needs another writer's commit at one instant, which the table's row exercises.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { CLI, fixture, runCli } from '../helpers/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-lock-waits-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const seed = join(dir, 'seed.sqlite');
before(async () => {
  const r = await runCli(['index', fixture('sample'), '--db', seed, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

function startIndex(db: string): { stderr: () => string; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, 'index', fixture('scan', 'basic'), '--db', db, '--quiet'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', HOME: process.env.HOME ?? '/tmp' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return { stderr: () => err, done: new Promise((res) => child.on('exit', (code) => res({ code, stderr: err }))) };
}
const roots = (db: string): string[] => {
  const h = new Database(db, { readonly: true });
  try {
    return (h.prepare('SELECT root FROM trees ORDER BY root').pluck().all() as string[]);
  } finally {
    h.close();
  }
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a reader inside a read transaction: index waits for it at COMMIT, then writes', { timeout: 60_000 }, async () => {
  const db = join(dir, 'reader.sqlite');
  copyFileSync(seed, db);
  const reader = new Database(db, { readonly: true });
  reader.exec('BEGIN');
  reader.prepare('SELECT COUNT(*) FROM sites').pluck().get();
  const run = startIndex(db);
  // Long enough for the scan of a small tree and the write up to COMMIT, which must then wait.
  await sleep(4000);
  const early = await Promise.race([run.done, sleep(0).then(() => null)]);
  reader.exec('COMMIT');
  reader.close();
  const r = await run.done;
  assert.equal(early, null, `index did not wait for the reader: ${early?.stderr ?? ''}`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(roots(db), [fixture('sample'), fixture('scan', 'basic')].sort());
});
