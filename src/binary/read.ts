// Opening a binary input by path: a regular file only (a FIFO or /dev/zero would hang or never end), with
// one-line errors that name the input.
import { InputError } from '../errors.ts';
import { FileKindError, LIMITS, readRegularFile } from '../io/regular-file.ts';

export function readBinaryFile(path: string, what: string): Uint8Array {
  try {
    return readRegularFile(path, LIMITS.binary, what);
  } catch (err) {
    if (err instanceof FileKindError) throw new InputError(err.message, { cause: err });
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : err instanceof Error ? err.message : String(err);
    throw new InputError(`${what}: cannot read ${path}: ${why}`, { cause: err });
  }
}
