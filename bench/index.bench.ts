// The index benchmark: `dropsite index` on a real tree against universal-ctags on the same tree.
// Ratios are the point (the machine changes, the ratio much less); nothing here gates anything.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  DROPSITE_CLI, aggregate, aggregateFor, childEnv, countFiles, measureCommand, note, removeDb, round, versionOf, withTempDir,
  type Aggregate, type Measurement,
} from './lib.ts';

/** The same top-level folders `dropsite index` leaves out unless given --all. */
const SKIPPED_TOP_LEVEL: ReadonlySet<string> = new Set(['tools', 'scripts', 'samples', 'Documentation']);

export const INDEX_TARGETS = { ratioAtMost: 1.0, peakRssMiBAtMost: 1024, secondRunSpeedupAtLeast: 5 } as const;

export interface IndexBenchResult {
  benchmark: 'index';
  tree: string;
  /** .c/.h files outside tools/ scripts/ samples/ Documentation/: what dropsite reads. */
  files: number;
  cores: number;
  runs: number;
  /** Wall times are the min (≤ 2 runs) or median of the runs; peak RSS is the max, since its target is a ceiling. */
  aggregate: { wallS: Aggregate; peakRssMiB: 'max' };
  /** null when ctags is missing or is not universal-ctags (see notes). */
  ctags: {
    wallS: number;
    peakRssMiB: number;
    /** Files ctags' C map picks up in the whole tree: its file set is not dropsite's (see notes). */
    files: number | null;
    version: string;
  } | null;
  dropsite: { wallS: number; peakRssMiB: number; secondRunS: number };
  ratio: number | null;
  secondRunSpeedup: number;
  targets: typeof INDEX_TARGETS;
  met: { ratio: boolean | null; peakRssMiB: boolean; secondRunSpeedup: boolean };
  samples: { ctags: Measurement[]; dropsiteCold: Measurement[]; dropsiteSecond: Measurement[] };
  notes: string[];
}

/** File-name suffixes universal-ctags maps to C (`--list-maps=C` prints `C  *.c`), or null if it cannot say. */
function ctagsCSuffixes(): Promise<string[] | null> {
  return new Promise((resolve) => {
    execFile('ctags', ['--list-maps=C'], { env: childEnv(), encoding: 'utf8', timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve(null);
      const globs = stdout.trim().split(/\s+/).slice(1);
      const suffixes = globs.filter((g) => /^\*\.[^*?[]+$/.test(g)).map((g) => g.slice(1));
      resolve(suffixes.length > 0 ? suffixes : null);
    });
  });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

const fmtS = (x: number): string => x.toFixed(2);
const fmtMiB = (x: number): string => x.toFixed(1);
const fmtRun = (m: Measurement): string => `${fmtS(m.wallS)} s / ${fmtMiB(m.peakRssMiB)} MiB`;

export function renderIndexTable(r: IndexBenchResult): string {
  const pad = (s: string, n: number): string => s.padEnd(n);
  const lpad = (s: string, n: number): string => s.padStart(n);
  const row = (a: string, b: string, c: string, d: string): string => `  ${pad(a, 22)}${lpad(b, 10)}${lpad(c, 14)}   ${d}`;
  const verdict = (m: boolean | null): string => (m === null ? 'n/a' : m ? 'met' : 'MISSED');
  const out: string[] = [];
  out.push(`index benchmark: ${r.tree}`);
  out.push(`  ${r.files} .c/.h files outside tools/ scripts/ samples/ Documentation/, ${r.cores} cores, ${r.runs} run(s);`
    + ` wall = ${r.aggregate.wallS} of the runs, peak RSS = max of the runs`);
  out.push('');
  out.push(row('', 'wall s', 'peak RSS MiB', 'each run (wall / peak RSS)'));
  if (r.ctags !== null) out.push(row('universal-ctags', fmtS(r.ctags.wallS), fmtMiB(r.ctags.peakRssMiB), r.samples.ctags.map(fmtRun).join(', ')));
  else out.push(row('universal-ctags', '-', '-', 'skipped'));
  out.push(row('dropsite, cold', fmtS(r.dropsite.wallS), fmtMiB(r.dropsite.peakRssMiB), r.samples.dropsiteCold.map(fmtRun).join(', ')));
  out.push(row('dropsite, second run', fmtS(r.dropsite.secondRunS), '', r.samples.dropsiteSecond.map(fmtRun).join(', ')));
  out.push('');
  out.push(row('', 'value', 'target', ''));
  out.push(row('dropsite / ctags wall', r.ratio === null ? '-' : r.ratio.toFixed(3), `≤ ${r.targets.ratioAtMost.toFixed(1)}`, verdict(r.met.ratio)));
  out.push(row('dropsite peak RSS MiB', fmtMiB(r.dropsite.peakRssMiB), `≤ ${r.targets.peakRssMiBAtMost}`, verdict(r.met.peakRssMiB)));
  out.push(row('cold / second run', `${r.secondRunSpeedup.toFixed(1)}x`, `≥ ${r.targets.secondRunSpeedupAtLeast}x`, verdict(r.met.secondRunSpeedup)));
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}

export async function runIndexBench(opts: { tree: string; runs: number }): Promise<IndexBenchResult> {
  const { tree, runs } = opts;
  const notes: string[] = [];
  const how = aggregateFor(runs);

  const files = countFiles(tree, (n) => n.endsWith('.c') || n.endsWith('.h'), SKIPPED_TOP_LEVEL);

  const ctagsVersion = await versionOf('ctags');
  let ctagsFiles: number | null = null;
  if (ctagsVersion === null) {
    notes.push('ctags is not on PATH: the universal-ctags baseline was skipped');
  } else if (!ctagsVersion.startsWith('Universal Ctags')) {
    notes.push(`ctags is not universal-ctags ("${ctagsVersion}"), which --kinds-C needs: the baseline was skipped`);
  } else {
    const suffixes = await ctagsCSuffixes();
    if (suffixes !== null) {
      ctagsFiles = countFiles(tree, (n) => suffixes.some((s) => n.endsWith(s)));
      notes.push(`ctags -R --languages=C reads the files its C map names (${suffixes.join(' ')}) in the whole tree: `
        + `${ctagsFiles} files, against dropsite's ${files} (.c and .h, without tools/ scripts/ samples/ Documentation/)`);
    }
  }
  const universalCtags = ctagsVersion !== null && ctagsVersion.startsWith('Universal Ctags') ? ctagsVersion : null;

  return withTempDir('dropsite-bench-index-', async (dir) => {
    const tags = join(dir, 'tags');
    const timeFile = join(dir, 'time.txt');
    const samples: IndexBenchResult['samples'] = { ctags: [], dropsiteCold: [], dropsiteSecond: [] };

    // ctags and dropsite take turns, so page-cache warmth and machine noise fall on both alike.
    for (let i = 1; i <= runs; i++) {
      const tag = `run ${i}/${runs}`;
      if (universalCtags !== null) {
        await rm(tags, { force: true });
        const m = await measureCommand('ctags', ['-R', '--languages=C', '--kinds-C=f', '-f', tags, tree], timeFile);
        samples.ctags.push(m);
        note(`index bench, ${tag}: ctags ${fmtRun(m)} (tags file ${fmtMiB(sizeOf(tags) / 2 ** 20)} MiB)`);
      }
      const db = join(dir, `index-${i}.sqlite`);
      const cold = await measureCommand(process.execPath, [DROPSITE_CLI, 'index', tree, '--db', db, '--quiet'], timeFile);
      samples.dropsiteCold.push(cold);
      note(`index bench, ${tag}: dropsite cold ${fmtRun(cold)} (index ${fmtMiB(sizeOf(db) / 2 ** 20)} MiB)`);
      const second = await measureCommand(process.execPath, [DROPSITE_CLI, 'index', tree, '--db', db, '--quiet'], timeFile);
      samples.dropsiteSecond.push(second);
      note(`index bench, ${tag}: dropsite second run ${fmtRun(second)}`);
      await removeDb(db);
    }

    const maxRss = (ms: Measurement[]): number => Math.max(...ms.map((m) => m.peakRssMiB));
    const wall = (ms: Measurement[]): number => aggregate(ms.map((m) => m.wallS), how);

    const ctags = universalCtags === null ? null
      : { wallS: round(wall(samples.ctags)), peakRssMiB: round(maxRss(samples.ctags), 1), files: ctagsFiles, version: universalCtags };
    const coldS = wall(samples.dropsiteCold);
    const secondS = wall(samples.dropsiteSecond);
    const dropsite = { wallS: round(coldS), peakRssMiB: round(maxRss(samples.dropsiteCold), 1), secondRunS: round(secondS) };
    const ratio = ctags === null ? null : round(coldS / wall(samples.ctags), 3);
    const secondRunSpeedup = round(coldS / secondS, 2);
    if (secondS < 0.5) notes.push('the second run took under 0.5 s; GNU time reports wall time in 10 ms steps, so its speedup is coarse');

    const result: IndexBenchResult = {
      benchmark: 'index',
      tree,
      files,
      cores: availableParallelism(),
      runs,
      aggregate: { wallS: how, peakRssMiB: 'max' },
      ctags,
      dropsite,
      ratio,
      secondRunSpeedup,
      targets: INDEX_TARGETS,
      met: {
        ratio: ratio === null ? null : ratio <= INDEX_TARGETS.ratioAtMost,
        peakRssMiB: dropsite.peakRssMiB <= INDEX_TARGETS.peakRssMiBAtMost,
        secondRunSpeedup: secondRunSpeedup >= INDEX_TARGETS.secondRunSpeedupAtLeast,
      },
      samples: {
        ctags: samples.ctags.map(roundMeasurement),
        dropsiteCold: samples.dropsiteCold.map(roundMeasurement),
        dropsiteSecond: samples.dropsiteSecond.map(roundMeasurement),
      },
      notes,
    };
    note('');
    note(renderIndexTable(result));
    return result;
  });
}

function roundMeasurement(m: Measurement): Measurement {
  return { wallS: round(m.wallS), peakRssMiB: round(m.peakRssMiB, 1) };
}
