import type Database from 'better-sqlite3';
// Queries over the index, returning model records.
import { IndexError } from '../errors.ts';
import type { CallEdge, DropApi, DropReason, DropSite, FunctionRecord } from '../model.ts';
import type { Db } from './open.ts';
import type { CacheRow } from './write.ts';

/** Statements are prepared once per connection: explain --stdin runs the same few queries thousands of times. */
const prepared = new WeakMap<Db, Map<string, Database.Statement<unknown[]>>>();
function stmt(db: Db, sql: string): Database.Statement<unknown[]> {
  let m = prepared.get(db);
  if (m === undefined) prepared.set(db, (m = new Map()));
  let s = m.get(sql);
  if (s === undefined) m.set(sql, (s = db.prepare<unknown[]>(sql)));
  return s;
}

export interface TreeRow {
  id: number;
  root: string;
  version: string | null;
  indexedAt: string;
  gitHead: string | null;
  usedSeeds: boolean;
  reasonsFile: string | null;
  stats: Record<string, unknown>;
}

interface RawTree {
  id: number; root: string; version: string | null; indexed_at: string; git_head: string | null;
  used_seeds: number; reasons_file: string | null; stats: string;
}

const toTree = (r: RawTree): TreeRow => ({
  id: r.id, root: r.root, version: r.version, indexedAt: r.indexed_at, gitHead: r.git_head, usedSeeds: r.used_seeds === 1,
  reasonsFile: r.reasons_file, stats: JSON.parse(r.stats) as Record<string, unknown>,
});

export function listTrees(db: Db): TreeRow[] {
  return (stmt(db, 'SELECT * FROM trees ORDER BY indexed_at DESC').all() as RawTree[]).map(toTree);
}

/**
 * The tree a query is about: by path, by version (`6.1`, `6.1.192`), or the most recently indexed.
 */
export function pickTree(db: Db, selector: string | undefined, file: string): TreeRow {
  const trees = listTrees(db);
  if (trees.length === 0) throw new IndexError(`index ${file} holds no tree`, { hint: 'run `dropsite index <kernel-tree>` first' });
  if (selector === undefined) return trees[0] as TreeRow;
  const byRoot = trees.find((t) => t.root === selector || t.root === selector.replace(/\/+$/, ''));
  if (byRoot !== undefined) return byRoot;
  const byVersion = trees.filter((t) => t.version === selector || (t.version?.startsWith(`${selector}.`) ?? false));
  if (byVersion.length === 1) return byVersion[0] as TreeRow;
  const known = trees.map((t) => `${t.root} (${t.version ?? 'unknown version'})`).join(', ');
  if (byVersion.length > 1) throw new IndexError(`--tree ${selector} matches ${byVersion.length} indexed trees`, { hint: `name one by path: ${known}` });
  throw new IndexError(`no indexed tree matches --tree ${selector}`, { hint: `indexed trees: ${known}` });
}

interface RawSite {
  file: string; line: number; end_line: number; col: number; function: string; function_start_line: number; api: string;
  reason_text: string | null; reason: string | null; reasons: string; kind: string; via: string; reported_in: string | null; tail: number;
}

const toSite = (r: RawSite): DropSite => ({
  file: r.file, line: r.line, endLine: r.end_line, column: r.col, function: r.function, functionStartLine: r.function_start_line,
  api: r.api, reasonText: r.reason_text, reason: r.reason, reasons: JSON.parse(r.reasons) as string[],
  kind: r.kind === 'consume' ? 'consume' : 'drop', via: JSON.parse(r.via) as string[], reportedIn: r.reported_in, tail: r.tail === 1,
});

export interface SiteFilter {
  function?: string;
  reason?: string;
  api?: string;
  file?: string;
}

export function querySites(db: Db, treeId: number, filter: SiteFilter = {}): DropSite[] {
  const where = ['tree_id = ?'];
  const args: Array<string | number> = [treeId];
  if (filter.function !== undefined) {
    where.push('function = ?');
    args.push(filter.function);
  }
  if (filter.api !== undefined) {
    where.push('api = ?');
    args.push(filter.api);
  }
  if (filter.file !== undefined) {
    where.push('file GLOB ?');
    args.push(filter.file);
  }
  if (filter.reason !== undefined) {
    where.push('EXISTS (SELECT 1 FROM json_each(sites.reasons) WHERE json_each.value = ?)');
    args.push(filter.reason);
  }
  const rows = stmt(db, `SELECT * FROM sites WHERE ${where.join(' AND ')} ORDER BY file, line, col`).all(...args) as RawSite[];
  return rows.map(toSite);
}

/** Calls of a drop function, and calls of wrappers whose drops are reported inside it. */
export function sitesReportedIn(db: Db, treeId: number, name: string): DropSite[] {
  // Sorted here: an ORDER BY would lead SQLite to walk the whole tree's sites in file order.
  const rows = stmt(db, 'SELECT * FROM sites WHERE tree_id = ? AND api = ? UNION SELECT * FROM sites WHERE tree_id = ? AND reported_in = ?')
    .all(treeId, name, treeId, name) as RawSite[];
  return rows.map(toSite).sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

/** Calls of a helper recorded in the index (edges into it). */
export function helperCallSites(db: Db, treeId: number, file: string, name: string): number {
  return Number(stmt(db, 'SELECT COUNT(*) FROM edges WHERE tree_id = ? AND callee = ? AND callee_file = ?').pluck().get(treeId, name, file) ?? 0);
}

/** Sites whose statement spans a line of a file. */
export function sitesAtLine(db: Db, treeId: number, file: string, line: number): DropSite[] {
  const rows = stmt(db, 'SELECT * FROM sites WHERE tree_id = ? AND file = ? AND line <= ? AND end_line >= ? ORDER BY line, col')
    .all(treeId, file, line, line) as RawSite[];
  return rows.map(toSite);
}

/** Sites of one function definition (file + start line tell same-named statics apart). */
export function sitesOfFunction(db: Db, treeId: number, file: string, startLine: number): DropSite[] {
  const rows = stmt(db, 'SELECT * FROM sites WHERE tree_id = ? AND file = ? AND function_start_line = ? ORDER BY line, col')
    .all(treeId, file, startLine) as RawSite[];
  return rows.map(toSite);
}

interface RawFunction {
  file: string; name: string; start_line: number; end_line: number; start_byte: number; end_byte: number;
  is_static: number; is_inline: number; is_macro: number;
}

const toFunction = (r: RawFunction): FunctionRecord => ({
  file: r.file, name: r.name, startLine: r.start_line, endLine: r.end_line, startByte: r.start_byte, endByte: r.end_byte,
  isStatic: r.is_static === 1, isInline: r.is_inline === 1, isMacro: r.is_macro === 1,
});

export function functionsNamed(db: Db, treeId: number, name: string): FunctionRecord[] {
  return (stmt(db, 'SELECT * FROM functions WHERE tree_id = ? AND name = ? ORDER BY file, start_line').all(treeId, name) as RawFunction[]).map(toFunction);
}

export function functionAt(db: Db, treeId: number, file: string, name: string): FunctionRecord | null {
  const r = stmt(db, 'SELECT * FROM functions WHERE tree_id = ? AND file = ? AND name = ? ORDER BY start_line LIMIT 1').get(treeId, file, name) as RawFunction | undefined;
  return r === undefined ? null : toFunction(r);
}

/** All function names, for "did you mean" suggestions. */
export function functionNames(db: Db, treeId: number): string[] {
  return (stmt(db, 'SELECT DISTINCT name FROM functions WHERE tree_id = ?').pluck().all(treeId) as string[]);
}

interface RawEdge { file: string; caller: string; caller_start_line: number; callee: string; callee_file: string; line: number; args: string; kind: string; through: string | null }

const toEdge = (r: RawEdge): CallEdge => ({
  file: r.file, caller: r.caller, callerStartLine: r.caller_start_line, callee: r.callee, calleeFile: r.callee_file, line: r.line,
  args: JSON.parse(r.args) as string[], kind: r.kind === 'tail' || r.kind === 'callback' || r.kind === 'wrapper' || r.kind === 'forward' ? r.kind : 'inline', through: r.through,
});

export function edgesFrom(db: Db, treeId: number, file: string, callerStartLine: number): CallEdge[] {
  const rows = stmt(db, 'SELECT * FROM edges WHERE tree_id = ? AND file = ? AND caller_start_line = ? ORDER BY line').all(treeId, file, callerStartLine) as RawEdge[];
  return rows.map(toEdge);
}

/**
 * The calls of helpers closest above a line, within `window` lines (exact mode: debug info gives a
 * call's return address the line of the call's last argument, or of the closing brace after it).
 */
export function edgesNearLine(db: Db, treeId: number, file: string, line: number, window: number): CallEdge[] {
  const rows = (stmt(db, 'SELECT * FROM edges WHERE tree_id = ? AND file = ? AND line BETWEEN ? AND ? ORDER BY line DESC')
    .all(treeId, file, line - window, line) as RawEdge[]).map(toEdge);
  return rows.filter((e) => e.line === rows[0]?.line);
}

interface RawApi {
  name: string; role: string; location_at: string; reported_in: string | null; kinds: string; skb_arg: number; reason_arg: number | null;
  implied_reason: string | null; own_reasons: string; forwards_to: string | null; file: string; line: number; linkage: string;
  forwarder: number;
}

const ROLES = ['root', 'wrapper', 'seed'] as const;
const LOCATIONS = ['caller', 'inside', 'fixed'] as const;
const LINKAGES = ['static', 'static inline', 'extern', 'macro'] as const;
const oneOf = <T extends string>(list: readonly T[], v: string, fallback: T): T => list.find((x) => x === v) ?? fallback;

export function listApis(db: Db, treeId: number): DropApi[] {
  return (stmt(db, 'SELECT * FROM apis WHERE tree_id = ? ORDER BY file, line').all(treeId) as RawApi[]).map((r) => ({
    name: r.name, role: oneOf(ROLES, r.role, 'wrapper'), locationAt: oneOf(LOCATIONS, r.location_at, 'caller'), reportedIn: r.reported_in,
    kinds: (JSON.parse(r.kinds) as string[]).map((k) => (k === 'consume' ? 'consume' : 'drop')), skbArg: r.skb_arg, reasonArg: r.reason_arg,
    impliedReason: r.implied_reason, ownReasons: JSON.parse(r.own_reasons) as string[], forwardsTo: r.forwards_to, file: r.file, line: r.line,
    linkage: oneOf(LINKAGES, r.linkage, 'extern'), forwarder: r.forwarder === 1,
  }));
}

export function listReasons(db: Db, treeId: number): Array<DropReason & { sites: number }> {
  const rows = stmt(db, `SELECT r.*, (SELECT COUNT(*) FROM sites s, json_each(s.reasons) j WHERE s.tree_id = r.tree_id AND j.value = r.name) AS sites
    FROM reasons r WHERE r.tree_id = ? ORDER BY r.ord`).all(treeId) as Array<{ name: string; value: number; enum_name: string; file: string; line: number; description: string; sites: number }>;
  return rows.map((r) => ({ name: r.name, value: r.value, enumName: r.enum_name, file: r.file, line: r.line, description: r.description, sites: r.sites }));
}

export function loadCache(db: Db, root: string): CacheRow[] {
  const tree = stmt(db, 'SELECT id FROM trees WHERE root = ?').get(root) as { id: number } | undefined;
  if (tree === undefined) return [];
  const rows = stmt(db, 'SELECT * FROM file_cache WHERE tree_id = ?').all(tree.id) as Array<{
    path: string; size: number; mtime_ms: number; hash: string | null; candidate: number; searched: string; units: string | null; parse_errors: number;
  }>;
  return rows.map((r) => ({
    path: r.path, size: r.size, mtimeMs: r.mtime_ms, hash: r.hash, candidate: r.candidate === 1,
    searched: JSON.parse(r.searched) as string[], units: r.units === null ? null : JSON.parse(r.units), parseErrors: r.parse_errors,
  }));
}

/** The size and mtime each file had when `root` was last indexed (empty when never indexed). */
export function loadFileStats(db: Db, root: string): { tree: TreeRow | null; files: Map<string, { size: number; mtimeMs: number }> } {
  const raw = stmt(db, 'SELECT * FROM trees WHERE root = ?').get(root) as RawTree | undefined;
  const files = new Map<string, { size: number; mtimeMs: number }>();
  if (raw === undefined) return { tree: null, files };
  for (const r of stmt(db, 'SELECT path, size, mtime_ms FROM file_cache WHERE tree_id = ?').all(raw.id) as Array<{ path: string; size: number; mtime_ms: number }>) {
    files.set(r.path, { size: r.size, mtimeMs: r.mtime_ms });
  }
  return { tree: toTree(raw), files };
}

/** Whole tables of one tree, for answering many locations from memory. */
export function allSites(db: Db, treeId: number): DropSite[] {
  return (stmt(db, 'SELECT * FROM sites WHERE tree_id = ? ORDER BY file, line, col').all(treeId) as RawSite[]).map(toSite);
}

export function allFunctions(db: Db, treeId: number): FunctionRecord[] {
  return (stmt(db, 'SELECT * FROM functions WHERE tree_id = ? ORDER BY file, start_line').all(treeId) as RawFunction[]).map(toFunction);
}

export function allEdges(db: Db, treeId: number): CallEdge[] {
  return (stmt(db, 'SELECT * FROM edges WHERE tree_id = ? ORDER BY line').all(treeId) as RawEdge[])
    .map(toEdge);
}
