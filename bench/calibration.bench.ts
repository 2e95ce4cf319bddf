// The calibration benchmark: bench/calibration/evaluate.ts scores explain's first candidates against
// the truth set of a Debian kernel (bench/calibration/README.md). Accuracy, not speed, is the figure;
// the wall time is there to notice an evaluation that got slow.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { EvaluationResult } from './calibration/evaluate.ts';
import { BenchError, BenchUsageError, chooseIndexedTree, note, round, type BenchOptions, type IndexedTree } from './lib.ts';

/** Where bench/calibration/README.md puts the truth set; used when --truth is not given and it exists. */
export const DEFAULT_TRUTH = '/work/cache/calibration/truth-6.12.117.jsonl';

/** Misses kept in the JSON; the rest are one `node --import tsx bench/calibration/evaluate.ts … --misses` away. */
const MISSES_KEPT = 20;

const HOW_TO_BUILD = [
  'the truth set is built from a Debian debug vmlinux and its source (about 25 s); see bench/calibration/README.md:',
  '  node --import tsx bench/calibration/build-truth.ts \\',
  '    --vmlinux /work/cache/dbg/usr/lib/debug/boot/vmlinux-6.12.117+deb12-amd64 \\',
  '    --src /work/cache/linux-source-6.12 \\',
  `    --out ${DEFAULT_TRUTH}`,
  'then re-run with --truth FILE (or leave it out to use that default path).',
].join('\n');

export type CalibrationBenchResult =
  | { benchmark: 'calibration'; skipped: true; reason: string; howToBuild: 'bench/calibration/README.md' }
  | {
    benchmark: 'calibration';
    skipped: false;
    truth: string;
    vmlinux: string | null;
    index: { db: string; origin: 'given' | 'built'; buildS: number | null; isShared: boolean; indexedTree: IndexedTree };
    /** The whole evaluation (source-only in both forms, then exact mode when --vmlinux is given). */
    wallS: number;
    evaluation: Omit<EvaluationResult, 'misses'> & { missesListed: number; misses: string[] };
    notes: string[];
  };

/**
 * A truth file that is not JSON lines of the shape build-truth.ts writes would make the evaluator
 * throw a bare SyntaxError or count nonsense; say which line is wrong instead.
 */
async function checkTruth(path: string): Promise<number> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  let records = 0;
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw new BenchUsageError(`--truth ${path}: line ${i + 1} is not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const ok = typeof rec === 'object' && rec !== null
      && 'symbol' in rec && typeof rec.symbol === 'string' && 'offset' in rec && typeof rec.offset === 'number'
      && 'location' in rec && typeof rec.location === 'string' && 'kind' in rec && typeof rec.kind === 'string'
      && 'chain' in rec && Array.isArray(rec.chain);
    if (!ok) throw new BenchUsageError(`--truth ${path}: line ${i + 1} lacks symbol, offset, location, kind or chain: not a build-truth.ts record`);
    records++;
  }
  if (records === 0) throw new BenchUsageError(`--truth ${path} holds no record`);
  return records;
}

export async function runCalibrationBench(opts: BenchOptions): Promise<CalibrationBenchResult> {
  if (opts.truth === null) {
    const reason = `no truth set: --truth was not given and ${DEFAULT_TRUTH} does not exist`;
    note(`calibration benchmark: skipped, ${reason}`);
    note(HOW_TO_BUILD.replace(/^/gm, '  '));
    return { benchmark: 'calibration', skipped: true, reason, howToBuild: 'bench/calibration/README.md' };
  }
  const truth = opts.truth;
  const notes: string[] = [];
  await checkTruth(truth);

  const info = await opts.index();
  const { selector, chosen, note: treeNote } = await chooseIndexedTree(info.db, opts.tree);
  if (treeNote !== null) notes.push(treeNote);
  // build-truth.ts names its output after the kernel; a truth of one version scored against another
  // tree's index gives figures that mean nothing, so say so.
  const truthVersion = /(\d+\.\d+(?:\.\d+)?)/.exec(basename(truth))?.[1] ?? null;
  if (truthVersion !== null && chosen.version !== null && chosen.version !== truthVersion && !chosen.version.startsWith(`${truthVersion}.`)) {
    notes.push(`the truth file looks like Linux ${truthVersion} but the index is of ${chosen.version}: the accuracy figures are not meaningful`);
  }

  // Loaded here, not at the top: it pulls in src/ (SQLite, the ranker), which `--only index` never needs.
  const { evaluate, formatEvaluation } = await import('./calibration/evaluate.ts');
  const { DropsiteError } = await import('../src/errors.ts');
  note(`calibration bench: evaluating ${truth} against ${info.db}${opts.vmlinux === null ? '' : ` and ${opts.vmlinux}`}…`);
  const started = process.hrtime.bigint();
  let r: EvaluationResult;
  try {
    r = await evaluate(info.db, selector ?? undefined, truth, opts.vmlinux ?? undefined);
  } catch (err) {
    // dropsite's own errors (no debug info, binutils missing, index of another schema) are a bench
    // that could not run; anything else is a bug and keeps its stack.
    if (err instanceof DropsiteError) throw new BenchError(`calibration: ${err.message}`, err.hint);
    throw err;
  }
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;

  const { misses, ...figures } = r;
  if (misses.length > MISSES_KEPT) {
    notes.push(`${misses.length} misses listed by the evaluator (it stops at 400), the first ${MISSES_KEPT} kept here;`
      + ` all of them: node --import tsx bench/calibration/evaluate.ts --db ${info.origin === 'given' ? info.db : 'DB'} --truth ${truth}${opts.vmlinux === null ? '' : ` --vmlinux ${opts.vmlinux}`} --misses`);
  }
  const result: CalibrationBenchResult = {
    benchmark: 'calibration',
    skipped: false,
    truth,
    vmlinux: opts.vmlinux,
    index: {
      db: info.db,
      origin: info.origin,
      buildS: info.build === null ? null : round(info.build.wallS),
      isShared: info.isShared,
      indexedTree: chosen,
    },
    wallS: round(wallS),
    evaluation: { ...figures, missesListed: misses.length, misses: misses.slice(0, MISSES_KEPT) },
    notes,
  };
  note('');
  note(`calibration benchmark: ${chosen.root} (${chosen.version ?? 'unknown version'}), index ${info.origin === 'given' ? `--db ${info.db}`
    : `built from --tree in ${info.build?.wallS.toFixed(2) ?? '?'} s${info.isShared ? ' (by an earlier benchmark of this run)' : ''}`}`);
  note(formatEvaluation(r).replace(/^/gm, '  '));
  note(`  evaluation wall time: ${wallS.toFixed(2)} s`);
  for (const n of notes) note(`  note: ${n}`);
  return result;
}
