// Opening the index: the only importer of better-sqlite3, with read.ts and write.ts.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { IndexError } from '../errors.ts';
import { SCHEMA_VERSION } from './schema.ts';

export type Db = Database.Database;

/** `${XDG_CACHE_HOME:-~/.cache}/dropsite/index.sqlite` */
export function defaultDbPath(env: Readonly<Record<string, string | undefined>>): string {
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'dropsite', 'index.sqlite');
}

function describeSqliteError(file: string, err: unknown, action: string): IndexError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new IndexError(`cannot ${action} index ${file}: it is locked by another process`, { cause: err, hint: 'wait for the other dropsite (or sqlite3) process to finish, or use --db FILE' });
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new IndexError(`cannot ${action} index ${file}: not a dropsite index (${msg})`, { cause: err, hint: 'point --db at a dropsite index, or remove the file and re-run `dropsite index`' });
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'EACCES' || code === 'EROFS') {
    return new IndexError(`cannot ${action} index ${file}: ${msg}`, { cause: err, hint: 'check the file and folder permissions, or use --db FILE somewhere writable' });
  }
  return new IndexError(`cannot ${action} index ${file}: ${msg}`, { cause: err });
}

export { describeSqliteError };

/** Open an existing index for reading; checks that it is one and that its schema is current. */
export function openForRead(file: string): Db {
  if (!existsSync(file)) {
    throw new IndexError(`no index at ${file}`, { hint: 'run `dropsite index <kernel-tree>` first, or pass --db FILE' });
  }
  let db: Db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 2000 });
    checkSchema(db, file);
  } catch (err) {
    if (err instanceof IndexError) throw err;
    throw describeSqliteError(file, err, 'read');
  }
  return db;
}

/** A schema number that an older dropsite wrote (0 is SQLite's default: not ours). */
const isOlderSchema = (version: unknown): version is number => typeof version === 'number' && version >= 1 && version < SCHEMA_VERSION;

export function checkSchema(db: Db, file: string): void {
  const version = db.pragma('user_version', { simple: true });
  if (version !== SCHEMA_VERSION) {
    db.close();
    throw new IndexError(`index ${file} has schema version ${String(version)}, this dropsite reads version ${SCHEMA_VERSION}`, {
      hint: isOlderSchema(version)
        ? 're-run `dropsite index <tree>` with the same --db: it rebuilds an index of an older dropsite'
        : 'point --db at a new file for `dropsite index <tree>`, or remove this one',
    });
  }
}

/**
 * The schema version of an index written by an older dropsite, or null (no file, the current schema,
 * a newer one, or not a dropsite index: those keep their errors). `dropsite index` rebuilds such a file.
 */
export function olderSchemaVersion(file: string): number | null {
  if (!existsSync(file)) return null;
  let db: Db | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 2000 });
    const version = db.pragma('user_version', { simple: true });
    const ours = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trees'").get() !== undefined;
    return ours && isOlderSchema(version) ? version : null;
  } catch {
    return null;
  } finally {
    db?.close();
  }
}
