// A real kernel tree indexed once for the tests of one file: a fresh temporary directory (named from `prefix`)
// holding `index.sqlite`, built by the CLI before the tests when they are not skipped, removed after them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { runCli } from './fixture.ts';

export function indexedTreeForTests(prefix: string, tree: string | undefined, skip: string | false): { dir: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = join(dir, 'index.sqlite');
  after(() => rmSync(dir, { recursive: true, force: true }));
  before(async () => {
    if (skip !== false) return;
    const r = await runCli(['index', tree ?? '', '--db', db, '-q']);
    assert.equal(r.code, 0, r.stderr);
  });
  return { dir, db };
}
