// `dropsite watch --metrics ADDR | --textfile FILE | --as jsonl`: wiring only; the exporter is src/exporter/.
import { hostname, release } from 'node:os';
import { resolve } from 'node:path';
import { CaptureError, IndexError, UsageError } from '../../errors.ts';
import { Explainer } from '../../explain/explain.ts';
import { parseListenAddress, startExporter, type SourceChoice } from '../../exporter/index.ts';
import { chooseIndexForKernel, type IndexChoice } from '../../index/fleet.ts';
import { listReasons } from '../../index/read.ts';
import { reasonsByValue } from '../../kernel/drop-reasons.ts';
import { findTracefs, removeStaleInstances } from '../../live/tracefs.ts';
import { writeErr, writeOut } from '../sink.ts';

export interface ExporterFlags {
  db: string;
  tree?: string;
  metrics?: string;
  textfile?: string;
  as?: string;
  interval: number;
  duration?: number;
  consume?: boolean;
  maxSeries: number;
  capture: SourceChoice;
  host?: string;
  kernel?: string;
  modules?: string;
  rebuild?: boolean;
}

/** The index for this kernel, or null with a warning: an exporter without source lines still counts drops. */
function openIndexFor(flags: ExporterFlags, running: string): IndexChoice | null {
  let choice: IndexChoice;
  try {
    choice = chooseIndexForKernel(flags.db, running, flags.tree);
  } catch (err) {
    if (!(err instanceof IndexError)) throw err;
    writeErr(`warning: ${err.message}: drops are counted without source lines (dropsite_info{index=""})`);
    return null;
  }
  for (const s of choice.skipped) writeErr(`warning: skipped ${s}`);
  if (choice.match === 'none') {
    writeErr(`warning: the running kernel is ${running} but the index has Linux ${choice.tree.version ?? '?'} (${choice.file}): lines may be off, and functions that differ are counted as unresolved`);
  }
  return choice;
}

export async function runExporterWatch(flags: ExporterFlags): Promise<void> {
  // Series are labelled once, when first seen, from the source ranking; the machine code and rebuilt objects
  // serve the final report of a plain watch. Said rather than ignored.
  if (flags.kernel !== undefined || flags.modules !== undefined || flags.rebuild === true) {
    throw new UsageError('the exporter (--metrics, --textfile, --as jsonl) labels series from the source ranking and does not take --kernel or --modules (nor --rebuild)', {
      hint: 'drop them, or run watch without the exporter flags for a final report ranked with the machine code',
    });
  }
  if (process.getuid?.() !== 0) throw new CaptureError('dropsite watch needs root to read kernel trace events', { hint: 'run it with sudo' });
  const listen = flags.metrics === undefined ? null : parseListenAddress(flags.metrics);
  const running = release();
  const choice = openIndexFor(flags, running);
  const tracefs = await findTracefs();
  for (const n of removeStaleInstances(tracefs)) writeErr(`removed tracing instance ${n} left by a dropsite run that was killed`);
  const explainer = choice === null ? null : new Explainer(choice.db, choice.tree);
  // Listening before the instance exists: a SIGTERM during start-up then stops the exporter as soon as it runs,
  // instead of killing the process with the instance left behind.
  let finish: () => void = () => undefined;
  const stopped = new Promise<void>((done) => {
    finish = (): void => {
      process.removeListener('SIGINT', finish);
      process.removeListener('SIGTERM', finish);
      done();
    };
  });
  process.once('SIGINT', finish);
  process.once('SIGTERM', finish);
  const exporter = await startExporter({
    tracefs, source: flags.capture, consume: flags.consume === true, intervalS: flags.interval, maxSeries: flags.maxSeries,
    listen, textfile: flags.textfile === undefined ? null : resolve(flags.textfile),
    onJsonl: flags.as === 'jsonl' ? (text) => void writeOut(text) : null,
    host: flags.host ?? hostname(), explainer,
    reasonNames: choice === null ? null : reasonsByValue(listReasons(choice.db, choice.tree.id)),
    info: { kernel: running, tree_version: choice?.tree.version ?? '', index: choice?.file ?? '' },
    log: (text) => writeErr(`dropsite: ${text}`),
  }).catch((err: unknown) => {
    finish();
    choice?.db.close();
    throw err;
  });
  const why = flags.capture === 'trace_pipe' ? '--capture trace_pipe' : flags.consume === true ? '--consume needs every event' : 'this kernel has no hist triggers';
  const via = exporter.source === 'hist' ? 'an in-kernel hist trigger (CONFIG_HIST_TRIGGERS)' : `trace_pipe (${why})`;
  writeErr(`dropsite: counting drops from ${via} in ${exporter.instance ?? '?'}`
    + (exporter.url === null ? '' : `; metrics on ${exporter.url}/metrics`)
    + (flags.textfile === undefined ? '' : `; textfile ${resolve(flags.textfile)} every ${flags.interval} s`));
  if (flags.duration !== undefined) setTimeout(finish, flags.duration * 1000).unref();
  await stopped;
  // Whatever happens next, the tracing instance goes: stop() runs first.
  try {
    await exporter.stop();
  } finally {
    choice?.db.close();
  }
  writeErr(`dropsite: stopped after ${exporter.metrics.drops} drops (${exporter.metrics.lost} lost in the kernel, ${exporter.metrics.restarts} capture restarts)`);
}
