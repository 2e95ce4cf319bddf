// Opening the index: the only importer of better-sqlite3, with read.ts and write.ts.
import Database from 'better-sqlite3';
import { existsSync, rmSync, statSync, type Stats } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { IndexError } from '../errors.ts';
import { APPLICATION_ID, SCHEMA_VERSION, TABLES } from './schema.ts';

export type Db = Database.Database;

/**
 * `${XDG_CACHE_HOME:-~/.cache}/dropsite/index.sqlite`. A relative XDG_CACHE_HOME is ignored (the XDG
 * base directory rules say so), and an empty or relative HOME falls back to the account's home
 * directory: either would otherwise put the index in whatever folder the command runs from.
 */
export function defaultDbPath(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'dropsite', 'index.sqlite');
  let home = env.HOME;
  if (home === undefined || !isAbsolute(home)) {
    try {
      home = userInfo().homedir;
    } catch {
      home = '';
    }
  }
  if (!isAbsolute(home)) return join(tmpdir(), `dropsite-${process.getuid?.() ?? 'user'}`, 'index.sqlite');
  return join(home, '.cache', 'dropsite', 'index.sqlite');
}

function describeSqliteError(file: string, err: unknown, action: string): IndexError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new IndexError(`cannot ${action} index ${file}: it is locked by another process`, { cause: err, hint: 'wait for the other dropsite (or sqlite3) process to finish, or use --db FILE' });
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    // Never advise removing it: a file that SQLite cannot read may still be someone's data.
    return new IndexError(`cannot ${action} index ${file}: not a dropsite index (${msg})`, { cause: err, hint: 'point --db at a dropsite index, or at a new file for `dropsite index <tree>`' });
  }
  if (code === 'SQLITE_READONLY_ROLLBACK') {
    return new IndexError(`cannot ${action} index ${file}: an interrupted update left ${file}-journal, and rolling it back needs write access`, {
      cause: err, hint: 'run any dropsite command on it once as a user who can write the file and its folder: the journal restores the previous index',
    });
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN' || code === 'EACCES' || code === 'EROFS') {
    return new IndexError(`cannot ${action} index ${file}: ${msg}`, { cause: err, hint: 'check the file and folder permissions, or use --db FILE somewhere writable' });
  }
  return new IndexError(`cannot ${action} index ${file}: ${msg}`, { cause: err });
}

export { describeSqliteError };

/**
 * `--db` must name a regular file (or nothing yet): a directory would only give SQLite's "disk I/O
 * error", a FIFO would block the open forever, and a device (/dev/zero) reads as an empty database.
 */
export function checkDbPath(file: string): void {
  let st: Stats;
  try {
    st = statSync(file);
  } catch {
    return;
  }
  if (st.isDirectory()) throw new IndexError(`--db ${file} is a directory, expected an index file`, { hint: `name a file, such as ${join(file, 'index.sqlite')}` });
  if (!st.isFile()) {
    const kind = st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
    throw new IndexError(`--db ${file} is ${kind}, expected an index file`, { hint: 'name a regular file, or a new path for `dropsite index <tree>`' });
  }
}

export type IndexKind =
  | { kind: 'empty' }
  | { kind: 'ours'; version: number }
  | { kind: 'foreign'; why: string };

/**
 * Whether a database is a dropsite index. Since schema 6 dropsite stamps its files with an
 * application id; files written before that carry none, and are known by dropsite's seven tables
 * (every schema from 1 to 7 has had the same ones). A database without tables holds nothing to lose.
 */
export function indexKind(db: Db): IndexKind {
  const app = Number(db.pragma('application_id', { simple: true }));
  const version = Number(db.pragma('user_version', { simple: true }));
  if (app === APPLICATION_ID) return { kind: 'ours', version };
  if (app !== 0) return { kind: 'foreign', why: `its application id is 0x${(app >>> 0).toString(16)}, not dropsite's` };
  const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
  if (tables.size === 0) return { kind: 'empty' };
  const missing = TABLES.filter((t) => !tables.has(t));
  if (missing.length === 0 && version >= 1) return { kind: 'ours', version };
  return { kind: 'foreign', why: missing.length > 0 ? `it has no ${missing.join(', ')} table${missing.length > 1 ? 's' : ''}` : `its user_version is ${version}` };
}

function foreignError(file: string, why: string): IndexError {
  return new IndexError(`${file} is an SQLite database that dropsite did not create (${why}): refusing to use it as an index`, {
    hint: 'point --db at a dropsite index, or at a new file for `dropsite index <tree>`',
  });
}

/** A schema number that an older dropsite wrote. */
const isOlderSchema = (version: number): boolean => version >= 1 && version < SCHEMA_VERSION;

/** Refuses a database that is not a current dropsite index; closes `db` when it throws. */
export function checkSchema(db: Db, file: string): void {
  const k = indexKind(db);
  const fail = (err: IndexError): never => {
    db.close();
    throw err;
  };
  if (k.kind === 'foreign') fail(foreignError(file, k.why));
  // An index whose first write was interrupted is rolled back to a database without tables.
  if (k.kind === 'empty') fail(new IndexError(`no index at ${file} (an SQLite database without tables)`, { hint: 'run `dropsite index <kernel-tree>` with this --db' }));
  const version = k.kind === 'ours' ? k.version : 0;
  if (version !== SCHEMA_VERSION) {
    fail(new IndexError(`index ${file} has schema version ${String(version)}, this dropsite reads version ${SCHEMA_VERSION}`, {
      hint: isOlderSchema(version)
        ? 're-run `dropsite index <tree>` with the same --db: it rebuilds an index of an older dropsite'
        : 'point --db at a new file for `dropsite index <tree>`',
    }));
  }
}

/**
 * A `dropsite index` killed in its write transaction leaves a journal. When it is hot (pages were
 * written), a read-only connection cannot roll it back (SQLITE_READONLY_ROLLBACK): one read-write
 * connection does, restoring the previous index byte for byte. When it is not (killed before the
 * first page was written), SQLite ignores it but leaves the file. Under an exclusive lock no writer
 * is alive and any hot journal has been rolled back, so what remains of the journal is stale and is
 * removed. A live writer (busy) keeps its journal, and a file we may not write is left as it is.
 */
function settleJournal(file: string): void {
  const journal = `${file}-journal`;
  if (!existsSync(journal)) return;
  let rw: Db;
  try {
    rw = new Database(file, { fileMustExist: true, timeout: 2000 });
  } catch {
    return;
  }
  try {
    rw.exec('BEGIN EXCLUSIVE');
    try {
      if (existsSync(journal)) rmSync(journal, { force: true });
    } finally {
      rw.exec('ROLLBACK');
    }
  } catch {
    // Busy (a live writer owns the journal) or read-only: leave it.
  } finally {
    rw.close();
  }
}

/** A read-only connection, after settling what an interrupted write left (settleJournal). */
function openReadonly(file: string): Db {
  settleJournal(file);
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 2000 });
  try {
    db.pragma('user_version', { simple: true });
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Open an existing index for reading; checks that it is one and that its schema is current. */
export function openForRead(file: string): Db {
  checkDbPath(file);
  if (!existsSync(file)) {
    throw new IndexError(`no index at ${file}`, { hint: 'run `dropsite index <kernel-tree>` first, or pass --db FILE' });
  }
  let db: Db;
  try {
    db = openReadonly(file);
    checkSchema(db, file);
  } catch (err) {
    if (err instanceof IndexError) throw err;
    throw describeSqliteError(file, err, 'read');
  }
  return db;
}

/**
 * What `dropsite index` finds at --db: nothing yet (no file, or a database without tables), an index
 * of an older dropsite (rebuilt), or a current index (updated). Anything else is refused here, before
 * the tree is scanned: another application's database, or an index of a newer dropsite.
 */
export function inspectForWrite(file: string): { state: 'new' } | { state: 'older'; version: number } | { state: 'current' } {
  checkDbPath(file);
  if (!existsSync(file)) return { state: 'new' };
  let db: Db;
  try {
    db = openReadonly(file);
  } catch (err) {
    throw describeSqliteError(file, err, 'write');
  }
  try {
    const k = indexKind(db);
    if (k.kind === 'empty') return { state: 'new' };
    if (k.kind === 'ours' && isOlderSchema(k.version)) return { state: 'older', version: k.version };
    checkSchema(db, file);
    return { state: 'current' };
  } catch (err) {
    if (err instanceof IndexError) throw err;
    throw describeSqliteError(file, err, 'write');
  } finally {
    if (db.open) db.close();
  }
}
