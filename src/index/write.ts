// Writing one tree's index: in place, in one transaction (see writeTree). An interrupted or failed
// run leaves the previous index as it was.
import Database from 'better-sqlite3';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IndexError } from '../errors.ts';
import type { CallEdge, DropApi, DropReason, DropSite, FunctionRecord, TreeInfo } from '../model.ts';
import { checkDbPath, checkSchema, describeSqliteError, indexKind, type Db } from './open.ts';
import { APPLICATION_ID, SCHEMA, SCHEMA_VERSION } from './schema.ts';
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

/**
 * Temporary copies (`index.sqlite.tmp-PID`) and their journals, left by killed runs of dropsite
 * versions that built the index in a copy. This version writes in place and makes none, so a copy
 * whose process is gone (or whose PID is this very process, come back in a PID namespace) is stale.
 */
function removeLegacyTemporaries(file: string): void {
  const prefix = `${basename(file)}.tmp-`;
  let names: string[] = [];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^(\d+)(?:-journal)?$/.exec(n.startsWith(prefix) ? n.slice(prefix.length) : '');
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || !isPidAlive(pid)) rmSync(join(dirname(file), n), { force: true });
  }
}

function insertAll(db: Db, treeId: number, index: TreeIndex): void {
  const api = db.prepare(`INSERT INTO apis VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`);
  for (const a of index.apis) {
    api.run(treeId, a.name, a.role, a.locationAt, a.reportedIn, JSON.stringify(a.kinds), a.skbArg, a.reasonArg, a.impliedReason,
      JSON.stringify(a.ownReasons), a.forwardsTo, a.file, a.line, a.linkage, a.forwarder ? 1 : 0);
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

export interface WriteOptions {
  /** Start from an empty index (the file holds an older dropsite's schema). */
  replace?: boolean;
  /** Told once when another process is writing the index and this one waits for it. */
  onWait?: (message: string) => void;
  /** How long to wait for another writer before giving up (default one minute). */
  waitMs?: number;
}

const isBusy = (err: unknown): boolean => typeof err === 'object' && err !== null && 'code' in err && (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED');

/**
 * Take the index's write lock (BEGIN IMMEDIATE). Another writer (a second `dropsite index`, or any
 * SQLite client inside a write transaction) holds it: say so once and wait for it, up to `waitMs`.
 */
function beginWrite(db: Db, file: string, opts: WriteOptions): void {
  try {
    db.exec('BEGIN IMMEDIATE');
    return;
  } catch (err) {
    if (!isBusy(err)) throw err;
  }
  const waitMs = opts.waitMs ?? 60_000;
  opts.onWait?.(`another process is writing ${file}: waiting for it (up to ${Math.round(waitMs / 1000)} s)`);
  db.pragma(`busy_timeout = ${waitMs}`);
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    if (!isBusy(err)) throw err;
    throw new IndexError(`cannot write index ${file}: another process kept it locked for ${Math.round(waitMs / 1000)} s; nothing was written`, {
      cause: err, hint: 'let the other dropsite index (or sqlite3 session) finish, then run this again',
    });
  }
}

/** Drop every table and index of an older dropsite's schema (inside the write transaction). */
function dropAll(db: Db): void {
  const objects = db.prepare("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index', 'view', 'trigger') AND name NOT LIKE 'sqlite_%'").all() as Array<{ type: string; name: string }>;
  for (const o of objects.filter((x) => x.type === 'table')) db.exec(`DROP TABLE IF EXISTS "${o.name.replace(/"/g, '""')}"`);
  for (const o of objects.filter((x) => x.type === 'view')) db.exec(`DROP VIEW IF EXISTS "${o.name.replace(/"/g, '""')}"`);
}

/**
 * Replace one tree's rows in the index at `file` (created if missing), in place and in one SQLite
 * transaction. SQLite's rollback journal makes it atomic: a run killed at any point (SIGKILL, SIGINT,
 * a full disk) leaves a journal that the next open rolls back, restoring the previous index byte for
 * byte. Its write lock serialises writers: a second `dropsite index`, or any SQLite client writing
 * the file, either waits or is told the file is busy, and no one's update is lost (a copy renamed
 * over the file lost every write made to it in the meantime). Writing through the path keeps a
 * symlinked --db a symlink, and the file's mode and owner.
 */
export function writeTree(file: string, index: TreeIndex, opts: WriteOptions = {}): void {
  checkDbPath(file);
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch (err) {
    throw describeSqliteError(file, err, 'create');
  }
  removeLegacyTemporaries(file);
  let db: Db | null = null;
  try {
    db = new Database(file, { timeout: 0 });
    const handle = db;
    // Nothing may touch the file before the write lock: even a pragma reads the schema, and with no
    // busy timeout that read fails at once while another writer commits.
    beginWrite(handle, file, opts);
    // COMMIT needs readers (another command, another writer's first look) to let go: wait for them too.
    handle.pragma(`busy_timeout = ${opts.waitMs ?? 60_000}`);
    // Room for the whole update in memory: pages spilled early would lengthen the journal's life.
    handle.pragma('cache_size = -262144');
    const k = indexKind(handle);
    if (k.kind === 'foreign' || (k.kind === 'ours' && opts.replace !== true)) checkSchema(handle, file);
    if (k.kind === 'empty' || opts.replace === true) {
      if (opts.replace === true) dropAll(handle);
      handle.exec(SCHEMA);
      handle.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    handle.pragma(`application_id = ${APPLICATION_ID}`);
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
    // Statistics for the query planner: without them it prefers indexes that match an ORDER BY over selective ones.
    handle.exec('ANALYZE');
    handle.exec('COMMIT');
    handle.close();
    db = null;
  } catch (err) {
    if (db?.open === true) {
      try {
        if (db.inTransaction) db.exec('ROLLBACK');
      } catch {
        // The journal rolls it back on the next open.
      }
      db.close();
    }
    if (err instanceof IndexError) throw err;
    throw describeSqliteError(file, err, 'write');
  }
}
