// Special files where dropsite expects a regular one: FIFOs, devices, a sparse giant, and a .git/HEAD
// that points outside the tree. Every run has a time limit, so a hang fails the test instead of CI.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gitHead } from '../../src/kernel/tree-layout.ts';
import { fixture } from '../helpers/fixture.ts';
import { copySample, isOneLineError, mkfifo, runCliTimed } from '../helpers/hostile.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-special-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'sample.sqlite');
const T = { timeout: 20_000 };

before(async () => {
  const r = await runCliTimed(['index', fixture('sample'), '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

/** A fresh copy of the sample with `poison` applied, and its own index path. */
function poisoned(name: string, poison: (tree: string) => void): { tree: string; db: string } {
  const tree = copySample(join(dir, name));
  poison(tree);
  return { tree, db: join(dir, `${name}.sqlite`) };
}

describe('index: special files at the fixed paths of a tree', () => {
  test('a FIFO as the top Makefile fails at once with an error naming it', T, async () => {
    const p = poisoned('fifo-makefile', (t) => {
      unlinkSync(join(t, 'Makefile'));
      mkfifo(join(t, 'Makefile'));
    });
    const r = await runCliTimed(['index', p.tree, '--db', p.db]);
    assert.equal(r.timedOut, false, 'index hung on a FIFO Makefile');
    assert.equal(r.code, 1);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, /Makefile.*a FIFO, expected a regular file/);
  });

  test('a Makefile that is a symlink to /dev/zero is refused, not read', T, async () => {
    const p = poisoned('zero-makefile', (t) => {
      unlinkSync(join(t, 'Makefile'));
      symlinkSync('/dev/zero', join(t, 'Makefile'));
    });
    const r = await runCliTimed(['index', p.tree, '--db', p.db], { timeoutMs: 10_000 });
    assert.equal(r.timedOut, false, 'index read /dev/zero');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Makefile.*a character device, expected a regular file/);
  });

  test('a FIFO as include/net/dropreason.h: indexed without reasons, with a warning naming it', T, async () => {
    const p = poisoned('fifo-reasons', (t) => {
      unlinkSync(join(t, 'include/net/dropreason.h'));
      mkfifo(join(t, 'include/net/dropreason.h'));
    });
    const r = await runCliTimed(['index', p.tree, '--db', p.db]);
    assert.equal(r.timedOut, false, 'index hung on a FIFO dropreason.h');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /include\/net\/dropreason\.h.*a FIFO, expected a regular file/);
  });

  test('a FIFO as .git/HEAD: indexed, no git head', T, async () => {
    const p = poisoned('fifo-head', (t) => {
      mkdirSync(join(t, '.git'));
      mkfifo(join(t, '.git/HEAD'));
    });
    const r = await runCliTimed(['index', p.tree, '--db', p.db, '--quiet']);
    assert.equal(r.timedOut, false, 'index hung on a FIFO .git/HEAD');
    assert.equal(r.code, 0, r.stderr);
    const trees = JSON.parse((await runCliTimed(['trees', '--db', p.db, '--json'])).stdout) as Array<{ gitHead: string | null }>;
    assert.equal(trees[0]?.gitHead, null);
  });
});

test('a source file replaced by a FIFO after indexing: explain and report answer, without its lines', T, async () => {
  const p = poisoned('fifo-source', () => undefined);
  assert.equal((await runCliTimed(['index', p.tree, '--db', p.db, '--quiet'])).code, 0);
  unlinkSync(join(p.tree, 'net/ipv4/udp.c'));
  mkfifo(join(p.tree, 'net/ipv4/udp.c'));
  const e = await runCliTimed(['explain', '--db', p.db, '__udp4_lib_rcv+0x4bc/0xd00']);
  assert.equal(e.timedOut, false, 'explain hung reading a FIFO source file');
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /net\/ipv4\/udp\.c:\d+/);
  const r = await runCliTimed(['report', '--db', p.db, fixture('sample', 'recording', 'dropwatch.txt'), '--as', 'html']);
  assert.equal(r.timedOut, false, 'report hung reading a FIFO source file');
  assert.equal(r.code, 0, r.stderr);
});

describe('.git/HEAD: refs are resolved inside .git only', () => {
  const HASH = 'c0ffee'.padEnd(40, '0');
  // The secret looks like a commit hash, so only the path check can keep it out of the index.
  const SECRET = 'dead'.padEnd(40, 'b');
  const gitTree = (name: string, head: string, files: Record<string, string> = {}): string => {
    const t = join(dir, name);
    mkdirSync(join(t, '.git', 'refs', 'heads'), { recursive: true });
    writeFileSync(join(t, '.git', 'HEAD'), head);
    for (const [f, text] of Object.entries(files)) writeFileSync(join(t, '.git', f), text);
    writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
    return t;
  };

  test('a ref that climbs out of .git, an absolute ref, a symlinked ref: no head', () => {
    assert.equal(gitHead(gitTree('climb', 'ref: ../../secret\n')), null);
    assert.equal(gitHead(gitTree('climb2', 'ref: refs/../../../secret\n')), null);
    assert.equal(gitHead(gitTree('absolute', `ref: ${join(dir, 'secret')}\n`)), null);
    const t = gitTree('symlinked', 'ref: refs/heads/main\n');
    symlinkSync(join(dir, 'secret'), join(t, '.git', 'refs', 'heads', 'main'));
    assert.equal(gitHead(t), null);
    const l = gitTree('symlinked-git', 'ref: refs/heads/main\n');
    rmSync(join(l, '.git'), { recursive: true });
    mkdirSync(join(dir, 'elsewhere', 'refs', 'heads'), { recursive: true });
    writeFileSync(join(dir, 'elsewhere', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(dir, 'elsewhere', 'refs', 'heads', 'main'), `${SECRET}\n`);
    symlinkSync(join(dir, 'elsewhere'), join(l, '.git'));
    assert.equal(gitHead(l), null, 'a .git that is a symlink out of the tree is not followed');
  });

  test('only the first line, and only a ref or a hash', () => {
    assert.equal(gitHead(gitTree('two-lines', `${HASH}\nsecond line\n`)), HASH);
    assert.equal(gitHead(gitTree('junk', 'hello world\n')), null);
    assert.equal(gitHead(gitTree('junk-ref', 'ref: refs/heads/main\n', { 'refs/heads/main': 'not a hash\n' })), null);
    assert.equal(gitHead(gitTree('sha256', `${'ab'.repeat(32)}\n`)), 'ab'.repeat(32));
  });

  test('a real ref, loose or packed, gives its commit', () => {
    assert.equal(gitHead(gitTree('loose', 'ref: refs/heads/main\n', { 'refs/heads/main': `${HASH}\n` })), HASH);
    const packed = `# pack-refs with: peeled fully-peeled sorted\n${'1'.repeat(40)} refs/heads/other\n${HASH} refs/heads/main\n^${'2'.repeat(40)}\n`;
    assert.equal(gitHead(gitTree('packed', 'ref: refs/heads/main\n', { 'packed-refs': packed })), HASH);
  });

  test('index of a tree whose HEAD points at a file outside it stores no head', T, async () => {
    const p = poisoned('shadow', (t) => {
      mkdirSync(join(t, '.git'));
      writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
      writeFileSync(join(t, '.git', 'HEAD'), 'ref: ../../secret\n');
    });
    assert.equal((await runCliTimed(['index', p.tree, '--db', p.db, '--quiet'])).code, 0);
    const out = (await runCliTimed(['trees', '--db', p.db, '--json'])).stdout;
    assert.ok(!out.includes(SECRET), out);
  });
});

describe('explain and report: inputs given on the command line', () => {
  const fifo = join(dir, 'a-fifo');
  before(() => mkfifo(fifo));

  for (const flag of ['--vmlinux', '--kallsyms', '--system-map']) {
    test(`explain ${flag} FIFO fails at once`, T, async () => {
      const r = await runCliTimed(['explain', '--db', db, '__udp4_lib_rcv+0x4bc/0xd00', flag, fifo]);
      assert.equal(r.timedOut, false, `explain hung on ${flag} FIFO`);
      assert.equal(r.code, 1);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, new RegExp(`${flag}: .*a-fifo is a FIFO, expected a regular file`));
    });
  }

  test('report of a FIFO recording, and report --kallsyms FIFO, fail at once', T, async () => {
    const r = await runCliTimed(['report', '--db', db, fifo]);
    assert.equal(r.timedOut, false, 'report hung on a FIFO recording');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a FIFO, expected a regular file/);
    assert.match(r.stderr, /hint: .*-/, 'the hint says how to read a pipe (stdin)');
    const k = await runCliTimed(['report', '--db', db, fixture('sample', 'recording', 'dropwatch.txt'), '--kallsyms', fifo]);
    assert.equal(k.timedOut, false, 'report hung on a FIFO --kallsyms');
    assert.equal(k.code, 1);
    assert.ok(isOneLineError(k.stderr), k.stderr);
  });

  test('explain --vmlinux /dev/zero fails at once', T, async () => {
    const r = await runCliTimed(['explain', '--db', db, '__udp4_lib_rcv+0x4bc/0xd00', '--vmlinux', '/dev/zero'], { timeoutMs: 10_000 });
    assert.equal(r.timedOut, false, 'explain read /dev/zero forever');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--vmlinux: \/dev\/zero is a character device/);
  });

  test('explain --vmlinux of a 20 GiB sparse file, or of a small non-ELF file, fails in well under a second', T, async () => {
    const sparse = join(dir, 'sparse.bin');
    execFileSync('truncate', ['-s', '20G', sparse]);
    const r = await runCliTimed(['explain', '--db', db, '__udp4_lib_rcv+0x4bc/0xd00', '--vmlinux', sparse], { timeoutMs: 10_000 });
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1);
    assert.ok(r.ms < 3000, `took ${Math.round(r.ms)} ms`);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    unlinkSync(sparse);
    const text = join(dir, 'not-elf.bin');
    writeFileSync(text, 'just some text, not a kernel image\n'.repeat(100));
    const n = await runCliTimed(['explain', '--db', db, '__udp4_lib_rcv+0x4bc/0xd00', '--vmlinux', text]);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /not an ELF file/);
  });
});
