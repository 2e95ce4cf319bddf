// Every writer of the index, and every reader of a file given as --db (issue 9: defects 1, 7, 9, 12
// and the smaller things about --db). Nothing lost, nothing leaked, nothing destroyed.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { buildIndex } from '../../src/build-index.ts';
import { IndexError } from '../../src/errors.ts';
import { defaultDbPath } from '../../src/index/open.ts';
import { APPLICATION_ID, SCHEMA, SCHEMA_VERSION } from '../../src/index/schema.ts';
import { isPidAlive } from '../../src/pid.ts';
import { CLI, fixture, runCli } from '../helpers/fixture.ts';
import { makeTree } from '../helpers/hostile-tree.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-writers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sample = fixture('sample');
const basic = fixture('scan', 'basic');

const treeCount = (db: string): number => {
  const h = new Database(db, { readonly: true });
  try {
    return Number(h.prepare('SELECT COUNT(*) FROM trees').pluck().get());
  } finally {
    h.close();
  }
};

/** The CLI as a child whose stderr can be watched while it runs. */
function startCli(args: readonly string[]): { stderr: () => string; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', HOME: process.env.HOME ?? '/tmp' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) => child.on('exit', (code, signal) => res({ code, signal, stderr: err })));
  return { stderr: () => err, done, kill: (s) => child.kill(s) };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setImmediate(r));
  }
  return cond();
}

test('an SQLite writer holding a write transaction: index waits for it with a message, and both updates are kept', async () => {
  const db = join(dir, 'held.sqlite');
  assert.equal((await runCli(['index', sample, '--db', db, '--quiet'])).code, 0);
  const other = new Database(db);
  other.exec('BEGIN IMMEDIATE');
  other.prepare("INSERT INTO trees (root, version, indexed_at, used_seeds, stats) VALUES ('/elsewhere', '9.9', '2026-01-01', 0, '{}')").run();
  const run = startCli(['index', basic, '--db', db, '--quiet']);
  const waited = await until(() => /another process is writing .*held\.sqlite: waiting for it/.test(run.stderr()), 20_000);
  other.exec('COMMIT');
  other.close();
  const r = await run.done;
  assert.ok(waited, `index did not wait for the writer: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  const roots = (JSON.parse((await runCli(['trees', '--db', db, '--json'])).stdout) as Array<{ root: string }>).map((t) => t.root).sort();
  assert.deepEqual(roots, ['/elsewhere', basic, sample].sort(), 'the other writer\'s row and both trees are there');
});

test('two index runs on one --db at the same time: both trees are kept', async () => {
  const db = join(dir, 'two.sqlite');
  const [a, b] = await Promise.all([runCli(['index', sample, '--db', db, '--quiet']), runCli(['index', basic, '--db', db, '--quiet'])]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(treeCount(db), 2);
});

test('a writer that keeps the lock: index gives up with a clear error and writes nothing', async () => {
  const db = join(dir, 'stuck.sqlite');
  assert.equal((await runCli(['index', sample, '--db', db, '--quiet'])).code, 0);
  const before = readFileSync(db);
  const other = new Database(db);
  other.exec('BEGIN IMMEDIATE');
  const waits: string[] = [];
  try {
    await assert.rejects(buildIndex(basic, { db, onWait: (m) => waits.push(m), waitMs: 300 }),
      (e: unknown) => e instanceof IndexError && /another process kept it locked for 0 s; nothing was written/.test(e.message));
  } finally {
    other.exec('ROLLBACK');
    other.close();
  }
  assert.equal(waits.length, 1);
  assert.deepEqual(readFileSync(db), before);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} in the write phase: the previous index is restored byte for byte, and nothing is left behind`, async () => {
    const tree = makeTree(join(dir, `kill-${signal}`), { 'net/core/many.c': `#include <linux/skbuff.h>\nvoid many(struct sk_buff *skb) { ${'kfree_skb(skb); '.repeat(12_000)} }\n` }, 0);
    const db = join(dir, `kill-${signal}.sqlite`);
    assert.equal((await runCli(['index', tree, '--db', db, '--quiet'])).code, 0);
    const before = readFileSync(db);
    const sitesBefore = (JSON.parse((await runCli(['sites', '--db', db, '--json'])).stdout) as unknown[]).length;
    writeFileSync(join(tree, 'net/core/more.c'), '#include <linux/skbuff.h>\nvoid more(struct sk_buff *skb)\n{\n\tkfree_skb(skb);\n}\n');
    const run = startCli(['index', tree, '--db', db, '--quiet']);
    let exited = false;
    void run.done.then(() => { exited = true; });
    // The journal exists exactly while the write transaction runs.
    const inWrite = await until(() => exited || existsSync(`${db}-journal`), 30_000);
    run.kill(signal);
    const r = await run.done;
    assert.ok(inWrite && r.signal === signal, `killed in the write phase (exit ${r.code}, signal ${r.signal}): ${r.stderr}`);
    const q = await runCli(['sites', '--db', db, '--json']);
    assert.equal(q.code, 0, q.stderr);
    assert.equal((JSON.parse(q.stdout) as unknown[]).length, sitesBefore);
    assert.deepEqual(readFileSync(db), before, 'the index file is byte for byte what it was');
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith(`kill-${signal}.sqlite`)), [`kill-${signal}.sqlite`], 'no journal or copy left');
    assert.doesNotMatch(q.stderr, /malformed|remove/);
  });
}

test('temporaries of older dropsite versions (a copy and its journal) are removed, whatever their PID', async () => {
  const db = join(dir, 'legacy.sqlite');
  assert.equal((await runCli(['index', sample, '--db', db, '--quiet'])).code, 0);
  let dead = 4_000_000;
  while (isPidAlive(dead)) dead--;
  for (const n of [`legacy.sqlite.tmp-${dead}`, `legacy.sqlite.tmp-${dead}-journal`]) writeFileSync(join(dir, n), 'left by a killed run');
  writeFileSync(join(dir, 'legacy.sqlite.tmp-notes'), 'not ours');
  const r = await runCli(['index', basic, '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(join(dir, `legacy.sqlite.tmp-${dead}`)) && !existsSync(join(dir, `legacy.sqlite.tmp-${dead}-journal`)));
  assert.ok(existsSync(join(dir, 'legacy.sqlite.tmp-notes')), 'a file that is not a temporary of ours is left alone');
});

test('--db through a symlink: the target is updated, the link stays, the mode and owner are kept', async () => {
  const target = join(dir, 'real', 'index.sqlite');
  mkdirSync(join(dir, 'real'));
  assert.equal((await runCli(['index', sample, '--db', target, '--quiet'])).code, 0);
  chmodSync(target, 0o640);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(target, 65534, 65534);
  const link = join(dir, 'link.sqlite');
  symlinkSync(target, link);
  const r = await runCli(['index', basic, '--db', link, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
  assert.equal(treeCount(target), 2, 'the target holds both trees');
  const st = statSync(target);
  assert.equal(st.mode & 0o777, 0o640);
  if (asRoot) assert.deepEqual([st.uid, st.gid], [65534, 65534]);
  else assert.equal(st.uid, userInfo().uid);
});

test('SQLite files that dropsite did not create are refused by every command, and left as they were', async () => {
  const make = (name: string, setup: (h: Database.Database) => void): string => {
    const f = join(dir, name);
    const h = new Database(f);
    setup(h);
    h.close();
    return f;
  };
  const cases = [
    make('foreign-v6.sqlite', (h) => { h.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)'); h.pragma('user_version = 6'); }),
    make('foreign-trees.sqlite', (h) => { h.exec('CREATE TABLE trees (id INTEGER PRIMARY KEY, root TEXT)'); h.pragma(`user_version = ${SCHEMA_VERSION - 1}`); }),
    make('foreign-app.sqlite', (h) => { h.exec(SCHEMA); h.pragma(`user_version = ${SCHEMA_VERSION}`); h.pragma('application_id = 305419896'); }),
  ];
  for (const f of cases) {
    const before = readFileSync(f);
    for (const args of [['sites'], ['reasons'], ['trees'], ['explain', 'tcp_v4_rcv+0x1/0x10'], ['index', sample]]) {
      const r = await runCli([...args, '--db', f]);
      assert.equal(r.code, 1, `${args[0]} on ${f}: ${r.stderr}`);
      assert.match(r.stderr, /^dropsite: .* is an SQLite database that dropsite did not create \(.*\): refusing to use it as an index$/m, `${args[0]} ${f}`);
      assert.doesNotMatch(r.stderr, /internal error|\bremove\b/);
    }
    assert.deepEqual(readFileSync(f), before, `${f} is unchanged`);
  }
  // An SQLite file without tables holds nothing: index fills it.
  const empty = make('empty.sqlite', (h) => { h.pragma('user_version = 0'); });
  assert.equal((await runCli(['index', sample, '--db', empty, '--quiet'])).code, 0);
  const h = new Database(empty, { readonly: true });
  assert.equal(h.pragma('application_id', { simple: true }), APPLICATION_ID);
  h.close();
});

test('a directory as --db is a clear error', async () => {
  const d = join(dir, 'a-dir');
  mkdirSync(d);
  for (const args of [['index', sample], ['sites'], ['trees']]) {
    const r = await runCli([...args, '--db', d]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^dropsite: --db .*a-dir is a directory, expected an index file$/m);
  }
});

test('the default index path ignores a relative XDG_CACHE_HOME and an empty HOME', async () => {
  assert.equal(defaultDbPath({ XDG_CACHE_HOME: '/x/cache', HOME: '/h' }), '/x/cache/dropsite/index.sqlite');
  assert.equal(defaultDbPath({ XDG_CACHE_HOME: 'cache', HOME: '/h' }), '/h/.cache/dropsite/index.sqlite');
  for (const home of ['', 'rel']) {
    const p = defaultDbPath({ XDG_CACHE_HOME: '', HOME: home });
    assert.ok(p.startsWith('/') && !p.startsWith(`${process.cwd()}/.cache`), p);
  }
  const cwd = join(dir, 'cwd');
  const home = join(dir, 'home');
  mkdirSync(cwd);
  mkdirSync(home);
  const code = await new Promise<number>((res) => {
    execFile(process.execPath, [CLI, 'index', sample, '--quiet'], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin', HOME: home, XDG_CACHE_HOME: 'relative-cache' } },
      (err) => res(err === null ? 0 : Number(err.code ?? 1)));
  });
  assert.equal(code, 0);
  assert.deepEqual(readdirSync(cwd), [], 'nothing was written in the current folder');
  assert.ok(existsSync(join(home, '.cache', 'dropsite', 'index.sqlite')));
});

test('a warning is said once on a re-run', async () => {
  const db = join(dir, 'warn.sqlite');
  const tree = fixture('scan', 'not-kernel');
  assert.equal((await runCli(['index', tree, '--db', db, '--force'])).code, 0);
  const again = await runCli(['index', tree, '--db', db, '--force']);
  assert.match(again.stdout, /is unchanged/);
  assert.equal(again.stderr.match(/does not look like a Linux source tree/g)?.length, 1, again.stderr);
});

test('a change to the Makefile version or the git HEAD alone makes the index stale', async () => {
  const tree = join(dir, 'versioned');
  cpSync(sample, tree, { recursive: true });
  mkdirSync(join(tree, '.git'));
  writeFileSync(join(tree, '.git', 'HEAD'), `${'a'.repeat(40)}\n`);
  const db = join(dir, 'versioned.sqlite');
  assert.equal((await runCli(['index', tree, '--db', db, '--quiet'])).code, 0);
  const makefile = join(tree, 'Makefile');
  writeFileSync(makefile, readFileSync(makefile, 'latin1').replace(/^SUBLEVEL = 0$/m, 'SUBLEVEL = 7'));
  const bumped = await runCli(['index', tree, '--db', db]);
  assert.doesNotMatch(bumped.stdout, /is unchanged since it was indexed/);
  assert.match(bumped.stdout, /\(Linux 6\.1\.7\)/);
  writeFileSync(join(tree, '.git', 'HEAD'), `${'b'.repeat(40)}\n`);
  const moved = await runCli(['index', tree, '--db', db]);
  assert.doesNotMatch(moved.stdout, /is unchanged since it was indexed/);
  const [t] = JSON.parse((await runCli(['trees', '--db', db, '--json'])).stdout) as Array<{ version: string; gitHead: string; stats: Record<string, unknown> }>;
  assert.deepEqual([t?.version, t?.gitHead], ['6.1.7', 'b'.repeat(40)]);
  assert.ok(t !== undefined && !('searchedAll' in t.stats) && t.stats.sites === 42, 'trees --json shows figures, not the scanner\'s cache');
  const same = await runCli(['index', tree, '--db', db]);
  assert.match(same.stdout, /is unchanged since it was indexed/);
});

test('sites, explain and report say once when a file they show changed since it was indexed', async () => {
  const tree = join(dir, 'edited');
  cpSync(sample, tree, { recursive: true });
  const db = join(dir, 'edited.sqlite');
  assert.equal((await runCli(['index', tree, '--db', db, '--quiet'])).code, 0);
  const udp = join(tree, 'net/ipv4/udp.c');
  const text = readFileSync(udp, 'latin1');
  // Touched, not changed: the content hash says it is the indexed file.
  writeFileSync(udp, text);
  const touched = await runCli(['sites', '--db', db, '--function', '__udp4_lib_rcv']);
  assert.doesNotMatch(touched.stderr, /changed since/);
  writeFileSync(udp, `/* two lines\n added */\n${text}`);
  const stale = /^warning: a file shown changed since .*edited was indexed \(net\/ipv4\/udp\.c\): line numbers and marked lines may be wrong; run `dropsite index .*edited` to update the index$/m;
  const sites = await runCli(['sites', '--db', db, '--function', '__udp4_lib_rcv', '--json']);
  assert.equal(sites.code, 0);
  assert.match(sites.stderr, stale);
  assert.equal(sites.stderr.match(/changed since/g)?.length, 1);
  JSON.parse(sites.stdout);
  const explain = await runCli(['explain', '--db', db, '__udp4_lib_rcv+0x4bc/0xd00', 'reason:', 'NO_SOCKET']);
  assert.equal(explain.code, 0, explain.stderr);
  assert.match(explain.stderr, stale);
  const rec = join(dir, 'udp-drops.txt');
  writeFileSync(rec, '<idle>-0 [001] ..s1. 100.000001: kfree_skb: skbaddr=0000000012345678 protocol=2048 location=__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET\n');
  const report = await runCli(['report', '--db', db, '--as', 'json', rec]);
  assert.equal(report.code, 0, report.stderr);
  const view = JSON.parse(report.stdout) as { warnings: string[] };
  assert.ok(view.warnings.some((w) => /changed since .*\(net\/ipv4\/udp\.c\)/.test(w)), JSON.stringify(view.warnings));
  // Other files are not named.
  const other = await runCli(['sites', '--db', db, '--file', 'net/core/*']);
  assert.doesNotMatch(other.stderr, /changed since/);
});
