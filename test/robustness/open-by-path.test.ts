// The class behind "a FIFO hangs the command": every file dropsite opens by a path goes through
// src/io/ (regular-file.ts to read, output-file.ts to write). This test keeps new code to that rule.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/fixture.ts';

/** Files allowed to open paths themselves, and why. */
const ALLOWED: Record<string, string> = {
  'src/live/tracefs.ts': 'control files of its own tracing instance in tracefs (kernel files that report size 0)',
  'src/rebuild/build-dir.ts': "its build directory's lock file, created with O_EXCL",
  'src/exporter/hist-trigger.ts': 'the trigger and hist files of its own tracing instance (kernel files that report size 0)',
  'src/exporter/trace-pipe.ts': "its own instance's enable flags in tracefs (kernel files that report size 0)",
};

const OPENERS = /\b(readFileSync|openSync|createReadStream|createWriteStream|writeFileSync|appendFileSync|copyFileSync|readFile|writeFile)\s*\(/;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? sources(rel) : e.name.endsWith('.ts') ? [rel] : [];
  });
}

test('no module outside src/io/ opens a file by path on its own', () => {
  const offenders = sources('src').filter((f) => !f.startsWith('src/io/') && !(f in ALLOWED))
    .flatMap((f) => readFileSync(join(ROOT, f), 'utf8').split('\n').flatMap((l, i) => (OPENERS.test(l) && !l.trim().startsWith('//') ? [`${f}:${i + 1}: ${l.trim()}`] : [])));
  assert.deepEqual(offenders, [], 'open files through src/io/regular-file.ts (reading) or src/io/output-file.ts (writing)');
});
