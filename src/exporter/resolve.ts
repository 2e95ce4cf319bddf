// A drop location → the labels of its series: the top candidate's file and line, and how it was found.
import type { Explainer } from '../explain/explain.ts';
import type { DropCount, LocationLabels, Resolve } from './metrics.ts';

const NONE = { file: '', line: '', method: 'none' } as const;

/** Labels from the index's explainer; with no index every location is unresolved (counted, never explained). */
export function resolverFor(explainer: Explainer | null): Resolve {
  return (drop: DropCount): LocationLabels => {
    if (drop.symbol === '' || explainer === null) return { function: drop.function, ...NONE, resolved: false };
    const { location, count: _count, ...where } = drop;
    const e = explainer.explain({ ...where, input: location }, { maxCandidates: 1 });
    const top = e.candidates[0];
    const resolved = top !== undefined || explainer.functionRecords(drop.function).length > 0;
    if (top === undefined) return { function: drop.function, ...NONE, resolved };
    return { function: drop.function, file: top.file, line: String(top.line), method: e.exact ? 'debuginfo' : 'source', resolved };
  };
}
