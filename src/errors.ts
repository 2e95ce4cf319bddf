// Every error dropsite reports on purpose. Only cli/ prints them and picks exit codes.

export class DropsiteError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** The command line was wrong. */
export class UsageError extends DropsiteError {}
/** An input (tree, file, location) was not what the command expects. */
export class InputError extends DropsiteError {}
/** The index database is missing, locked, read-only or from another schema. */
export class IndexError extends DropsiteError {}
/** Live capture could not start or stop cleanly. */
export class CaptureError extends DropsiteError {}
/** The output could not be written (stdout on a full disk, a report file). */
export class OutputError extends DropsiteError {}

/** The errno code of a Node error (`ENOENT`, `EPIPE`), or ''. */
export const errnoCode = (err: unknown): string => (typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '');
