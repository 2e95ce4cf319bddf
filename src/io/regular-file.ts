// Every file dropsite opens by a path it was given or a fixed path inside a tree goes through here:
// it must be a regular file (a FIFO, a device or a directory would hang or flood the reader) and no
// larger than a bound the caller names. Opened with O_NONBLOCK so that a FIFO swapped in after the
// check cannot block the open; the open descriptor is checked again (fstat), which closes that race.
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, type ReadStream } from 'node:fs';
import { InputError } from '../errors.ts';

/** An input that is not a regular file, or is too large: an InputError, so the CLI prints it as one line. */
export class FileKindError extends InputError {}

const MiB = 1024 * 1024;
/** Bounds for the kinds of file dropsite reads; generous for real inputs, small for attacks. */
export const LIMITS = {
  /** A top Makefile, a .git/HEAD or ref, a config: small text files. */
  small: 4 * MiB,
  /** One source file of a tree. */
  source: 64 * MiB,
  /** A symbol map (a real /proc/kallsyms is about 20 MB). */
  symbols: 512 * MiB,
  /** A kernel image, a module or a vmlinux with debug info. */
  binary: 4096 * MiB,
  /** A recording (streamed, so the bound only stops a runaway; a day of busy tracefs is a few GB). */
  recording: 1024 * 1024 * MiB,
} as const;

/** What a file of this mode is, for messages: 'a directory', 'a FIFO', …. */
export function kindOf(mode: number): string {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFDIR: return 'a directory';
    case constants.S_IFIFO: return 'a FIFO';
    case constants.S_IFCHR: return 'a character device';
    case constants.S_IFBLK: return 'a block device';
    case constants.S_IFSOCK: return 'a socket';
    default: return 'not a regular file';
  }
}

/**
 * Opens `path` for reading after checking that it is a regular file of at most `maxBytes`.
 * Returns the descriptor and the size; throws FileKindError naming `what` (e.g. "--kallsyms")
 * otherwise. The caller closes the descriptor.
 */
export function openRegularFile(path: string, maxBytes: number, what = path): { fd: number; size: number } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileKindError(`${what}: ${path} is ${kindOf(st.mode)}, expected a regular file`);
    if (st.size > maxBytes) throw new FileKindError(`${what}: ${path} is ${st.size} bytes, more than the ${maxBytes}-byte limit for this kind of file`);
    return { fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Reads a whole regular file of at most `maxBytes` (see openRegularFile). */
export function readRegularFile(path: string, maxBytes: number, what = path): Buffer {
  const { fd, size } = openRegularFile(path, maxBytes, what);
  try {
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** readRegularFile as text (latin1 keeps every byte of kernel sources). */
export function readRegularText(path: string, maxBytes: number, what = path, encoding: BufferEncoding = 'latin1'): string {
  return readRegularFile(path, maxBytes, what).toString(encoding);
}

/** A text stream of a checked regular file (see openRegularFile), for inputs read line by line. */
export function openRegularStream(path: string, maxBytes: number, what = path): ReadStream {
  const { fd } = openRegularFile(path, maxBytes, what);
  return createReadStream('', { fd, encoding: 'utf8', highWaterMark: 1 << 16 });
}
