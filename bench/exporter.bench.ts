// The exporter benchmark (root only). Live: `dropsite watch --metrics` on the bench's index while bench/udp-load.ts
// sends UDP datagrams to a closed port on 127.0.0.1 (each a real NO_SOCKET drop): at 1,000/s for its CPU share, at
// 50,000/s for what it counts against what was sent and what the kernel overwrote (dropsite_events_lost_total), and
// its RSS while serving with the index loaded. In process: a scrape of 2,000 series (real function names of the
// index, explained by the index) over HTTP, against a scrape of 10 series in the same run. Nothing here gates anything.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, release } from 'node:os';
import { Explainer } from '../src/explain/explain.ts';
import { DropMetrics } from '../src/exporter/index.ts';
import { serveMetrics } from '../src/exporter/listen.ts';
import { resolverFor } from '../src/exporter/resolve.ts';
import { openForRead } from '../src/index/open.ts';
import { allSites, pickTree } from '../src/index/read.ts';
import { Children, clockTicks, cpuTicks, startGenerator } from './watch.bench.ts';
import { BenchError, DROPSITE_CLI, childEnv, note, round, type BenchOptions } from './lib.ts';

export const EXPORTER_TARGETS = { cpuShareAtMost: 0.05, burstRate: 50_000, scrapeMsAtMost: 50, rssMiBAtMost: 150, series: 2_000 } as const;

const STEADY = { rate: 1_000, seconds: 5 } as const;
const BURST = { rate: EXPORTER_TARGETS.burstRate, seconds: 5 } as const;
const DRAIN_MS = 2_000;
const SCRAPES = 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  if (typeof addr !== 'object' || addr === null) throw new BenchError('cannot find a free port on 127.0.0.1');
  return addr.port;
}

async function scrape(url: string, accept = 'text/plain'): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  const r = await fetch(url, { headers: { Accept: accept } });
  const body = await r.text();
  if (r.status !== 200) throw new BenchError(`${url}: HTTP ${r.status}`);
  return { ms: performance.now() - t0, body };
}

/** Sum of a metric's samples whose labels include all of `where`. */
function sampleSum(text: string, name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(where).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function status(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return round(Number(m?.[1] ?? Number.NaN) / 1024, 1);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

/** Scrape time, in this process, of `n` series explained by the index (real function names and offsets). */
async function scrapeInProcess(db: string, n: number): Promise<{ series: number; promMs: number; openMetricsMs: number; bytes: number; renderCpuMs: number }> {
  const handle = openForRead(db);
  try {
    const explainer = new Explainer(handle, pickTree(handle, undefined, db));
    const metrics = new DropMetrics({ resolve: resolverFor(explainer), maxSeries: n, info: { kernel: release(), tree_version: explainer.tree.version ?? '', index: db, source: 'bench' } });
    const functions = [...new Set(allSites(handle, explainer.tree.id).map((s) => s.function))];
    for (let i = 0; metrics.series().length < n && i < n * 4; i++) {
      const fn = functions[i % functions.length] ?? 'kfree_skb';
      const offset = 0x10 + 8 * Math.floor(i / functions.length);
      metrics.add({ location: `${fn}+0x${offset.toString(16)}`, symbol: fn, function: fn, isCold: false, offset, size: null, module: null, reason: 'NOT_SPECIFIED', event: 'kfree_skb', count: 1 + (i % 7) });
    }
    const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, {
      prometheus: metrics.registry({ openMetrics: false, withProcessMetrics: true }),
      openMetrics: metrics.registry({ openMetrics: true, withProcessMetrics: true }),
      health: () => ({ ok: true, body: {} }),
    });
    // CPU time of rendering alone (no HTTP, no client): what a scrape costs the exporter, whatever the machine's load.
    const registry = metrics.registry({ openMetrics: false, withProcessMetrics: true });
    await registry.metrics();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < SCRAPES; i++) await registry.metrics();
    const cpu = process.cpuUsage(cpu0);
    const renderCpuMs = round((cpu.user + cpu.system) / 1000 / SCRAPES, 2);
    try {
      await scrape(`${server.url}/metrics`); // warm-up
      const prom: number[] = [];
      const om: number[] = [];
      let bytes = 0;
      for (let i = 0; i < SCRAPES; i++) {
        const p = await scrape(`${server.url}/metrics`);
        bytes = p.body.length;
        prom.push(p.ms);
        om.push((await scrape(`${server.url}/metrics`, 'application/openmetrics-text; version=1.0.0')).ms);
      }
      return { series: metrics.series().length, promMs: round(median(prom), 2), openMetricsMs: round(median(om), 2), bytes, renderCpuMs };
    } finally {
      await server.close();
    }
  } finally {
    handle.close();
  }
}

interface PhaseFigures {
  targetRate: number;
  sent: number;
  achievedRate: number;
  counted: number;
  lostByKernel: number;
  /** sent − counted − lostByKernel: what dropsite was handed and did not count (≤ 0: nothing). */
  lostByDropsite: number;
  window: { seconds: number; cpuS: number; cpuShare: number };
}

export async function runExporterBench(opts: BenchOptions): Promise<object> {
  if (process.getuid?.() !== 0) {
    note('exporter benchmark: skipped, it reads kernel trace events, which needs root');
    return { benchmark: 'exporter', skipped: true, reason: 'needs root' };
  }
  const { db } = await opts.index();
  const hz = await clockTicks();
  const children = new Children();
  children.attach();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [DROPSITE_CLI, 'watch', '--db', db, '--metrics', `127.0.0.1:${port}`, '--interval', '1', '--capture', 'trace_pipe'];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv() });
  children.add(child.pid);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const pid = child.pid ?? 0;
  try {
    for (let waited = 0; ; waited += 100) {
      if (child.exitCode !== null) throw new BenchError('dropsite watch --metrics exited before serving', stderr);
      if (waited > 60_000) throw new BenchError('dropsite watch --metrics did not become healthy within 60 s', stderr);
      const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) break;
      await sleep(100);
    }
    const idle = { rssMiB: status(pid, 'VmRSS') };
    const phase = async (load: { rate: number; seconds: number }): Promise<PhaseFigures> => {
      const gen = await startGenerator(load.rate, load.seconds, children);
      const before = (await scrape(`${url}/metrics`)).body;
      const cpu0 = cpuTicks(pid);
      const t0 = performance.now();
      gen.start();
      const summary = await gen.done;
      const cpu1 = cpuTicks(pid);
      const windowS = (performance.now() - t0) / 1000;
      await sleep(DRAIN_MS);
      const after = (await scrape(`${url}/metrics`)).body;
      const ours = { function: '__udp4_lib_rcv', reason: 'NO_SOCKET' };
      const counted = sampleSum(after, 'dropsite_drops_total', ours) - sampleSum(before, 'dropsite_drops_total', ours);
      const lostByKernel = sampleSum(after, 'dropsite_events_lost_total') - sampleSum(before, 'dropsite_events_lost_total');
      const cpuS = cpu0 === null || cpu1 === null ? Number.NaN : (cpu1 - cpu0) / hz;
      return {
        targetRate: load.rate, sent: summary.sent, achievedRate: summary.achievedRate, counted, lostByKernel,
        lostByDropsite: Math.max(0, summary.sent - counted - lostByKernel),
        window: { seconds: round(windowS, 2), cpuS: round(cpuS, 2), cpuShare: round(cpuS / windowS, 4) },
      };
    };
    const steady = await phase(STEADY);
    const burst = await phase(BURST);
    const serving = { rssMiB: status(pid, 'VmRSS'), peakRssMiB: status(pid, 'VmHWM') };
    const liveScrapes: number[] = [];
    for (let i = 0; i < 5; i++) liveScrapes.push((await scrape(`${url}/metrics`)).ms);
    const liveScrapeMs = median(liveScrapes);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
    children.forget(child.pid);
    const few = await scrapeInProcess(db, 10);
    const many = await scrapeInProcess(db, EXPORTER_TARGETS.series);
    const result = {
      benchmark: 'exporter', skipped: false, kernel: release(), cores: availableParallelism(), index: db,
      command: ['node', ...args],
      idle, steady, burst, serving, liveScrapeMs: round(liveScrapeMs, 2),
      scrape: { baseline: few, atTarget: many, ratio: round(many.promMs / few.promMs, 2) },
      targets: EXPORTER_TARGETS,
      met: {
        cpuShare: steady.window.cpuShare < EXPORTER_TARGETS.cpuShareAtMost,
        burstRateReached: burst.achievedRate >= EXPORTER_TARGETS.burstRate * 0.95,
        burstNoneLostByDropsite: burst.lostByDropsite === 0,
        scrape: many.promMs < EXPORTER_TARGETS.scrapeMsAtMost && many.openMetricsMs < EXPORTER_TARGETS.scrapeMsAtMost,
        rss: serving.peakRssMiB < EXPORTER_TARGETS.rssMiBAtMost,
      },
    };
    note([
      `exporter benchmark: kernel ${result.kernel}, ${result.cores} cores, index ${db}`,
      `  idle RSS ${idle.rssMiB} MiB; after the load ${serving.rssMiB} MiB, peak ${serving.peakRssMiB} MiB (target < ${EXPORTER_TARGETS.rssMiBAtMost})`,
      ...[['steady', steady], ['burst', burst]].map(([name, p]) => {
        const f = p as PhaseFigures;
        return `  ${String(name)}: aimed ${f.targetRate}/s, sent ${f.sent} at ${f.achievedRate}/s; counted ${f.counted}, kernel overruns ${f.lostByKernel}, lost by dropsite ${f.lostByDropsite}; CPU ${(f.window.cpuShare * 100).toFixed(1)} % of one core over ${f.window.seconds} s`;
      }),
      `  scrape (in process, over HTTP, median of ${SCRAPES}): ${few.series} series ${few.promMs} ms; ${many.series} series ${many.promMs} ms text, ${many.openMetricsMs} ms OpenMetrics, ${many.bytes} bytes (target < ${EXPORTER_TARGETS.scrapeMsAtMost} ms); CPU to render: ${few.renderCpuMs} ms and ${many.renderCpuMs} ms`,
      `  live scrape of the running exporter after the load (median of 5): ${round(liveScrapeMs, 2)} ms`,
      `  met: ${JSON.stringify(result.met)}`,
    ].join('\n'));
    return result;
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    children.killAll();
    children.detach();
  }
}
