// `report -o` and `watch -o`: an output that is an input is refused (by device and inode, so links
// count), a bad path is refused before any work, and a full disk leaves the previous report intact.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixture } from '../helpers/fixture.ts';
import { isOneLineError, runCliTimed } from '../helpers/hostile.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-output-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'index.sqlite');
const rec = join(dir, 'dropwatch.txt');
before(async () => {
  assert.equal((await runCliTimed(['index', fixture('sample'), '--db', db, '--quiet'])).code, 0);
  copyFileSync(fixture('sample', 'recording', 'dropwatch.txt'), rec);
});

const bytes = (p: string): Buffer => readFileSync(p);

test('report -o refuses the recording, the index and the --kallsyms map, by any name', { timeout: 30_000 }, async () => {
  const map = join(dir, 'kallsyms');
  writeFileSync(map, 'ffffffff81000000 T _text\nffffffff81000100 T __udp4_lib_rcv\nffffffff81001000 T next\n');
  symlinkSync(rec, join(dir, 'rec-link.json'));
  linkSync(db, join(dir, 'db-hardlink.md'));
  const before = { rec: bytes(rec), db: bytes(db), map: bytes(map) };
  for (const out of [rec, db, join(dir, 'rec-link.json'), join(dir, 'db-hardlink.md'), map, join(dir, '.', 'dropwatch.txt')]) {
    const r = await runCliTimed(['report', '--db', db, rec, '--kallsyms', map, '-o', out, '--as', 'json']);
    assert.equal(r.code, 1, `${out}: ${r.stderr}`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, /which this command reads: refusing to overwrite it/);
  }
  assert.deepEqual({ rec: bytes(rec), db: bytes(db), map: bytes(map) }, before, 'every input is byte-identical');
});

test('report -o refuses a source file of the tree it quotes', { timeout: 30_000 }, async () => {
  const tree = join(dir, 'tree');
  execFileSync('cp', ['-r', fixture('sample'), tree]);
  const tdb = join(dir, 'tree.sqlite');
  assert.equal((await runCliTimed(['index', tree, '--db', tdb, '--quiet'])).code, 0);
  const udp = join(tree, 'net/ipv4/udp.c');
  const before = bytes(udp);
  const r = await runCliTimed(['report', '--db', tdb, rec, '-o', udp, '--as', 'md']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /a source file of the indexed tree/);
  assert.deepEqual(bytes(udp), before);
});

test('report -o to a directory, a device or a missing folder: refused, nothing written', { timeout: 30_000 }, async () => {
  for (const [out, why] of [[dir, /is a directory/], ['/dev/null', /is a character device/], [join(dir, 'no', 'such', 'r.json'), /no such file or directory/]] as const) {
    const r = await runCliTimed(['report', '--db', db, rec, '-o', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, why);
  }
  assert.ok(statSync('/dev/null').isCharacterDevice());
});

test('report -o writes through a symlink to a report, keeping the link and the mode', { timeout: 30_000 }, async () => {
  const real = join(dir, 'real-report.json');
  writeFileSync(real, '{}\n', { mode: 0o640 });
  const link = join(dir, 'report-link.json');
  symlinkSync(real, link);
  const r = await runCliTimed(['report', '--db', db, rec, '-o', link]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(statSync(link, { throwIfNoEntry: true }).isFile());
  assert.equal(readFileSync(real, 'utf8').includes('"schemaVersion"'), true);
  assert.equal(statSync(real).mode & 0o777, 0o640);
  assert.equal(execFileSync('readlink', [link], { encoding: 'utf8' }).trim(), real);
});

test('watch -o to a bad path, or to the index, fails before capturing', { timeout: 30_000 }, async () => {
  for (const out of [join(dir, 'missing', 'live.json'), db, '/dev/null']) {
    const r = await runCliTimed(['watch', '--db', db, '--duration', '30', '-o', out], { timeoutMs: 10_000 });
    assert.equal(r.timedOut, false, 'watch started capturing before checking -o');
    assert.equal(r.code, 1, r.stderr);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, /--output/);
    assert.ok(r.ms < 5000);
  }
});

const isRoot = process.getuid?.() === 0;

test('a full disk: the previous report survives byte for byte, and no temporary is left', {
  timeout: 60_000,
  skip: isRoot ? false : 'needs root to mount a small tmpfs (CI runs as root)',
}, async () => {
  const mnt = join(dir, 'small');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  try {
    const out = join(mnt, 'report.md');
    const first = await runCliTimed(['report', '--db', db, rec, '-o', out, '--top', '1']);
    assert.equal(first.code, 0, first.stderr);
    const previous = bytes(out);
    // Fill the rest of the disk, then ask for a report larger than what is left.
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // dd stops with ENOSPC, as intended
    }
    const r = await runCliTimed(['report', '--db', db, rec, '-o', out, '--as', 'html', '--all-candidates']);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, /no space left on device; the previous file is unchanged/);
    assert.deepEqual(bytes(out), previous);
    assert.deepEqual(readdirSync(mnt).sort(), ['filler', 'report.md'], 'no temporary file is left behind');
  } finally {
    execFileSync('umount', [mnt]);
  }
});
