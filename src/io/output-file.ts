// Every file dropsite writes besides the index (a report, watch's final report) goes through here.
// The path is checked before any work is done (so a capture is never lost to a bad -o), it must not
// be one of the command's inputs (compared by device and inode, so a symlink or a hard link to the
// recording or the index is caught), and the text goes to a temporary file in the same folder that
// is renamed over the target: a full disk or a kill leaves the previous file as it was.
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, fchmodSync, fchownSync, fsyncSync, lstatSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errnoCode, OutputError } from '../errors.ts';
import { kindOf } from './regular-file.ts';

/** A file the command reads, named for the error message ("the recording", "the index"). */
export interface NamedInput {
  path: string;
  what: string;
}

/** A write error in words: the errno codes a user meets when writing a file or stdout. */
export function describeWriteError(err: unknown): string {
  const code = errnoCode(err);
  if (code === 'ENOSPC') return 'no space left on device';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'EIO') return 'input/output error';
  return err instanceof Error ? err.message : String(err);
}

interface Target {
  /** Where the text goes: the symlink's target when `path` is a symlink (written through, as the index is). */
  real: string;
  /** The existing file, if any: its mode and owner are kept. */
  existing: Stats | null;
}

/**
 * Checks `path` as an output of a command that reads `inputs`, and returns where to write. Throws an
 * OutputError naming `what` (`--output`) when the folder is missing or not writable, the path is a
 * directory or a special file, or it is one of the inputs.
 */
export function checkOutputPath(path: string, inputs: readonly NamedInput[], what = '--output'): Target {
  const fail = (msg: string, hint?: string): OutputError => new OutputError(`${what} ${path}: ${msg}`, hint === undefined ? {} : { hint });
  let real = path;
  let existing: Stats | null = null;
  try {
    if (lstatSync(path).isSymbolicLink()) real = realpathSync(path);
    existing = statSync(real);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw fail(describeWriteError(err));
    if (real !== path || lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true) throw fail('a symlink to nothing');
  }
  if (existing !== null) {
    if (!existing.isFile()) throw fail(`is ${kindOf(existing.mode)}, expected a regular file`, 'give a file path, or leave out -o to write to stdout');
    for (const input of inputs) {
      const st = statSync(input.path, { throwIfNoEntry: false });
      if (st !== undefined && st.dev === existing.dev && st.ino === existing.ino) {
        throw fail(`is ${input.what} (${input.path}), which this command reads: refusing to overwrite it`, 'give another output file');
      }
    }
  }
  const folder = dirname(real);
  try {
    if (!statSync(folder).isDirectory()) throw fail(`${folder} is not a directory`);
    accessSync(folder, constants.W_OK);
  } catch (err) {
    if (err instanceof OutputError) throw err;
    throw fail(`cannot write in ${folder}: ${describeWriteError(err)}`);
  }
  return { real, existing };
}

/** Writes `text` to `path` by way of a temporary file renamed into place (see checkOutputPath). */
export function writeOutputFile(path: string, text: string, inputs: readonly NamedInput[], what = '--output'): void {
  const { real, existing } = checkOutputPath(path, inputs, what);
  const tmp = join(dirname(real), `.${basename(real)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, existing === null ? 0o666 : existing.mode & 0o7777);
    if (existing !== null) {
      fchmodSync(fd, existing.mode & 0o7777);
      // Root rewriting a user's report keeps the user as its owner (only root may chown; others keep theirs).
      if (process.getuid?.() === 0) fchownSync(fd, existing.uid, existing.gid);
    }
    const data = Buffer.from(text);
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, real);
  } catch (err) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw new OutputError(`cannot write ${path}: ${describeWriteError(err)}${existing !== null ? '; the previous file is unchanged' : ''}`);
  }
}
