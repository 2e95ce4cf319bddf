// How often the module lookup for locations without their module (dropwatch form) finds the truth's module, and
// what it costs: every module record of a module truth set (build-module-truth.ts) asked as `sym+hex`, with no
// module opened up front (as `dropsite explain --kernel --modules 'vxlan_xmit_one+ae9'` does).
//   node --import tsx bench/calibration/module-lookup.ts --db IDX --truth truth-…-modules.jsonl --kernel VMLINUZ --modules DIR
import { readFileSync } from 'node:fs';
import { moduleKey } from '../../src/binary/index.ts';
import type { LocationQuery } from '../../src/explain/explain.ts';
import { openForRead } from '../../src/index/open.ts';
import { pickTree } from '../../src/index/read.ts';
import { functionOfSymbol } from '../../src/locate/location.ts';
import { openMachineCode } from '../../src/machine-code/index.ts';

const args = process.argv.slice(2);
const get = (name: string): string | undefined => args[args.indexOf(name) + 1];
const db = get('--db') ?? '';
const handle = openForRead(db);
const tree = pickTree(handle, undefined, db);
const truths = readFileSync(get('--truth') ?? '', 'utf8').split('\n').filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as { symbol: string; offset: number; module?: string })
  .filter((t): t is { symbol: string; offset: number; module: string } => t.module !== undefined);
const { code } = await openMachineCode(handle, tree, { kernel: get('--kernel') ?? null, modules: get('--modules') ?? null, kallsyms: null, moduleNames: [] });
const queries: LocationQuery[] = truths.map((t) => {
  const { function: fn, isCold } = functionOfSymbol(t.symbol);
  return { input: `${t.symbol}+${t.offset.toString(16)}`, symbol: t.symbol, function: fn, isCold, offset: t.offset, size: null, module: null, reason: null, event: null };
});
const t0 = performance.now();
const problems = await code.findModules(queries);
const ms = performance.now() - t0;
const pairs = new Map(truths.map((t) => [`${t.symbol}\0${moduleKey(t.module)}`, t]));
const count = { right: 0, wrong: 0, none: 0, notLooked: 0 };
for (const t of pairs.values()) {
  const found = code.modulesFound(t.symbol);
  if (found === null) count.notLooked++;
  else if (found.length === 0) count.none++;
  else if (found.some((m) => moduleKey(m) === moduleKey(t.module))) count.right++;
  else count.wrong++;
}
console.log(`${pairs.size} function-module pairs: the truth's module found ${count.right}, only other modules ${count.wrong}, none ${count.none}, not looked up (in the image with a drop call there, or no indexed function) ${count.notLooked}`);
console.log(`${code.moduleFilesOpened()} module files opened in ${(ms / 1000).toFixed(2)} s; ${problems.length} problems`);
handle.close();
