// Paths to fixtures and the built CLI, and a runner for the real binary.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Explanation } from '../../src/model.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const fixture = (...parts: string[]): string => [ROOT.replace(/\/$/, ''), 'fixtures', ...parts].join('/');
export const CLI = `${ROOT.replace(/\/$/, '')}/dist/cli/dropsite.cjs`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built binary with only PATH and NO_COLOR in its environment, as a user's shell would. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', HOME: process.env.HOME ?? '/tmp', ...env },
      maxBuffer: 256 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `dropsite explain --db DB --json ARGS…`, which must succeed: its explanations. */
export async function explainJsonIn(db: string, args: readonly string[]): Promise<Explanation[]> {
  const r = await runCli(['explain', '--db', db, '--json', ...args]);
  if (r.code !== 0) throw new Error(`explain ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Explanation[];
}
