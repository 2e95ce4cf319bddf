// `dropsite sites`, `dropsite reasons`, `dropsite trees`: wiring only.
import { changedSinceIndexed, changedWarning } from '../../index/freshness.ts';
import { openForRead } from '../../index/open.ts';
import { listReasons, listTrees, pickTree, querySites, type SiteFilter } from '../../index/read.ts';
import type { DropSite } from '../../model.ts';
import { renderTable } from '../../report/table.ts';
import { printable } from '../../report/terminal-text.ts';
import { writeErr, writeOut } from '../sink.ts';

export interface SitesFlags {
  db: string;
  tree?: string;
  function?: string;
  reason?: string;
  file?: string;
  api?: string;
  json?: boolean;
}

/** The documented JSON shape of a site (README: "sites --json"). */
export function siteJson(s: DropSite): Record<string, unknown> {
  return {
    file: s.file, line: s.line, endLine: s.endLine, column: s.column, function: s.function, api: s.api,
    reason: s.reason, reasons: s.reasons, reasonText: s.reasonText, kind: s.kind, via: s.via,
    reportedIn: s.reportedIn, tail: s.tail,
  };
}

function reasonCell(s: DropSite): string {
  if (s.reasons.length === 0) return s.kind === 'consume' ? '-' : s.reasonText ?? '?';
  const list = s.reasons.length > 4 ? `${s.reasons.slice(0, 4).join(',')},+${s.reasons.length - 4}` : s.reasons.join(',');
  return s.reasonText !== null && s.reasons.length > 1 ? `${s.reasonText}: ${list}` : list;
}

export async function runSites(flags: SitesFlags): Promise<void> {
  const db = openForRead(flags.db);
  try {
    const tree = pickTree(db, flags.tree, flags.db);
    const filter: SiteFilter = {};
    if (flags.function !== undefined) filter.function = flags.function;
    if (flags.reason !== undefined) filter.reason = flags.reason.replace(/^SKB_DROP_REASON_/, '');
    if (flags.file !== undefined) filter.file = flags.file;
    if (flags.api !== undefined) filter.api = flags.api;
    const sites = querySites(db, tree.id, filter);
    const changed = changedWarning(tree, changedSinceIndexed(db, tree, sites.map((s) => s.file)));
    if (changed !== null) writeErr(`warning: ${changed}`);
    if (flags.json === true) {
      await writeOut(JSON.stringify(sites.map(siteJson), null, 2));
      return;
    }
    const rows = sites.map((s) => [`${s.file}:${s.line}`, s.function, s.api, s.kind, reasonCell(s)].map(printable));
    await writeOut(`${renderTable(['site', 'function', 'calls', 'kind', 'reasons'], rows)}\n${sites.length} sites in ${printable(tree.root)} (Linux ${printable(tree.version ?? '?')})`);
  } finally {
    db.close();
  }
}

export async function runReasons(flags: { db: string; tree?: string; json?: boolean }): Promise<void> {
  const db = openForRead(flags.db);
  try {
    const tree = pickTree(db, flags.tree, flags.db);
    const reasons = listReasons(db, tree.id);
    if (flags.json === true) {
      await writeOut(JSON.stringify(reasons, null, 2));
      return;
    }
    const rows = reasons.map((r) => [printable(r.name), r.value < 0 ? '?' : r.value, r.sites, printable(r.description.length > 70 ? `${r.description.slice(0, 69)}…` : r.description)]);
    await writeOut(`${renderTable(['reason', 'value', 'sites', 'description'], rows, { numeric: [1, 2] })}\n${reasons.length} reasons from ${printable(tree.reasonsFile ?? 'no reason enum')}`);
  } finally {
    db.close();
  }
}

export async function runTrees(flags: { db: string; json?: boolean }): Promise<void> {
  const db = openForRead(flags.db);
  try {
    const trees = listTrees(db);
    if (flags.json === true) {
      // The names every file was searched for are the scanner's cache (build-index.ts), not a figure.
      const shown = trees.map(({ id: _id, stats: { searchedAll: _all, searchedSources: _sources, ...stats }, ...t }) => ({ ...t, stats }));
      await writeOut(JSON.stringify(shown, null, 2));
      return;
    }
    const rows = trees.map((t) => [t.root, t.version ?? '?', t.indexedAt, String(t.stats.sites ?? '?'), t.usedSeeds ? 'built-in drop functions' : ''].map(printable));
    await writeOut(renderTable(['tree', 'version', 'indexed at', 'sites', 'note'], rows, { numeric: [3] }));
  } finally {
    db.close();
  }
}
