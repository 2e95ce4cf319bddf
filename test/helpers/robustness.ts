// The runner and the checks of the robustness table (test/robustness/hostile-inputs.test.ts): the
// built CLI in a scrubbed environment, killed (with its children) at a wall-clock bound, its stdout
// optionally a given file such as /dev/full, and the promises every run is held to.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { CLI } from './fixture.ts';

export interface BoundedResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Killed at the bound: a hang. */
  timedOut: boolean;
}

export interface BoundedRun {
  args: readonly string[];
  env: Record<string, string>;
  boundMs: number;
  /** Text for stdin (else stdin is empty). */
  input?: string;
  /** A file to open as the child's stdout (e.g. /dev/full); else stdout is captured. */
  stdoutFile?: string;
}

/**
 * Run `node dist/cli/dropsite.cjs ARGS` with only PATH, NO_COLOR, HOME and `env`. At `boundMs` the whole
 * process group is killed (nm or addr2line children included), so a hang fails its row, not the suite.
 */
export function runBounded(run: BoundedRun): Promise<BoundedResult> {
  const t0 = performance.now();
  const outFd = run.stdoutFile === undefined ? null : openSync(run.stdoutFile, 'w');
  const child = spawn(process.execPath, [CLI, ...run.args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', HOME: process.env.HOME ?? '/tmp', ...run.env },
    stdio: ['pipe', outFd ?? 'pipe', 'pipe'],
    detached: true,
  });
  if (outFd !== null) closeSync(outFd);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(run.input ?? '');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, run.boundMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, timedOut });
    });
  });
}

/** Bytes a terminal acts on: C0 except newline, DEL, C1 (tab too: printable() turns it into a space). */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

export function assertNoControl(what: string, text: string): void {
  const m = CONTROL.exec(text);
  if (m === null) return;
  const at = m.index;
  assert.fail(`${what} has a raw control character U+${m[0].charCodeAt(0).toString(16).padStart(4, '0')} near ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 40))}`);
}

/**
 * The error contract of src/cli/exit.ts: exactly one `dropsite: ` line, optionally followed by one
 * `  hint: ` line, and neither a stack trace nor an internal error. `before` lines (a writer's
 * "waiting" message) may come first when a row allows them.
 */
export function assertOneLineError(stderr: string, allowedBefore: RegExp | null = null): void {
  const lines = stderr.replace(/\n$/, '').split('\n');
  while (allowedBefore !== null && lines.length > 1 && allowedBefore.test(lines[0] ?? '')) lines.shift();
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]?.startsWith('  hint: ') === true), `stderr is not one error line (and a hint): ${JSON.stringify(stderr.slice(0, 2000))}`);
  assert.match(lines[0] ?? '', /^dropsite: /, `the error does not start with "dropsite: ": ${JSON.stringify(stderr.slice(0, 500))}`);
  assert.doesNotMatch(stderr, /internal error|\n\s+at |RangeError|TypeError/, `an internal error or a stack trace: ${JSON.stringify(stderr.slice(0, 2000))}`);
}

/** sha256 of a file, or of its absence: "earlier state unchanged" compares these. */
export function fileState(path: string): string {
  if (!existsSync(path)) return 'absent';
  const st = statSync(path);
  if (!st.isFile()) return `not a file (mode ${st.mode.toString(8)})`;
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
