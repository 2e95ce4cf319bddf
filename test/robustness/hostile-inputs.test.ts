// Every command against a table of hostile inputs (issue 9): special files, control characters, huge
// and deep inputs, foreign databases, concurrent writers, a full stdout and a full disk. Each row is a
// command line and the input it makes in its own temp dir; every run is held to the README's
// reliability promises: the expected exit code, an error that is exactly one `dropsite:` line (and a
// hint), no raw control character in any output, a wall-clock bound (a hang detector, not a benchmark),
// and earlier state (an index, a report) byte for byte unchanged unless the row says how it may change.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { fixture } from '../helpers/fixture.ts';
import { makeTree } from '../helpers/hostile-tree.ts';
import { assertNoControl, assertOneLineError, fileState, runBounded, type BoundedResult } from '../helpers/robustness.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-hostile-'));
const mounts: string[] = [];
after(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m]);
    } catch {
      execFileSync('umount', ['-l', m]);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const SAMPLE = fixture('sample');
const shared = join(dir, 'shared');
/** The sample tree indexed once: read-side rows use it and must leave it byte for byte as it was. */
const DB = join(shared, 'sample.sqlite');
const REC = join(shared, 'tracefs.txt');
const ESC_TREE = join(shared, 'esc-tree\u001b[2J');
const ESC_DB = join(shared, 'esc.sqlite');
const ESC_REC = join(shared, 'esc-tracefs.txt');
const ESC_MAP = join(shared, 'esc-kallsyms');
const LOC = 'udp_queue_rcv_one_skb+0x10/0x100';
const BOUND = 25_000;
const IS_ROOT = process.getuid?.() === 0;

const tracefsLine = (loc: string, reason: string, comm = 'nc'): string =>
  `          ${comm}-4242    [001] ..s1. 100.000001: kfree_skb: skbaddr=00000000c0ffee00 protocol=2048 location=${loc} reason: ${reason}`;

const mkfifo = (path: string): void => {
  execFileSync('mkfifo', [path]);
};
/** A copy of the sample in `d`/tree with `poison` applied to it. */
function sampleCopy(d: string, poison: (tree: string) => void = () => undefined): string {
  const tree = join(d, 'tree');
  cpSync(SAMPLE, tree, { recursive: true });
  poison(tree);
  return tree;
}
/** An index that already holds the sample: an index row's "earlier state". */
function earlierIndex(d: string): string {
  const db = join(d, 'index.sqlite');
  copyFileSync(DB, db);
  return db;
}
function treeRoots(db: string): string[] {
  const h = new Database(db, { readonly: true });
  try {
    return (h.prepare('SELECT root FROM trees ORDER BY root').pluck().all() as string[]);
  } finally {
    h.close();
  }
}

/** A tmpfs of `mib` MiB at `d`/mnt (root only). */
function mountTmpfs(d: string, mib: number): string {
  const mnt = join(d, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', mnt]);
  mounts.push(mnt);
  return mnt;
}
/** Fills the file system of `mnt` and then frees `leaveKiB`, so the next writer runs out part way. */
function fillDisk(mnt: string, leaveKiB: number): void {
  const filler = join(mnt, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(16 * 1024, 0x5a);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  truncateSync(filler, Math.max(0, size - leaveKiB * 1024));
}

let mountSkip: string | false = IS_ROOT ? false : 'the full-disk rows mount a tmpfs, which needs root (CI runs as root)';

interface Case {
  name: string;
  /** Makes the hostile input in the row's own dir; returns anything `args` needs. */
  setup?: (d: string) => Record<string, string> | Promise<Record<string, string>>;
  args: (d: string, s: Record<string, string>) => string[];
  input?: (d: string) => string;
  env?: (d: string) => Record<string, string>;
  /** A file opened as stdout (/dev/full). */
  stdoutFile?: string;
  /** Several runs at once (concurrent writers); each is checked like a single run. */
  parallel?: (d: string, s: Record<string, string>) => string[][];
  code: number;
  /** 'error': the one-line error contract; 'quiet': nothing on stderr; a RegExp: each stderr line matches it. */
  stderr: 'error' | 'quiet' | RegExp;
  /** What the stderr must say (the input it names). */
  says?: RegExp;
  /** Files that must be byte for byte the same after the run (the shared index always is). */
  unchanged?: (d: string, s: Record<string, string>) => string[];
  check?: (r: BoundedResult, d: string, s: Record<string, string>) => void | Promise<void>;
  boundMs?: number;
  skip?: () => string | false;
}

const WARNINGS = /^(warning: |note: |hint: |dropsite: warning)/;
const WRITER_WAIT = /^dropsite: another process is writing .*: waiting for it/;

const special: Case[] = [
  {
    name: 'index: a FIFO as the top Makefile', code: 1, stderr: 'error', says: /Makefile.*FIFO/,
    setup: (d) => ({ tree: sampleCopy(d, (t) => { unlinkSync(join(t, 'Makefile')); mkfifo(join(t, 'Makefile')); }), db: earlierIndex(d) }),
    args: (_, s) => ['index', s.tree!, '--db', s.db!], unchanged: (_, s) => [s.db!],
  },
  {
    name: 'index: Makefile -> /dev/zero', code: 1, stderr: 'error', says: /Makefile.*character device/,
    setup: (d) => ({ tree: sampleCopy(d, (t) => { unlinkSync(join(t, 'Makefile')); symlinkSync('/dev/zero', join(t, 'Makefile')); }), db: earlierIndex(d) }),
    args: (_, s) => ['index', s.tree!, '--db', s.db!], unchanged: (_, s) => [s.db!],
  },
  {
    name: 'index: a FIFO as include/net/dropreason.h (indexed without reasons, named)', code: 0, stderr: WARNINGS, says: /dropreason\.h.*FIFO/,
    setup: (d) => ({ tree: sampleCopy(d, (t) => { unlinkSync(join(t, 'include/net/dropreason.h')); mkfifo(join(t, 'include/net/dropreason.h')); }), db: earlierIndex(d) }),
    args: (_, s) => ['index', s.tree!, '--db', s.db!],
    check: (_, __, s) => assert.deepEqual(treeRoots(s.db!), [SAMPLE, s.tree!].sort(), 'the earlier tree is kept'),
  },
  {
    name: 'index: a FIFO as .git/HEAD (no git head)', code: 0, stderr: WARNINGS,
    setup: (d) => ({ tree: sampleCopy(d, (t) => { mkdirSync(join(t, '.git')); mkfifo(join(t, '.git/HEAD')); }), db: join(d, 'index.sqlite') }),
    args: (_, s) => ['index', s.tree!, '--db', s.db!],
    check: async (_, d, s) => {
      const r = await runBounded({ args: ['trees', '--db', s.db!, '--json'], env: { XDG_CACHE_HOME: join(d, 'cache') }, boundMs: BOUND });
      assert.equal((JSON.parse(r.stdout) as Array<{ gitHead: unknown }>)[0]?.gitHead, null);
    },
  },
  {
    name: 'index: a FIFO among the sources (not a source file: passed over, the rest indexed)', code: 0, stderr: WARNINGS,
    setup: (d) => ({ tree: sampleCopy(d, (t) => mkfifo(join(t, 'net/core/stuck.c'))), db: join(d, 'index.sqlite') }),
    args: (_, s) => ['index', s.tree!, '--db', s.db!],
    check: (r) => assert.match(r.stdout, /files seen 12, read 12\b.*\n.*drop sites 42\b/),
  },
  {
    name: 'index: the tree is a FIFO', code: 1, stderr: 'error',
    setup: (d) => { mkfifo(join(d, 'tree')); return { db: earlierIndex(d) }; },
    args: (d, s) => ['index', join(d, 'tree'), '--db', s.db!], unchanged: (_, s) => [s.db!],
  },
  ...(['sites', 'trees', 'reasons'] as const).map((cmd): Case => ({
    name: `${cmd}: --db is a FIFO`, code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'db')); return {}; }, args: (d) => [cmd, '--db', join(d, 'db')],
  })),
  {
    name: 'index: --db is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'db')); return {}; }, args: (d) => ['index', SAMPLE, '--db', join(d, 'db')],
  },
  {
    name: 'sites: --db /dev/zero', code: 1, stderr: 'error', says: /character device/, args: () => ['sites', '--db', '/dev/zero'],
  },
  {
    name: 'index: --db /dev/null', code: 1, stderr: 'error', says: /character device/, args: () => ['index', SAMPLE, '--db', '/dev/null'],
  },
  {
    name: 'explain: --kallsyms is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'kallsyms')); return {}; }, args: (d) => ['explain', 'ffffffff81000010', '--db', DB, '--kallsyms', join(d, 'kallsyms')],
  },
  {
    name: 'explain: --kallsyms -> /dev/zero', code: 1, stderr: 'error', says: /character device/,
    setup: (d) => { symlinkSync('/dev/zero', join(d, 'kallsyms')); return {}; }, args: (d) => ['explain', 'ffffffff81000010', '--db', DB, '--kallsyms', join(d, 'kallsyms')],
  },
  {
    name: 'explain: --system-map is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'System.map')); return {}; }, args: (d) => ['explain', 'ffffffff81000010', '--db', DB, '--system-map', join(d, 'System.map')],
  },
  {
    name: 'explain: --vmlinux is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'vmlinux')); return {}; }, args: (d) => ['explain', LOC, '--db', DB, '--vmlinux', join(d, 'vmlinux')],
  },
  {
    name: 'explain: --vmlinux /dev/zero', code: 1, stderr: 'error', says: /character device/, args: () => ['explain', LOC, '--db', DB, '--vmlinux', '/dev/zero'],
  },
  {
    name: 'explain: --vmlinux is a 20 GiB sparse file', code: 1, stderr: 'error', says: /vmlinux/,
    setup: (d) => { const f = join(d, 'vmlinux'); writeFileSync(f, ''); truncateSync(f, 20 * 1024 ** 3); return {}; },
    args: (d) => ['explain', LOC, '--db', DB, '--vmlinux', join(d, 'vmlinux')], boundMs: 10_000,
  },
  {
    name: 'explain --rebuild: --config is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'config')); return {}; }, args: (d) => ['explain', LOC, '--db', DB, '--rebuild', '--config', join(d, 'config')],
  },
  {
    name: 'explain --rebuild: --kernel is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'vmlinuz')); writeFileSync(join(d, 'config'), 'CONFIG_NET=y\n'); return {}; },
    args: (d) => ['explain', LOC, '--db', DB, '--rebuild', '--config', join(d, 'config'), '--kernel', join(d, 'vmlinuz')],
  },
  {
    name: 'index --config: a FIFO (refused, the earlier index kept)', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'config')); return { db: earlierIndex(d) }; }, args: (d, s) => ['index', SAMPLE, '--db', s.db!, '--config', join(d, 'config')], unchanged: (_, s) => [s.db!],
  },
  {
    name: 'report: the recording is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'rec')); return {}; }, args: (d) => ['report', join(d, 'rec'), '--db', DB],
  },
  {
    name: 'report: the recording -> /dev/zero', code: 1, stderr: 'error', says: /character device/,
    setup: (d) => { symlinkSync('/dev/zero', join(d, 'rec')); return {}; }, args: (d) => ['report', join(d, 'rec'), '--db', DB],
  },
  {
    name: 'report: --kallsyms is a FIFO', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'kallsyms')); return {}; }, args: (d) => ['report', REC, '--db', DB, '--kallsyms', join(d, 'kallsyms')],
  },
  {
    name: 'report: -o is a FIFO (refused before reading)', code: 1, stderr: 'error', says: /FIFO/,
    setup: (d) => { mkfifo(join(d, 'out')); return {}; }, args: (d) => ['report', REC, '--db', DB, '-o', join(d, 'out')],
  },
  {
    name: 'watch: -o is the index (refused before capturing)', code: 1, stderr: 'error', says: /index/,
    setup: (d) => ({ db: earlierIndex(d) }), args: (_, s) => ['watch', '--db', s.db!, '--duration', '1', '-o', s.db!], unchanged: (_, s) => [s.db!],
  },
  {
    name: 'watch: -o in a missing folder (refused before capturing)', code: 1, stderr: 'error', says: /no-such-folder/,
    args: (d) => ['watch', '--db', DB, '--duration', '1', '-o', join(d, 'no-such-folder', 'report.txt')],
  },
];

// The escapes tree: ESC, OSC, CSI, BEL, CR, newline, C1 and DEL in a folder name, a file name, a source
// line, kernel-doc text and the Makefile's version; a symbol map and a recording with the same.
function writeEscapesInputs(): void {
  cpSync(SAMPLE, ESC_TREE, { recursive: true });
  const mk = join(ESC_TREE, 'Makefile');
  writeFileSync(mk, readFileSync(mk, 'latin1').replace(/^EXTRAVERSION =.*$/m, 'EXTRAVERSION = -rc1\u001b]0;owned\u0007\r'), 'latin1');
  const reasons = join(ESC_TREE, 'include/net/dropreason.h');
  writeFileSync(reasons, readFileSync(reasons, 'latin1').replace('drop reason is not given', 'drop reason \u001b[2J\u009b31m is not\r given\u007f'), 'latin1');
  writeFileSync(join(ESC_TREE, 'net/ipv4/evil\u001b]8;;x\u0007\r\nname.c'), [
    '/* Fixture: a hostile file whose name and source lines carry terminal escapes. */',
    '#include <linux/skbuff.h>',
    'int evil_rcv(struct sk_buff *skb)',
    '{',
    '\tif (!skb)',
    '\t\treturn 1;',
    '\tkfree_skb_reason(skb, SKB_DROP_REASON_NOT_SPECIFIED); /* \u001b]52;c;cm0gLXJmIH4=\u0007 \r\u001b[1A */',
    '\treturn 0;',
    '}',
    '',
  ].join('\n'), 'latin1');
  writeFileSync(ESC_MAP, ['ffffffff81000000 T _text', 'ffffffff81000100 T evil\u001b[2J_sym', 'ffffffff81000200 T evil_rcv', 'ffffffff81000300 T _etext', ''].join('\n'), 'latin1');
  writeFileSync(ESC_REC, [
    tracefsLine('evil_rcv+0x1c/0x40', 'NOT_\u001b[2JSPECIFIED', 'ev\u001b]0;x\u0007il'),
    tracefsLine('evil\u001b[31m_fn+0x10/0x40', 'NO_SOCKET'),
    tracefsLine(LOC, 'NO_SOCKET\r\u001b[1A'),
    tracefsLine('evil_rcv+0x1c/0x40', 'NOT_SPECIFIED'),
    tracefsLine(LOC, 'NO_SOCKET'),
    `garbage \u001b]0;owned\u0007 line\r`,
    '',
  ].join('\n'), 'latin1');
}

const escapes: Case[] = [
  { name: 'index: control characters in the folder, a file name, a source line, kernel-doc and the Makefile', code: 0, stderr: WARNINGS, args: (d) => ['index', ESC_TREE, '--db', join(d, 'esc.sqlite')] },
  { name: 'sites: control characters in file names and reasons', code: 0, stderr: WARNINGS, args: () => ['sites', '--db', ESC_DB] },
  { name: 'sites --file: a hostile file name', code: 0, stderr: WARNINGS, args: () => ['sites', '--db', ESC_DB, '--file', 'net/ipv4/*'], check: (r) => assert.match(r.stdout, /evil\\x1b\]8;;x\\x07\\x0d\\x0aname\.c/) },
  { name: 'reasons: control characters in kernel-doc text', code: 0, stderr: WARNINGS, args: () => ['reasons', '--db', ESC_DB], check: (r) => assert.match(r.stdout, /drop reason \\x1b\[2J\\x9b31m is not\s+given\\x7f/) },
  { name: 'trees: control characters in the root and the Makefile version', code: 0, stderr: WARNINGS, args: () => ['trees', '--db', ESC_DB] },
  { name: 'explain: a hostile source line and file name', code: 0, stderr: WARNINGS, args: () => ['explain', 'evil_rcv+0x1c/0x40', '--db', ESC_DB], check: (r) => assert.match(r.stdout, /evil_rcv/) },
  { name: 'explain: a hostile symbol map', code: 0, stderr: WARNINGS, args: () => ['explain', 'ffffffff81000110', 'ffffffff8100021c', '--db', ESC_DB, '--kallsyms', ESC_MAP], check: (r) => assert.match(r.stdout, /evil\\x1b\[2J_sym\+0x10\/0x100/) },
  { name: 'explain: a hostile location argument (refused, shown escaped)', code: 1, stderr: 'error', says: /non-printable/, args: () => ['explain', 'evil\u001b[2J\u0007+0x10/0x40', '--db', ESC_DB] },
  { name: 'explain --stdin: hostile lines (each counted and named, escaped; the clean ones answered)', code: 0, stderr: /^dropsite: (stdin line \d+: |skipped \d+ unparsable)|^warning: |^hint: for the exact line/, says: /skipped 4 unparsable line\(s\); answered 3/, args: () => ['explain', '--stdin', '--db', ESC_DB], input: () => readFileSync(ESC_REC, 'latin1') },
  { name: 'report: a hostile recording (table; hostile lines counted and shown escaped)', code: 0, stderr: WARNINGS, args: () => ['report', ESC_REC, '--db', ESC_DB], check: (r) => assert.match(r.stdout, /4 input lines skipped[^]*\\x1b/) },
  { name: 'report: a hostile recording (markdown)', code: 0, stderr: WARNINGS, args: () => ['report', ESC_REC, '--db', ESC_DB, '--as', 'md'] },
  { name: 'sites: a hostile --db path in the error', code: 1, stderr: 'error', args: (d) => ['sites', '--db', join(d, 'no\u001b]0;x\u0007dir', 'i.sqlite')] },
  { name: 'index: a hostile tree path in the error', code: 1, stderr: 'error', args: (d) => ['index', join(d, 'missing\u001b[2J\r\ntree'), '--db', join(d, 'i.sqlite')] },
];

const huge: Case[] = [
  {
    name: 'index: 100,000 nested levels in a threaded tree (skipped, named; earlier tree kept)', code: 0, stderr: WARNINGS, says: /deep\.c/, boundMs: 30_000,
    setup: (d) => ({ tree: makeTree(join(d, 'tree'), { 'net/core/deep.c': `void deep(struct sk_buff *skb)\n${'{'.repeat(100_000)} kfree_skb(skb); ${'}'.repeat(100_000)}\n` }), db: earlierIndex(d) }),
    args: (_, s) => ['index', s.tree!, '--db', s.db!, '--quiet'],
    check: (_, __, s) => assert.deepEqual(treeRoots(s.db!), [SAMPLE, s.tree!].sort()),
  },
  {
    name: 'index: a 50 MB one-line comment in a threaded tree (skipped, named; earlier tree kept)', code: 0, stderr: WARNINGS, says: /comment\.c/, boundMs: 30_000,
    setup: (d) => ({ tree: makeTree(join(d, 'tree'), { 'net/core/comment.c': `/* ${'kfree_skb(skb); '.repeat(3_200_000)}*/\n` }), db: earlierIndex(d) }),
    args: (_, s) => ['index', s.tree!, '--db', s.db!, '--quiet'],
    check: (_, __, s) => assert.deepEqual(treeRoots(s.db!), [SAMPLE, s.tree!].sort()),
  },
  {
    name: 'report: 200,000 distinct reasons (table, capped at --top)', code: 0, stderr: WARNINGS, boundMs: 30_000,
    setup: (d) => {
      const lines: string[] = [];
      for (let i = 0; i < 200_000; i++) lines.push(tracefsLine('__udp4_lib_rcv+0x4bc/0xd00', `R${i}`));
      writeFileSync(join(d, 'rec.txt'), `${lines.join('\n')}\n`);
      return {};
    },
    args: (d) => ['report', join(d, 'rec.txt'), '--db', DB],
    check: (r) => assert.ok(r.stdout.split('\n').length < 200, `the table is capped (${r.stdout.split('\n').length} lines)`),
  },
  {
    name: 'report: a 50 MB line (counted as skipped, not fatal)', code: 0, stderr: WARNINGS, boundMs: 30_000,
    setup: (d) => { writeFileSync(join(d, 'rec.txt'), `${tracefsLine(LOC, 'NO_SOCKET')}\n${'x'.repeat(50 * 1024 * 1024)}\n${tracefsLine(LOC, 'NO_SOCKET')}\n`); return {}; },
    args: (d) => ['report', join(d, 'rec.txt'), '--db', DB, '--as', 'json'],
    check: (r) => {
      const v = JSON.parse(r.stdout) as { totals: { drops: number; skippedLines: number } };
      assert.equal(v.totals.drops, 2);
      assert.equal(v.totals.skippedLines, 1);
    },
  },
  {
    name: 'explain --stdin: 5,000 unknown symbols', code: 0, stderr: WARNINGS, boundMs: 30_000,
    args: () => ['explain', '--stdin', '--db', DB],
    input: () => Array.from({ length: 5000 }, (_, i) => `unknown_fn_${i}_x+0x10/0x100`).join('\n'),
    check: (r) => assert.equal((r.stdout.match(/no candidate/g) ?? []).length, 5000),
  },
  {
    name: 'explain: a 100 kB location argument', code: 1, stderr: 'error',
    args: () => ['explain', `${'a'.repeat(100_000)}+0x10/0x100`, '--db', DB],
  },
];

// Other SQLite files as --db: every command refuses them with one line and leaves them as they were.
function foreignDb(d: string, kind: 'foreign' | 'uv6' | 'garbage' | 'truncated'): string {
  const f = join(d, `${kind}.sqlite`);
  if (kind === 'garbage') writeFileSync(f, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 131 + 7) % 256)));
  else if (kind === 'truncated') writeFileSync(f, readFileSync(DB).subarray(0, 16384));
  else {
    const h = new Database(f);
    h.exec(kind === 'foreign' ? "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('keep me')" : "CREATE TABLE trees (id INTEGER PRIMARY KEY, root TEXT); INSERT INTO trees (root) VALUES ('theirs'); PRAGMA user_version = 6");
    h.close();
  }
  return f;
}
const COMMANDS: Array<[string, (db: string) => string[]]> = [
  ['index', (db) => ['index', SAMPLE, '--db', db]],
  ['sites', (db) => ['sites', '--db', db]],
  ['reasons', (db) => ['reasons', '--db', db]],
  ['trees', (db) => ['trees', '--db', db]],
  ['explain', (db) => ['explain', LOC, '--db', db]],
  ['report', (db) => ['report', REC, '--db', db]],
  ['watch', (db) => ['watch', '--db', db, '--duration', '1']],
];
const foreign: Case[] = (['foreign', 'uv6', 'garbage', 'truncated'] as const).flatMap((kind) => COMMANDS
  // A truncated or garbage file gives index nothing to refuse before it scans: it is checked on read.
  .filter(([cmd]) => !((kind === 'garbage' || kind === 'truncated') && (cmd === 'index' || cmd === 'watch')))
  .map(([cmd, argv]): Case => ({
    name: `${cmd}: --db is ${kind === 'foreign' ? 'another application\'s SQLite file' : kind === 'uv6' ? 'an SQLite file with user_version 6 and a trees table' : kind === 'garbage' ? 'not SQLite at all' : 'a truncated index'}`,
    code: 1, stderr: 'error',
    says: kind === 'foreign' || kind === 'uv6' ? /did not create/ : /sqlite/,
    setup: (d) => ({ db: foreignDb(d, kind) }),
    args: (_, s) => argv(s.db!), unchanged: (_, s) => [s.db!],
  })));

const stdoutFull: Case[] = ([
  ['sites', ['sites', '--db', DB]], ['reasons', ['reasons', '--db', DB]], ['trees', ['trees', '--db', DB]],
  ['explain', ['explain', LOC, '--db', DB]], ['report', ['report', REC, '--db', DB]], ['demo', ['demo']],
] as const).map(([cmd, args]): Case => ({
  name: `${cmd}: stdout is /dev/full`, code: 1, stderr: 'error', says: /cannot write to standard output: no space left on device/,
  stdoutFile: '/dev/full', args: () => [...args],
}));

const writers: Case[] = [
  {
    name: 'index: three writers on one --db that holds a tree, and a reader, at once (every tree kept, the reader sees the earlier tree)', code: 0, stderr: new RegExp(`${WARNINGS.source}|${WRITER_WAIT.source}`), boundMs: 90_000,
    setup: (d) => ({ db: earlierIndex(d) }),
    args: () => [],
    parallel: (_, s) => [
      ['index', fixture('scan', 'basic'), '--db', s.db!, '--quiet'],
      ['index', fixture('scan', 'helpers'), '--db', s.db!, '--quiet'],
      ['index', fixture('scan', 'macros-and-errors'), '--db', s.db!, '--quiet'],
      ['sites', '--db', s.db!, '--tree', SAMPLE],
    ],
    check: (r, _, s) => {
      if (r.stdout.startsWith('site ')) assert.match(r.stdout, /42 sites in /, 'the reader sees the earlier tree whole');
      assert.deepEqual(treeRoots(s.db!), [SAMPLE, fixture('scan', 'basic'), fixture('scan', 'helpers'), fixture('scan', 'macros-and-errors')].sort());
    },
  },
];

const fullDisk: Case[] = [
  {
    name: 'index: --db on a full 4 MiB tmpfs (the earlier index byte for byte, one line)', code: 1, stderr: 'error', says: /space|full/i, skip: () => mountSkip,
    setup: async (d) => {
      const mnt = mountTmpfs(d, 4);
      const db = join(mnt, 'index.sqlite');
      copyFileSync(DB, db);
      fillDisk(mnt, 32);
      return { db, tree: makeTree(join(d, 'tree'), {}, 300) };
    },
    args: (_, s) => ['index', s.tree!, '--db', s.db!, '--quiet'],
    check: async (_, d, s) => {
      // The journal left by the failed write is rolled back by the next command that opens the index.
      const r = await runBounded({ args: ['trees', '--db', s.db!, '--json'], env: { XDG_CACHE_HOME: join(d, 'cache') }, boundMs: BOUND });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fileState(s.db!), fileState(DB), 'after the rollback the index is the earlier one, byte for byte');
      assert.deepEqual(readdirSync(join(d, 'mnt')).sort(), ['filler', 'index.sqlite'], 'no journal or temporary is left');
    },
  },
  {
    name: 'report -o on a full 4 MiB tmpfs (the earlier report byte for byte, one line, no temporary)', code: 1, stderr: 'error', says: /space/, skip: () => mountSkip,
    setup: async (d) => {
      const mnt = mountTmpfs(d, 4);
      const out = join(mnt, 'report.json');
      const first = await runBounded({ args: ['report', REC, '--db', DB, '-o', out], env: { XDG_CACHE_HOME: join(d, 'cache') }, boundMs: BOUND });
      assert.equal(first.code, 0, first.stderr);
      const lines: string[] = [];
      for (let i = 0; i < 20_000; i++) lines.push(tracefsLine(`fn_${i}+0x4bc/0xd00`, 'NO_SOCKET'));
      writeFileSync(join(d, 'big.txt'), `${lines.join('\n')}\n`);
      fillDisk(mnt, 16);
      return { out, big: join(d, 'big.txt'), before: fileState(out) };
    },
    args: (_, s) => ['report', s.big!, '--db', DB, '-o', s.out!, '--top', '20000'],
    check: (_, d, s) => {
      assert.equal(fileState(s.out!), s.before, 'the earlier report is byte for byte as it was');
      assert.deepEqual(readdirSync(join(d, 'mnt')).sort(), ['filler', 'report.json'], 'no temporary is left');
    },
  },
];

const demo: Case[] = [
  { name: 'demo: runs in bounded time with clean output', code: 0, stderr: WARNINGS, args: () => ['demo'], boundMs: 30_000 },
  { name: 'demo: TMPDIR is missing', code: 1, stderr: 'error', says: /temporary folder/, args: () => ['demo'], env: (d) => ({ TMPDIR: join(d, 'missing') }) },
  {
    name: 'demo: TMPDIR is a file', code: 1, stderr: 'error', says: /temporary folder/, args: () => ['demo'],
    setup: (d) => { writeFileSync(join(d, 'file'), 'x'); return {}; }, env: (d) => ({ TMPDIR: join(d, 'file') }), unchanged: (d) => [join(d, 'file')],
  },
];

const TABLE: Array<[string, Case[]]> = [
  ['special files', special], ['control characters', escapes], ['huge and deep inputs', huge], ['foreign databases', foreign],
  ['a full stdout', stdoutFull], ['concurrent writers', writers], ['a full disk', fullDisk], ['demo', demo],
];

before(async () => {
  mkdirSync(shared);
  writeFileSync(REC, `${[tracefsLine(LOC, 'NO_SOCKET'), tracefsLine('__udp4_lib_rcv+0x4bc/0xd00', 'NO_SOCKET'), tracefsLine('netlink_unicast+0x1a0/0x300', 'NOT_SPECIFIED')].join('\n')}\n`);
  const env = { XDG_CACHE_HOME: join(shared, 'cache') };
  writeEscapesInputs();
  const [a, b] = await Promise.all([
    runBounded({ args: ['index', SAMPLE, '--db', DB, '--quiet'], env, boundMs: BOUND }),
    runBounded({ args: ['index', ESC_TREE, '--db', ESC_DB, '--quiet'], env, boundMs: BOUND }),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  if (IS_ROOT) {
    try {
      const probe = mountTmpfs(mkdtempSync(join(dir, 'probe-')), 1);
      execFileSync('umount', [probe]);
      mounts.splice(mounts.indexOf(probe), 1);
    } catch (err) {
      mountSkip = `cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}`;
    }
  }
});

async function runCase(c: Case, d: string): Promise<void> {
  const s = (await c.setup?.(d)) ?? {};
  const watched = [DB, ESC_DB, ...(c.unchanged?.(d, s) ?? [])];
  const beforeState = watched.map(fileState);
  const env = { XDG_CACHE_HOME: join(d, 'cache'), ...c.env?.(d) };
  const bound = c.boundMs ?? BOUND;
  const runs = c.parallel?.(d, s) ?? [c.args(d, s)];
  const results = await Promise.all(runs.map((args) => runBounded({
    args, env, boundMs: bound, ...(c.input !== undefined ? { input: c.input(d) } : {}), ...(c.stdoutFile !== undefined ? { stdoutFile: c.stdoutFile } : {}),
  })));
  for (const r of results) {
    assert.equal(r.timedOut, false, `killed at the ${bound / 1000} s bound (a hang); stderr: ${r.stderr.slice(0, 500)}`);
    assert.equal(r.signal, null, `died of ${r.signal}: ${r.stderr.slice(0, 500)}`);
    assert.equal(r.code, c.code, `exit ${r.code}, expected ${c.code}; stderr: ${JSON.stringify(r.stderr.slice(0, 1500))}`);
    assertNoControl('stdout', r.stdout);
    assertNoControl('stderr', r.stderr);
    if (c.stderr === 'error') assertOneLineError(r.stderr, WRITER_WAIT);
    else if (c.stderr === 'quiet') assert.equal(r.stderr, '');
    else for (const line of r.stderr.split('\n').filter((l) => l !== '')) assert.match(line, c.stderr, `an unexpected stderr line: ${JSON.stringify(r.stderr.slice(0, 1500))}`);
    if (c.says !== undefined) assert.match(r.stderr, c.says);
  }
  for (const r of results) await c.check?.(r, d, s);
  assert.deepEqual(watched.map(fileState), beforeState, `earlier state changed: ${watched.join(', ')}`);
}

let caseNo = 0;
describe('every command against hostile inputs', { concurrency: 3 }, () => {
  for (const [group, cases] of TABLE) {
    for (const c of cases) {
      const n = caseNo++;
      test(`${group}: ${c.name}`, { timeout: 120_000 }, async (t) => {
        const why = c.skip?.() ?? false;
        if (why !== false) {
          t.skip(why);
          return;
        }
        const d = join(dir, `case-${n}`);
        mkdirSync(d);
        await runCase(c, d);
      });
    }
  }
});

test('the table covers every command', () => {
  const covered = new Set(TABLE.flatMap(([, cases]) => cases.flatMap((c) => {
    const d = join(dir, 'argv-probe');
    try {
      return (c.parallel?.(d, { db: 'x', tree: 'x' }) ?? [c.args(d, { db: 'x', tree: 'x', big: 'x', out: 'x' })]).map((a) => a[0]);
    } catch {
      return [];
    }
  })));
  for (const cmd of ['index', 'sites', 'reasons', 'trees', 'explain', 'report', 'watch', 'demo']) assert.ok(covered.has(cmd), `no row runs ${cmd}`);
  assert.ok(caseNo >= 60, `only ${caseNo} rows in the table`);
});
