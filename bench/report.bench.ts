// The report benchmark: `dropsite report` on a generated million-line recording (tracefs 6.11+ and
// dropwatch 1.5.4) against the shell pipeline the issue names, grep | sort | uniq -c, in the same run.
// The recordings use real (function, reason) pairs of the index, with a zipf-like skew so that a few
// locations dominate, as on a real machine. Ratios are the point; nothing here gates anything.
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  BenchError, DROPSITE_CLI, GNU_TIME, aggregate, aggregateFor, childEnv, chooseIndexedTree, note, round, runDropsite, timeCommand, withTempDir,
  type Aggregate, type BenchOptions, type IndexedTree,
} from './lib.ts';

export const REPORT_TARGETS = { ratioAtMost: 2.0, peakRssMiBAtMost: 200 } as const;

const RECORDING_LINES = 1_000_000;
const LOCATIONS = 200;
/** P(rank k) ∝ 1 / k^s: with s = 1.1 over 200 locations the first takes ~21 % and the first ten ~57 %. */
const ZIPF_EXPONENT = 1.1;
const SEED = 0x5eed_d12f;
/** Lines per write: a few hundred KiB at a time, so the recording never sits in memory whole. */
const LINES_PER_WRITE = 4096;
/** dropwatch sessions (start … Ctrl-C … exit) are this many drop lines long, give or take half. */
const DROPWATCH_SESSION_LINES = 4000;
const TOP = 20;

type RecordingKind = 'tracefs' | 'dropwatch';

/** One generated drop location: a real function and one of its reasons; the offset and size are made up. */
interface Triple {
  function: string;
  file: string;
  reason: string;
  offset: number;
  size: number;
  /** A kernel text address for dropwatch's `(0x…)`, fixed per location. */
  address: string;
}

interface Generated {
  kind: RecordingKind;
  path: string;
  lines: number;
  bytes: number;
  /** Lines that carry a drop (the rest are dropwatch banners). */
  events: number;
  /** Sum of the counts: events for tracefs, the `N drops` for dropwatch. */
  drops: number;
  bannerLines: number;
  /** Per triple index: events and drops. */
  perLocation: Array<{ events: number; drops: number }>;
  generateS: number;
}

interface StageRun { command: string[]; peakRssMiB: number }
interface PipelineRun { wallS: number; stages: StageRun[]; stdout: string }

interface FormatResult {
  format: RecordingKind;
  /** Where the recording was (removed at the end of the run). */
  path: string;
  file: { lines: number; bytes: number; events: number; drops: number; bannerLines: number; locationsUsed: number; generateS: number };
  dropsite: { command: string[]; wallS: number; peakRssMiB: number; linesPerS: number };
  baseline: {
    command: string;
    wallS: number;
    /** Stages run at once, so the pipeline's footprint is up to their sum. */
    peakRssMiB: { grep: number; sort: number; uniq: number; sum: number };
    /** What `uniq -c` printed: distinct matches and the sum of its counts (= matching lines). */
    distinct: number;
    matched: number;
  };
  ratio: number;
  check: {
    drops: { expected: number; reported: number; ok: boolean };
    events: { expected: number; reported: number; ok: boolean };
    locations: { expected: number; reported: number; ok: boolean };
    skippedLines: number;
    /** The report's top rows, each compared with what was generated for its location (and reason). */
    topRows: { compared: number; mismatches: string[]; ok: boolean };
    baselineMatched: { expected: number; got: number; ok: boolean };
  };
  samples: { dropsite: Array<{ wallS: number; peakRssMiB: number }>; baselineWallS: number[] };
}

export interface ReportBenchResult {
  benchmark: 'report';
  tree: string;
  index: { db: string; origin: 'given' | 'built'; buildS: number | null; isShared: boolean; indexedTree: IndexedTree };
  cores: number;
  runs: number;
  aggregate: { wallS: Aggregate; peakRssMiB: 'max' };
  generator: { seed: number; locations: number; zipfExponent: number; topShare: number; top10Share: number };
  formats: FormatResult[];
  targets: typeof REPORT_TARGETS;
  met: Record<RecordingKind, { ratio: boolean; peakRssMiB: boolean; counts: boolean }>;
  notes: string[];
}

/** mulberry32: small, seedable, good enough to spread events; Math.random cannot be seeded. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SiteRow { function: string; file: string; kind: string; reasons: string[] }

function parseSites(json: string): SiteRow[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) throw new BenchError('dropsite sites --json did not print a JSON array');
  return parsed.flatMap((s: unknown) => {
    if (typeof s !== 'object' || s === null) return [];
    if (!('function' in s) || typeof s.function !== 'string' || !('file' in s) || typeof s.file !== 'string') return [];
    const kind = 'kind' in s && typeof s.kind === 'string' ? s.kind : '';
    const reasons = 'reasons' in s && Array.isArray(s.reasons) ? s.reasons.filter((r: unknown): r is string => typeof r === 'string') : [];
    return [{ function: s.function, file: s.file, kind, reasons }];
  });
}

/**
 * LOCATIONS drop functions with at least one reason, one location each (so every location is one
 * report row), spread evenly over the index: net/ first, where real drops come from, then the rest.
 */
function pickTriples(sites: readonly SiteRow[], rand: () => number): Triple[] {
  const byFunction = new Map<string, { file: string; reasons: Set<string> }>();
  for (const s of sites) {
    if (s.kind !== 'drop' || s.reasons.length === 0 || !/^[A-Za-z_]\w*$/.test(s.function)) continue;
    const entry = byFunction.get(s.function) ?? { file: s.file, reasons: new Set<string>() };
    for (const r of s.reasons) entry.reasons.add(r);
    byFunction.set(s.function, entry);
  }
  const all = [...byFunction].map(([fn, e]) => ({ fn, file: e.file, reasons: [...e.reasons].sort() }));
  const net = all.filter((f) => f.file.startsWith('net/'));
  const rest = all.filter((f) => !f.file.startsWith('net/'));
  const spread = <T>(list: readonly T[], n: number): T[] => {
    if (list.length <= n) return [...list];
    return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]).filter((x): x is T => x !== undefined);
  };
  const chosen = [...spread(net, LOCATIONS), ...spread(rest, Math.max(0, LOCATIONS - net.length))];
  if (chosen.length < 10) throw new BenchError(`the index has only ${chosen.length} drop functions with a reason: is --tree a Linux tree of 5.17 or later?`);
  return chosen.map((f) => {
    const size = 0x100 + 0x10 * Math.floor(rand() * 0x1f0);
    const offset = 0x10 + Math.floor(rand() * (size - 0x20));
    const base = 0xffffffff81000000n + BigInt(Math.floor(rand() * 0xe00000) & ~0xf);
    return {
      function: f.fn,
      file: f.file,
      reason: f.reasons[Math.floor(rand() * f.reasons.length)] ?? 'NOT_SPECIFIED',
      offset,
      size,
      address: (base + BigInt(offset)).toString(16),
    };
  });
}

/** Cumulative zipf weights, and a sampler over them by binary search. */
function zipfSampler(n: number, rand: () => number): { sample: () => number; shares: number[] } {
  const weights = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** ZIPF_EXPONENT);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative = new Float64Array(n);
  let acc = 0;
  weights.forEach((w, i) => {
    acc += w / total;
    cumulative[i] = acc;
  });
  const sample = (): number => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return { sample, shares: weights.map((w) => w / total) };
}

/** A line sink that writes every LINES_PER_WRITE lines, so the recording never sits in memory whole. */
class LineWriter {
  readonly #fh: FileHandle;
  #batch: string[] = [];
  lines = 0;
  bytes = 0;

  constructor(fh: FileHandle) {
    this.#fh = fh;
  }

  /** True when the batch is full: the caller then awaits flush(), which keeps the disk as the pace. */
  add(line: string): boolean {
    this.#batch.push(line);
    this.lines++;
    return this.#batch.length >= LINES_PER_WRITE;
  }

  async flush(): Promise<void> {
    if (this.#batch.length === 0) return;
    const buf = Buffer.from(`${this.#batch.join('\n')}\n`, 'latin1');
    this.#batch = [];
    this.bytes += buf.length;
    await this.#fh.write(buf);
  }
}

/** Run `fill` with a LineWriter on a new file at `path`, flush and close it whatever happens. */
async function writeRecording(path: string, fill: (w: LineWriter) => Promise<void>): Promise<{ lines: number; bytes: number }> {
  const fh = await open(path, 'w');
  const w = new LineWriter(fh);
  try {
    await fill(w);
    await w.flush();
  } finally {
    await fh.close();
  }
  return { lines: w.lines, bytes: w.bytes };
}

/** Who was on the CPU when the skb was freed: the comm and pid columns of a trace line. */
const TASKS: ReadonlyArray<readonly [string, number]> = [
  ['<idle>', 0], ['<idle>', 0], ['<idle>', 0], ['ksoftirqd/0', 15], ['ksoftirqd/1', 22], ['nginx', 2314], ['nslookup', 113430], ['kworker/u4:2', 9031], ['sshd', 871],
];
const PROTOCOLS = [2048, 2048, 2048, 34525, 2054] as const;
/** Hashed %p, as tracefs prints pointers since 4.15: eight zeros, then eight hex digits. */
const hashedPointer = (rand: () => number): string => `00000000${Math.floor(rand() * 0x1_0000_0000).toString(16).padStart(8, '0')}`;

function pick<T>(list: readonly T[], rand: () => number): T {
  const x = list[Math.floor(rand() * list.length)] ?? list[0];
  if (x === undefined) throw new BenchError('internal: pick from an empty list');
  return x;
}

/**
 * RECORDING_LINES lines of `cat trace_pipe` on a 6.11+ kernel (`skbaddr=%p rx_sk=%p protocol=%u
 * location=%pS reason: %s`, FORMATS.md §2.1), timestamps rising 1–20 µs apart.
 */
async function generateTracefs(path: string, triples: readonly Triple[], rand: () => number): Promise<Generated> {
  const { sample } = zipfSampler(triples.length, rand);
  const perLocation = triples.map(() => ({ events: 0, drops: 0 }));
  let micros = 164_463_161_391;
  const started = process.hrtime.bigint();
  const { lines, bytes } = await writeRecording(path, async (w) => {
    for (let i = 0; i < RECORDING_LINES; i++) {
      const k = sample();
      const t = triples[k];
      const counts = perLocation[k];
      if (t === undefined || counts === undefined) throw new BenchError(`internal: zipf sample ${k} out of range`);
      counts.events++;
      counts.drops++;
      micros += 1 + Math.floor(rand() * 20);
      const [comm, pid] = pick(TASKS, rand);
      const cpu = String(Math.floor(rand() * 2)).padStart(3, '0');
      const stamp = `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
      const rxSk = rand() < 0.1 ? hashedPointer(rand) : '0000000000000000';
      const line = `${comm.padStart(16)}-${String(pid).padEnd(7)} [${cpu}] ..s1. ${stamp}: kfree_skb: skbaddr=${hashedPointer(rand)} rx_sk=${rxSk}`
        + ` protocol=${pick(PROTOCOLS, rand)} location=${t.function}+0x${t.offset.toString(16)}/0x${t.size.toString(16)} reason: ${t.reason}`;
      if (w.add(line)) await w.flush();
    }
  });
  const generateS = Number(process.hrtime.bigint() - started) / 1e9;
  return { kind: 'tracefs', path, lines, bytes, events: lines, drops: lines, bannerLines: 0, perLocation, generateS };
}

// What dropwatch 1.5.4 prints around its alerts when run as `dropwatch -l kas` and stopped with Ctrl-C
// (FORMATS.md §1.1): a recording that spans several sessions has these every few thousand lines.
const SESSION_START = ['Initializing kallsyms db', 'dropwatch> start', 'Enabling monitoring...', 'Kernel monitoring activated.', 'Issue Ctrl-C to stop monitoring'];
const SESSION_END = ['^CGot a stop message', 'dropwatch> exit', 'Shutting down ...'];

/**
 * RECORDING_LINES lines of dropwatch 1.5.4 summary mode with -l kas: `N drops at SYM+HEX (0xADDR)
 * [software]`, the offset in hex without 0x. Sessions of ~DROPWATCH_SESSION_LINES drop lines each.
 */
async function generateDropwatch(path: string, triples: readonly Triple[], rand: () => number): Promise<Generated> {
  const { sample } = zipfSampler(triples.length, rand);
  const perLocation = triples.map(() => ({ events: 0, drops: 0 }));
  let events = 0;
  let drops = 0;
  let bannerLines = 0;
  const started = process.hrtime.bigint();
  const sessionLength = (): number => Math.round(DROPWATCH_SESSION_LINES * (0.5 + rand()));
  const { lines, bytes } = await writeRecording(path, async (w) => {
    const banner = async (text: readonly string[]): Promise<void> => {
      for (const l of text) {
        bannerLines++;
        if (w.add(l)) await w.flush();
      }
    };
    await banner(SESSION_START);
    let untilBreak = sessionLength();
    // Room is kept for the closing banner so that the file is exactly RECORDING_LINES long.
    while (w.lines < RECORDING_LINES - SESSION_END.length) {
      const roomForBreak = w.lines + SESSION_END.length + SESSION_START.length + 1 <= RECORDING_LINES - SESSION_END.length;
      if (untilBreak <= 0 && roomForBreak) {
        await banner(SESSION_END);
        await banner(SESSION_START);
        untilBreak = sessionLength();
        continue;
      }
      const k = sample();
      const t = triples[k];
      const counts = perLocation[k];
      if (t === undefined || counts === undefined) throw new BenchError(`internal: zipf sample ${k} out of range`);
      // A summary alert aggregates the drops of its interval: mostly a few, sometimes dozens.
      const n = 1 + Math.floor(-Math.log(1 - rand()) * 3);
      counts.events++;
      counts.drops += n;
      events++;
      drops += n;
      untilBreak--;
      if (w.add(`${n} drops at ${t.function}+${t.offset.toString(16)} (0x${t.address}) [software]`)) await w.flush();
    }
    await banner(SESSION_END);
  });
  const generateS = Number(process.hrtime.bigint() - started) / 1e9;
  return { kind: 'dropwatch', path, lines, bytes, events, drops, bannerLines, perLocation, generateS };
}

function keepTail(buf: string, chunk: string): string {
  const s = buf + chunk;
  return s.length > 16_384 ? s.slice(s.length - 16_384) : s;
}

/**
 * `a | b | c` without a shell: each stage under GNU time (for its peak RSS), the previous stage's
 * stdout handed to the next as its stdin. The handoff happens in one tick, before the event loop
 * could read from that pipe, and our copy is closed at once: the data flows child to child, never
 * through this process. Wall time runs from the first spawn to the last exit.
 */
async function timePipeline(stages: ReadonlyArray<{ cmd: string; args: readonly string[]; okCodes: readonly number[] }>, dir: string): Promise<PipelineRun> {
  const shown = stages.map((s) => [s.cmd, ...s.args].join(' ')).join(' | ');
  const started = process.hrtime.bigint();
  const children: ChildProcess[] = [];
  const exits: Array<Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>> = [];
  let stdout = '';
  let upstream: Readable | null = null;
  stages.forEach((s, i) => {
    const isLast = i === stages.length - 1;
    const child = spawn(GNU_TIME, ['-o', join(dir, `stage-${i}.time`), '-f', '%e %M', s.cmd, ...s.args], {
      stdio: [upstream ?? 'ignore', 'pipe', 'pipe'],
      env: childEnv(),
    });
    children.push(child);
    upstream?.destroy();
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (c: string) => { err = keepTail(err, c); });
    if (isLast) child.stdout?.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    exits.push(new Promise((resolve, reject) => {
      child.on('error', (e) => reject(new BenchError(`cannot start ${GNU_TIME} ${s.cmd}: ${e.message}`)));
      child.on('close', (code, signal) => resolve({ code, signal, stderr: err }));
    }));
    upstream = isLast ? null : child.stdout;
  });
  let results;
  try {
    results = await Promise.all(exits);
  } catch (err) {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGTERM');
    throw err;
  }
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const out: StageRun[] = [];
  for (const [i, s] of stages.entries()) {
    const r = results[i];
    if (r === undefined) continue;
    if (r.code === null || !s.okCodes.includes(r.code)) {
      throw new BenchError(`${shown}: ${s.cmd} ${r.signal !== null ? `was killed by ${r.signal}` : `exited with status ${String(r.code)}`}`, r.stderr.trim() || undefined);
    }
    const last = (await readFile(join(dir, `stage-${i}.time`), 'utf8')).trim().split('\n').pop() ?? '';
    const m = /^\d+(?:\.\d+)? (\d+)$/.exec(last.trim());
    if (m?.[1] === undefined) throw new BenchError(`cannot read GNU time's figures for ${s.cmd} in ${shown}: got ${JSON.stringify(last)}`);
    out.push({ command: [s.cmd, ...s.args], peakRssMiB: Number(m[1]) / 1024 });
  }
  return { wallS, stages: out, stdout };
}

interface ReportJson {
  totals: { events: number; drops: number; locations: number; skippedLines: number };
  rows: Array<{ location: string; reason: string | null; count: number }>;
}

function parseReport(json: string): ReportJson {
  const doc: unknown = JSON.parse(json);
  const num = (o: object, k: string): number => {
    const v: unknown = Reflect.get(o, k);
    if (typeof v !== 'number') throw new BenchError(`dropsite report --as json: totals.${k} is not a number`);
    return v;
  };
  if (typeof doc !== 'object' || doc === null || !('totals' in doc) || typeof doc.totals !== 'object' || doc.totals === null || !('rows' in doc) || !Array.isArray(doc.rows)) {
    throw new BenchError('dropsite report --as json printed no totals or rows');
  }
  const t = doc.totals;
  const rows = doc.rows.flatMap((r: unknown) => (typeof r === 'object' && r !== null && 'location' in r && typeof r.location === 'string'
    && 'count' in r && typeof r.count === 'number'
    ? [{ location: r.location, reason: 'reason' in r && typeof r.reason === 'string' ? r.reason : null, count: r.count }]
    : []));
  return { totals: { events: num(t, 'events'), drops: num(t, 'drops'), locations: num(t, 'locations'), skippedLines: num(t, 'skippedLines') }, rows };
}

/** Compare the report with what was generated: totals, and each top row with its location's count. */
function checkReport(r: ReportJson, g: Generated, triples: readonly Triple[]): Omit<FormatResult['check'], 'baselineMatched'> {
  const byLocation = new Map(triples.map((t, i) => [`${t.function}+0x${t.offset.toString(16)}`, i]));
  const mismatches: string[] = [];
  for (const row of r.rows) {
    const i = byLocation.get(row.location);
    const t = i === undefined ? undefined : triples[i];
    const expected = i === undefined ? undefined : g.perLocation[i];
    if (t === undefined || expected === undefined) {
      mismatches.push(`${row.location}: not a generated location`);
      continue;
    }
    const wantReason = g.kind === 'tracefs' ? t.reason : null;
    if (row.reason !== wantReason) mismatches.push(`${row.location}: reason ${String(row.reason)}, generated ${String(wantReason)}`);
    if (row.count !== expected.drops) mismatches.push(`${row.location}: count ${row.count}, generated ${expected.drops}`);
  }
  const used = g.perLocation.filter((c) => c.events > 0).length;
  return {
    drops: { expected: g.drops, reported: r.totals.drops, ok: g.drops === r.totals.drops },
    events: { expected: g.events, reported: r.totals.events, ok: g.events === r.totals.events },
    locations: { expected: used, reported: r.totals.locations, ok: used === r.totals.locations },
    skippedLines: r.totals.skippedLines,
    topRows: { compared: r.rows.length, mismatches, ok: mismatches.length === 0 && r.rows.length === Math.min(TOP, used) },
  };
}

/** `uniq -c` output: distinct lines and the sum of their counts. */
function readUniqCounts(text: string): { distinct: number; matched: number } {
  let distinct = 0;
  let matched = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+) /.exec(line);
    if (m?.[1] === undefined) continue;
    distinct++;
    matched += Number(m[1]);
  }
  return { distinct, matched };
}

/** The shell baseline the issue names, per format: what a user types to count locations by hand. */
function baselineStages(kind: RecordingKind, file: string): Array<{ cmd: string; args: string[]; okCodes: number[] }> {
  const pattern = kind === 'tracefs' ? 'location=[^ ]*' : 'at [^ ]*';
  return [
    { cmd: 'grep', args: ['-o', pattern, file], okCodes: [0] },
    { cmd: 'sort', args: [], okCodes: [0] },
    { cmd: 'uniq', args: ['-c'], okCodes: [0] },
  ];
}

async function measureFormat(g: Generated, triples: readonly Triple[], db: string, treeArgs: readonly string[], runs: number, how: Aggregate, dir: string): Promise<FormatResult> {
  const stages = baselineStages(g.kind, g.path);
  const dropsiteArgs = [DROPSITE_CLI, 'report', g.path, '--db', db, ...treeArgs, '--as', 'json', '--top', String(TOP)];
  const baselineSamples: PipelineRun[] = [];
  const dropsiteSamples: Array<{ wallS: number; peakRssMiB: number }> = [];
  let lastReport: ReportJson | null = null;
  // The two take turns, so that machine noise (other sessions on two cores) falls on both alike.
  for (let i = 1; i <= runs; i++) {
    const b = await timePipeline(stages, dir);
    baselineSamples.push(b);
    const d = await timeCommand(process.execPath, dropsiteArgs, { keepStdout: true, timeFile: join(dir, 'dropsite.time') });
    dropsiteSamples.push({ wallS: d.wallS, peakRssMiB: d.peakRssMiB ?? NaN });
    lastReport = parseReport(d.stdout);
    note(`report bench, ${g.kind} run ${i}/${runs}: grep|sort|uniq ${b.wallS.toFixed(2)} s, dropsite ${d.wallS.toFixed(2)} s / ${(d.peakRssMiB ?? NaN).toFixed(1)} MiB`);
  }
  if (lastReport === null) throw new BenchError('internal: no report run');
  const baselineWallS = aggregate(baselineSamples.map((b) => b.wallS), how);
  const dropsiteWallS = aggregate(dropsiteSamples.map((d) => d.wallS), how);
  const stageMax = (i: number): number => Math.max(...baselineSamples.map((b) => b.stages[i]?.peakRssMiB ?? NaN));
  const rss = { grep: round(stageMax(0), 1), sort: round(stageMax(1), 1), uniq: round(stageMax(2), 1), sum: 0 };
  rss.sum = round(rss.grep + rss.sort + rss.uniq, 1);
  const uniq = readUniqCounts(baselineSamples[0]?.stdout ?? '');
  return {
    format: g.kind,
    path: g.path,
    file: {
      lines: g.lines, bytes: g.bytes, events: g.events, drops: g.drops, bannerLines: g.bannerLines,
      locationsUsed: g.perLocation.filter((c) => c.events > 0).length, generateS: round(g.generateS),
    },
    dropsite: {
      command: ['node', ...dropsiteArgs],
      wallS: round(dropsiteWallS, 3),
      peakRssMiB: round(Math.max(...dropsiteSamples.map((d) => d.peakRssMiB)), 1),
      linesPerS: Math.round(g.lines / dropsiteWallS),
    },
    baseline: {
      command: stages.map((s) => [s.cmd, ...s.args.map((a) => (/[ *[\]]/.test(a) ? `'${a}'` : a))].join(' ')).join(' | '),
      wallS: round(baselineWallS, 3),
      peakRssMiB: rss,
      distinct: uniq.distinct,
      matched: uniq.matched,
    },
    ratio: round(dropsiteWallS / baselineWallS, 2),
    check: {
      ...checkReport(lastReport, g, triples),
      // Every drop line matches the pattern once; banners never do.
      baselineMatched: { expected: g.events, got: uniq.matched, ok: uniq.matched === g.events },
    },
    samples: {
      dropsite: dropsiteSamples.map((d) => ({ wallS: round(d.wallS, 3), peakRssMiB: round(d.peakRssMiB, 1) })),
      baselineWallS: baselineSamples.map((b) => round(b.wallS, 3)),
    },
  };
}

const MIB = 1024 * 1024;

export function renderReportTable(r: ReportBenchResult): string {
  const row = (a: string, b: string, c: string, d: string): string => `  ${a.padEnd(44)}${b.padStart(10)}${c.padStart(14)}   ${d}`;
  const verdict = (m: boolean): string => (m ? 'met' : 'MISSED');
  const out: string[] = [];
  out.push(`report benchmark: ${r.tree}`);
  const idx = r.index;
  out.push(idx.origin === 'given'
    ? `  index: --db ${idx.db} (${idx.indexedTree.root}, ${idx.indexedTree.version ?? 'unknown version'})`
    : `  index: built from --tree in ${idx.buildS?.toFixed(2) ?? '?'} s${idx.isShared ? ' (by an earlier benchmark of this run)' : ''}`);
  const g = r.generator;
  out.push(`  ${g.locations} locations (drop functions of the index with one of their reasons), zipf s=${g.zipfExponent}:`
    + ` the first takes ${(g.topShare * 100).toFixed(1)} %, the first ten ${(g.top10Share * 100).toFixed(1)} %; wall = ${r.aggregate.wallS} of ${r.runs} run(s), ${r.cores} cores`);
  for (const f of r.formats) {
    out.push('');
    out.push(`  ${f.format}: ${f.file.lines.toLocaleString('en')} lines (${(f.file.bytes / MIB).toFixed(0)} MiB), ${f.file.events.toLocaleString('en')} drop lines, `
      + `${f.file.drops.toLocaleString('en')} drops, ${f.file.locationsUsed} locations${f.file.bannerLines > 0 ? `, ${f.file.bannerLines} banner lines` : ''}; generated in ${f.file.generateS.toFixed(2)} s`);
    out.push(row('', 'wall', 'peak RSS', 'runs'));
    out.push(row(f.baseline.command.split(` ${f.path}`).join(' FILE'), `${f.baseline.wallS.toFixed(2)} s`, `${f.baseline.peakRssMiB.sum.toFixed(1)} MiB`,
      `${f.samples.baselineWallS.map((x) => x.toFixed(2)).join(' ')} (RSS grep ${f.baseline.peakRssMiB.grep} + sort ${f.baseline.peakRssMiB.sort} + uniq ${f.baseline.peakRssMiB.uniq})`));
    out.push(row(`dropsite report FILE --as json --top ${TOP}`, `${f.dropsite.wallS.toFixed(2)} s`, `${f.dropsite.peakRssMiB.toFixed(1)} MiB`,
      f.samples.dropsite.map((x) => `${x.wallS.toFixed(2)} s / ${x.peakRssMiB.toFixed(1)} MiB`).join(', ')));
    out.push(row('  dropsite / pipeline', `${f.ratio.toFixed(2)}x`, '', `dropsite reads ${Math.round(f.dropsite.linesPerS / 1000)}k lines/s`));
    const c = f.check;
    const okText = (ok: boolean): string => (ok ? 'ok' : 'WRONG');
    out.push(`    counts: drops ${c.drops.reported} vs ${c.drops.expected} generated (${okText(c.drops.ok)}), events ${c.events.reported} vs ${c.events.expected} (${okText(c.events.ok)}),`
      + ` locations ${c.locations.reported} vs ${c.locations.expected} (${okText(c.locations.ok)}), top ${c.topRows.compared} rows ${c.topRows.ok ? 'match' : 'DIFFER'}, ${c.skippedLines} skipped lines;`
      + ` uniq -c summed ${c.baselineMatched.got} (${okText(c.baselineMatched.ok)})`);
    for (const m of c.topRows.mismatches.slice(0, 5)) out.push(`      ${m}`);
  }
  out.push('');
  out.push(row('', 'value', 'target', ''));
  for (const f of r.formats) {
    const met = r.met[f.format];
    out.push(row(`${f.format}: dropsite / grep|sort|uniq`, `${f.ratio.toFixed(2)}x`, `≤ ${r.targets.ratioAtMost.toFixed(1)}x`, verdict(met.ratio)));
    out.push(row(`${f.format}: dropsite peak RSS`, `${f.dropsite.peakRssMiB.toFixed(1)} MiB`, `< ${r.targets.peakRssMiBAtMost} MiB`, verdict(met.peakRssMiB)));
    out.push(row(`${f.format}: totals and top rows = generated`, met.counts ? 'yes' : 'no', 'yes', verdict(met.counts)));
  }
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}

export async function runReportBench(opts: BenchOptions): Promise<ReportBenchResult> {
  const notes: string[] = [
    'the pipeline runs with the bench\'s scrubbed environment, so sort uses the C locale (its fastest; a UTF-8 locale makes it slower)',
    'pipeline peak RSS is the sum of the three stages\' peaks: they run at once',
  ];
  const info = await opts.index();
  const { selector, chosen, note: treeNote } = await chooseIndexedTree(info.db, opts.tree);
  if (treeNote !== null) notes.push(treeNote);
  const treeArgs = selector === null ? [] : ['--tree', selector];

  const rand = seededRandom(SEED);
  const triples = pickTriples(parseSites(await runDropsite(['sites', '--db', info.db, ...treeArgs, '--json'])), rand);
  if (triples.length < LOCATIONS) notes.push(`the index has only ${triples.length} drop functions with a reason; the recordings use all of them`);
  const { shares } = zipfSampler(triples.length, rand);
  const how = aggregateFor(opts.runs);

  const formats = await withTempDir('dropsite-bench-report-', async (dir) => {
    const out: FormatResult[] = [];
    const generators = [['tracefs', generateTracefs], ['dropwatch', generateDropwatch]] as const;
    for (const [kind, generate] of generators) {
      const path = join(dir, `${kind}.txt`);
      note(`report bench: writing a ${RECORDING_LINES.toLocaleString('en')}-line ${kind} recording to ${path}…`);
      const g = await generate(path, triples, seededRandom(SEED + (kind === 'tracefs' ? 1 : 2)));
      out.push(await measureFormat(g, triples, info.db, treeArgs, opts.runs, how, dir));
      // One recording on disk at a time: together they are a quarter of a GiB.
      await rm(path, { force: true });
    }
    return out;
  });

  const metFor = (kind: RecordingKind): ReportBenchResult['met'][RecordingKind] => {
    const f = formats.find((x) => x.format === kind);
    if (f === undefined) throw new BenchError(`internal: no ${kind} result`);
    const c = f.check;
    return {
      ratio: f.ratio <= REPORT_TARGETS.ratioAtMost,
      peakRssMiB: f.dropsite.peakRssMiB < REPORT_TARGETS.peakRssMiBAtMost,
      counts: c.drops.ok && c.events.ok && c.locations.ok && c.topRows.ok,
    };
  };
  const result: ReportBenchResult = {
    benchmark: 'report',
    tree: opts.tree,
    index: { db: info.db, origin: info.origin, buildS: info.build === null ? null : round(info.build.wallS), isShared: info.isShared, indexedTree: chosen },
    cores: availableParallelism(),
    runs: opts.runs,
    aggregate: { wallS: how, peakRssMiB: 'max' },
    generator: {
      seed: SEED, locations: triples.length, zipfExponent: ZIPF_EXPONENT,
      topShare: round(shares[0] ?? 0, 3), top10Share: round(shares.slice(0, 10).reduce((a, b) => a + b, 0), 3),
    },
    formats,
    targets: REPORT_TARGETS,
    met: { tracefs: metFor('tracefs'), dropwatch: metFor('dropwatch') },
    notes,
  };
  note('');
  note(renderReportTable(result));
  return result;
}
