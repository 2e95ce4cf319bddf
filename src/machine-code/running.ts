// The running kernel's machine code, for live drops (watch). An image file is used only when it is the running
// kernel: its GNU build-id must equal the one the running kernel exports in its notes (/sys/kernel/notes, its
// own `.notes`). Code of another build would rank the sites by instructions that are not the ones that ran,
// with evidence that looks just as sure, so a mismatch is refused before any capture starts. The running
// kernel's memory (/proc/kcore, named by /proc/kallsyms; KASLR slide from `_text`) is used only when asked
// for with `--kernel /proc/kcore`: its code is what the kernel patched at run time. A module's `.ko` is used
// only when its build-id equals the loaded module's (/sys/module/NAME/notes/.note.gnu.build-id); a module
// of another build ranks its rows from source, with a warning naming both ids.
import { closeSync, existsSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { buildIdFromNotes, buildIdOf, findModuleFiles, loadKernelImage, loadModule, moduleKey } from '../binary/index.ts';
import type { CodeEvidence } from '../explain/explain.ts';
import { errnoCode, InputError } from '../errors.ts';
import type { Db } from '../index/open.ts';
import type { TreeRow } from '../index/read.ts';
import { LIMITS, openRegularFile, readRegularFile } from '../io/regular-file.ts';
import { isElfCore } from './code-image.ts';
import { openMachineCode, type MachineCode, type ModuleLoading } from './index.ts';

export const RUNNING_NOTES = '/sys/kernel/notes';
export const RUNNING_KALLSYMS = '/proc/kallsyms';
export const KCORE = '/proc/kcore';
export const RUNNING_MODULES = '/sys/module';

export interface RunningCodeOptions {
  /** A vmlinuz/vmlinux of the running kernel, or its memory (/proc/kcore); null for modules only. */
  kernel: string | null;
  modules: string | null;
  /** The running kernel's notes (default /sys/kernel/notes). Tests give the `.notes` of an image instead. */
  notesPath?: string;
  /** The running kernel's kallsyms, for an ELF core (default /proc/kallsyms). */
  kallsymsPath?: string;
  /** Where the loaded modules' notes are (default /sys/module; NAME/notes/.note.gnu.build-id). */
  sysModulePath?: string;
}

export interface RunningCode {
  /** The machine code; `loadModules` opens only the modules whose build-id is the loaded module's. */
  code: CodeEvidence & ModuleLoading;
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
    return { code: checkModules(code, opts), problems, checked: `--kernel ${kernel}: the running kernel's memory, named by ${kallsymsPath}` };
  }
  if (kernel === null) {
    const { code, problems } = await openMachineCode(db, tree, { kernel: null, modules: opts.modules, kallsyms: null, moduleNames: [] });
    return { code: checkModules(code, opts), problems, checked: null };
  }
  // The running kernel's id first: without it the image (seconds to decompress) cannot be used anyway.
  const notesPath = opts.notesPath ?? RUNNING_NOTES;
  const running = runningBuildId(notesPath);
  const image = await loadKernelImage(kernel, { what: '--kernel' });
  if (image.buildId === null) {
    throw new InputError(`--kernel ${kernel} has no build-id note, so it cannot be checked against the running kernel's (${running})`, { hint: 'give the running kernel\'s vmlinuz, or --kernel /proc/kcore' });
  }
  if (image.buildId !== running) {
    throw new InputError(`--kernel ${kernel} is not the running kernel: its build-id is ${image.buildId}, the running kernel's (${notesPath}) is ${running}; give the running kernel's vmlinuz, or --kernel /proc/kcore, or leave --kernel out to rank from source`);
  }
  const { code, problems } = await openMachineCode(db, tree, { kernel, modules: opts.modules, kallsyms: null, moduleNames: [], loaded: image });
  return { code: checkModules(code, opts), problems, checked: `--kernel ${kernel} is the running kernel (build-id ${running})` };
}

/** The machine code with a build-id check in front of each module it opens (once per module). */
function checkModules(code: MachineCode, opts: RunningCodeOptions): RunningCode['code'] {
  const dir = opts.modules;
  const sys = opts.sysModulePath ?? RUNNING_MODULES;
  const verdict = new Map<string, string | null>();
  let files: Map<string, string> | null = null;
  const check = async (name: string, at?: string): Promise<string | null> => {
    const key = moduleKey(name);
    const notes = join(sys, key, 'notes', '.note.gnu.build-id');
    // Not loaded (or built in): no notes to compare, and nothing of it runs; MachineCode says if no .ko is found.
    if (dir === null || !existsSync(notes)) return null;
    files ??= findModuleFiles(dir);
    const file = at ?? files.get(key);
    if (file === undefined) return null;
    let running: string | null;
    try {
      running = buildIdFromNotes(readRegularFile(notes, LIMITS.small, 'module notes'));
    } catch {
      return null;
    }
    let mine: string | null;
    try {
      mine = buildIdOf((await loadModule(file)).elf);
    } catch {
      return null; // MachineCode reports the unreadable file itself
    }
    if (running === null || mine === running) return null;
    return `module ${name}: ${file} is not the loaded module (build-id ${mine ?? 'none'}, the loaded module's (${notes}) is ${running}): its rows rank from source`;
  };
  return {
    weigh: (loc, sites) => code.weigh(loc, sites),
    remarks: (loc) => code.remarks(loc),
    findModules: async (queries) => {
      const problems = await code.findModules(queries);
      for (const f of code.foundModules()) {
        if (verdict.has(f.file)) continue;
        const why = await check(f.module, f.file);
        verdict.set(f.file, why);
        if (why !== null) {
          problems.push(why);
          code.rejectFound(f.file);
        }
      }
      return problems;
    },
    loadModules: async (names) => {
      const problems: string[] = [];
      const ok: string[] = [];
      for (const n of new Set(names)) {
        if (!verdict.has(n)) {
          const why = await check(n);
          verdict.set(n, why);
          if (why !== null) problems.push(why);
        }
        if (verdict.get(n) === null) ok.push(n);
      }
      return [...problems, ...await code.loadModules(ok)];
    },
  };
}
