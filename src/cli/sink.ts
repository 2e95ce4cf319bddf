// The only writer to stdout and stderr. Large outputs go through the stream (a single
// process.stdout.write of more than 64 kB can be cut short when piped and the process exits).
import { printable } from '../report/terminal-text.ts';

import { errnoCode, OutputError } from '../errors.ts';
import { describeWriteError } from '../io/output-file.ts';

/**
 * Output errors. A reader that went away (`dropsite sites --json | head`, EPIPE) is not an error: writing
 * stops quietly and the command exits 0, as it would had the reader read everything (the reader chose to
 * stop). Any other failure (`> /dev/full`: ENOSPC, EIO) is an OutputError: one line, exit 1. The stream
 * also emits the error as an event, which must not become an uncaught exception with a stack trace.
 */
let stdoutClosed = false;
let stdoutFailed: OutputError | null = null;

function outputError(err: unknown): OutputError {
  const code = errnoCode(err);
  const why = describeWriteError(err);
  return new OutputError(`cannot write to standard output: ${why}${code !== '' && !why.includes(code) ? ` (${code})` : ''}`, { hint: 'free some space or redirect the output elsewhere' });
}

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') stdoutClosed = true;
  else stdoutFailed ??= outputError(err);
});
// Nowhere left to report a failure of stderr itself.
process.stderr.on('error', () => undefined);

/** Writes `text` (a newline added) to stdout, waiting until it is handed to the OS; throws OutputError. */
export async function writeOut(text: string): Promise<void> {
  await writeChunk(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

/** Writes `data` as it is: one piece of a longer output, written as it is made. */
export async function writeChunk(data: string): Promise<void> {
  if (stdoutClosed) return;
  if (stdoutFailed !== null) throw stdoutFailed;
  await new Promise<void>((resolve, reject) => {
    process.stdout.write(data, (err) => {
      if (err === null || err === undefined) resolve();
      else if (errnoCode(err) === 'EPIPE') {
        stdoutClosed = true;
        resolve();
      } else reject((stdoutFailed ??= outputError(err)));
    });
  });
}

/** Whether stdout's reader went away: long-running commands (watch) stop redrawing. */
export const isStdoutClosed = (): boolean => stdoutClosed;

/**
 * Diagnostics: every line goes through `printable`, since errors and warnings quote paths, file names
 * and log text (a hostile name must not drive the terminal). Line breaks between lines are kept.
 */
export function writeErr(text: string): void {
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  process.stderr.write(`${body.split('\n').map(printable).join('\n')}\n`);
}

export const isTty = (): boolean => process.stderr.isTTY === true && process.env.NO_COLOR === undefined;

/** A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal. */
export function progressBar(label: string): { update(done: number, total: number, note?: string): void; end(): void } {
  const enabled = process.stderr.isTTY === true;
  const start = performance.now();
  let last = 0;
  return {
    update(done, total, note) {
      if (!enabled) return;
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const secs = (now - start) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const eta = rate > 0 && done < total ? `ETA ${Math.ceil((total - done) / rate)}s` : '';
      const width = 24;
      const filled = total > 0 ? Math.round((done / total) * width) : 0;
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      process.stderr.write(`\r${label} [${bar}] ${done}/${total} files  ${Math.round(rate)}/s  ${eta} ${note ?? ''}\u001b[K`);
    },
    end() {
      if (enabled) process.stderr.write('\r\u001b[K');
    },
  };
}
