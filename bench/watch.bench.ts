// The watch benchmark (root only): `dropsite watch --as json` while bench/udp-load.ts sends UDP
// datagrams to a closed port on 127.0.0.1, each one a real NO_SOCKET drop. Two phases: a steady
// 1,000 drops/s, for dropsite's CPU cost, and the highest rate the generator reaches (aimed at
// 50,000/s), for what dropsite counts against what was sent. The same-run baseline is the generator
// alone at that rate, with no capture. Nothing here gates anything.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LoadSummary } from './udp-load.ts';
import {
  BenchError, DROPSITE_CLI, GNU_TIME, childEnv, chooseIndexedTree, note, round, withTempDir,
  type BenchOptions, type IndexedTree,
} from './lib.ts';

export const WATCH_TARGETS = { cpuShareAtMost: 0.10, burstRate: 50_000 } as const;

const STEADY = { rate: 1_000, seconds: 5 } as const;
const BURST = { rate: WATCH_TARGETS.burstRate, seconds: 5 } as const;
/** dropsite's --duration is the load's length plus these: a margin before the load, then time to drain trace_pipe after it. */
const LEAD_S = 0.5;
/** The unpaced generator's run, for its ceiling: short, it only has to settle. */
const CEILING_S = 2;
const DRAIN_S = 2;
/** How long dropsite may take to open the index and create its instance before the bench gives up. */
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 10;

/** Where tracefs lives (its own mount since 4.1, under debugfs before), as dropsite looks for it. */
const TRACEFS_MOUNTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'] as const;
/** dropsite names its instance `dropsite-<pid>` (src/live/tracefs.ts). */
const INSTANCE_PREFIX = 'dropsite-';
const KFREE_SKB = join('events', 'skb', 'kfree_skb');
/**
 * Where a UDP datagram to a port with no socket is freed: __udp4_lib_rcv calls
 * sk_skb_reason_drop/kfree_skb_reason with SKB_DROP_REASON_NO_SOCKET (net/ipv4/udp.c, since 5.17).
 */
const OUR_DROP = { function: '__udp4_lib_rcv', reason: 'NO_SOCKET' } as const;
const LOAD_SCRIPT = fileURLToPath(new URL('./udp-load.ts', import.meta.url));

export interface Generator {
  child: ChildProcess;
  port: number;
  start(): void;
  done: Promise<LoadSummary>;
}

interface WatchRow { location: string; function: string; reason: string | null; count: number }

interface WatchReport {
  totals: { events: number; drops: number; locations: number; skippedLines: number };
  rows: WatchRow[];
  rest: { locations: number; drops: number } | null;
  warnings: string[];
  skippedWhy: string[];
}

interface PhaseResult {
  phase: 'steady' | 'burst';
  targetRate: number;
  loadSeconds: number;
  /** dropsite's --duration. */
  captureS: number;
  generator: LoadSummary;
  dropsite: {
    command: string[];
    pid: number;
    wallS: number;
    userS: number;
    sysS: number;
    peakRssMiB: number;
    /** (user + sys) / --duration: everything the process did, start-up and final report included. */
    cpuShare: number;
    /** /proc/PID/stat over the load window only: what following the events costs. */
    window: { seconds: number; cpuS: number; cpuShare: number };
    stderr: string[];
  };
  counted: {
    /** Drops at __udp4_lib_rcv with reason NO_SOCKET: the generator's datagrams (and any other closed-port UDP on the machine). */
    ours: number;
    /** Every other drop of the capture: background traffic, or datagrams freed elsewhere. */
    otherDrops: number;
    otherRows: Array<{ location: string; reason: string | null; count: number }>;
    events: number;
    skippedLines: number;
    skippedWhy: string[];
  };
  /** From dropsite's warning "the kernel overwrote N events" (per_cpu stats overrun); 0 without it. */
  overruns: number;
  loss: {
    lost: number;
    byKernel: number;
    byDropsite: number;
    verdict: 'none lost' | 'kernel overruns' | 'dropsite' | 'kernel overruns and dropsite';
  };
  warnings: string[];
}

export type WatchBenchResult =
  | { benchmark: 'watch'; skipped: true; reason: string }
  | {
    benchmark: 'watch';
    skipped: false;
    tree: string;
    kernel: string;
    cores: number;
    tracefs: string;
    index: { db: string; origin: 'given' | 'built'; buildS: number | null; isShared: boolean; indexedTree: IndexedTree };
    /** The generator alone, no capture: at the burst's aim, and unpaced (its ceiling on this machine). */
    baseline: { what: string; generator: LoadSummary; ceiling: LoadSummary };
    steady: PhaseResult;
    burst: PhaseResult & { sentOverBaseline: number };
    instances: { leftBehind: string[]; removedByBench: string[]; othersPresent: string[] };
    targets: typeof WATCH_TARGETS;
    met: { cpuShare: boolean; cpuShareInWindow: boolean; burstRateReached: boolean; burstNoneLostByDropsite: boolean };
    notes: string[];
  };

function hasTracefs(dir: string): boolean {
  return existsSync(join(dir, 'instances')) && existsSync(join(dir, 'events'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function clockTicks(): Promise<number> {
  return new Promise((resolve) => {
    execFile('getconf', ['CLK_TCK'], { env: childEnv(), encoding: 'utf8' }, (err, stdout) => {
      const n = Number(stdout.trim());
      resolve(err === null && Number.isInteger(n) && n > 0 ? n : 100);
    });
  });
}

/** utime + stime of `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat, counted after the `(comm)`). */
export function cpuTicks(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state (field 3), so utime (14) and stime (15) are fields[11] and fields[12].
  const u = Number(fields[11]);
  const s = Number(fields[12]);
  return Number.isFinite(u) && Number.isFinite(s) ? u + s : null;
}

/** The one child of `pid` (GNU time's child: the dropsite process), once it exists. */
function childOf(pid: number): number | null {
  const text = readText(`/proc/${pid}/task/${pid}/children`);
  const first = text?.trim().split(/\s+/)[0];
  return first === undefined || first === '' ? null : Number(first);
}

/** Disable the skb events of an instance and remove it, as dropsite's own stop() does. */
function removeInstance(dir: string): boolean {
  for (const ev of ['kfree_skb', 'consume_skb']) {
    const f = join(dir, 'events', 'skb', ev, 'enable');
    try {
      if (existsSync(f)) writeFileSync(f, '0');
    } catch {
      // going away anyway
    }
  }
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

function dropsiteInstances(tracefs: string): string[] {
  try {
    return readdirSync(join(tracefs, 'instances')).filter((n) => n.startsWith(INSTANCE_PREFIX)).sort();
  } catch {
    return [];
  }
}

/**
 * Children this benchmark started, by pid, so that Ctrl-C or SIGTERM of the bench ends them and
 * removes the instance of a dropsite it started: GNU time ignores SIGINT while it waits, and
 * SIGTERM would orphan the dropsite under it.
 */
export class Children {
  readonly #pids = new Set<number>();
  readonly #instances = new Set<string>();
  readonly #onSignal = (sig: NodeJS.Signals): void => {
    this.killAll();
    for (const dir of this.#instances) removeInstance(dir);
    this.detach();
    // Re-raise only when no other handler (withTempDir's) will: it re-raises itself.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };

  attach(): void {
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  detach(): void {
    process.removeListener('SIGINT', this.#onSignal);
    process.removeListener('SIGTERM', this.#onSignal);
  }

  add(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.add(pid);
  }

  forget(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.delete(pid);
  }

  watchInstance(dir: string): void {
    this.#instances.add(dir);
  }

  killAll(): void {
    for (const pid of this.#pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}

/** Start bench/udp-load.ts and wait until it has its sockets; `start()` then sets it going. */
export async function startGenerator(rate: number, seconds: number, children: Children): Promise<Generator> {
  const tsx = import.meta.resolve('tsx');
  const child = spawn(process.execPath, ['--import', tsx, LOAD_SCRIPT, '--rate', String(rate), '--seconds', String(seconds)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: childEnv(),
  });
  children.add(child.pid);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  if (child.stdout === null || child.stdin === null) throw new BenchError('internal: the load generator has no stdio pipes');
  const stdin = child.stdin;
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  let wake: (() => void) | null = null;
  lines.on('line', (l) => {
    queue.push(l);
    wake?.();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (e) => reject(new BenchError(`cannot start the load generator: ${e.message}`)));
    child.once('close', (code) => {
      children.forget(child.pid);
      resolve(code);
      wake?.();
    });
  });
  const nextLine = async (what: string): Promise<string> => {
    for (;;) {
      const l = queue.shift();
      if (l !== undefined) return l;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new BenchError(`the load generator ended before ${what} (status ${String(child.exitCode ?? child.signalCode)})`, stderr.trim() || undefined);
      }
      await Promise.race([new Promise<void>((r) => { wake = r; }), exited.then(() => undefined)]);
      wake = null;
    }
  };
  const ready: unknown = JSON.parse(await nextLine('it was ready'));
  if (typeof ready !== 'object' || ready === null || !('port' in ready) || typeof ready.port !== 'number') {
    throw new BenchError(`the load generator said ${JSON.stringify(ready)} instead of {"ready":true,"port":N}`);
  }
  const done = (async (): Promise<LoadSummary> => {
    const line = await nextLine('its summary');
    await exited;
    return parseSummary(line);
  })();
  // Kept from being an unhandled rejection before the caller awaits it; the caller still sees it.
  done.catch(() => undefined);
  return { child, port: ready.port, start: () => stdin.end('go\n'), done };
}

function parseSummary(line: string): LoadSummary {
  const s: unknown = JSON.parse(line);
  const num = (k: string): number => {
    const v: unknown = typeof s === 'object' && s !== null ? Reflect.get(s, k) : undefined;
    if (typeof v !== 'number') throw new BenchError(`the load generator's summary has no ${k}: ${line}`);
    return v;
  };
  const errors: Record<string, number> = {};
  const e: unknown = typeof s === 'object' && s !== null ? Reflect.get(s, 'errors') : undefined;
  if (typeof e === 'object' && e !== null) for (const [k, v] of Object.entries(e)) if (typeof v === 'number') errors[k] = v;
  return {
    port: num('port'), targetRate: num('targetRate'), seconds: num('seconds'), attempted: num('attempted'), sent: num('sent'), failed: num('failed'),
    errors, elapsedS: round(num('elapsedS'), 3), achievedRate: Math.round(num('achievedRate')),
  };
}

/** The generator alone, no capture: the rate it reaches by itself. */
async function runGeneratorAlone(rate: number, seconds: number, children: Children): Promise<LoadSummary> {
  const g = await startGenerator(rate, seconds, children);
  g.start();
  return g.done;
}

function parseWatchReport(json: string): WatchReport {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new BenchError('dropsite watch --as json did not print JSON', json.slice(0, 2000) || undefined);
  }
  if (typeof doc !== 'object' || doc === null || !('totals' in doc) || typeof doc.totals !== 'object' || doc.totals === null || !('rows' in doc) || !Array.isArray(doc.rows)) {
    throw new BenchError('dropsite watch --as json printed no totals or rows');
  }
  const t = doc.totals;
  const num = (k: string): number => {
    const v: unknown = Reflect.get(t, k);
    return typeof v === 'number' ? v : 0;
  };
  const rows = doc.rows.flatMap((r: unknown): WatchRow[] => (typeof r === 'object' && r !== null && 'location' in r && typeof r.location === 'string'
    && 'count' in r && typeof r.count === 'number'
    ? [{
      location: r.location,
      function: 'function' in r && typeof r.function === 'string' ? r.function : '',
      reason: 'reason' in r && typeof r.reason === 'string' ? r.reason : null,
      count: r.count,
    }]
    : []));
  const restRaw: unknown = 'rest' in doc ? doc.rest : null;
  const rest = typeof restRaw === 'object' && restRaw !== null && 'locations' in restRaw && typeof restRaw.locations === 'number'
    && 'drops' in restRaw && typeof restRaw.drops === 'number' ? { locations: restRaw.locations, drops: restRaw.drops } : null;
  const warnings = 'warnings' in doc && Array.isArray(doc.warnings) ? doc.warnings.filter((w: unknown): w is string => typeof w === 'string') : [];
  const skippedWhy = 'skipped' in doc && Array.isArray(doc.skipped)
    ? doc.skipped.flatMap((s: unknown) => (typeof s === 'object' && s !== null && 'line' in s && typeof s.line === 'string' ? [s.line] : []))
    : [];
  return { totals: { events: num('events'), drops: num('drops'), locations: num('locations'), skippedLines: num('skippedLines') }, rows, rest, warnings, skippedWhy };
}

/** dropsite's warning "the kernel overwrote N events before they were read (per_cpu stats overrun)". */
function overrunsOf(warnings: readonly string[]): number {
  for (const w of warnings) {
    const m = /the kernel overwrote (\d+) events/.exec(w);
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return 0;
}

/**
 * Who lost what: datagrams sent but not counted are put down to the kernel up to its overrun count
 * (the ring buffer overwrote them before anyone read them), and the rest to dropsite (it read too
 * slowly to drain the buffer before its --duration ran out, or lost lines).
 */
function explainLoss(sent: number, counted: number, overruns: number): PhaseResult['loss'] {
  const lost = sent - counted;
  if (lost <= 0) return { lost, byKernel: 0, byDropsite: 0, verdict: 'none lost' };
  const byKernel = Math.min(lost, overruns);
  const byDropsite = lost - byKernel;
  return { lost, byKernel, byDropsite, verdict: byDropsite === 0 ? 'kernel overruns' : byKernel === 0 ? 'dropsite' : 'kernel overruns and dropsite' };
}

interface PhaseContext {
  tracefs: string;
  db: string;
  treeArgs: readonly string[];
  dir: string;
  hz: number;
  children: Children;
  removedByBench: string[];
}

/**
 * One capture: dropsite watch under GNU time; once its instance has kfree_skb enabled, the
 * generator (started beforehand, so Node's start-up is not in the window) runs for `seconds`.
 */
async function runPhase(phase: PhaseResult['phase'], load: { rate: number; seconds: number }, ctx: PhaseContext): Promise<PhaseResult> {
  const captureS = LEAD_S + load.seconds + DRAIN_S;
  // Started first, so that its Node start-up is over before the capture; stopped in the finally below.
  const gen = await startGenerator(load.rate, load.seconds, ctx.children);
  const stopGenerator = (): void => {
    if (gen.child.exitCode === null && gen.child.signalCode === null) gen.child.kill('SIGTERM');
    ctx.children.forget(gen.child.pid);
  };
  const timeFile = join(ctx.dir, `watch-${phase}.time`);
  const args = [DROPSITE_CLI, 'watch', '--db', ctx.db, ...ctx.treeArgs, '--duration', String(captureS), '--as', 'json'];
  const started = process.hrtime.bigint();
  let timed: ChildProcess;
  try {
    timed = spawn(GNU_TIME, ['-o', timeFile, '-f', '%e %U %S %M', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  } catch (err) {
    stopGenerator();
    throw err;
  }
  ctx.children.add(timed.pid);
  const out: string[] = [];
  let err = '';
  timed.stdout?.setEncoding('utf8').on('data', (c: string) => { out.push(c); });
  timed.stderr?.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    timed.once('error', (e) => reject(new BenchError(`cannot start ${GNU_TIME} for dropsite watch: ${e.message}`)));
    timed.once('close', (code, signal) => {
      ctx.children.forget(timed.pid);
      resolve({ code, signal });
    });
  });
  exited.catch(() => undefined); // awaited below; this only keeps a spawn error from being unhandled meanwhile
  const isRunning = (): boolean => timed.exitCode === null && timed.signalCode === null;

  let pid: number | null = null;
  let instance = '';
  try {
    // Wait for dropsite's own process, then for its instance with kfree_skb enabled (it opens
    // trace_pipe right after, in the same synchronous step).
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!isRunning()) {
        const r = await exited;
        throw new BenchError(`dropsite watch ended before its capture started (status ${String(r.code ?? r.signal)})`, err.trim() || undefined);
      }
      if (Date.now() > deadline) throw new BenchError(`dropsite watch did not start a capture within ${READY_TIMEOUT_MS / 1000} s`, err.trim() || undefined);
      if (timed.pid !== undefined) pid ??= childOf(timed.pid);
      if (pid !== null) {
        ctx.children.add(pid);
        instance = join(ctx.tracefs, 'instances', `${INSTANCE_PREFIX}${pid}`);
        ctx.children.watchInstance(instance);
        if (readText(join(instance, KFREE_SKB, 'enable'))?.trim() === '1') break;
      }
      await sleep(POLL_MS);
    }
    const cpu0 = cpuTicks(pid);
    const t0 = process.hrtime.bigint();
    gen.start();
    const summary = await gen.done;
    const cpu1 = cpuTicks(pid);
    const windowS = Number(process.hrtime.bigint() - t0) / 1e9;
    const r = await exited;
    const wallS = Number(process.hrtime.bigint() - started) / 1e9;
    ctx.children.forget(pid);
    if (r.code !== 0) throw new BenchError(`dropsite ${args.slice(1).join(' ')} ${r.signal !== null ? `was killed by ${r.signal}` : `exited with status ${String(r.code)}`}`, err.trim() || undefined);

    const figures = (await readFile(timeFile, 'utf8')).trim().split('\n').pop() ?? '';
    const m = /^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+)$/.exec(figures.trim());
    if (m === null) throw new BenchError(`cannot read GNU time's figures for dropsite watch: got ${JSON.stringify(figures)}`);
    const userS = Number(m[2]);
    const sysS = Number(m[3]);
    const report = parseWatchReport(out.join(''));

    const isOurs = (row: WatchRow): boolean => row.function === OUR_DROP.function && row.reason === OUR_DROP.reason;
    const ours = report.rows.filter(isOurs).reduce((a, row) => a + row.count, 0);
    const overruns = overrunsOf(report.warnings);
    const windowCpuS = cpu0 === null || cpu1 === null ? NaN : (cpu1 - cpu0) / ctx.hz;
    return {
      phase,
      targetRate: load.rate,
      loadSeconds: load.seconds,
      captureS,
      generator: summary,
      dropsite: {
        command: ['node', ...args],
        pid,
        wallS: round(wallS),
        userS,
        sysS,
        peakRssMiB: round(Number(m[4]) / 1024, 1),
        cpuShare: round((userS + sysS) / captureS, 4),
        window: { seconds: round(windowS, 3), cpuS: round(windowCpuS, 2), cpuShare: round(windowCpuS / windowS, 4) },
        stderr: err.trim() === '' ? [] : err.trim().split('\n').slice(-5),
      },
      counted: {
        ours,
        otherDrops: report.totals.drops - ours,
        otherRows: report.rows.filter((row) => !isOurs(row)).slice(0, 5).map((row) => ({ location: row.location, reason: row.reason, count: row.count })),
        events: report.totals.events,
        skippedLines: report.totals.skippedLines,
        skippedWhy: report.skippedWhy.slice(0, 3),
      },
      overruns,
      loss: explainLoss(summary.sent, ours, overruns),
      warnings: report.warnings,
    };
  } finally {
    if (isRunning() && pid !== null) {
      // An error above: stop dropsite (its SIGTERM handler removes the instance and prints its report).
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
      await Promise.race([exited.catch(() => undefined), sleep(5000)]);
    }
    stopGenerator();
    // dropsite removes its instance on the way out; if it could not (busy, killed), the bench does.
    if (instance !== '' && existsSync(instance)) {
      await sleep(200);
      if (existsSync(instance) && removeInstance(instance)) ctx.removedByBench.push(instance);
    }
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

export function renderWatchTable(r: Extract<WatchBenchResult, { skipped: false }>): string {
  const row = (a: string, b: string, c: string, d: string): string => `  ${a.padEnd(46)}${b.padStart(14)}${c.padStart(14)}   ${d}`;
  const verdict = (m: boolean): string => (m ? 'met' : 'MISSED');
  const out: string[] = [];
  out.push(`watch benchmark: kernel ${r.kernel}, ${r.cores} cores, ${r.tracefs}; index ${r.index.indexedTree.root} (${r.index.indexedTree.version ?? '?'})`);
  const b = r.baseline.generator;
  const c = r.baseline.ceiling;
  out.push(`  baseline, generator alone (no capture), aimed at ${b.targetRate}/s for ${b.seconds} s: ${b.sent} sent, ${b.achievedRate}/s${b.failed > 0 ? `, ${b.failed} failed` : ''};`
    + ` unpaced for ${c.seconds} s: ${c.achievedRate}/s (its ceiling here)`);
  for (const p of [r.steady, r.burst]) {
    const d = p.dropsite;
    const g = p.generator;
    out.push('');
    out.push(`  ${p.phase}: aimed at ${p.targetRate}/s for ${p.loadSeconds} s inside a ${p.captureS} s capture; generator sent ${g.sent} at ${g.achievedRate}/s${g.failed > 0 ? ` (${g.failed} failed: ${JSON.stringify(g.errors)})` : ''}`);
    out.push(row('', 'value', '', ''));
    out.push(row('dropsite CPU, user + sys (GNU time)', `${(d.userS + d.sysS).toFixed(2)} s`, '', `${d.userS.toFixed(2)} user + ${d.sysS.toFixed(2)} sys, wall ${d.wallS.toFixed(2)} s, peak RSS ${d.peakRssMiB.toFixed(1)} MiB`));
    out.push(row('  share of one core over --duration', pct(d.cpuShare), '', ''));
    out.push(row('  share over the load window (/proc stat)', pct(d.window.cpuShare), '', `${d.window.cpuS.toFixed(2)} s in ${d.window.seconds.toFixed(2)} s`));
    out.push(row(`counted ${OUR_DROP.function} ${OUR_DROP.reason}`, String(p.counted.ours), '', `of ${g.sent} sent; ${p.counted.otherDrops} other drops, ${p.counted.skippedLines} skipped lines`));
    out.push(row('kernel overruns (dropsite warning)', String(p.overruns), '', ''));
    out.push(row('lost = sent − counted', String(p.loss.lost), '', `${p.loss.verdict}: ${p.loss.byKernel} by the kernel, ${p.loss.byDropsite} by dropsite`));
    for (const o of p.counted.otherRows) out.push(`      other: ${o.location} ${o.reason ?? ''} × ${o.count}`);
  }
  out.push(row('burst sent / baseline (generator alone)', `${r.burst.sentOverBaseline.toFixed(2)}x`, '', ''));
  out.push('');
  out.push(row('', 'value', 'target', ''));
  out.push(row(`CPU at ${STEADY.rate}/s, over --duration`, pct(r.steady.dropsite.cpuShare), `< ${pct(r.targets.cpuShareAtMost)}`, verdict(r.met.cpuShare)));
  out.push(row(`CPU at ${STEADY.rate}/s, over the load window`, pct(r.steady.dropsite.window.cpuShare), `< ${pct(r.targets.cpuShareAtMost)}`, verdict(r.met.cpuShareInWindow)));
  out.push(row('burst rate reached by the generator', `${r.burst.generator.achievedRate}/s`, `${r.targets.burstRate}/s`, verdict(r.met.burstRateReached)));
  out.push(row('burst events lost by dropsite', String(r.burst.loss.byDropsite), '0', verdict(r.met.burstNoneLostByDropsite)));
  const inst = r.instances;
  out.push(`  instances: ${inst.leftBehind.length === 0 ? 'none left behind' : `LEFT BEHIND: ${inst.leftBehind.join(', ')}`}`
    + `${inst.removedByBench.length > 0 ? `; removed by the bench: ${inst.removedByBench.join(', ')}` : ''}`
    + `${inst.othersPresent.length > 0 ? `; other sessions' instances present: ${inst.othersPresent.join(', ')}` : ''}`);
  for (const n of r.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}

export async function runWatchBench(opts: BenchOptions): Promise<WatchBenchResult> {
  const skip = (reason: string): WatchBenchResult => {
    note(`watch benchmark: skipped, ${reason}`);
    return { benchmark: 'watch', skipped: true, reason };
  };
  if (process.getuid?.() !== 0) return skip('dropsite watch reads kernel trace events, which needs root: run the bench as root (sudo npm run bench -- … --only watch)');
  const tracefs = TRACEFS_MOUNTS.find(hasTracefs);
  if (tracefs === undefined) return skip(`tracefs is not mounted at ${TRACEFS_MOUNTS.join(' or ')} (mount -t tracefs nodev /sys/kernel/tracing)`);
  if (!existsSync(join(tracefs, KFREE_SKB))) return skip(`this kernel has no skb:kfree_skb trace event (${join(tracefs, KFREE_SKB)})`);

  const notes: string[] = [
    'one run per phase: a capture is seconds long and the rate is the load\'s, not the run\'s',
    `the generator is a separate process (bench/udp-load.ts): its CPU, and the kernel\'s receive path it drives on its own CPU, are not dropsite\'s; with ${availableParallelism()} cores they still compete for the machine`,
    `ours = drops at ${OUR_DROP.function} with reason ${OUR_DROP.reason}; other closed-port UDP on the machine would count too`,
  ];
  const info = await opts.index();
  const { selector, chosen, note: treeNote } = await chooseIndexedTree(info.db, opts.tree);
  if (treeNote !== null) notes.push(treeNote);
  const treeArgs = selector === null ? [] : ['--tree', selector];
  const children = new Children();
  const removedByBench: string[] = [];
  const hz = await clockTicks();

  children.attach();
  let phases: { baseline: LoadSummary; ceiling: LoadSummary; steady: PhaseResult; burst: PhaseResult };
  try {
    phases = await withTempDir('dropsite-bench-watch-', async (dir) => {
      const ctx: PhaseContext = { tracefs, db: info.db, treeArgs, dir, hz, children, removedByBench };
      note(`watch bench: generator alone at ${BURST.rate}/s for ${BURST.seconds} s, then unpaced for ${CEILING_S} s (baseline)…`);
      const baseline = await runGeneratorAlone(BURST.rate, BURST.seconds, children);
      const ceiling = await runGeneratorAlone(0, CEILING_S, children);
      note(`watch bench: steady phase, ${STEADY.rate}/s for ${STEADY.seconds} s…`);
      const steady = await runPhase('steady', STEADY, ctx);
      note(`watch bench: burst phase, ${BURST.rate}/s for ${BURST.seconds} s…`);
      const burst = await runPhase('burst', BURST, ctx);
      return { baseline, ceiling, steady, burst };
    });
  } finally {
    children.killAll();
    children.detach();
  }

  // Only the instances of the dropsite runs this bench started are its business; any other
  // dropsite-* belongs to another session and is left alone (and listed).
  const ours = new Set([phases.steady, phases.burst].map((p) => `${INSTANCE_PREFIX}${p.dropsite.pid}`));
  const after = dropsiteInstances(tracefs);
  const leftBehind = after.filter((n) => ours.has(n));
  const othersPresent = after.filter((n) => !ours.has(n));
  if (removedByBench.length > 0) notes.push(`dropsite left ${removedByBench.length} instance(s) behind, which the bench removed`);

  const { baseline, ceiling, steady, burst } = phases;
  // What dropsite said on stderr (the kernel/index version warning, say), once.
  for (const line of new Set([...steady.dropsite.stderr, ...burst.dropsite.stderr])) notes.push(`dropsite watch said: ${line}`);
  const result: WatchBenchResult = {
    benchmark: 'watch',
    skipped: false,
    tree: opts.tree,
    kernel: release(),
    cores: availableParallelism(),
    tracefs,
    index: { db: info.db, origin: info.origin, buildS: info.build === null ? null : round(info.build.wallS), isShared: info.isShared, indexedTree: chosen },
    baseline: { what: `bench/udp-load.ts alone at ${BURST.rate}/s for ${BURST.seconds} s, no capture`, generator: baseline, ceiling },
    steady,
    burst: { ...burst, sentOverBaseline: round(burst.generator.achievedRate / baseline.achievedRate, 3) },
    instances: { leftBehind, removedByBench, othersPresent },
    targets: WATCH_TARGETS,
    met: {
      cpuShare: steady.dropsite.cpuShare < WATCH_TARGETS.cpuShareAtMost,
      cpuShareInWindow: steady.dropsite.window.cpuShare < WATCH_TARGETS.cpuShareAtMost,
      // Within 2 %: a paced generator ends a hair under its aim.
      burstRateReached: burst.generator.achievedRate >= 0.98 * WATCH_TARGETS.burstRate,
      burstNoneLostByDropsite: burst.loss.byDropsite === 0,
    },
    notes,
  };
  note('');
  note(renderWatchTable(result));
  return result;
}
