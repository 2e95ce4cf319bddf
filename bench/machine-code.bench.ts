// Machine-code mode's speed: 10,000 real drop locations (the truth set's calls, repeated, in the bare
// dropwatch form) explained with --kernel after the image is loaded; the image load is timed apart.
//   node --import tsx bench/machine-code.bench.ts --db DB --truth truth-6.12.117.jsonl --kernel vmlinuz [--n 10000]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Explainer } from '../src/explain/explain.ts';
import { openForRead } from '../src/index/open.ts';
import { pickTree } from '../src/index/read.ts';
import { parseLocation } from '../src/locate/location.ts';
import { openMachineCode } from '../src/machine-code/index.ts';

const { values } = parseArgs({ options: { db: { type: 'string' }, truth: { type: 'string' }, kernel: { type: 'string' }, n: { type: 'string' } } });
if (values.db === undefined || values.truth === undefined || values.kernel === undefined) {
  console.error('usage: machine-code.bench.ts --db DB --truth TRUTH.jsonl --kernel VMLINUZ [--n 10000]');
  process.exit(2);
}
const n = Number(values.n ?? 10000);
const db = openForRead(values.db);
const tree = pickTree(db, undefined, values.db);
let t0 = performance.now();
const { code } = await openMachineCode(db, tree, { kernel: values.kernel, modules: null, kallsyms: null, moduleNames: [] });
const loadMs = performance.now() - t0;
const explainer = new Explainer(db, tree);
explainer.preload();
const truths = readFileSync(values.truth, 'utf8').split('\n').filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as { symbol: string; offset: number; kind: string }).filter((r) => r.kind === 'call');
const queries = Array.from({ length: n }, (_, i) => {
  const tr = truths[i % truths.length]!;
  return parseLocation(`${tr.symbol}+0x${tr.offset.toString(16)}`, { offsetBase: 'hex' });
});
t0 = performance.now();
let viaCode = 0;
for (const q of queries) if (explainer.explain(q, { maxCandidates: 10, code }).method === 'machine-code') viaCode++;
const explainMs = performance.now() - t0;
console.log(JSON.stringify({ locations: n, distinctFunctions: code.decodedCount, loadMs: Math.round(loadMs), explainMs: Math.round(explainMs), answeredByMachineCode: viaCode }));
db.close();
