// The real binary on the bundled sample and on bad input: exit codes, one-line errors, nothing lost.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, mkdirSync, utimesSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { APPLICATION_ID, SCHEMA, SCHEMA_VERSION } from '../../src/index/schema.ts';
import { fixture, runCli } from '../helpers/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sample = fixture('sample');

test('index the sample, then query it', async () => {
  const db = join(dir, 'sample.sqlite');
  const r = await runCli(['index', sample, '--db', db]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /indexed .*fixtures\/sample \(Linux 6\.1\.0\)/);
  assert.match(r.stdout, /drop functions \d+ \(kfree_skb_reason, consume_skb/);
  const sites = await runCli(['sites', '--db', db, '--json']);
  assert.equal(sites.code, 0, sites.stderr);
  const list = JSON.parse(sites.stdout) as Array<{ file: string; line: number; endLine: number; column: number; function: string; api: string; reason: string | null; reasons: string[]; kind: string; via: string[] }>;
  assert.ok(list.length >= 30, `sample has at least 30 sites, got ${list.length}`);
  for (const s of list) {
    assert.deepEqual(Object.keys(s).slice(0, 10), ['file', 'line', 'endLine', 'column', 'function', 'api', 'reason', 'reasons', 'reasonText', 'kind']);
    assert.ok(s.reason === null || s.reasons.length === 1, 'reason is set when exactly one reason reaches the call');
    assert.ok(s.endLine >= s.line);
  }
  const sorted = [...list].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
  assert.deepEqual(list.map((s) => `${s.file}:${s.line}`), sorted.map((s) => `${s.file}:${s.line}`), 'sorted by file and line');
  const udp = list.filter((s) => s.function === '__udp4_lib_rcv');
  assert.ok(udp.some((s) => s.reasons.includes('NO_SOCKET')), 'a variable reason lists NO_SOCKET');

  const byReason = await runCli(['sites', '--db', db, '--reason', 'NO_SOCKET', '--json']);
  const noSock = JSON.parse(byReason.stdout) as Array<{ function: string }>;
  assert.ok(noSock.length > 0 && noSock.length < list.length);
  const byFile = await runCli(['sites', '--db', db, '--file', 'net/ipv4/*', '--json']);
  assert.ok((JSON.parse(byFile.stdout) as Array<{ file: string }>).every((s) => s.file.startsWith('net/ipv4/')));

  const reasons = await runCli(['reasons', '--db', db, '--json']);
  const rl = JSON.parse(reasons.stdout) as Array<{ name: string; sites: number; description: string }>;
  assert.equal(rl.find((x) => x.name === 'NO_SOCKET')?.sites, noSock.length);
  assert.ok(rl.every((x) => !x.description.startsWith('/*') && !x.description.includes('@SKB_')), 'descriptions are clean text');
  const trees = await runCli(['trees', '--db', db]);
  assert.match(trees.stdout, /fixtures\/sample\s+6\.1\.0/);
});

test('a second run over an unchanged tree keeps the index and says so', async () => {
  const db = join(dir, 'again.sqlite');
  assert.equal((await runCli(['index', sample, '--db', db, '--quiet'])).code, 0);
  const r = await runCli(['index', sample, '--db', db]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /is unchanged since it was indexed/);
});

test('a touched file is re-read but reused by content hash; a changed one is parsed again', async () => {
  const tree = join(dir, 'sample-copy');
  cpSync(sample, tree, { recursive: true });
  const db = join(dir, 'copy.sqlite');
  assert.equal((await runCli(['index', tree, '--db', db, '--quiet'])).code, 0);
  const udp = join(tree, 'net/ipv4/udp.c');
  const later = new Date(Date.now() + 5000);
  utimesSync(udp, later, later);
  const touched = await runCli(['index', tree, '--db', db]);
  assert.match(touched.stdout, /files seen 12, read 1, unchanged since last run 12,/);
  appendFileSync(udp, '\n/* edited */\n');
  const changed = await runCli(['index', tree, '--db', db]);
  assert.match(changed.stdout, /files seen 12, read 1, unchanged since last run 11,/);
  const sites = JSON.parse((await runCli(['sites', '--db', db, '--function', '__udp4_lib_rcv', '--json'])).stdout) as unknown[];
  assert.ok(sites.length >= 2, 'the re-parsed file still has its sites');
});

test('bad trees: missing, a file, not a kernel tree (and --force)', async () => {
  const db = join(dir, 'bad.sqlite');
  const missing = await runCli(['index', join(dir, 'nope'), '--db', db]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^dropsite: cannot index .*nope: no such file or directory$/m);
  const file = await runCli(['index', join(sample, 'Makefile'), '--db', db]);
  assert.equal(file.code, 1);
  assert.match(file.stderr, /not a directory/);
  const notKernel = await runCli(['index', fixture('scan', 'not-kernel'), '--db', db]);
  assert.equal(notKernel.code, 1);
  assert.match(notKernel.stderr, /does not look like a Linux source tree/);
  assert.match(notKernel.stderr, /hint: pass --force/);
  const forced = await runCli(['index', fixture('scan', 'not-kernel'), '--db', db, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /warning: .*indexed anyway/);
  assert.match(forced.stderr, /built-in list of drop functions/);
});

test('usage errors exit 2', async () => {
  const r = await runCli(['index']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing required argument 'tree'/);
  const jobs = await runCli(['index', sample, '--jobs', 'zero']);
  assert.equal(jobs.code, 2);
  assert.match(jobs.stderr, /expected a whole number/);
});

test('index files that are missing, not an index, or of an older schema', async () => {
  const none = await runCli(['sites', '--db', join(dir, 'absent.sqlite')]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no index at .*absent\.sqlite/);
  const junk = join(dir, 'junk.sqlite');
  writeFileSync(junk, 'this is not sqlite, just text that is long enough to look like a header.........................................');
  const j = await runCli(['sites', '--db', junk]);
  assert.equal(j.code, 1);
  assert.match(j.stderr, /not a dropsite index/);

  // A newer dropsite's index (same application id, a later schema) is refused, and left alone.
  const newer = join(dir, 'newer.sqlite');
  const h = new Database(newer);
  h.exec(SCHEMA);
  h.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  h.pragma(`application_id = ${APPLICATION_ID}`);
  h.close();
  const before = readFileSync(newer);
  const q = await runCli(['sites', '--db', newer]);
  assert.equal(q.code, 1);
  assert.match(q.stderr, new RegExp(`schema version ${SCHEMA_VERSION + 1}, this dropsite reads version ${SCHEMA_VERSION}`));
  const w = await runCli(['index', sample, '--db', newer, '--quiet']);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /schema version \d+/);
  assert.deepEqual(readFileSync(newer), before, 'a failed index leaves the old file as it was');
  assert.doesNotMatch(j.stderr + q.stderr + w.stderr, /\bremove\b/, 'no advice that destroys a file');
});

test('an index written by an older dropsite is rebuilt by index, with a warning; read commands still refuse it', async () => {
  // As an older dropsite left it: its seven tables, a lower user_version, no application id.
  const older = join(dir, 'older.sqlite');
  const h = new Database(older);
  h.exec(SCHEMA);
  h.pragma(`user_version = ${SCHEMA_VERSION - 1}`);
  h.close();
  const q = await runCli(['sites', '--db', older]);
  assert.equal(q.code, 1);
  assert.match(q.stderr, new RegExp(`schema version ${SCHEMA_VERSION - 1}, this dropsite reads version ${SCHEMA_VERSION}`));
  const w = await runCli(['index', sample, '--db', older]);
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stderr + w.stdout, /written by an older dropsite \(index schema \d+, this one writes \d+\): rebuilt from scratch/);
  const sites = JSON.parse((await runCli(['sites', '--db', older, '--json'])).stdout) as unknown[];
  assert.ok(sites.length > 0);
});

test('a read-only index folder is a clear error and the existing index survives', async () => {
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  const db = join(ro, 'index.sqlite');
  // Root ignores permission bits, so as root the folder becomes a read-only tmpfs mount instead.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', ro]);
  try {
    assert.equal((await runCli(['index', sample, '--db', db, '--quiet'])).code, 0);
    const before = readFileSync(db);
    if (asRoot) execFileSync('mount', ['-o', 'remount,ro', ro]);
    else chmodSync(ro, 0o555);
    const r = await runCli(['index', fixture('scan', 'basic'), '--db', db]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^dropsite: cannot write index .*index\.sqlite: /m);
    assert.deepEqual(readFileSync(db), before);
    const q = await runCli(['sites', '--db', db, '--json']);
    assert.equal(q.code, 0, 'a read-only index can still be queried');
  } finally {
    if (asRoot) execFileSync('umount', [ro]);
    else chmodSync(ro, 0o755);
  }
});

test('a locked index is reported as locked', async () => {
  const db = join(dir, 'locked.sqlite');
  assert.equal((await runCli(['index', sample, '--db', db, '--quiet'])).code, 0);
  const h = new Database(db);
  h.exec('BEGIN EXCLUSIVE');
  const r = await runCli(['sites', '--db', db]);
  h.exec('ROLLBACK');
  h.close();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /locked by another process/);
});

test('several trees in one index, chosen with --tree', async () => {
  const db = join(dir, 'multi.sqlite');
  assert.equal((await runCli(['index', sample, '--db', db, '--quiet'])).code, 0);
  assert.equal((await runCli(['index', fixture('scan', 'basic'), '--db', db, '--quiet'])).code, 0);
  const trees = await runCli(['trees', '--db', db, '--json']);
  assert.equal((JSON.parse(trees.stdout) as unknown[]).length, 2);
  const s = await runCli(['sites', '--db', db, '--tree', sample, '--json']);
  assert.ok((JSON.parse(s.stdout) as Array<{ file: string }>).some((x) => x.file === 'net/ipv4/udp.c'));
  const bad = await runCli(['sites', '--db', db, '--tree', '9.9']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no indexed tree matches --tree 9\.9/);
});
