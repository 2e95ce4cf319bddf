// `npm run bench -- --tree DIR [--only a,b] [--runs N] [--db FILE] [--truth FILE] [--vmlinux FILE]`:
// runs the registered benchmarks against a real tree, prints a human table per benchmark to stderr
// and its JSON result to stdout (one JSON document per benchmark, in registry order, so `jq` reads
// them as a stream). Exit status: 0 even when a target is missed or a benchmark skips itself for want
// of an input (benchmarks gate nothing), 1 when a benchmark could not run, 2 on usage.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_TRUTH, runCalibrationBench } from './calibration.bench.ts';
import { runExactBench } from './exact.bench.ts';
import { runExporterBench } from './exporter.bench.ts';
import { runExplainBench } from './explain.bench.ts';
import { runIndexBench } from './index.bench.ts';
import { runRebuildBench } from './rebuild.bench.ts';
import { runReportBench } from './report.bench.ts';
import { runWatchBench } from './watch.bench.ts';
import { runKernelImageBench } from './kernel-image.bench.ts';
import {
  BenchError, BenchUsageError, DROPSITE_CLI, GNU_TIME, hasGnuTime, indexProvider, newestMtimeMs, note, withTempDir,
  type BenchOptions,
} from './lib.ts';

type Benchmark = (opts: BenchOptions) => Promise<object>;

/** Every benchmark by the name `--only` takes. Add new ones here. */
const BENCHMARKS = {
  index: runIndexBench,
  explain: runExplainBench,
  calibration: runCalibrationBench,
  exact: runExactBench,
  rebuild: runRebuildBench,
  report: runReportBench,
  watch: runWatchBench,
  'kernel-image': runKernelImageBench,
  exporter: runExporterBench,
} satisfies Record<string, Benchmark>;

type BenchName = keyof typeof BENCHMARKS;
const KNOWN: readonly BenchName[] = Object.keys(BENCHMARKS).filter((k): k is BenchName => k in BENCHMARKS);

const USAGE = 'usage: npm run bench -- --tree DIR [--only NAME[,NAME…]] [--runs N] [--db FILE] [--truth FILE] [--vmlinux FILE] [--config FILE] [--kernel FILE]';

/** The options run.ts parses; `index` (the provider) is added once the scratch folder exists. */
type ParsedOptions = Omit<BenchOptions, 'index'> & { db: string | null };

/** The first `n` bytes of `path` (fewer if it is shorter). */
function headOf(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * `--flag FILE` must name a readable regular file that starts with `magic` (when given): a wrong path
 * or a swapped argument is then one clear line, not a SQLite or nm error deep in a benchmark.
 */
function checkInputFile(flag: string, path: string, what: string, magic?: Buffer): string {
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new BenchUsageError(`--${flag} ${path} does not exist; expected ${what}`);
  }
  if (!isFile) throw new BenchUsageError(`--${flag} ${path} is not a regular file; expected ${what}`);
  let head: Buffer;
  try {
    head = headOf(path, magic?.length ?? 1);
  } catch (err) {
    throw new BenchUsageError(`--${flag} ${path} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (magic !== undefined && !head.equals(magic)) throw new BenchUsageError(`--${flag} ${path} is not ${what}`);
  return resolve(path);
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function parseCommandLine(argv: readonly string[]): { opts: ParsedOptions; names: BenchName[] } {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        tree: { type: 'string' },
        only: { type: 'string' },
        runs: { type: 'string' },
        db: { type: 'string' },
        truth: { type: 'string' },
        vmlinux: { type: 'string' },
        config: { type: 'string' },
        kernel: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new BenchUsageError(`${err instanceof Error ? err.message : String(err)} (${USAGE})`);
  }

  const tree = values.tree;
  if (tree === undefined || tree === '') throw new BenchUsageError(`--tree DIR is required: the top folder of a Linux source tree (${USAGE})`);
  let isDir = false;
  try {
    isDir = statSync(tree).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new BenchUsageError(`--tree ${tree} is not a directory`);

  const runsText = values.runs ?? '2';
  const runs = Number(runsText);
  if (!/^\d+$/.test(runsText) || !Number.isSafeInteger(runs) || runs < 1) {
    throw new BenchUsageError(`--runs expects a whole number ≥ 1, got "${runsText}"`);
  }

  const db = values.db === undefined ? null : checkInputFile('db', values.db, 'a dropsite index, the SQLite file `dropsite index` writes', SQLITE_MAGIC);
  // An explicit --truth that is missing is a typo to report; only the default may be absent (the
  // calibration benchmark then skips itself and says how to build it).
  const truth = values.truth !== undefined
    ? checkInputFile('truth', values.truth, 'a truth set, the JSON lines of bench/calibration/build-truth.ts (see bench/calibration/README.md)')
    : existsSync(DEFAULT_TRUTH) ? DEFAULT_TRUTH : null;
  const vmlinux = values.vmlinux === undefined ? null : checkInputFile('vmlinux', values.vmlinux, 'an ELF file, a vmlinux with debug info', ELF_MAGIC);

  let names: BenchName[] = [...KNOWN];
  if (values.only !== undefined) {
    const asked = values.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = asked.filter((s) => !(KNOWN as readonly string[]).includes(s));
    if (asked.length === 0 || unknown.length > 0) {
      throw new BenchUsageError(`--only: unknown benchmark ${unknown.length > 0 ? unknown.join(', ') : '(none given)'}; known: ${KNOWN.join(', ')}`);
    }
    // Registry order, whatever order they were asked in, each once.
    names = KNOWN.filter((k) => asked.includes(k));
  }
  const config = values.config === undefined ? null : checkInputFile('config', values.config, 'a kernel config (.config or config-<release>)');
  const kernel = values.kernel === undefined ? null : checkInputFile('kernel', values.kernel, 'a vmlinuz or vmlinux');
  return { opts: { tree: resolve(tree), runs, db, truth, vmlinux, config, kernel }, names };
}

function checkBuild(): void {
  if (!existsSync(DROPSITE_CLI)) throw new BenchError(`${DROPSITE_CLI} is missing: run npm run build first`);
  // A stale dist/ would benchmark yesterday's code; say so, but it is the user's call.
  const src = fileURLToPath(new URL('../src', import.meta.url));
  if (newestMtimeMs(src) > statSync(DROPSITE_CLI).mtimeMs) note('warning: src/ has changes newer than dist/: run npm run build for current figures');
  if (!hasGnuTime()) throw new BenchError(`GNU time is not at ${GNU_TIME} (it gives the peak RSS): install the "time" package`);
}

async function writeOut(text: string): Promise<void> {
  await new Promise<void>((resolve, reject) => process.stdout.write(`${text}\n`, (err) => (err ? reject(err) : resolve())));
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const { opts: parsed, names } = parseCommandLine(argv);
    checkBuild();
    // The explain and calibration benchmarks share one index of --tree when no --db is given; it
    // lives here so that it is built at most once per run and removed at the end (or on Ctrl-C).
    await withTempDir('dropsite-bench-', async (scratch) => {
      const { db, ...rest } = parsed;
      const opts: BenchOptions = { ...rest, index: indexProvider(rest.tree, db, scratch) };
      for (const name of names) {
        const result = await BENCHMARKS[name](opts);
        await writeOut(JSON.stringify(result, null, 2));
      }
    });
    return 0;
  } catch (err) {
    if (err instanceof BenchError) {
      note(`bench: ${err.message}`);
      if (err.detail !== undefined) note(err.detail.replace(/^/gm, '  | '));
      return err instanceof BenchUsageError ? 2 : 1;
    }
    note(`bench: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return 3;
  }
}

process.exitCode = await main(process.argv.slice(2));
