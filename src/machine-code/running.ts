// The running kernel's machine code, for live drops (watch). An image file is used only when it is the running
// kernel: its GNU build-id must equal the one the running kernel exports in its notes (/sys/kernel/notes, its
// own `.notes`). Code of another build would rank the sites by instructions that are not the ones that ran,
// with evidence that looks just as sure, so a mismatch is refused before any capture starts. The running
// kernel's memory (/proc/kcore, named by /proc/kallsyms; KASLR slide from `_text`) is used only when asked
// for with `--kernel /proc/kcore`: its code is what the kernel patched at run time.
import { closeSync, existsSync, readSync } from 'node:fs';
import { buildIdFromNotes, loadKernelImage } from '../binary/index.ts';
import { errnoCode, InputError } from '../errors.ts';
import type { Db } from '../index/open.ts';
import type { TreeRow } from '../index/read.ts';
import { LIMITS, openRegularFile, readRegularFile } from '../io/regular-file.ts';
import { isElfCore } from './code-image.ts';
import { openMachineCode, type MachineCode } from './index.ts';

export const RUNNING_NOTES = '/sys/kernel/notes';
export const RUNNING_KALLSYMS = '/proc/kallsyms';
export const KCORE = '/proc/kcore';

export interface RunningCodeOptions {
  /** A vmlinuz/vmlinux of the running kernel, or its memory (/proc/kcore); null for modules only. */
  kernel: string | null;
  modules: string | null;
  /** The running kernel's notes (default /sys/kernel/notes). Tests give the `.notes` of an image instead. */
  notesPath?: string;
  /** The running kernel's kallsyms, for an ELF core (default /proc/kallsyms). */
  kallsymsPath?: string;
}

export interface RunningCode {
  code: MachineCode;
  /** What was checked, for a line on stderr ("--kernel F is the running kernel (build-id …)"). */
  checked: string | null;
  problems: string[];
}

/** A /proc text file: its size reads as 0, so it is read to its end (bounded), not by its size. */
function readProcText(path: string, max: number, what: string): string {
  const { fd } = openRegularFile(path, max, what);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(1 << 20);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > max) throw new InputError(`${what}: ${path} is larger than ${max} bytes`);
    }
    return Buffer.concat(chunks).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** The running kernel's GNU build-id from its notes file. Throws InputError when it cannot be read. */
export function runningBuildId(notesPath: string = RUNNING_NOTES): string {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(notesPath, LIMITS.small, 'the running kernel\'s notes');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const why = errnoCode(err) === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
    throw new InputError(`cannot read the running kernel's build-id from ${notesPath}: ${why}`, { hint: 'without it an image cannot be checked to be the running kernel; leave --kernel out to rank from source' });
  }
  const id = buildIdFromNotes(bytes);
  if (id === null) throw new InputError(`${notesPath} holds no GNU build-id note`, { hint: 'the kernel was built without --build-id; leave --kernel out to rank from source' });
  return id;
}

/** The machine code of the running kernel for watch; throws InputError (one line) when it is not to be trusted. */
export async function openRunningCode(db: Db, tree: TreeRow, opts: RunningCodeOptions): Promise<RunningCode> {
  const kernel = opts.kernel;
  if (kernel !== null && !existsSync(kernel)) {
    const why = kernel === KCORE ? 'this kernel has no /proc/kcore (CONFIG_PROC_KCORE is off, or /proc is restricted)' : 'no such file';
    throw new InputError(`--kernel ${kernel}: ${why}; give the running kernel's vmlinuz, or leave --kernel out to rank from source`);
  }
  if (kernel !== null && isElfCore(kernel)) {
    const kallsymsPath = opts.kallsymsPath ?? RUNNING_KALLSYMS;
    const kallsyms = readProcText(kallsymsPath, LIMITS.symbols, 'the running kernel\'s kallsyms');
    const { code, problems } = await openMachineCode(db, tree, { kernel, modules: opts.modules, kallsyms, moduleNames: [] });
    return { code, problems, checked: `--kernel ${kernel}: the running kernel's memory, named by ${kallsymsPath}` };
  }
  if (kernel === null) {
    const { code, problems } = await openMachineCode(db, tree, { kernel: null, modules: opts.modules, kallsyms: null, moduleNames: [] });
    return { code, problems, checked: null };
  }
  const image = await loadKernelImage(kernel, { what: '--kernel' });
  const notesPath = opts.notesPath ?? RUNNING_NOTES;
  const running = runningBuildId(notesPath);
  if (image.buildId === null) {
    throw new InputError(`--kernel ${kernel} has no build-id note, so it cannot be checked against the running kernel's (${running})`, { hint: 'give the running kernel\'s vmlinuz, or --kernel /proc/kcore' });
  }
  if (image.buildId !== running) {
    throw new InputError(`--kernel ${kernel} is not the running kernel: its build-id is ${image.buildId}, the running kernel's (${notesPath}) is ${running}; give the running kernel's vmlinuz, or --kernel /proc/kcore, or leave --kernel out to rank from source`);
  }
  const { code, problems } = await openMachineCode(db, tree, { kernel, modules: opts.modules, kallsyms: null, moduleNames: [], loaded: image });
  return { code, problems, checked: `--kernel ${kernel} is the running kernel (build-id ${running})` };
}
