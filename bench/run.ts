// `npm run bench -- --tree DIR [--only a,b] [--runs N]`: runs the registered benchmarks against a
// real tree, prints a human table per benchmark to stderr and its JSON result to stdout (one JSON
// document per benchmark, in registry order, so `jq` reads them as a stream). Exit status: 0 even
// when a target is missed (benchmarks gate nothing), 1 when a benchmark could not run, 2 on usage.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DROPSITE_CLI, runIndexBench } from './index.bench.ts';
import { BenchError, BenchUsageError, GNU_TIME, hasGnuTime, newestMtimeMs, note } from './lib.ts';

export interface BenchOptions {
  tree: string;
  runs: number;
}

type Benchmark = (opts: BenchOptions) => Promise<object>;

/** Every benchmark by the name `--only` takes. Add new ones here (explain, calibration, …). */
const BENCHMARKS = {
  index: runIndexBench,
} satisfies Record<string, Benchmark>;

type BenchName = keyof typeof BENCHMARKS;
const KNOWN: readonly BenchName[] = Object.keys(BENCHMARKS).filter((k): k is BenchName => k in BENCHMARKS);

const USAGE = 'usage: npm run bench -- --tree DIR [--only NAME[,NAME…]] [--runs N]';

function parseCommandLine(argv: readonly string[]): { opts: BenchOptions; names: BenchName[] } {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { tree: { type: 'string' }, only: { type: 'string' }, runs: { type: 'string' } },
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
  return { opts: { tree: resolve(tree), runs }, names };
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
    const { opts, names } = parseCommandLine(argv);
    checkBuild();
    for (const name of names) {
      const result = await BENCHMARKS[name](opts);
      await writeOut(JSON.stringify(result, null, 2));
    }
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
