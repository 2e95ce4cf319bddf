// Running the binary against hostile inputs: a time limit on every run (a FIFO must fail the test,
// not hang CI), FIFOs made with mkfifo, and small trees copied from the sample to poison.
import { execFile, execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { CLI, fixture, type CliResult } from './fixture.ts';

export interface TimedResult extends CliResult {
  /** True when the run was killed at the time limit. */
  timedOut: boolean;
  ms: number;
}

/** Run the built binary as runCli does, killed with SIGKILL after `timeoutMs`. */
export function runCliTimed(args: readonly string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string; cwd?: string; nodeArgs?: string[] } = {}): Promise<TimedResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [...(opts.nodeArgs ?? []), CLI, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', HOME: process.env.HOME ?? '/tmp', ...opts.env },
      maxBuffer: 256 * 1024 * 1024,
      timeout: opts.timeoutMs ?? 10_000,
      killSignal: 'SIGKILL',
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    }, (err, stdout, stderr) => {
      const timedOut = err !== null && err.killed === true && err.signal === 'SIGKILL';
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr, timedOut, ms: performance.now() - started });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

export const mkfifo = (path: string): void => {
  execFileSync('mkfifo', [path]);
};

/** A writable copy of the bundled sample tree. */
export function copySample(to: string): string {
  cpSync(fixture('sample'), to, { recursive: true });
  return to;
}

/** The one-line error contract: one `dropsite:` line (and at most a hint), no stack trace. */
export function isOneLineError(stderr: string): boolean {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('  hint:'));
  return lines.length === 1 && lines[0]?.startsWith('dropsite: ') === true && !/\n\s+at /.test(stderr) && !stderr.includes('internal error');
}
