// Generated trees for the robustness tests: a copy of the bundled sample plus what a test adds, and
// enough filler files that `dropsite index` spreads the work over worker threads (it starts one
// thread per 2,000 files). Pathological inputs are made here, in temp dirs, never committed.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI, ROOT, fixture } from './fixture.ts';

export const THREADED_FILLER = 2100;

export function makeTree(dir: string, files: Record<string, string>, filler = THREADED_FILLER): string {
  cpSync(fixture('sample'), dir, { recursive: true });
  if (filler > 0) mkdirSync(join(dir, 'drivers', 'filler'), { recursive: true });
  for (let i = 0; i < filler; i++) writeFileSync(join(dir, 'drivers', 'filler', `f${i}.c`), `int filler_${i}(void)\n{\n\treturn ${i};\n}\n`);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

export interface TimedResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak resident set of the CLI process (all its threads), in MiB. */
  maxRssMiB: number;
}

/**
 * Run the built CLI with a time limit (a hang is a failure, not a stuck suite), reporting its peak
 * RSS: a preloaded hook prints process.resourceUsage().maxRSS when the process exits.
 */
export function runTimed(args: readonly string[], timeoutMs: number, env: Record<string, string> = {}): Promise<TimedResult> {
  const hook = join(ROOT, 'test', 'helpers', 'max-rss.cjs');
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--require', hook, CLI, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: timeoutMs, killSignal: 'SIGKILL',
      maxBuffer: 64 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const rss = /^dropsite-test-max-rss-kib (\d+)$/m.exec(stderr);
      resolve({
        code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, signal: err?.signal ?? null,
        stdout, stderr: stderr.replace(/^dropsite-test-max-rss-kib \d+\n/m, ''), ms: performance.now() - t0, maxRssMiB: rss === null ? NaN : Number(rss[1]) / 1024,
      });
    });
  });
}
