// Shared pieces for the benchmarks: timed child processes, temp folders, file counts, aggregates.
// Node builtins only; every external program is started with an argument array, never a shell.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DROPSITE_CLI = fileURLToPath(new URL('../dist/cli/dropsite.cjs', import.meta.url));

/** What run.ts hands every benchmark. Absent flags are null rather than optional (exactOptionalPropertyTypes). */
export interface BenchOptions {
  tree: string;
  runs: number;
  /** --truth, or the default truth file when it exists; null when there is none. */
  truth: string | null;
  vmlinux: string | null;
  /** --config and --kernel: the kernel's config and shipped image, for the rebuild benchmark. */
  config: string | null;
  kernel: string | null;
  /** The index to query: the --db file, or one built from --tree on first use and shared by later benchmarks. */
  index: () => Promise<IndexInfo>;
}

export interface IndexInfo {
  db: string;
  origin: 'given' | 'built';
  /** Wall time and peak RSS of the build; null for a --db index. */
  build: Measurement | null;
  /** True when an earlier benchmark of this run asked first (and so paid for the build). */
  isShared: boolean;
}

/** A benchmark could not run (a command failed, a tool is broken). Printed as one line plus `detail`. */
export class BenchError extends Error {
  readonly detail: string | undefined;
  constructor(message: string, detail?: string) {
    super(message);
    this.name = 'BenchError';
    this.detail = detail;
  }
}

/** The bench command line was wrong: exit 2, like dropsite's own usage errors. */
export class BenchUsageError extends BenchError {}

export const GNU_TIME = '/usr/bin/time';

/** Children get a scrubbed environment (as the CLI tests do) so NODE_OPTIONS and the like cannot skew a run. */
export function childEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME, NO_COLOR: '1' };
}

export function note(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

export interface Measurement {
  wallS: number;
  peakRssMiB: number;
}

const TAIL_BYTES = 16 * 1024;

function keepTail(buf: string, chunk: string): string {
  const s = buf + chunk;
  return s.length > TAIL_BYTES ? s.slice(s.length - TAIL_BYTES) : s;
}

/**
 * Run `cmd args` under GNU time and return its elapsed wall time and peak RSS. The figures go to
 * `timeFile` (`time -o`) so that they never mix with the command's own stderr, which is kept (its
 * tail) for the error message when the command fails.
 */
export async function measureCommand(cmd: string, args: readonly string[], timeFile: string): Promise<Measurement> {
  const shown = [cmd, ...args].join(' ');
  const { code, signal, stderr, stdout } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>(
    (resolve, reject) => {
      const child = spawn(GNU_TIME, ['-o', timeFile, '-f', '%e %M', cmd, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: childEnv(),
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => { out = keepTail(out, c); });
      child.stderr.setEncoding('utf8').on('data', (c: string) => { err = keepTail(err, c); });
      child.on('error', (e) => reject(new BenchError(`cannot start ${GNU_TIME} for ${shown}: ${e.message}`)));
      child.on('close', (c, s) => resolve({ code: c, signal: s, stderr: err, stdout: out }));
    },
  );
  if (code !== 0) {
    // GNU time exits 127 when the command is missing and 126 when it cannot be run.
    const how = signal !== null ? `was killed by ${signal}` : code === 127 ? 'was not found' : `exited with status ${code}`;
    throw new BenchError(`${shown} ${how}`, (stderr.trim() || stdout.trim()) || undefined);
  }
  // With a failing command GNU time writes a "Command exited…" line first; the figures are the last line.
  const text = await readFile(timeFile, 'utf8');
  const last = text.trim().split('\n').pop() ?? '';
  const m = /^(\d+(?:\.\d+)?) (\d+)$/.exec(last.trim());
  if (m === null || m[1] === undefined || m[2] === undefined) {
    throw new BenchError(`cannot read GNU time's figures for ${shown}: got ${JSON.stringify(text)}`);
  }
  return { wallS: Number(m[1]), peakRssMiB: Number(m[2]) / 1024 };
}

export function hasGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

export interface TimedRun {
  wallS: number;
  /** Only when a time file was given (the run then goes through GNU time). */
  peakRssMiB: number | null;
  code: number;
  /** The whole stdout when asked for (`keepStdout`), else ''. */
  stdout: string;
}

export interface TimeOptions {
  /** A file given to the command as its stdin, as `cmd < file` would. */
  stdinFile?: string;
  /** Exit codes that are not failures (grep exits 1 when nothing matches). Default: [0]. */
  okCodes?: readonly number[];
  keepStdout?: boolean;
  /** Wrap the command in GNU time to get its peak RSS (its figures go to this file). */
  timeFile?: string;
}

/**
 * Wall time of one command, measured here with hrtime from spawn to exit. GNU time's `%e` comes in
 * 10 ms steps, too coarse for a 0.1 s command; the spawn cost it adds falls on every command alike.
 */
export async function timeCommand(cmd: string, args: readonly string[], opts: TimeOptions = {}): Promise<TimedRun> {
  const shown = [cmd, ...args].join(' ') + (opts.stdinFile === undefined ? '' : ` < ${opts.stdinFile}`);
  const okCodes = opts.okCodes ?? [0];
  const stdinFd = opts.stdinFile === undefined ? null : openSync(opts.stdinFile, 'r');
  const [file, argv] = opts.timeFile === undefined
    ? [cmd, [...args]]
    : [GNU_TIME, ['-o', opts.timeFile, '-f', '%e %M', cmd, ...args]];
  let result: { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; wallS: number };
  try {
    result = await new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const child = spawn(file, argv, {
        stdio: [stdinFd ?? 'ignore', opts.keepStdout === true ? 'pipe' : 'ignore', 'pipe'],
        env: childEnv(),
      });
      const chunks: string[] = [];
      let err = '';
      child.stdout?.setEncoding('utf8').on('data', (c: string) => { chunks.push(c); });
      child.stderr?.setEncoding('utf8').on('data', (c: string) => { err = keepTail(err, c); });
      child.on('error', (e) => reject(new BenchError(`cannot start ${shown}: ${e.message}`)));
      child.on('close', (code, signal) => {
        const wallS = Number(process.hrtime.bigint() - started) / 1e9;
        resolve({ code, signal, stderr: err, stdout: chunks.join(''), wallS });
      });
    });
  } finally {
    if (stdinFd !== null) closeSync(stdinFd);
  }
  const { code, signal, stderr, stdout, wallS } = result;
  if (code === null || !okCodes.includes(code)) {
    const how = signal !== null ? `was killed by ${signal}` : `exited with status ${String(code)}`;
    throw new BenchError(`${shown} ${how}`, stderr.trim() || undefined);
  }
  let peakRssMiB: number | null = null;
  if (opts.timeFile !== undefined) {
    const last = (await readFile(opts.timeFile, 'utf8')).trim().split('\n').pop() ?? '';
    const m = /^\d+(?:\.\d+)? (\d+)$/.exec(last.trim());
    if (m?.[1] === undefined) throw new BenchError(`cannot read GNU time's figures for ${shown}: got ${JSON.stringify(last)}`);
    peakRssMiB = Number(m[1]) / 1024;
  }
  return { wallS, peakRssMiB, code, stdout };
}

/** Run `dropsite ARGS` and return its stdout; a failure is a BenchError carrying the CLI's own message. */
export function runDropsite(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [DROPSITE_CLI, ...args], { env: childEnv(), encoding: 'utf8', maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      if (err) reject(new BenchError(`dropsite ${args.join(' ')} failed: ${err.message.split('\n')[0] ?? ''}`, stderr.trim() || undefined));
      else resolve(stdout);
    });
  });
}

export interface IndexedTree {
  root: string;
  version: string | null;
}

/**
 * Which tree of `db` a benchmark should query, from `dropsite trees --json`. `selector` is what to
 * pass as `--tree` (null when the index holds one tree, so the measured command stays the plain one).
 * A --db of another tree is used anyway, with a note: the user may have indexed a copy elsewhere.
 */
export async function chooseIndexedTree(db: string, tree: string): Promise<{ selector: string | null; chosen: IndexedTree; note: string | null }> {
  const parsed: unknown = JSON.parse(await runDropsite(['trees', '--db', db, '--json']));
  const trees: IndexedTree[] = Array.isArray(parsed)
    ? parsed.flatMap((t: unknown) => (typeof t === 'object' && t !== null && 'root' in t && typeof t.root === 'string'
      ? [{ root: t.root, version: 'version' in t && typeof t.version === 'string' ? t.version : null }]
      : []))
    : [];
  const first = trees[0];
  if (first === undefined) throw new BenchError(`the index ${db} holds no tree: run dropsite index on --tree first`);
  const match = trees.find((t) => t.root === tree);
  if (match !== undefined) return { selector: trees.length > 1 ? match.root : null, chosen: match, note: null };
  return {
    selector: trees.length > 1 ? first.root : null,
    chosen: first,
    note: `the index ${db} does not hold --tree ${tree}; using its latest tree, ${first.root} (${first.version ?? 'unknown version'})`,
  };
}

/**
 * The index provider run.ts passes as `BenchOptions.index`: the --db file as is, or `dropsite index
 * --tree` into `scratchDir` on the first call (a kernel takes ~15 s, so benchmarks share it).
 */
export function indexProvider(tree: string, givenDb: string | null, scratchDir: string): () => Promise<IndexInfo> {
  let pending: Promise<IndexInfo> | null = null;
  return async () => {
    if (givenDb !== null) return { db: givenDb, origin: 'given', build: null, isShared: false };
    if (pending !== null) return { ...(await pending), isShared: true };
    pending = (async (): Promise<IndexInfo> => {
      const db = join(scratchDir, 'index.sqlite');
      note(`building an index of ${tree} in ${scratchDir} (no --db given)…`);
      const build = await measureCommand(process.execPath, [DROPSITE_CLI, 'index', tree, '--db', db, '--quiet'], join(scratchDir, 'index-time.txt'));
      note(`index built in ${build.wallS.toFixed(2)} s, peak RSS ${build.peakRssMiB.toFixed(1)} MiB`);
      return { db, origin: 'built', build, isShared: false };
    })();
    return pending;
  };
}

/** The first line of `cmd --version`, or null when `cmd` is not on PATH (or cannot report a version). */
export function versionOf(cmd: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, ['--version'], { env: childEnv(), encoding: 'utf8', timeout: 10_000 }, (err, stdout) => {
      resolve(err ? null : (stdout.split('\n')[0] ?? '').trim());
    });
  });
}

/**
 * A fresh folder under the system temp dir, removed when `fn` settles, and also on Ctrl-C or
 * SIGTERM (a `finally` does not run then, and an abandoned index of a whole kernel is not small).
 */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const onSignal = (sig: NodeJS.Signals): void => {
    rmSync(dir, { recursive: true, force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.kill(process.pid, sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(dir);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Remove a SQLite database together with its -wal / -shm / -journal companions. */
export async function removeDb(path: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm', '-journal'].map((s) => rm(path + s, { force: true })));
}

/**
 * Walk `root` without following symlinks and count regular files. `skipTopLevel` names top-level
 * folders left out; `accept` picks files by name.
 */
export function countFiles(root: string, accept: (name: string) => boolean, skipTopLevel: ReadonlySet<string> = new Set()): number {
  let count = 0;
  const walk = (dir: string, isTop: boolean): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (isTop && skipTopLevel.has(e.name)) continue;
        walk(join(dir, e.name), false);
      } else if (e.isFile() && accept(e.name)) {
        count++;
      }
    }
  };
  walk(root, true);
  return count;
}

/** The newest modification time (ms) of any file under `dir`, or 0 if there is none. */
export function newestMtimeMs(dir: string): number {
  let newest = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  if (existsSync(dir)) walk(dir);
  return newest;
}

export type Aggregate = 'min' | 'median';

/**
 * With two runs the median is just their mean, which lets one disturbed run pull the figure up;
 * the min is the better estimate of what the program costs. From three runs on, the median.
 */
export function aggregateFor(runs: number): Aggregate {
  return runs <= 2 ? 'min' : 'median';
}

export function aggregate(values: readonly number[], how: Aggregate): number {
  if (values.length === 0) throw new BenchError('no samples to aggregate');
  const sorted = [...values].sort((a, b) => a - b);
  if (how === 'min') return sorted[0] ?? NaN;
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? NaN;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? NaN) + hi) / 2;
}

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
