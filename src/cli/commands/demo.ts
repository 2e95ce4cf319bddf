// `dropsite demo` (npm start): the main job on the bundled sample, with no setup.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runIndex } from './index.ts';
import { runExplain } from './explain.ts';
import { runSites } from './query.ts';
import { runReport } from './report.ts';
import { writeOut } from '../sink.ts';
import { packageRoot } from '../../package-root.ts';
import { OutputError } from '../../errors.ts';

export const sampleTree = (): string => join(packageRoot(), 'fixtures', 'sample');

/** The demo's temporary folder; a missing or unwritable TMPDIR is a one-line error, not a stack trace. */
function makeTempDir(): string {
  try {
    return mkdtempSync(join(tmpdir(), 'dropsite-demo-'));
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    throw new OutputError(`cannot create a temporary folder in ${tmpdir()}: ${code === 'ENOENT' ? 'no such directory' : err instanceof Error ? err.message : String(err)}`, {
      cause: err, hint: 'set TMPDIR to a writable folder',
    });
  }
}

export async function runDemo(): Promise<void> {
  const dir = makeTempDir();
  const db = join(dir, 'index.sqlite');
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  // Ctrl-C (or a kill) mid-demo: remove the temporary folder, then die of the same signal, so that the
  // shell sees the usual status (130 for SIGINT) and nothing is left in the temporary directory.
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (sig: NodeJS.Signals): void => {
    remove();
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    process.kill(process.pid, sig);
  };
  for (const s of SIGNALS) process.once(s, onSignal);
  try {
    await writeOut(`$ dropsite index fixtures/sample --db ${db}`);
    await runIndex(sampleTree(), { db, quiet: false });
    await writeOut(`\n$ dropsite sites --db ${db} --file 'net/ipv4/*'`);
    await runSites({ db, file: 'net/ipv4/*' });
    await writeOut(`\n$ dropsite explain --db ${db} '__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET' --max 2`);
    await runExplain(['__udp4_lib_rcv+0x4bc/0xd00', 'reason:', 'NO_SOCKET'], { db, context: 2, max: 2 });
    await writeOut(`\n$ dropsite report fixtures/sample/recording/dropwatch.txt --db ${db}`);
    await runReport(join(sampleTree(), 'recording', 'dropwatch.txt'), { db, format: 'auto', top: 20, context: 3 });
  } finally {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    remove();
  }
}
