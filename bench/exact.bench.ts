// Exact mode against what a user with a debug vmlinux runs instead: the kernel's own
// scripts/faddr2line, on the same real locations (taken from the calibration truth set), in the same
// run. Both the time and the answer are compared: faddr2line resolves the address it is given, and a
// drop location is a return address, so the line it names is often the statement after the call.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BenchUsageError, DROPSITE_CLI, aggregate, chooseIndexedTree, note, round, timeCommand, type BenchOptions, type IndexedTree,
} from './lib.ts';

/** Locations asked in the batch run: enough to show how each tool scales, few enough for faddr2line. */
const BATCH = 20;
const RUNS_AT_LEAST = 3;

interface Frame { function: string; file: string; line: number }
interface Truth { kind: string; location: string; chain: Frame[] }

export type ExactBenchResult =
  | { benchmark: 'exact'; skipped: true; reason: string }
  | {
    benchmark: 'exact';
    skipped: false;
    vmlinux: string;
    faddr2line: string;
    indexedTree: IndexedTree;
    single: { location: string; runs: number; dropsiteS: number; faddr2lineS: number; ratio: number };
    batch: { locations: number; dropsiteS: number; faddr2lineS: number; ratio: number };
    /** How often the answer holds the truth's call line (the debug info of the return address − 1). */
    answers: { locations: number; dropsiteRight: number; faddr2lineRight: number };
    notes: string[];
  };

/** faddr2line's output, per location: every `… at FILE:LINE` of its block. */
function faddr2lineBlocks(out: string): Map<string, string[]> {
  const blocks = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const line of out.split('\n')) {
    const head = /^(\S+\+0x[0-9a-f]+\/0x[0-9a-f]+):$/.exec(line);
    if (head?.[1] !== undefined) {
      cur = [];
      blocks.set(head[1], cur);
      continue;
    }
    const at = / at (\S+):(\d+)/.exec(line);
    if (at !== null && cur !== null) cur.push(`${at[1]}:${at[2]}`);
  }
  return blocks;
}

export async function runExactBench(opts: BenchOptions): Promise<ExactBenchResult> {
  const faddr2line = join(opts.tree, 'scripts', 'faddr2line');
  const skip = (reason: string): ExactBenchResult => {
    note(`exact benchmark: skipped, ${reason}`);
    return { benchmark: 'exact', skipped: true, reason };
  };
  if (opts.vmlinux === null) return skip('no --vmlinux (a debug vmlinux matching --tree)');
  if (opts.truth === null) return skip('no truth set (--truth, see bench/calibration/README.md) to take real locations from');
  if (!existsSync(faddr2line)) return skip(`${faddr2line} does not exist (the tree's own faddr2line is the baseline)`);
  const vmlinux = opts.vmlinux;
  const notes: string[] = [];
  const truths = readFileSync(opts.truth, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Truth)
    .filter((t) => t.kind === 'call' && /^\S+\+0x[0-9a-f]+\/0x[0-9a-f]+$/.test(t.location));
  if (truths.length < BATCH) throw new BenchUsageError(`--truth ${opts.truth} has ${truths.length} call locations; the exact benchmark needs ${BATCH}`);
  // Spread over the whole image rather than the first few functions of the text section.
  const picked = Array.from({ length: BATCH }, (_, i) => truths[Math.floor((i * truths.length) / BATCH)] as Truth);
  const locations = picked.map((t) => t.location);

  const info = await opts.index();
  const { selector, chosen, note: treeNote } = await chooseIndexedTree(info.db, opts.tree);
  if (treeNote !== null) notes.push(treeNote);
  const treeArgs = selector === null ? [] : ['--tree', selector];
  const dropsite = (locs: readonly string[]): Promise<{ wallS: number; stdout: string }> =>
    timeCommand(process.execPath, [DROPSITE_CLI, 'explain', '--db', info.db, ...treeArgs, '--vmlinux', vmlinux, '--json', '--max', '1', ...locs], { keepStdout: true });
  const faddr = (locs: readonly string[]): Promise<{ wallS: number; stdout: string }> =>
    timeCommand(faddr2line, [vmlinux, ...locs], { keepStdout: true });

  // Warm-up: the vmlinux (hundreds of MB) into the page cache for both.
  await dropsite(locations.slice(0, 1));
  await faddr(locations.slice(0, 1));

  const runs = Math.max(RUNS_AT_LEAST, opts.runs);
  const single = { d: [] as number[], f: [] as number[] };
  for (let i = 0; i < runs; i++) {
    single.d.push((await dropsite(locations.slice(0, 1))).wallS);
    single.f.push((await faddr(locations.slice(0, 1))).wallS);
  }
  note(`exact bench: single location, ${runs} runs each`);
  const batchD = await dropsite(locations);
  const batchF = await faddr(locations);
  note(`exact bench: ${locations.length} locations in one process each`);

  // Answers: does the first candidate (dropsite) or any frame (faddr2line) hold the truth's drop site,
  // the first frame outside the drop functions (as bench/calibration/evaluate.ts scores it)?
  const { openForRead } = await import('../src/index/open.ts');
  const { listApis, pickTree } = await import('../src/index/read.ts');
  const { trueSite } = await import('./calibration/evaluate.ts');
  const { isGenericDropApi } = await import('../src/explain/explain.ts');
  const handle = openForRead(info.db);
  const apis = new Set(listApis(handle, pickTree(handle, selector ?? undefined, info.db).id).filter(isGenericDropApi).map((a) => a.name));
  handle.close();
  const truthLine = (t: Truth): string => {
    const f = trueSite(t.chain, apis);
    return f === null ? '' : `${f.file}:${f.line}`;
  };
  const explained = JSON.parse(batchD.stdout) as Array<{ candidates: Array<{ file: string; line: number; endLine: number }> }>;
  const blocks = faddr2lineBlocks(batchF.stdout);
  let dropsiteRight = 0;
  let faddr2lineRight = 0;
  picked.forEach((t, i) => {
    const want = truthLine(t);
    const [file, line] = [want.slice(0, want.lastIndexOf(':')), Number(want.slice(want.lastIndexOf(':') + 1))];
    const c = explained[i]?.candidates[0];
    if (c !== undefined && c.file === file && c.line <= line && line <= c.endLine) dropsiteRight++;
    // faddr2line prints build paths; compare by suffix.
    if ((blocks.get(t.location) ?? []).some((fl) => fl.endsWith(`/${want}`) || fl === want)) faddr2lineRight++;
  });
  notes.push('faddr2line is given the return address, as the tools print it; it names the line of the address itself, which after a call is often the next statement');

  const dS = aggregate(single.d, 'median');
  const fS = aggregate(single.f, 'median');
  const result: ExactBenchResult = {
    benchmark: 'exact',
    skipped: false,
    vmlinux,
    faddr2line,
    indexedTree: chosen,
    single: { location: locations[0] ?? '', runs, dropsiteS: round(dS, 3), faddr2lineS: round(fS, 3), ratio: round(dS / fS, 3) },
    batch: { locations: locations.length, dropsiteS: round(batchD.wallS, 3), faddr2lineS: round(batchF.wallS, 3), ratio: round(batchD.wallS / batchF.wallS, 3) },
    answers: { locations: picked.length, dropsiteRight, faddr2lineRight },
    notes,
  };
  const row = (a: string, b: string, c: string, d: string): string => `  ${a.padEnd(40)}${b.padStart(12)}${c.padStart(14)}${d.padStart(10)}`;
  note('');
  note(`exact benchmark: ${vmlinux} against ${faddr2line}`);
  note(row('', 'dropsite', 'faddr2line', 'ratio'));
  note(row(`one location (median of ${runs})`, `${dS.toFixed(2)} s`, `${fS.toFixed(2)} s`, (dS / fS).toFixed(3)));
  note(row(`${locations.length} locations, one process each`, `${batchD.wallS.toFixed(2)} s`, `${batchF.wallS.toFixed(2)} s`, (batchD.wallS / batchF.wallS).toFixed(3)));
  note(row(`answers holding the true call line`, `${dropsiteRight}/${picked.length}`, `${faddr2lineRight}/${picked.length}`, ''));
  for (const n of notes) note(`  note: ${n}`);
  return result;
}
