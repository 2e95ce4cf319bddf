// The explain benchmark: one location from the shell against Node's own start-up and against the
// grep a user would type instead, then 10,000 locations through one `explain --stdin` process.
// Ratios are the point (the machine changes, the ratio much less); nothing here gates anything.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BenchError, DROPSITE_CLI, aggregate, aggregateFor, chooseIndexedTree, note, round, runDropsite, timeCommand, versionOf, withTempDir,
  type Aggregate, type BenchOptions, type IndexedTree,
} from './lib.ts';

export const EXPLAIN_TARGETS = { singleWallSAtMost: 0.15, stdinWallSAtMost: 2.0 } as const;

const STDIN_LOCATIONS = 10_000;
/** One explain is ~0.2 s, so a handful of runs is cheap and the median needs them to be stable. */
const SINGLE_RUNS_AT_LEAST = 10;
/** The two input forms of the --stdin run: perf/tracefs (size and reason) and dropwatch (bare hex offset). */
const STDIN_FORMS = ['FUNCTION+0x1a/0x200 reason: NOT_SPECIFIED', 'FUNCTION+1a'] as const;

export interface ExplainBenchResult {
  benchmark: 'explain';
  tree: string;
  index: {
    db: string;
    origin: 'given' | 'built';
    /** null for a --db index. */
    buildS: number | null;
    buildPeakRssMiB: number | null;
    /** The build was paid by an earlier benchmark of the same run. */
    isShared: boolean;
    indexedTree: IndexedTree;
  };
  single: {
    location: string;
    function: string;
    file: string;
    sites: number;
    runs: number;
    aggregate: 'median';
    explainS: number;
    nodeStartupS: number;
    /** null when grep is not on PATH. */
    grep: { command: string[]; wallS: number; matchingLines: number } | null;
    ratios: { explainOverNodeStartup: number; explainOverGrep: number | null };
    samples: { explainS: number[]; nodeStartupS: number[]; grepS: number[] };
  };
  stdin: {
    locations: number;
    distinctFunctions: number;
    forms: readonly string[];
    /** Locations that got at least one candidate. */
    located: number;
    runs: number;
    aggregate: Aggregate;
    wallS: number;
    peakRssMiB: number;
    locationsPerS: number;
    /** The --stdin wall time over (one single-location explain × the number of locations). */
    overSeparateProcesses: number;
    samples: Array<{ wallS: number; peakRssMiB: number }>;
  };
  targets: typeof EXPLAIN_TARGETS;
  met: { singleWallS: boolean; stdinWallS: boolean };
  notes: string[];
}

interface SiteRow { function: string; file: string }

function parseSites(json: string): SiteRow[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) throw new BenchError('dropsite sites --json did not print a JSON array');
  return parsed.flatMap((s: unknown) => (typeof s === 'object' && s !== null && 'function' in s && typeof s.function === 'string'
    && 'file' in s && typeof s.file === 'string' ? [{ function: s.function, file: s.file }] : []));
}

/**
 * The function the single-location run asks about: the first (in `sites` order) with two sites or
 * more, so that explain has to rank. It is taken under net/ when one is there, because the grep
 * baseline searches net/ and an arch/ function (the first ones in file order) would find nothing.
 */
function pickFunction(sites: readonly SiteRow[]): { name: string; file: string; sites: number; isUnderNet: boolean } {
  const counts = new Map<string, number>();
  for (const s of sites) counts.set(s.function, (counts.get(s.function) ?? 0) + 1);
  const hasTwo = (s: SiteRow): boolean => (counts.get(s.function) ?? 0) >= 2;
  const pick = sites.find((s) => s.file.startsWith('net/') && hasTwo(s)) ?? sites.find(hasTwo);
  if (pick === undefined) throw new BenchError('no function of the index has two drop sites or more: is --tree a Linux tree?');
  return { name: pick.function, file: pick.file, sites: counts.get(pick.function) ?? 0, isUnderNet: pick.file.startsWith('net/') };
}

/** `count` stdin lines cycling over every function of the index, alternating the two input forms. */
function stdinLines(functions: readonly string[], count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const form = STDIN_FORMS[i % STDIN_FORMS.length] ?? STDIN_FORMS[0];
    lines.push(form.replace('FUNCTION', functions[i % functions.length] ?? ''));
  }
  return lines;
}

/** Number of explained locations with at least one candidate, after checking every line got an answer. */
function countLocated(json: string, expected: number): number {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) throw new BenchError('explain --stdin --json did not print a JSON array');
  if (parsed.length !== expected) throw new BenchError(`explain --stdin --json answered ${parsed.length} locations, not the ${expected} it was given`);
  return parsed.filter((e: unknown) => typeof e === 'object' && e !== null && 'candidates' in e
    && Array.isArray(e.candidates) && e.candidates.length > 0).length;
}

const ms = (s: number): string => `${(s * 1000).toFixed(1)} ms`;

export function renderExplainTable(r: ExplainBenchResult): string {
  const row = (a: string, b: string, c: string, d: string): string => `  ${a.padEnd(34)}${b.padStart(12)}${c.padStart(12)}   ${d}`;
  const verdict = (m: boolean): string => (m ? 'met' : 'MISSED');
  const s = r.single;
  const out: string[] = [];
  out.push(`explain benchmark: ${r.tree}`);
  const idx = r.index;
  out.push(idx.origin === 'given'
    ? `  index: --db ${idx.db} (${idx.indexedTree.root}, ${idx.indexedTree.version ?? 'unknown version'})`
    : `  index: built from --tree in ${idx.buildS?.toFixed(2) ?? '?'} s, peak RSS ${idx.buildPeakRssMiB?.toFixed(1) ?? '?'} MiB`
      + (idx.isShared ? ' (by an earlier benchmark of this run)' : ''));
  out.push(`  single location: ${s.location} (${s.function}, ${s.sites} sites, ${s.file}); median of ${s.runs} runs after one warm-up`);
  out.push('');
  out.push(row('', 'median', 'ratio', 'runs'));
  out.push(row('node -e 0 (Node start-up)', ms(s.nodeStartupS), '', s.samples.nodeStartupS.map((x) => (x * 1000).toFixed(0)).join(' ')));
  if (s.grep !== null) {
    out.push(row(`grep -rnw ${s.function} (${s.grep.matchingLines} lines)`, ms(s.grep.wallS), '', s.samples.grepS.map((x) => (x * 1000).toFixed(0)).join(' ')));
  } else {
    out.push(row('grep (by hand)', '-', '', 'skipped'));
  }
  out.push(row('dropsite explain LOCATION', ms(s.explainS), '', s.samples.explainS.map((x) => (x * 1000).toFixed(0)).join(' ')));
  out.push(row('  explain / node start-up', '', `${s.ratios.explainOverNodeStartup.toFixed(2)}x`, ''));
  out.push(row('  explain / grep', '', s.ratios.explainOverGrep === null ? '-' : `${s.ratios.explainOverGrep.toFixed(2)}x`, ''));
  out.push('');
  const d = r.stdin;
  out.push(`  --stdin: ${d.locations} locations over ${d.distinctFunctions} functions, forms ${d.forms.map((f) => `"${f}"`).join(' and ')};`
    + ` ${d.located} got a candidate; wall = ${d.aggregate} of ${d.runs} run(s)`);
  out.push(row('explain --stdin --json --max 3', `${d.wallS.toFixed(2)} s`, '', d.samples.map((x) => `${x.wallS.toFixed(2)} s / ${x.peakRssMiB.toFixed(1)} MiB`).join(', ')));
  out.push(row('  throughput', `${Math.round(d.locationsPerS)}/s`, '', ''));
  out.push(row(`  / (single × ${d.locations})`, '', d.overSeparateProcesses.toFixed(4), ''));
  out.push('');
  out.push(row('', 'value', 'target', ''));
  out.push(row('single location, wall', ms(s.explainS), `≤ ${ms(r.targets.singleWallSAtMost)}`, verdict(r.met.singleWallS)));
  out.push(row(`${d.locations} locations on --stdin, wall`, `${d.wallS.toFixed(2)} s`, `≤ ${r.targets.stdinWallSAtMost.toFixed(1)} s`, verdict(r.met.stdinWallS)));
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}

export async function runExplainBench(opts: BenchOptions): Promise<ExplainBenchResult> {
  const notes: string[] = ['wall times run from spawn to exit, timed in the bench process: each includes the same few ms of fork and exec'];
  const info = await opts.index();
  const { selector, chosen, note: treeNote } = await chooseIndexedTree(info.db, opts.tree);
  if (treeNote !== null) notes.push(treeNote);
  const treeArgs = selector === null ? [] : ['--tree', selector];

  const sites = parseSites(await runDropsite(['sites', '--db', info.db, ...treeArgs, '--json']));
  const fn = pickFunction(sites);
  const location = `${fn.name}+0x40/0x400`;
  const grepTop = fn.isUnderNet ? 'net' : (fn.file.split('/')[0] ?? 'net');
  if (!fn.isUnderNet) notes.push(`no function under net/ has two sites: took ${fn.name} (${fn.file}) and grep searches ${grepTop}/ instead`);

  const explainArgs = [DROPSITE_CLI, 'explain', '--db', info.db, ...treeArgs, location];
  const nodeArgs = ['-e', '0'];
  const grepArgs = ['-rn', '--include=*.c', '-w', fn.name, join(opts.tree, grepTop)];
  const hasGrep = (await versionOf('grep')) !== null;
  if (!hasGrep) notes.push('grep is not on PATH: the by-hand baseline was skipped');

  // One unmeasured run of each first: it loads the index and the tree into the page cache, which a
  // user who runs explain after a capture has too, and checks that each command works at all.
  const warm = await timeCommand(process.execPath, explainArgs, { keepStdout: true });
  if (!warm.stdout.includes(fn.file)) notes.push(`explain ${location} did not name ${fn.file}: check its output by hand`);
  await timeCommand(process.execPath, nodeArgs);
  // grep exits 1 when no line matches: still a valid (and then short) by-hand search.
  const grepWarm = hasGrep ? await timeCommand('grep', grepArgs, { okCodes: [0, 1], keepStdout: true }) : null;
  const matchingLines = grepWarm === null ? 0 : grepWarm.stdout.split('\n').filter((l) => l !== '').length;

  const runs = Math.max(SINGLE_RUNS_AT_LEAST, opts.runs);
  const samples = { explainS: [] as number[], nodeStartupS: [] as number[], grepS: [] as number[] };
  // The three take turns, so machine noise falls on all of them alike.
  for (let i = 1; i <= runs; i++) {
    samples.nodeStartupS.push((await timeCommand(process.execPath, nodeArgs)).wallS);
    samples.explainS.push((await timeCommand(process.execPath, explainArgs)).wallS);
    if (hasGrep) samples.grepS.push((await timeCommand('grep', grepArgs, { okCodes: [0, 1] })).wallS);
  }
  note(`explain bench: single location ${location}, ${runs} runs done`);
  const explainS = aggregate(samples.explainS, 'median');
  const nodeStartupS = aggregate(samples.nodeStartupS, 'median');
  const grepS = hasGrep ? aggregate(samples.grepS, 'median') : null;

  const functions = [...new Set(sites.map((s) => s.function))].filter((f) => /^[A-Za-z_]\w*$/.test(f));
  if (functions.length === 0) throw new BenchError('the index has no function name to build --stdin locations from');
  const lines = stdinLines(functions, STDIN_LOCATIONS);
  const how = aggregateFor(opts.runs);

  const stdinSamples = await withTempDir('dropsite-bench-explain-', async (dir) => {
    const input = join(dir, 'locations.txt');
    await writeFile(input, `${lines.join('\n')}\n`);
    const out: Array<{ wallS: number; peakRssMiB: number; located: number }> = [];
    for (let i = 1; i <= opts.runs; i++) {
      const r = await timeCommand(process.execPath, [DROPSITE_CLI, 'explain', '--db', info.db, ...treeArgs, '--stdin', '--json', '--max', '3'], {
        stdinFile: input, keepStdout: true, timeFile: join(dir, 'time.txt'),
      });
      const located = countLocated(r.stdout, lines.length);
      out.push({ wallS: r.wallS, peakRssMiB: r.peakRssMiB ?? NaN, located });
      note(`explain bench, --stdin run ${i}/${opts.runs}: ${r.wallS.toFixed(2)} s, peak RSS ${(r.peakRssMiB ?? NaN).toFixed(1)} MiB, ${located}/${lines.length} located`);
    }
    return out;
  });
  const stdinS = aggregate(stdinSamples.map((x) => x.wallS), how);
  const located = stdinSamples[0]?.located ?? 0;
  if (stdinSamples.some((x) => x.located !== located)) notes.push('the --stdin runs did not all locate the same number of lines');

  const result: ExplainBenchResult = {
    benchmark: 'explain',
    tree: opts.tree,
    index: {
      db: info.db,
      origin: info.origin,
      buildS: info.build === null ? null : round(info.build.wallS),
      buildPeakRssMiB: info.build === null ? null : round(info.build.peakRssMiB, 1),
      isShared: info.isShared,
      indexedTree: chosen,
    },
    single: {
      location,
      function: fn.name,
      file: fn.file,
      sites: fn.sites,
      runs,
      aggregate: 'median',
      explainS: round(explainS, 4),
      nodeStartupS: round(nodeStartupS, 4),
      grep: grepS === null ? null : { command: ['grep', ...grepArgs], wallS: round(grepS, 4), matchingLines },
      ratios: {
        explainOverNodeStartup: round(explainS / nodeStartupS, 2),
        explainOverGrep: grepS === null ? null : round(explainS / grepS, 2),
      },
      samples: {
        explainS: samples.explainS.map((x) => round(x, 4)),
        nodeStartupS: samples.nodeStartupS.map((x) => round(x, 4)),
        grepS: samples.grepS.map((x) => round(x, 4)),
      },
    },
    stdin: {
      locations: lines.length,
      distinctFunctions: functions.length,
      forms: STDIN_FORMS,
      located,
      runs: opts.runs,
      aggregate: how,
      wallS: round(stdinS, 3),
      peakRssMiB: round(Math.max(...stdinSamples.map((x) => x.peakRssMiB)), 1),
      locationsPerS: Math.round(lines.length / stdinS),
      overSeparateProcesses: round(stdinS / (explainS * lines.length), 4),
      samples: stdinSamples.map((x) => ({ wallS: round(x.wallS, 3), peakRssMiB: round(x.peakRssMiB, 1) })),
    },
    targets: EXPLAIN_TARGETS,
    met: { singleWallS: explainS <= EXPLAIN_TARGETS.singleWallSAtMost, stdinWallS: stdinS <= EXPLAIN_TARGETS.stdinWallSAtMost },
    notes,
  };
  note('');
  note(renderExplainTable(result));
  return result;
}
