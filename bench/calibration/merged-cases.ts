// Drop calls whose block gcc merged from several identical sites (cross-jumping, tail merging), listed for the
// tune half of a calibration set: the truth line, the sites that free the same way with no drop call of their
// own in the truth (their code went into this call), the paths into the merged block and, with --debug, the
// line the debug info gives each path's last instruction (addr2line -i on the -dbg objects: truth only, as
// everywhere in bench/calibration). One JSON line per case on stdout.
//   node --import tsx bench/calibration/merged-cases.ts --db DB --truth T.jsonl --kernel VMLINUZ [--modules DIR]
//        [--debug DBGROOT] [--half tune|report|all]
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Explainer, isGenericDropApi, type LocationQuery } from '../../src/explain/explain.ts';
import { openForRead } from '../../src/index/open.ts';
import { listApis, pickTree } from '../../src/index/read.ts';
import { openMachineCode } from '../../src/machine-code/index.ts';
import { parseLocation, functionOfSymbol } from '../../src/locate/location.ts';
import { halfOf, trueSite } from './evaluate.ts';
import type { Insn } from '../../src/machine-code/decode.ts';

interface Frame { function: string; file: string; line: number }
interface Truth { symbol: string; offset: number; size: number; kind: string; location: string; address: string; section?: string; module?: string; reason: string | null; event: string; chain: Frame[] }

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const db = opt('--db');
const truthFile = opt('--truth');
const kernel = opt('--kernel');
const modules = opt('--modules');
const debugRoot = opt('--debug');
const wanted = opt('--half') ?? 'tune';
if (db === undefined || truthFile === undefined || kernel === undefined) {
  console.error('usage: merged-cases.ts --db DB --truth T.jsonl --kernel VMLINUZ [--modules DIR] [--debug DBGROOT] [--half tune|report|all]');
  process.exit(2);
}

const handle = openForRead(db);
const tree = pickTree(handle, undefined, db);
const explainer = new Explainer(handle, tree);
const truths = readFileSync(truthFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Truth);
const moduleNames = [...new Set(truths.flatMap((t) => (t.module === undefined ? [] : [t.module])))];
const opened = await openMachineCode(handle, tree, { kernel, modules: modules ?? null, kallsyms: null, moduleNames });
const code = opened.code;
const linesOf = new Map<string, Set<string>>();
for (const t of truths) {
  const s = linesOf.get(t.symbol) ?? new Set<string>();
  for (const f of t.chain) s.add(`${f.file}:${f.line}`);
  linesOf.set(t.symbol, s);
}
const apis = new Set(listApis(handle, tree.id).filter(isGenericDropApi).map((a) => a.name));

const objects = new Map<string, string | null>();
function debugObject(t: Truth): string | null {
  const key = t.module ?? '';
  if (!objects.has(key)) objects.set(key, findDebugObject(t));
  return objects.get(key) ?? null;
}
function findDebugObject(t: Truth): string | null {
  if (debugRoot === undefined) return null;
  if (t.module === undefined) {
    const f = execFileSync('find', [`${debugRoot}/usr/lib/debug/boot`, '-name', 'vmlinux-*'], { encoding: 'utf8' }).trim().split('\n')[0];
    return f ?? null;
  }
  const name = `${t.module.replace(/-/g, '_')}.ko`;
  const found = execFileSync('find', [`${debugRoot}/usr/lib/debug/lib/modules`, '-name', name, '-o', '-name', `${t.module}.ko`], { encoding: 'utf8' }).trim().split('\n')[0];
  return found !== undefined && found !== '' && existsSync(found) ? found : null;
}

/** addr2line -i of one address: the inline chain, innermost first, as file:line (function). */
function lineOf(obj: string, t: Truth, off: number): string[] {
  const base = t.module === undefined ? BigInt(`0x${t.address}`) - BigInt(t.offset) : BigInt(`0x${t.address.replace(/^.*\+0x/, '')}`) - BigInt(t.offset);
  const a = `0x${(base + BigInt(off)).toString(16)}`;
  const sec = t.module === undefined ? [] : ['-j', (t.address.replace(/\+0x.*$/, ''))];
  const out = execFileSync('addr2line', ['-i', '-f', '-e', obj, ...sec, a], { encoding: 'utf8' }).trim().split('\n');
  const res: string[] = [];
  for (let i = 0; i + 1 < out.length; i += 2) res.push(`${(out[i + 1] ?? '').replace(/^.*\/(drivers|net|include|kernel|lib|fs|security|crypto|block|arch|mm|sound)\//, '$1/').replace(/ \(discriminator.*$/, '')} (${out[i] ?? ''})`);
  return res;
}

const fallsThrough = (x: Insn | undefined): boolean => x !== undefined && x.flow !== 'jmp' && x.flow !== 'ret' && x.flow !== 'ijmp' && x.flow !== 'stop';

for (const t of truths) {
  if (t.kind !== 'call') continue;
  const site = trueSite(t.chain, apis);
  if (site === null) continue;
  const { function: fn, isCold } = functionOfSymbol(t.symbol);
  const half = halfOf(fn);
  if (wanted !== 'all' && half !== wanted) continue;
  let q: LocationQuery;
  if (t.module !== undefined) {
    const l = parseLocation(t.location);
    q = { input: l.input, symbol: l.symbol, function: l.function, isCold: l.isCold, offset: l.offset, size: l.size, module: l.module, reason: t.reason, event: t.event as 'kfree_skb' };
  } else {
    q = { input: t.location, symbol: t.symbol, function: fn, isCold, offset: t.offset, size: t.size, module: null, reason: t.reason, event: t.event as 'kfree_skb' };
  }
  const e = explainer.explain(q, { maxCandidates: 8, code });
  const truthIdx = e.candidates.findIndex((c) => c.file === site.file && c.line <= site.line && site.line <= c.endLine);
  const tc = e.candidates[truthIdx];
  const own = linesOf.get(t.symbol) ?? new Set<string>();
  // The sites that free the same way as the truth and have no drop call of their own in the debug info.
  const group = e.candidates.filter((c, i) => i !== truthIdx && tc !== undefined && c.api === tc.api && (c.reason ?? '') === (tc.reason ?? '') && !own.has(`${c.file}:${c.line}`) && c.score >= 0.02);
  const note = e.notes.find((n) => n.includes('may have merged their code')) ?? null;
  if (tc === undefined || (group.length === 0 && note === null)) continue;
  const fa = code.analysis(q);
  const insns = fa?.decoded.insns ?? [];
  const ci = insns.findIndex((x) => x.off + x.len === t.offset);
  // The merged block: back from the call to the first instruction something jumps to (or after a jump).
  const targets = new Map<number, number[]>();
  insns.forEach((x, i) => {
    if ((x.flow === 'jmp' || x.flow === 'jcc') && x.local !== null) targets.set(x.local, [...(targets.get(x.local) ?? []), i]);
  });
  let k = ci;
  while (k > 0 && !targets.has(insns[k]?.off ?? -1) && fallsThrough(insns[k - 1]) && insns[k - 1]?.flow !== 'call') k--;
  const start = insns[k];
  const preds: Array<{ off: number; kind: string; lines?: string[] }> = [];
  if (start !== undefined) {
    if (k > 0 && fallsThrough(insns[k - 1])) preds.push({ off: insns[k - 1]?.off ?? 0, kind: insns[k - 1]?.flow === 'jcc' ? 'fall-jcc' : 'fall' });
    for (const p of targets.get(start.off) ?? []) preds.push({ off: insns[p]?.off ?? 0, kind: insns[p]?.flow ?? '' });
  }
  const obj = debugObject(t);
  if (obj !== null) for (const p of preds) p.lines = lineOf(obj, t, p.off);
  const out = {
    location: t.location, half, truth: `${site.file}:${site.line} (${site.function})`, chain: t.chain.map((f) => `${f.file.replace(/^.*\//, '')}:${f.line} ${f.function}`),
    firstRight: truthIdx === 0, note: note !== null,
    candidates: e.candidates.slice(0, 6).map((c) => ({ at: `${c.file}:${c.line}`, fn: c.function, via: c.via.join('>'), role: c.role, score: c.score, ownCall: own.has(`${c.file}:${c.line}`), api: c.api, reason: c.reason })),
    group: group.map((c) => `${c.file}:${c.line}`),
    call: ci >= 0 ? insns[ci]?.off : null, blockStart: start?.off ?? null, size: fa?.code.size ?? null, drops: fa?.calls.length ?? null, preds,
  };
  console.log(JSON.stringify(out));
}
