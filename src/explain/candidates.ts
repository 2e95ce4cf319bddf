// The sites a location can stand for, read from the index: the function's own sites, the sites of
// the static and inline helpers it reaches (their code carries the caller's symbol once inlined),
// and, when the location is inside a drop function itself, the calls of that drop function.
import type { Db } from '../index/open.ts';
import { edgesFrom, functionAt, functionsNamed, sitesOfFunction, sitesReportedIn } from '../index/read.ts';
import type { FunctionRecord } from '../model.ts';
import type { RawCandidate } from './rank.ts';

/** How many helper levels to follow: the index records helpers two levels deep. */
const MAX_DEPTH = 2;

export class CandidateSource {
  private readonly db: Db;
  private readonly treeId: number;
  private readonly byName = new Map<string, FunctionRecord[]>();
  private readonly rawByFn = new Map<string, RawCandidate[]>();

  constructor(db: Db, treeId: number) {
    this.db = db;
    this.treeId = treeId;
  }

  functions(name: string): FunctionRecord[] {
    let list = this.byName.get(name);
    if (list === undefined) {
      list = functionsNamed(this.db, this.treeId, name);
      this.byName.set(name, list);
    }
    return list;
  }

  /** Sites in `fn` and in the helpers it reaches. */
  sitesFor(fn: FunctionRecord): RawCandidate[] {
    const key = `${fn.file}:${fn.startLine}`;
    const cached = this.rawByFn.get(key);
    if (cached !== undefined) return cached;
    const out: RawCandidate[] = [];
    for (const site of sitesOfFunction(this.db, this.treeId, fn.file, fn.startLine)) {
      out.push({ site, fn, via: [], anchorLine: site.line, helperMayStayOutOfLine: false, role: 'site' });
    }
    const seen = new Set<string>([key]);
    const walk = (from: FunctionRecord, via: string[], anchor: number | null, mayStay: boolean): void => {
      if (via.length >= MAX_DEPTH) return;
      for (const e of edgesFrom(this.db, this.treeId, from.file, from.startLine)) {
        const helper = functionAt(this.db, this.treeId, e.calleeFile, e.callee);
        if (helper === null) continue;
        const hk = `${helper.file}:${helper.startLine}`;
        if (seen.has(hk)) continue;
        seen.add(hk);
        const chain = [...via, helper.name];
        const anchorLine = anchor ?? e.line;
        const stays = mayStay || (!helper.isStatic && !helper.isInline && helper.file.endsWith('.c'));
        for (const site of sitesOfFunction(this.db, this.treeId, helper.file, helper.startLine)) {
          out.push({ site, fn, via: chain, anchorLine, helperMayStayOutOfLine: stays, role: 'site' });
        }
        walk(helper, chain, anchorLine, stays);
      }
    };
    walk(fn, [], null, false);
    this.rawByFn.set(key, out);
    return out;
  }

  /** Calls of a drop function whose drops are reported inside it. */
  callersOf(apiName: string, fnForAnchor: FunctionRecord | null): RawCandidate[] {
    const sites = sitesReportedIn(this.db, this.treeId, apiName);
    const fn: FunctionRecord = fnForAnchor ?? { file: '', name: apiName, startLine: 0, endLine: 0, startByte: 0, endByte: 0, isStatic: false, isInline: false, isMacro: false };
    return sites.map((site) => ({ site, fn, via: [], anchorLine: site.line, helperMayStayOutOfLine: false, role: 'caller' as const }));
  }
}
