// Shared pieces for the benchmarks: timed child processes, temp folders, file counts, aggregates.
// Node builtins only; every external program is started with an argument array, never a shell.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
