// The index's tables. Bump SCHEMA_VERSION on any change: older files are refused with a clear error.
export const SCHEMA_VERSION = 7;

/**
 * Stamped in every index's header (PRAGMA application_id, 'DrSt'): how dropsite tells its own files
 * from other SQLite databases given as --db. Not a schema change: files of schema 6 written before it
 * are recognised by their tables (TABLES) and stamped on their next write.
 */
export const APPLICATION_ID = 0x44725374;

/** The tables every schema so far (1 to 7) has had. */
export const TABLES = ['trees', 'apis', 'functions', 'sites', 'edges', 'reasons', 'file_cache'] as const;

export const SCHEMA = `
CREATE TABLE trees (
  id INTEGER PRIMARY KEY,
  root TEXT NOT NULL UNIQUE,
  version TEXT,
  indexed_at TEXT NOT NULL,
  git_head TEXT,
  used_seeds INTEGER NOT NULL,
  reasons_file TEXT,
  stats TEXT NOT NULL
);
CREATE TABLE apis (
  tree_id INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, location_at TEXT NOT NULL, reported_in TEXT,
  kinds TEXT NOT NULL, skb_arg INTEGER NOT NULL, reason_arg INTEGER, implied_reason TEXT, own_reasons TEXT NOT NULL,
  forwards_to TEXT, file TEXT NOT NULL, line INTEGER NOT NULL, linkage TEXT NOT NULL, forwarder INTEGER NOT NULL
);
CREATE INDEX apis_name ON apis(tree_id, name);
CREATE TABLE functions (
  tree_id INTEGER NOT NULL, file TEXT NOT NULL, name TEXT NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
  start_byte INTEGER NOT NULL, end_byte INTEGER NOT NULL, is_static INTEGER NOT NULL, is_inline INTEGER NOT NULL, is_macro INTEGER NOT NULL
);
CREATE INDEX functions_name ON functions(tree_id, name);
CREATE TABLE sites (
  tree_id INTEGER NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL, end_line INTEGER NOT NULL, col INTEGER NOT NULL,
  function TEXT NOT NULL, function_start_line INTEGER NOT NULL, api TEXT NOT NULL, reason_text TEXT, reason TEXT,
  reasons TEXT NOT NULL, kind TEXT NOT NULL, via TEXT NOT NULL, reported_in TEXT, tail INTEGER NOT NULL
);
CREATE INDEX sites_function ON sites(tree_id, function);
CREATE INDEX sites_file ON sites(tree_id, file, line);
CREATE INDEX sites_definition ON sites(tree_id, file, function_start_line);
CREATE INDEX sites_reported_in ON sites(tree_id, reported_in);
CREATE INDEX sites_api ON sites(tree_id, api);
CREATE TABLE edges (
  tree_id INTEGER NOT NULL, file TEXT NOT NULL, caller TEXT NOT NULL, caller_start_line INTEGER NOT NULL,
  callee TEXT NOT NULL, callee_file TEXT NOT NULL, line INTEGER NOT NULL, args TEXT NOT NULL, kind TEXT NOT NULL, through TEXT
);
CREATE INDEX edges_caller ON edges(tree_id, file, caller_start_line);
CREATE INDEX edges_callee ON edges(tree_id, callee, callee_file);
CREATE TABLE reasons (
  tree_id INTEGER NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, enum_name TEXT NOT NULL,
  file TEXT NOT NULL, line INTEGER NOT NULL, description TEXT NOT NULL, ord INTEGER NOT NULL
);
CREATE TABLE file_cache (
  tree_id INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ms INTEGER NOT NULL, hash TEXT,
  candidate INTEGER NOT NULL, searched TEXT NOT NULL, units TEXT, parse_errors INTEGER NOT NULL,
  PRIMARY KEY (tree_id, path)
) WITHOUT ROWID;
`;
