// The exporter: drops counted per (location, reason) with their source lines, served to Prometheus (/metrics), written
// for node_exporter's textfile collector, or streamed as JSON lines. One entry point, startExporter(); the CLI's
// `watch --metrics/--textfile/--as jsonl` is a shell over it. Capture comes from a hist trigger when the kernel has
// them (no per-event work here) and from trace_pipe otherwise.
import { CaptureError } from '../errors.ts';
import type { Explainer } from '../explain/explain.ts';
import { newInstanceName } from '../live/tracefs.ts';
import { HistSource, hasHistTriggers, tracefsHistInstance, type HistInstance } from './hist-trigger.ts';
import { intervalRows, renderJsonl, type JsonlRow } from './jsonl.ts';
import { serveMetrics, type ListenAddress, type MetricsServer } from './listen.ts';
import { DropMetrics, type InfoLabels, type Series } from './metrics.ts';
import { resolverFor } from './resolve.ts';
import { writeTextfile } from './textfile.ts';
import { TracePipeSource } from './trace-pipe.ts';

export { parseListenAddress } from './listen.ts';
export { DropMetrics } from './metrics.ts';

export type SourceChoice = 'auto' | 'hist' | 'trace_pipe';

export interface ExporterOptions {
  tracefs: string;
  /** auto: a hist trigger when the kernel has them and --consume is off, else trace_pipe. */
  source: SourceChoice;
  consume: boolean;
  intervalS: number;
  maxSeries: number;
  listen: ListenAddress | null;
  textfile: string | null;
  /** Called each interval with the JSON lines of the series that grew (watch --as jsonl). */
  onJsonl: ((text: string, rows: readonly JsonlRow[]) => void) | null;
  host: string;
  explainer: Explainer | null;
  /** value → name of the indexed tree's reasons: the hist table prints reasons as numbers. */
  reasonNames: ReadonlyMap<number, string> | null;
  info: Omit<InfoLabels, 'source'>;
  log: (text: string) => void;
  /** Tests only: stands in for tracefs when the hist source is used. */
  histInstance?: HistInstance;
}

export interface Exporter {
  source: 'hist' | 'trace_pipe';
  instance: string | null;
  /** `http://HOST:PORT` of /metrics, or null without --metrics. */
  url: string | null;
  metrics: DropMetrics;
  stop(): Promise<void>;
}

export async function startExporter(opts: ExporterOptions): Promise<Exporter> {
  if (opts.source === 'hist' && opts.consume) {
    throw new CaptureError('--capture hist counts skb:kfree_skb only; --consume needs every consume_skb event', { hint: 'use --capture auto or trace_pipe with --consume' });
  }
  if (opts.source === 'hist' && opts.histInstance === undefined && !hasHistTriggers(opts.tracefs)) {
    throw new CaptureError(`--capture hist: this kernel has no hist triggers (no ${opts.tracefs}/events/skb/kfree_skb/hist; they need CONFIG_HIST_TRIGGERS)`, { hint: 'use --capture auto or trace_pipe' });
  }
  const useHist = opts.source === 'hist' || (opts.source === 'auto' && !opts.consume && (opts.histInstance !== undefined || hasHistTriggers(opts.tracefs)));
  const metrics = new DropMetrics({
    resolve: resolverFor(opts.explainer), maxSeries: opts.maxSeries,
    info: { ...opts.info, source: useHist ? 'hist' : 'trace_pipe' },
  });
  const source = useHist
    ? new HistSource(opts.histInstance ?? tracefsHistInstance(opts.tracefs, newInstanceName()), { metrics, reasonNames: opts.reasonNames, log: opts.log })
    : new TracePipeSource(opts.tracefs, { consume: opts.consume, metrics, log: opts.log });
  const textRegistry = opts.textfile === null ? null : metrics.registry({ openMetrics: false, withProcessMetrics: false });
  const writeText = async (): Promise<void> => {
    if (textRegistry !== null && opts.textfile !== null) writeTextfile(opts.textfile, await textRegistry.metrics());
  };
  // A path that cannot be written is the user's error: find out before anything is set up.
  await writeText();
  let server: MetricsServer | null = null;
  if (opts.listen !== null) {
    server = await serveMetrics(opts.listen, {
      prometheus: metrics.registry({ openMetrics: false, withProcessMetrics: true }),
      openMetrics: metrics.registry({ openMetrics: true, withProcessMetrics: true }),
      health: () => {
        const s = source.status();
        return { ok: s.ok, body: { status: s.ok ? 'ok' : 'degraded', source: source.name, instance: source.instance, problem: s.problem, drops: metrics.drops, restarts: metrics.restarts } };
      },
    });
  }
  try {
    source.start();
  } catch (err) {
    await server?.close();
    if (err instanceof CaptureError) throw err;
    throw new CaptureError(`cannot set up the ${source.name} capture in ${source.instance ?? opts.tracefs}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, hint: 'run as root; --capture trace_pipe reads events one by one instead' });
  }
  const lastJsonl = new Map<Series, number>();
  const emitJsonl = (): void => {
    if (opts.onJsonl === null) return;
    const rows = intervalRows(metrics.series(), lastJsonl, { time: new Date(), host: opts.host, intervalS: opts.intervalS });
    if (rows.length > 0) opts.onJsonl(renderJsonl(rows), rows);
  };
  let ticking: Promise<void> = Promise.resolve();
  const tick = async (): Promise<void> => {
    await source.check();
    try {
      await writeText();
    } catch (err) {
      // A full disk is not a reason to stop counting: say it, and try again next interval.
      opts.log(err instanceof Error ? err.message : String(err));
    }
    emitJsonl();
  };
  const timer = setInterval(() => {
    ticking = ticking.then(tick, tick);
  }, opts.intervalS * 1000);
  let stopping: Promise<void> | null = null;
  return {
    source: useHist ? 'hist' : 'trace_pipe',
    instance: source.instance,
    url: server?.url ?? null,
    metrics,
    stop: () => {
      stopping ??= (async () => {
        clearInterval(timer);
        await ticking.catch(() => undefined);
        await source.stop();
        try {
          await writeText();
        } catch (err) {
          opts.log(err instanceof Error ? err.message : String(err));
        }
        emitJsonl();
        await server?.close();
      })();
      return stopping;
    },
  };
}
