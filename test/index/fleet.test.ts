// Indexes shipped to hosts: --db naming a directory of index files (or one file with several trees), and the tree
// chosen for the running kernel's version.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chooseIndexForKernel, kernelMatch } from '../../src/index/fleet.ts';
import { fixture, runCli } from '../helpers/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-fleet-'));
const shipped = join(dir, 'indexes');
after(() => rmSync(dir, { recursive: true, force: true }));

/** The sample tree with its Makefile saying another version. */
function sampleAs(version: string): string {
  const [v, p, s] = version.split('.');
  const tree = join(dir, `linux-${version}`);
  cpSync(fixture('sample'), tree, { recursive: true });
  const mk = readFileSync(join(tree, 'Makefile'), 'utf8').replace(/^VERSION = .*$/m, `VERSION = ${v}`).replace(/^PATCHLEVEL = .*$/m, `PATCHLEVEL = ${p}`).replace(/^SUBLEVEL = .*$/m, `SUBLEVEL = ${s}`);
  writeFileSync(join(tree, 'Makefile'), mk);
  return tree;
}

before(async () => {
  for (const [version, file] of [['6.1.192', '6.1.sqlite'], ['6.12.57', '6.12.sqlite']] as const) {
    const r = await runCli(['index', sampleAs(version), '--db', join(shipped, file), '--quiet']);
    assert.equal(r.code, 0, r.stderr);
  }
  writeFileSync(join(shipped, 'README.txt'), 'not an index\n');
});

describe('kernelMatch', () => {
  it('Debian release strings carry the ABI, not the patch level: major.minor decides', () => {
    assert.equal(kernelMatch('6.1.0-56-amd64', '6.1.192'), 'major-minor');
    assert.equal(kernelMatch('6.1.192', '6.1.192'), 'version');
    assert.equal(kernelMatch('6.12.57+deb13-amd64', '6.12.57'), 'version');
    assert.equal(kernelMatch('6.18.44-fc-v1045', '6.1.192'), 'none');
    assert.equal(kernelMatch('6.10.0', '6.1.0'), 'none');
    assert.equal(kernelMatch('6.1.0', null), 'none');
  });
});

describe('chooseIndexForKernel', () => {
  it('a directory: the file whose tree matches uname -r, and other files reported, not fatal', () => {
    const c = chooseIndexForKernel(shipped, '6.1.0-56-amd64');
    try {
      assert.equal(c.file, join(shipped, '6.1.sqlite'));
      assert.equal(c.tree.version, '6.1.192');
      assert.equal(c.match, 'major-minor');
      assert.equal(c.skipped.length, 1);
      assert.match(c.skipped[0] ?? '', /README\.txt: cannot read index .*not a dropsite index/);
    } finally {
      c.db.close();
    }
    const d = chooseIndexForKernel(shipped, '6.12.57+deb13-amd64');
    assert.equal(d.file, join(shipped, '6.12.sqlite'));
    assert.equal(d.match, 'version');
    d.db.close();
  });

  it('no tree for this kernel: the newest, marked as a mismatch (the caller warns), never an error', () => {
    const c = chooseIndexForKernel(shipped, '6.18.44-fc-v1045');
    assert.equal(c.match, 'none');
    assert.ok(c.tree.version === '6.1.192' || c.tree.version === '6.12.57');
    c.db.close();
  });

  it('one file holding several trees', async () => {
    const both = join(dir, 'both.sqlite');
    for (const t of ['linux-6.12.57', 'linux-6.1.192']) assert.equal((await runCli(['index', join(dir, t), '--db', both, '--quiet'])).code, 0);
    const c = chooseIndexForKernel(both, '6.12.57');
    assert.equal(c.tree.version, '6.12.57');
    c.db.close();
    const t = chooseIndexForKernel(both, '6.12.57', '6.1');
    assert.equal(t.tree.version, '6.1.192', '--tree overrides the version match');
    t.db.close();
  });

  it('an empty directory or a missing file is an IndexError naming it', () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    assert.throws(() => chooseIndexForKernel(empty, '6.1.0'), (e: Error) => e.name === 'IndexError' && e.message === `no dropsite index in ${empty}`);
    assert.throws(() => chooseIndexForKernel(join(dir, 'nope.sqlite'), '6.1.0'), /no index at .*nope\.sqlite/);
  });
});
