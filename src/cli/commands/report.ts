// `dropsite report` and `dropsite watch`: wiring only.
import type { ReadStream } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DropAggregator } from '../../build-report.ts';
import { CaptureError, errnoCode, InputError, OutputError } from '../../errors.ts';
import { Explainer, type CodeEvidence } from '../../explain/explain.ts';
import type { ModuleLoading } from '../../machine-code/index.ts';
import { openForRead, type Db } from '../../index/open.ts';
import { checkOutputPath, writeOutputFile, type NamedInput } from '../../io/output-file.ts';
import { FileKindError, LIMITS, openRegularStream } from '../../io/regular-file.ts';
import type { SymbolMap } from '../../locate/kallsyms.ts';
import { listReasons, pickTree } from '../../index/read.ts';
import { reasonsByValue } from '../../kernel/drop-reasons.ts';
import { readRecording, readRecordingBatches, type RecordingFormat } from '../../locate/recording.ts';
import { findTracefs, overruns, removeStaleInstances, startCapture } from '../../live/tracefs.ts';
import { RENDERERS } from '../../report/formats.ts';
import type { ReportFormat, ReportView } from '../../report/view.ts';
import type { Explanation } from '../../model.ts';
import { exactHint } from '../../report/explain-text.ts';
import { isTty, writeErr, writeHint, writeOut } from '../sink.ts';
import { readMap } from './explain.ts';
import { checkRebuildFlags, explainByRebuild, type RebuildFlags } from './rebuild.ts';

export interface ReportFlags extends RebuildFlags {
  db: string;
  tree?: string;
  format: RecordingFormat | 'auto';
  output?: string;
  as?: ReportFormat;
  top: number;
  allCandidates?: boolean;
  kallsyms?: string;
  systemMap?: string;
  kernel?: string;
  modules?: string;
  context: number;
}

/** The output format: --as, else from --output's extension, else a table. */
function formatFor(flags: { as?: ReportFormat; output?: string }): ReportFormat {
  if (flags.as !== undefined) return flags.as;
  const ext = /\.(html?|md|json)$/i.exec(flags.output ?? '')?.[1]?.toLowerCase();
  return ext === undefined ? 'table' : ext.startsWith('htm') ? 'html' : ext === 'md' ? 'md' : 'json';
}

/** The files a report command reads, which its output must never replace (compared by device and inode). */
function reportInputs(flags: { db: string; kallsyms?: string; systemMap?: string }, recording: string | null, view?: ReportView): NamedInput[] {
  const inputs: NamedInput[] = [
    { path: flags.db, what: 'the index' }, { path: `${flags.db}-journal`, what: "the index's journal" }, { path: `${flags.db}-wal`, what: "the index's log" },
  ];
  if (recording !== null) inputs.push({ path: recording, what: 'the recording' });
  if (flags.kallsyms !== undefined) inputs.push({ path: flags.kallsyms, what: 'the --kallsyms map' });
  if (flags.systemMap !== undefined) inputs.push({ path: flags.systemMap, what: 'the --system-map map' });
  // The source files the report quotes.
  if (view?.tree !== null && view?.tree !== undefined) for (const s of Object.values(view.snippets)) inputs.push({ path: join(view.tree.root, s.file), what: 'a source file of the indexed tree' });
  return inputs;
}

async function emit(view: ReportView, flags: { as?: ReportFormat; output?: string; allCandidates?: boolean }, inputs: readonly NamedInput[]): Promise<void> {
  const as = formatFor(flags);
  const toTerminal = flags.output === undefined && process.stdout.isTTY === true;
  const text = RENDERERS[as](view, { width: toTerminal ? process.stdout.columns ?? 120 : 160, color: toTerminal && isTty(), allCandidates: flags.allCandidates === true });
  if (flags.output === undefined) {
    await writeOut(text);
    return;
  }
  writeOutputFile(flags.output, text, inputs);
  writeErr(`wrote ${as} report to ${flags.output}`);
}

/** A live capture cannot be run again: when its report file cannot be written, the report goes to stdout. */
async function emitCapture(view: ReportView, flags: { as?: ReportFormat; output?: string; allCandidates?: boolean }, inputs: readonly NamedInput[]): Promise<void> {
  try {
    await emit(view, flags, inputs);
  } catch (err) {
    if (!(err instanceof OutputError) || flags.output === undefined) throw err;
    const { output: _, ...toStdout } = flags;
    await emit(view, toStdout, inputs);
    throw new OutputError(`${err.message}; the report was written to stdout instead`);
  }
}

function openIndex(flags: { db: string; tree?: string }): { db: Db; explainer: Explainer } {
  const db = openForRead(flags.db);
  try {
    return { db, explainer: new Explainer(db, pickTree(db, flags.tree, flags.db)) };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** value → name of the indexed tree's drop reasons (hist files print reasons as numbers). */
function reasonValues(db: Db, explainer: Explainer): Map<number, string> {
  return reasonsByValue(listReasons(db, explainer.tree.id));
}

/** The recording, checked to be a regular file: a FIFO would block and a device never end. */
function openRecording(path: string): ReadStream {
  const hint = 'give a saved dropwatch, tracefs, perf script, bpftrace or retis output file, or pipe it into - (stdin)';
  try {
    return openRegularStream(path, LIMITS.recording, 'recording');
  } catch (err) {
    if (err instanceof FileKindError) throw new InputError(err.message, { hint });
    throw new InputError(`cannot read recording ${path}: ${errnoCode(err) === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err)}`, { hint });
  }
}

export async function runReport(file: string | undefined, flags: ReportFlags): Promise<void> {
  checkRebuildFlags(flags);
  const path = file ?? '-';
  // A bad or dangerous --output is refused before any work.
  if (flags.output !== undefined) checkOutputPath(flags.output, reportInputs(flags, path === '-' ? null : path));
  const recording = path === '-' ? null : openRecording(path);
  let opened: ReturnType<typeof openIndex>;
  try {
    opened = openIndex(flags);
  } catch (err) {
    recording?.destroy();
    throw err;
  }
  const { db, explainer } = opened;
  try {
    const mapFile = flags.kallsyms ?? flags.systemMap;
    const symbols = mapFile === undefined ? null : readMap(mapFile, flags.kallsyms !== undefined ? '--kallsyms' : '--system-map');
    const map = symbols?.map ?? null;
    const agg = new DropAggregator(map, reasonValues(db, explainer));
    const input = recording ?? process.stdin.setEncoding('utf8');
    for await (const batch of readRecordingBatches(input, { format: flags.format })) for (const item of batch) agg.add(item);
    if (flags.top > 200) explainer.preload();
    let code: CodeEvidence | undefined;
    if (flags.kernel !== undefined || flags.modules !== undefined) {
      // Loaded only with a kernel image: it brings in the x86 decoder.
      const { openMachineCode } = await import('../../machine-code/index.ts');
      const opened = await openMachineCode(db, explainer.tree, {
        kernel: flags.kernel ?? null, modules: flags.modules ?? null,
        kallsyms: symbols?.text ?? null, moduleNames: agg.modules(),
      });
      for (const p of opened.problems) writeErr(`dropsite: ${p}`);
      // The rows without a module (dropwatch) whose function is not in the image: their modules, found and opened.
      for (const p of await opened.code.findModules(agg.rowQueries(flags.top).map((r) => r.query))) writeErr(`dropsite: ${p}`);
      code = opened.code;
    }
    const view = agg.view(explainer, {
      title: `Drops in ${path === '-' ? 'stdin' : path}`, source: path === '-' ? 'stdin' : path, format: flags.format,
      top: flags.top, allCandidates: flags.allCandidates === true, context: flags.context, ...(code === undefined ? {} : { code }),
      ...(flags.rebuild === true ? { explained: await rebuildRows(agg, explainer, flags, map, flags.kallsyms !== undefined ? symbols?.text : undefined) } : {}),
    });
    if (view.totals.events === 0 && view.totals.skippedLines > 0) {
      throw new InputError(`${path}: no drop record in ${view.totals.skippedLines} line(s) (first: line ${view.skipped[0]?.lineNo ?? '?'}: ${view.skipped[0]?.why ?? ''})`, {
        hint: 'expected dropwatch, tracefs trace or hist, perf script, bpftrace kstack, retis JSON, dropwatch.stp or net_dropmonitor output; name it with --format',
      });
    }
    await emit(view, flags, reportInputs(flags, path === '-' ? null : path, view));
    if (flags.rebuild !== true && code === undefined && view.rows.some((r) => r.candidates.length > 0)) writeHint(exactHint(false));
  } finally {
    db.close();
  }
}

/** --rebuild: the top rows explained from rebuilt objects, keyed for DropAggregator.view. */
async function rebuildRows(agg: DropAggregator, explainer: Explainer, flags: RebuildFlags & { top: number }, map: SymbolMap | null, kallsymsText?: string, live = false): Promise<Map<string, Explanation>> {
  const rows = agg.rowQueries(flags.top);
  const results = await explainByRebuild(explainer, rows.map((r) => r.query), flags, map, { live, ...(kallsymsText !== undefined ? { kallsymsText } : {}) });
  return new Map(rows.map((r, i) => [r.key, results[i] as Explanation]));
}

/** watch: the capture is done, so a failed rebuild is a warning and the report falls back to source ranking. */
async function liveRebuild(agg: DropAggregator, explainer: Explainer, flags: WatchFlags): Promise<Map<string, Explanation>> {
  try {
    return await rebuildRows(agg, explainer, flags, null, undefined, true);
  } catch (err) {
    writeErr(`warning: --rebuild failed, the report ranks from source: ${err instanceof Error ? err.message : String(err)}`);
    return new Map();
  }
}

export interface WatchFlags extends Omit<ReportFlags, 'format' | 'kallsyms' | 'systemMap'> {
  config?: string;
  source: 'tracefs' | 'dropwatch';
  interval: number;
  duration?: number;
  consume?: boolean;
}

/** `6.18.44-fc` and `6.1.192` → whether major.minor differ. */
function versionsDiffer(running: string, indexed: string | null): boolean {
  const mm = (v: string): string => /^(\d+\.\d+)/.exec(v)?.[1] ?? v;
  return indexed !== null && mm(running) !== mm(indexed);
}

/** watch --rebuild: the config must be there before capture starts (the rebuild runs on the final report). */
async function checkWatchRebuild(flags: WatchFlags): Promise<void> {
  if (flags.rebuild !== true) return;
  const { db, explainer } = openIndex(flags);
  try {
    const { chooseConfig, cacheDir } = await import('../../rebuild/index.ts');
    const c = chooseConfig({ given: flags.config, treeRoot: explainer.tree.root, treeVersion: explainer.tree.version, cacheDir: cacheDir() });
    writeErr(`--rebuild: the final report rebuilds with ${c.path}`);
  } finally {
    db.close();
  }
}

/**
 * watch --kernel / --modules without --rebuild: the running kernel's machine code, opened (and its build-id
 * checked) before the capture starts, so that a wrong image costs no capture. Closes the index on a refusal.
 */
async function openWatchCode(flags: WatchFlags, db: Db, explainer: Explainer): Promise<(CodeEvidence & ModuleLoading) | undefined> {
  if (flags.rebuild === true || (flags.kernel === undefined && flags.modules === undefined)) return undefined;
  try {
    const { openRunningCode } = await import('../../machine-code/running.ts');
    const opened = await openRunningCode(db, explainer.tree, { kernel: flags.kernel ?? null, modules: flags.modules ?? null });
    if (opened.checked !== null) writeErr(`dropsite: ${opened.checked}`);
    for (const p of opened.problems) writeErr(`dropsite: ${p}`);
    return opened.code;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** The modules the captured drops name, opened before the final report (each problem said once). */
async function loadCaptureModules(code: ModuleLoading | undefined, agg: DropAggregator, top: number): Promise<void> {
  if (code === undefined) return;
  for (const p of await code.loadModules(agg.modules())) writeErr(`dropsite: ${p}`);
  for (const p of await code.findModules(agg.rowQueries(top).map((r) => r.query))) writeErr(`dropsite: ${p}`);
}

export async function runWatch(flags: WatchFlags): Promise<void> {
  checkRebuildFlags(flags);
  // Checked before the capture starts: a capture must not be lost to an output that cannot be written.
  if (flags.output !== undefined) checkOutputPath(flags.output, reportInputs(flags, null));
  await checkWatchRebuild(flags);
  if (flags.source === 'dropwatch') return watchDropwatch(flags);
  if (process.getuid?.() !== 0) throw new CaptureError('dropsite watch needs root to read kernel trace events', { hint: 'run it with sudo' });
  const { db, explainer } = openIndex(flags);
  const code = await openWatchCode(flags, db, explainer);
  const running = release();
  if (versionsDiffer(running, explainer.tree.version)) {
    writeErr(`warning: the running kernel is ${running} but the index is of Linux ${explainer.tree.version ?? '?'} (${explainer.tree.root}); names mostly survive between versions, and rows whose function is not in the index are marked`);
  }
  const tracefs = await findTracefs();
  for (const n of removeStaleInstances(tracefs, { onKept: (name, why) => writeErr(`note: left tracing instance ${name} alone: ${why}`) })) writeErr(`removed tracing instance ${n} left by a dropsite run that was killed`);
  const capture = startCapture(tracefs, { consume: flags.consume === true });
  const stop = (): void => capture.stop();
  process.once('exit', stop);
  // The first Ctrl-C or SIGTERM ends the capture gracefully (what the kernel still holds is read); a
  // second one while that runs stops at once.
  let ending = false;
  const onSignal = (): void => {
    if (ending) {
      stop();
      process.exit(130);
    }
    done();
  };
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const agg = new DropAggregator();
  const opts = { title: 'Live drops', source: `live tracefs (${capture.instance})`, format: 'tracefs', top: flags.top, allCandidates: flags.allCandidates === true, context: flags.context, ...(code === undefined ? {} : { code }) };
  const reading = (async () => {
    for await (const item of readRecording(capture.lines, { format: 'tracefs' })) agg.add(item);
  })();
  const live = process.stdout.isTTY === true && flags.output === undefined;
  const timer = setInterval(() => {
    if (!live) return;
    const view = agg.view(explainer, opts);
    process.stdout.write(`\u001b[H\u001b[2J${RENDERERS.table(view, { width: process.stdout.columns ?? 120, color: isTty(), allCandidates: false })}`);
  }, flags.interval * 1000);
  const deadline = flags.duration === undefined ? null : setTimeout(done, flags.duration * 1000);
  try {
    await Promise.race([finished, reading]);
  } finally {
    clearInterval(timer);
    if (deadline !== null) clearTimeout(deadline);
    ending = true;
    const lost = overruns(capture.instance);
    await capture.finish();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await reading.catch(() => undefined);
    const explained = flags.rebuild === true ? await liveRebuild(agg, explainer, flags) : undefined;
    await loadCaptureModules(code, agg, flags.top);
    const view = agg.view(explainer, { ...opts, ...(explained !== undefined ? { explained } : {}) });
    if (lost > 0) view.warnings.push(`the kernel overwrote ${lost} events before they were read (per_cpu stats overrun)`);
    db.close();
    await emitCapture(view, flags, reportInputs(flags, null, view));
  }
}

const NO_NET_DM = /Unable to find NET_DM family/;

async function watchDropwatch(flags: WatchFlags): Promise<void> {
  const { spawn } = await import('node:child_process');
  const { db, explainer } = openIndex(flags);
  const code = await openWatchCode(flags, db, explainer);
  const child = spawn('dropwatch', ['-l', 'kas'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject('code' in err && err.code === 'ENOENT'
      ? new CaptureError('dropwatch is not installed', { hint: 'apt-get install dropwatch, or use --source tracefs' })
      : err));
  });
  await spawned;
  const agg = new DropAggregator();
  let noNetDm = false;
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  const errLines = createInterface({ input: child.stderr, crlfDelay: Infinity });
  // dropwatch 1.5.4 prints this on stdout, where the reader takes it for a banner: watch both streams.
  const spot = (l: string): void => {
    if (NO_NET_DM.test(l)) noNetDm = true;
  };
  errLines.on('line', spot);
  lines.on('line', spot);
  // dropwatch exits at once on a kernel without the drop monitor: our commands then meet a closed pipe.
  child.stdin.on('error', () => undefined);
  child.stdin.write('start\n');
  const stopDropwatch = (): void => {
    if (child.exitCode === null) child.kill('SIGINT');
    child.stdin.end('stop\nexit\n');
  };
  process.once('exit', () => child.kill('SIGKILL'));
  const timer = flags.duration === undefined ? null : setTimeout(stopDropwatch, flags.duration * 1000);
  process.once('SIGINT', stopDropwatch);
  try {
    for await (const item of readRecording(lines, { format: 'dropwatch' })) agg.add(item);
  } finally {
    if (timer !== null) clearTimeout(timer);
    process.removeListener('SIGINT', stopDropwatch);
  }
  if (noNetDm) {
    db.close();
    throw new CaptureError('this kernel has no drop monitor (dropwatch: Unable to find NET_DM family)', { hint: 'use --source tracefs (the default), which reads the skb:kfree_skb trace event instead' });
  }
  await loadCaptureModules(code, agg, flags.top);
  const view = agg.view(explainer, {
    title: 'Live drops (dropwatch)', source: 'dropwatch -l kas', format: 'dropwatch', top: flags.top, allCandidates: flags.allCandidates === true, context: flags.context,
    ...(flags.rebuild === true ? { explained: await liveRebuild(agg, explainer, flags) } : {}),
    ...(code === undefined ? {} : { code }),
  });
  db.close();
  await emitCapture(view, flags, reportInputs(flags, null, view));
}
