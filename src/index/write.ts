// Writing one tree's index. The build goes to a temporary copy that is renamed over the index only
// once complete: an interrupted or failed run leaves the previous index as it was.
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IndexError } from '../errors.ts';
import type { CallEdge, DropApi, DropReason, DropSite, FunctionRecord, TreeInfo } from '../model.ts';
import { checkSchema, describeSqliteError, type Db } from './open.ts';
import { SCHEMA, SCHEMA_VERSION } from './schema.ts';
import { isPidAlive } from '../pid.ts';

/** What a run stored about one file, so that the next run can skip it when it is unchanged. */
export interface CacheRow {
  path: string;
  size: number;
  mtimeMs: number;
  hash: string | null;
  candidate: boolean;
  searched: string[];
  /** The scanner's summaries, opaque here. */
  units: unknown;
  parseErrors: number;
}

export interface TreeIndex {
  info: TreeInfo;
  usedSeeds: boolean;
  reasonsFile: string | null;
  stats: Record<string, unknown>;
  apis: readonly DropApi[];
  functions: readonly FunctionRecord[];
  sites: readonly DropSite[];
  edges: readonly CallEdge[];
  reasons: readonly DropReason[];
  cache: readonly CacheRow[];
}

/** Temporary files left by runs that were killed. */
function removeStaleTemporaries(file: string): void {
  const prefix = `${basename(file)}.tmp-`;
  let names: string[] = [];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length));
    if (Number.isInteger(pid) && !isPidAlive(pid)) rmSync(join(dirname(file), n), { force: true });
  }
}

function insertAll(db: Db, treeId: number, index: TreeIndex): void {
  const api = db.prepare(`INSERT INTO apis VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`);
  for (const a of index.apis) {
    api.run(treeId, a.name, a.role, a.locationAt, a.reportedIn, JSON.stringify(a.kinds), a.skbArg, a.reasonArg, a.impliedReason,
      JSON.stringify(a.ownReasons), a.forwardsTo, a.file, a.line, a.linkage);
  }
  const fn = db.prepare(`INSERT INTO functions VALUES (?,?,?,?,?,?,?,?,?,?)`);
  for (const f of index.functions) {
    fn.run(treeId, f.file, f.name, f.startLine, f.endLine, f.startByte, f.endByte, f.isStatic ? 1 : 0, f.isInline ? 1 : 0, f.isMacro ? 1 : 0);
  }
  const site = db.prepare(`INSERT INTO sites VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`);
  for (const s of index.sites) {
    site.run(treeId, s.file, s.line, s.endLine, s.column, s.function, s.functionStartLine, s.api, s.reasonText, s.reason,
      JSON.stringify(s.reasons), s.kind, JSON.stringify(s.via), s.reportedIn, s.tail ? 1 : 0);
  }
  const edge = db.prepare(`INSERT INTO edges VALUES (?,?,?,?,?,?,?,?,?,?)`);
  for (const e of index.edges) edge.run(treeId, e.file, e.caller, e.callerStartLine, e.callee, e.calleeFile, e.line, JSON.stringify(e.args), e.kind, e.through);
  const reason = db.prepare(`INSERT INTO reasons VALUES (?,?,?,?,?,?,?,?)`);
  index.reasons.forEach((r, i) => reason.run(treeId, r.name, r.value, r.enumName, r.file, r.line, r.description, i));
  const cache = db.prepare(`INSERT INTO file_cache VALUES (?,?,?,?,?,?,?,?,?)`);
  for (const c of index.cache) {
    cache.run(treeId, c.path, c.size, c.mtimeMs, c.hash, c.candidate ? 1 : 0, JSON.stringify(c.searched),
      c.candidate ? JSON.stringify(c.units) : null, c.parseErrors);
  }
}

/**
 * Replace one tree's rows in the index at `file` (created if missing), atomically. `replace` starts
 * from an empty index instead (the file holds an older schema).
 */
export function writeTree(file: string, index: TreeIndex, opts: { replace?: boolean } = {}): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch (err) {
    throw describeSqliteError(file, err, 'create');
  }
  removeStaleTemporaries(file);
  const tmp = `${file}.tmp-${process.pid}`;
  let db: Db | null = null;
  try {
    const fresh = opts.replace === true || !existsSync(file);
    if (!fresh) copyFileSync(file, tmp);
    db = new Database(tmp, { timeout: 2000 });
    if (fresh) {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } else {
      checkSchema(db, file);
    }
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    const handle = db;
    handle.transaction(() => {
      const old = handle.prepare('SELECT id FROM trees WHERE root = ?').get(index.info.root) as { id: number } | undefined;
      if (old !== undefined) {
        for (const t of ['apis', 'functions', 'sites', 'edges', 'reasons', 'file_cache']) {
          handle.prepare(`DELETE FROM ${t} WHERE tree_id = ?`).run(old.id);
        }
        handle.prepare('DELETE FROM trees WHERE id = ?').run(old.id);
      }
      const res = handle.prepare('INSERT INTO trees (root, version, indexed_at, git_head, used_seeds, reasons_file, stats) VALUES (?,?,?,?,?,?,?)')
        .run(index.info.root, index.info.version, index.info.indexedAt, index.info.gitHead, index.usedSeeds ? 1 : 0, index.reasonsFile, JSON.stringify(index.stats));
      insertAll(handle, Number(res.lastInsertRowid), index);
    })();
    // Statistics for the query planner: without them it prefers indexes that match an ORDER BY over selective ones.
    handle.exec('ANALYZE');
    handle.close();
    db = null;
    renameSync(tmp, file);
  } catch (err) {
    db?.close();
    rmSync(tmp, { force: true });
    if (err instanceof IndexError) throw err;
    throw describeSqliteError(file, err, 'write');
  }
}
