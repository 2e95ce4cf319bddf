// --rebuild on the calibration truth set's real locations (bench/calibration): rebuilt top-1 against
// the debug info's true site, the share whose code is identical to the shipped image, and the times
// (prepare; per file; a 100-location batch cold and warm) against --vmlinux exact mode and source-only
// ranking on the same batch, in the same run. Builds in a scratch cache, so "cold" is really cold.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchUsageError, DROPSITE_CLI, chooseIndexedTree, childEnv, note, round, withTempDir, type BenchOptions, type IndexedTree } from './lib.ts';

const BATCH = 100;

interface Frame { function: string; file: string; line: number }
interface Truth { kind: string; location: string; chain: Frame[]; reason: string | null; event: string }
interface Answer { input: string; method: string; verified: string; exact: boolean; candidates: Array<{ file: string; line: number; endLine: number }>; notes: string[] }

interface Timed { wallS: number; answers: Answer[]; stderr: string }

interface Scored { locations: number; top1: number }

export type RebuildBenchResult =
  | { benchmark: 'rebuild'; skipped: true; reason: string }
  | {
    benchmark: 'rebuild';
    skipped: false;
    config: string;
    kernel: string | null;
    indexedTree: IndexedTree;
    prepareS: number;
    batch: {
      locations: number; files: number; coldS: number; perFileS: number; warmS: number; warmCompiled: number;
      vmlinuxS: number | null; sourceS: number;
      top1: { rebuilt: Scored; vmlinux: Scored | null; source: Scored };
    };
    all: { locations: number; files: number; seconds: number; top1: Scored; codeIdentical: number; sizeMatches: number; answeredRebuilt: number } | null;
    notes: string[];
  };

function dropsite(args: readonly string[], env: Record<string, string>): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    execFile(process.execPath, [DROPSITE_CLI, ...args], { env: { ...childEnv(), ...env }, encoding: 'utf8', maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      if (err !== null) reject(new Error(`dropsite ${args.slice(0, 3).join(' ')} … failed: ${stderr.split('\n').slice(-3).join(' | ')}`));
      else resolve({ wallS, answers: JSON.parse(stdout) as Answer[], stderr });
    });
  });
}

/** `rebuilt: 61 file(s) (61 compiled, 0 cached) in 80.2 s (prepare 20.1 s); …` */
function summaryOf(stderr: string): { files: number; compiled: number; prepareS: number } {
  const m = /rebuilt: (\d+) file\(s\) \((\d+) compiled.*?(?:\(prepare ([\d.]+) s\))?;/.exec(stderr);
  return { files: Number(m?.[1] ?? 0), compiled: Number(m?.[2] ?? 0), prepareS: Number(m?.[3] ?? 0) };
}

export async function runRebuildBench(opts: BenchOptions): Promise<RebuildBenchResult> {
  const skip = (reason: string): RebuildBenchResult => {
    note(`rebuild benchmark: skipped, ${reason}`);
    return { benchmark: 'rebuild', skipped: true, reason };
  };
  if (opts.truth === null) return skip('no truth set (--truth, see bench/calibration/README.md)');
  if (opts.config === null) return skip('no --config (the config of the kernel the truth set comes from)');
  const config = opts.config;
  const notes: string[] = [];
  const truths = readFileSync(opts.truth, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Truth)
    .filter((t) => t.kind === 'call' && /^\S+\+0x[0-9a-f]+\/0x[0-9a-f]+$/.test(t.location));
  if (truths.length < BATCH) throw new BenchUsageError(`--truth ${opts.truth} has ${truths.length} call locations; the rebuild benchmark needs ${BATCH}`);
  const picked = Array.from({ length: BATCH }, (_, i) => truths[Math.floor((i * truths.length) / BATCH)] as Truth);

  const info = await opts.index();
  const { selector, chosen, note: treeNote } = await chooseIndexedTree(info.db, opts.tree);
  if (treeNote !== null) notes.push(treeNote);
  const treeArgs = selector === null ? [] : ['--tree', selector];
  const { openForRead } = await import('../src/index/open.ts');
  const { listApis, pickTree } = await import('../src/index/read.ts');
  const { isGenericDropApi } = await import('../src/explain/explain.ts');
  const { trueSite } = await import('./calibration/evaluate.ts');
  const handle = openForRead(info.db);
  const generic = new Set(listApis(handle, pickTree(handle, selector ?? undefined, info.db).id).filter(isGenericDropApi).map((a) => a.name));
  handle.close();
  const score = (ts: readonly Truth[], answers: readonly Answer[]): Scored => {
    let top1 = 0;
    ts.forEach((t, i) => {
      const s = trueSite(t.chain, generic);
      const c = answers[i]?.candidates[0];
      if (s !== null && c !== undefined && c.file === s.file && c.line <= s.line && s.line <= c.endLine) top1++;
    });
    return { locations: ts.length, top1 };
  };
  const args = (ts: readonly Truth[]): string[] => ts.map((t) => `${t.location}${t.reason !== null ? ` reason: ${t.reason}` : ''}${t.event === 'consume_skb' ? ' event: consume_skb' : ''}`);
  const kernelArgs = opts.kernel === null ? [] : ['--kernel', opts.kernel];

  return withTempDir('dropsite-bench-rebuild-', async (scratch) => {
    const env = { XDG_CACHE_HOME: join(scratch, 'cache') };
    const rebuild = (ts: readonly Truth[]): Promise<Timed> => dropsite(['explain', '--db', info.db, ...treeArgs, '--rebuild', '--config', config, ...kernelArgs, '--json', '--max', '1', ...args(ts)], env);
    note(`rebuild bench: ${BATCH} locations, cold (prepare + build in ${scratch})…`);
    const cold = await rebuild(picked);
    const coldSum = summaryOf(cold.stderr);
    note(`rebuild bench: warm…`);
    const warm = await rebuild(picked);
    const warmSum = summaryOf(warm.stderr);
    const vm = opts.vmlinux === null ? null : await dropsite(['explain', '--db', info.db, ...treeArgs, '--vmlinux', opts.vmlinux, '--json', '--max', '1', ...args(picked)], env);
    const src = await dropsite(['explain', '--db', info.db, ...treeArgs, '--json', '--max', '1', ...args(picked)], env);
    note(`rebuild bench: the whole truth set (${truths.length} locations)…`);
    const all = await rebuild(truths);
    const allSum = summaryOf(all.stderr);
    const buildS = cold.wallS - coldSum.prepareS;
    const result: RebuildBenchResult = {
      benchmark: 'rebuild', skipped: false, config, kernel: opts.kernel, indexedTree: chosen,
      prepareS: round(coldSum.prepareS, 1),
      batch: {
        locations: picked.length, files: coldSum.files, coldS: round(cold.wallS, 1), perFileS: round(buildS / Math.max(1, coldSum.compiled), 2),
        warmS: round(warm.wallS, 2), warmCompiled: warmSum.compiled, vmlinuxS: vm === null ? null : round(vm.wallS, 2), sourceS: round(src.wallS, 2),
        top1: { rebuilt: score(picked, cold.answers), vmlinux: vm === null ? null : score(picked, vm.answers), source: score(picked, src.answers) },
      },
      all: {
        locations: truths.length, files: allSum.files, seconds: round(all.wallS, 1), top1: score(truths, all.answers),
        codeIdentical: all.answers.filter((a) => a.verified === 'code').length, sizeMatches: all.answers.filter((a) => a.verified === 'size').length,
        answeredRebuilt: all.answers.filter((a) => a.method === 'rebuilt').length,
      },
      notes,
    };
    const b = result.batch;
    const pct = (s: Scored): string => `${s.top1}/${s.locations} (${((s.top1 / Math.max(1, s.locations)) * 100).toFixed(1)}%)`;
    note('');
    note(`rebuild benchmark: ${opts.tree} with ${config}${opts.kernel !== null ? `, verified against ${opts.kernel}` : ''}`);
    note(`  prepare (olddefconfig + prepare, once)       ${result.prepareS} s`);
    note(`  ${b.locations} locations cold: ${b.files} files      ${b.coldS} s (${b.perFileS} s per file)`);
    note(`  same batch warm (compiled ${b.warmCompiled})          ${b.warmS} s`);
    note(`  same batch --vmlinux exact mode             ${b.vmlinuxS ?? '-'} s`);
    note(`  same batch source only                      ${b.sourceS} s`);
    note(`  top-1: rebuilt ${pct(b.top1.rebuilt)}, --vmlinux ${b.top1.vmlinux === null ? '-' : pct(b.top1.vmlinux)}, source ${pct(b.top1.source)}`);
    if (result.all !== null) note(`  whole truth set: ${result.all.files} files, ${result.all.seconds} s; top-1 ${pct(result.all.top1)}; rebuilt ${result.all.answeredRebuilt}, code identical ${result.all.codeIdentical}, size matches ${result.all.sizeMatches}`);
    return result;
  });
}
