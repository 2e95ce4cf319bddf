// The shipped code a rebuilt function is checked against: the kernel image (--kernel: a vmlinuz or
// vmlinux, read by src/binary) for vmlinux functions, the module's .ko (--modules DIR) for a
// location that names its module. Also gives a symbol map of the image for units.ts.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareCode, loadKernelImage, loadModule, loadObject, type KernelImage, type ObjectFile } from '../binary/index.ts';
import type { LocationQuery } from '../explain/explain.ts';
import type { KernelSymbol, SymbolMap } from '../locate/kallsyms.ts';
import type { ShippedCode } from './index.ts';
import type { ObjectSymbol } from './lines.ts';

export interface ShippedKernel {
  image: KernelImage | null;
  /** The image's function symbols as a symbol map (neighbours, sizes), or null without --kernel. */
  symbolMap: SymbolMap | null;
  lookup: (q: LocationQuery) => Promise<ShippedCode | null>;
}

/** Module files under a folder by module name (`br_netfilter` and `br-netfilter` are one name), found lazily. */
function moduleIndex(dir: string): () => Map<string, string> {
  let found: Map<string, string> | null = null;
  return () => {
    if (found !== null) return found;
    found = new Map();
    const walk = (d: string, depth: number): void => {
      if (depth > 12) return;
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isDirectory()) walk(join(d, e.name), depth + 1);
        else if (e.isFile()) {
          const m = /^(.+)\.ko(?:\.(?:xz|gz|zst))?$/.exec(e.name);
          if (m?.[1] !== undefined && !found?.has(m[1].replace(/-/g, '_'))) found?.set(m[1].replace(/-/g, '_'), join(d, e.name));
        }
      }
    };
    walk(dir, 0);
    return found;
  };
}

function imageSymbolMap(image: KernelImage): SymbolMap {
  const all: KernelSymbol[] = [];
  for (const [name, list] of image.symbols()) for (const s of list) all.push({ name, address: s.address, type: 't', module: null, size: s.size });
  all.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const byName = new Map<string, KernelSymbol[]>();
  for (const s of all) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  return { symbols: all, byName, allZero: false, skippedCount: 0, firstSkipped: null };
}

export async function openShipped(opts: { kernel?: string | undefined; modules?: string | undefined; kallsymsText?: string | undefined }): Promise<ShippedKernel> {
  const image = opts.kernel === undefined ? null : await loadKernelImage(opts.kernel, { what: '--kernel', ...(opts.kallsymsText !== undefined ? { kallsyms: opts.kallsymsText } : {}) });
  const modules = opts.modules === undefined ? null : moduleIndex(opts.modules);
  const loaded = new Map<string, Promise<ObjectFile | null>>();
  const rebuiltObjects = new Map<string, ObjectFile>();
  const rebuilt = (path: string): ObjectFile => {
    let o = rebuiltObjects.get(path);
    if (o === undefined) rebuiltObjects.set(path, (o = loadObject(path, 'rebuilt object')));
    return o;
  };
  const moduleFile = (name: string): Promise<ObjectFile | null> => {
    const key = name.replace(/-/g, '_');
    let p = loaded.get(key);
    if (p === undefined) {
      const path = modules?.().get(key);
      p = path === undefined ? Promise.resolve(null) : loadModule(path, '--modules');
      loaded.set(key, p);
    }
    return p;
  };
  return {
    image,
    symbolMap: image === null ? null : imageSymbolMap(image),
    lookup: async (q) => {
      const pick = q.size !== null ? { size: q.size } : {};
      const code = q.module !== null
        ? (await moduleFile(q.module))?.functionCode(q.symbol, pick) ?? null
        : image?.functionCode(q.symbol, pick) ?? null;
      if (code === null) return null;
      return {
        size: code.size,
        compare: async (objectPath: string, sym: ObjectSymbol) => {
          const mine = rebuilt(objectPath).functionCode(sym.name, { size: sym.size });
          if (mine === null) return { identical: false, mapOffset: () => null, summary: `the rebuilt object has no ${sym.name}` };
          const c = compareCode(code, mine);
          return { identical: c.identical, mapOffset: (off: number) => c.mapOffset(off), summary: c.summary };
        },
      };
    },
  };
}
