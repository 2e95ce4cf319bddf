// `dropsite demo` (npm start): the main job on the bundled sample, with no setup.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runIndex } from './index.ts';
import { runSites } from './query.ts';
import { writeOut } from '../sink.ts';

export const SAMPLE_TREE = fileURLToPath(new URL('../../../fixtures/sample', import.meta.url));

export async function runDemo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dropsite-demo-'));
  const db = join(dir, 'index.sqlite');
  try {
    await writeOut(`$ dropsite index fixtures/sample --db ${db}`);
    await runIndex(SAMPLE_TREE, { db, quiet: false });
    await writeOut(`\n$ dropsite sites --db ${db}`);
    await runSites({ db });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
