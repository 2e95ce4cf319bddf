// Which translation unit holds a function: the index's definition when it is in a .c file; else
// (an out-of-line copy of a header inline, a function the index does not list) the .c file of its
// neighbours in a symbol map, which the linker keeps together; else the .c files that name it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { LIMITS, readRegularText } from '../io/regular-file.ts';
import type { SymbolMap } from '../locate/kallsyms.ts';
import { functionOfSymbol } from '../locate/location.ts';

/** What units.ts reads of the index: definitions by name. */
export interface DefinitionSource {
  functionRecords(name: string): ReadonlyArray<{ file: string }>;
}

const isC = (f: string): boolean => f.endsWith('.c');
/** At most this many files are built for one function whose file is not known for sure. */
const MAX_GUESSES = 3;

function cFilesOf(defs: DefinitionSource, name: string): string[] {
  return [...new Set(defs.functionRecords(name).map((r) => r.file).filter(isC))];
}

/** The .c files of the symbols around `symbol` in the map (same module), most frequent first. */
export function neighbourFiles(map: SymbolMap, defs: DefinitionSource, symbol: string, module: string | null): string[] {
  const at = map.byName.get(symbol)?.find((s) => s.module === module) ?? map.byName.get(symbol)?.[0];
  if (at === undefined) return [];
  const i = map.symbols.indexOf(at);
  const votes = new Map<string, number>();
  for (let d = 1; d <= 6; d++) {
    for (const j of [i - d, i + d]) {
      const s = map.symbols[j];
      if (s === undefined || s.module !== at.module) continue;
      const files = cFilesOf(defs, functionOfSymbol(s.name).function);
      // A name defined in one file only is a clear vote; shared static names are not.
      if (files.length === 1) votes.set(files[0] as string, (votes.get(files[0] as string) ?? 0) + 1 / d);
    }
  }
  return [...votes].sort((a, b) => b[1] - a[1]).map(([f]) => f).slice(0, 1);
}

/** .c files of the tree that mention `name` as a word (grep, argument array). */
export function filesNaming(tree: string, name: string): Promise<string[]> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return Promise.resolve([]);
  return new Promise((resolve) => {
    execFile('grep', ['-rlwF', '--include=*.c', '-e', name, '.'], { cwd: tree, maxBuffer: 1 << 24, encoding: 'utf8', timeout: 60_000 }, (_err, stdout) => {
      resolve(String(stdout ?? '').split('\n').filter((l) => l !== '').map((l) => l.replace(/^\.\//, '')).sort());
    });
  });
}

/**
 * gcc emits an out-of-line copy of an inline function where its address is taken (`dst->input =
 * dst_discard`): files that name it without calling it come first. Only the first files are read.
 */
function addressTakenFirst(tree: string, files: readonly string[], name: string): string[] {
  const taken = new RegExp(`\\b${name}\\b(?!\\s*\\()`);
  const score = new Map<string, number>();
  for (const f of files.slice(0, 50)) {
    try {
      score.set(f, taken.test(readRegularText(join(tree, f), LIMITS.source)) ? 0 : 1);
    } catch {
      score.set(f, 2);
    }
  }
  return [...files].sort((a, b) => (score.get(a) ?? 3) - (score.get(b) ?? 3));
}

export interface UnitChoice {
  files: string[];
  /** How the files were found, for the notes. */
  how: 'index' | 'neighbours' | 'search' | 'none';
}

/** The .c files whose objects may hold `symbol`'s code. */
export async function unitsFor(tree: string, defs: DefinitionSource, symbol: string, module: string | null, map: SymbolMap | null): Promise<UnitChoice> {
  const fn = functionOfSymbol(symbol).function;
  const own = cFilesOf(defs, fn);
  if (own.length > 0) {
    if (own.length > 1 && map !== null) {
      // Static names repeat across files: the map's neighbours say which one this symbol is.
      const near = neighbourFiles(map, defs, symbol, module);
      if (near.length > 0 && own.includes(near[0] as string)) return { files: near, how: 'neighbours' };
    }
    return { files: own.slice(0, MAX_GUESSES + 1), how: 'index' };
  }
  if (map !== null) {
    const near = neighbourFiles(map, defs, symbol, module);
    if (near.length > 0) return { files: near, how: 'neighbours' };
  }
  const named = await filesNaming(tree, fn);
  return named.length > 0 ? { files: addressTakenFirst(tree, named, fn).slice(0, MAX_GUESSES), how: 'search' } : { files: [], how: 'none' };
}
