// The module that defines a function, for a location that does not name its module (dropwatch prints
// `vxlan_xmit_one+ae9` with no `[vxlan]`). kbuild puts a module's .ko in the directory of its objects or a
// parent (drivers/net/vxlan/vxlan_core.c is in drivers/net/vxlan/vxlan.ko; a single-file module mirrors the
// .c path), so the .ko files in the source file's directory and then its parents are opened, nearest first,
// and the modules of the first level that define the function are kept (the weighing picks among them by the offset).
import { basename, dirname, relative, sep } from 'node:path';
import { moduleNameOf, type ObjectFile } from '../binary/index.ts';
import { moduleKey as key, modulesOfSource, sourceLevels } from '../kernel/kbuild.ts';

export interface ModuleHit {
  /** The .ko file, and its module name (the file name without .ko and its compression). */
  file: string;
  module: string;
  /** The indexed source file that led to it. */
  source: string;
  obj: ObjectFile;
}

export interface ModuleSearch {
  hits: ModuleHit[];
  /** How many module files were opened for this search (already opened ones included). */
  opened: number;
}

/** The source tree directory a module file sits in: its folder below `dir`, from after the first `kernel/` (or `updates/`, `extra/`) on. */
export function treeDirOf(dir: string, file: string): string {
  const rel = dirname(relative(dir, file)).split(sep).join('/');
  // The first such folder: lib/modules/VERSION/kernel/kernel/bpf holds the modules of the tree's kernel/bpf.
  return rel === '.' ? '' : rel.replace(/^(?:[^/]+\/)*?(?:kernel|updates|extra)(?:\/|$)/, '');
}

export class ModuleFinder {
  private readonly byDir = new Map<string, string[]>();
  /** Per module file: the names of the functions it defines (its object is kept only where it is used). */
  private readonly names = new Map<string, Set<string> | null>();

  private readonly open: (file: string) => Promise<ObjectFile | null>;
  private readonly makefile: (dir: string) => readonly string[] | null;

  /** `makefile` reads the indexed tree's `DIR/Makefile` (null when there is none): it names the module to open first. */
  constructor(dir: string, files: Iterable<string>, open: (file: string) => Promise<ObjectFile | null>, makefile: (dir: string) => readonly string[] | null = () => null) {
    this.open = open;
    this.makefile = makefile;
    for (const f of files) {
      const d = treeDirOf(dir, f);
      const list = this.byDir.get(d);
      if (list === undefined) this.byDir.set(d, [f]);
      else list.push(f);
    }
    for (const list of this.byDir.values()) list.sort();
  }

  /** How many module files have been opened so far. */
  openedCount(): number {
    return this.names.size;
  }

  /** Whether a module file defines a function of that name (opening it the first time). */
  private async defines(file: string, symbol: string): Promise<ObjectFile | null> {
    const known = this.names.get(file);
    if (known === null || (known !== undefined && !known.has(symbol))) return null;
    const obj = await this.open(file);
    if (obj === null) {
      this.names.set(file, null);
      return null;
    }
    if (known === undefined) this.names.set(file, new Set(obj.functions().map((f) => f.name)));
    return this.names.get(file)?.has(symbol) === true ? obj : null;
  }

  /** The modules that define `symbol`, found from the source files the index has a function of that name in. */
  async find(symbol: string, sources: readonly string[]): Promise<ModuleSearch> {
    const hits: ModuleHit[] = [];
    const seen = new Set<string>();
    const opened = new Set<string>();
    for (const source of sources) {
      const stem = basename(source).replace(/\.[^.]*$/, '');
      const levels = sourceLevels(source);
      // What the nearest Makefile that names the object links it into, or the object itself: a single-file
      // module (drivers/net/dummy.c → dummy.ko).
      const named = new Set([...modulesOfSource(source, this.makefile), stem].map(key));
      for (const level of levels) {
        const here = this.byDir.get(level) ?? [];
        const ordered = [...here.filter((f) => named.has(key(moduleNameOf(f)))), ...here.filter((f) => !named.has(key(moduleNameOf(f))))];
        let found = false;
        let foundNamed = false;
        for (const file of ordered) {
          // The source's own modules (an object linked into two has both); otherwise every module of the level that defines it
          // (lio_main.c and lio_vf_main.c are both in drivers/net/ethernet/cavium/liquidio: liquidio.ko, liquidio_vf.ko).
          if (foundNamed && !named.has(key(moduleNameOf(file)))) break;
          opened.add(file);
          const obj = await this.defines(file, symbol);
          if (obj === null) continue;
          found = true;
          foundNamed ||= named.has(key(moduleNameOf(file)));
          if (!seen.has(file)) {
            seen.add(file);
            hits.push({ file, module: moduleNameOf(file), source, obj });
          }
        }
        if (found) break;
      }
    }
    return { hits, opened: opened.size };
  }
}
