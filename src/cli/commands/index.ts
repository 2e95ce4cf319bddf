// `dropsite index <tree>`: wiring only.
import { buildIndex, type BuildSummary } from '../../build-index.ts';
import { printable } from '../../report/terminal-text.ts';
import { progressBar, writeErr, writeOut } from '../sink.ts';

export interface IndexFlags {
  db: string;
  jobs?: number;
  quiet?: boolean;
  force?: boolean;
  all?: boolean;
  config?: string;
  cc?: string;
}

/** The summary in plain text; the root, the Makefile's version and the names come from the tree, so all are escaped. */
export function formatSummary(s: BuildSummary, db: string): string {
  const root = printable(s.root);
  const version = printable(s.version ?? 'unknown version');
  db = printable(db);
  const lines = [
    s.upToDate ? `${root} (Linux ${version}) is unchanged since it was indexed into ${db}: kept that index`
      : `indexed ${root} (Linux ${version}) into ${db}`,
    `  files seen ${s.filesSeen}, read ${s.filesParsed}, unchanged since last run ${s.filesReused}, mentioning skbs ${s.candidates}`,
    `  functions ${s.functions}, drop sites ${s.sites}`,
    `  drop functions ${s.roots.length} (${printable(s.roots.join(', '))})${s.usedSeeds ? ' [built-in list: the tree has none]' : ''}, wrappers ${s.wrappers}`,
    `  reasons ${s.reasons}${s.reasonsFile !== null ? ` (${printable(s.reasonsFile)})` : ''}`,
    `  files with parse errors (recovered) ${s.parseErrorFiles}, non-UTF-8 files ${s.nonUtf8Files}, unreadable ${s.unreadable.length}, over the scanner's bounds (skipped) ${new Set(s.skipped.map((x) => x.path)).size}`,
    `  elapsed ${(s.elapsedMs / 1000).toFixed(1)} s`,
  ];
  return lines.join('\n');
}

export async function runIndex(tree: string, flags: IndexFlags): Promise<void> {
  // Read first: a bad --config fails before minutes of indexing.
  const rebuild = flags.config !== undefined ? await import('../../rebuild/remember.ts') : null;
  const config = rebuild?.readConfig(flags.config ?? '') ?? null;
  const bar = flags.quiet === true ? null : progressBar('indexing');
  const opts: Parameters<typeof buildIndex>[1] = { db: flags.db };
  if (flags.jobs !== undefined) opts.jobs = flags.jobs;
  if (flags.force !== undefined) opts.force = flags.force;
  if (flags.all !== undefined) opts.includeAll = flags.all;
  opts.onWait = (message) => {
    bar?.end();
    writeErr(`dropsite: ${message}`);
  };
  if (bar !== null) opts.onProgress = (p) => bar.update(p.done, p.total, p.phase === 'resolving' ? `resolving wrappers, round ${p.round}` : '');
  let summary: BuildSummary;
  try {
    summary = await buildIndex(tree, opts);
  } finally {
    bar?.end();
  }
  for (const w of summary.warnings) writeErr(`warning: ${w}`);
  for (const u of summary.unreadable.slice(0, 5)) writeErr(`warning: cannot read ${u.path}: ${u.error}`);
  if (summary.unreadable.length > 5) writeErr(`warning: ... and ${summary.unreadable.length - 5} more unreadable files`);
  for (const k of summary.skipped.slice(0, 5)) writeErr(`warning: skipped ${k.path}: ${k.why}`);
  if (summary.skipped.length > 5) writeErr(`warning: ... and ${summary.skipped.length - 5} more pieces over the scanner's bounds`);
  if (flags.quiet !== true) await writeOut(formatSummary(summary, flags.db));
  if (rebuild !== null && config !== null) {
    const r = await rebuild.rememberAndPrepare(summary.root, summary.version, config, flags.cc, (w) => writeErr(`warning: ${w}`));
    if (flags.quiet !== true) await writeOut(`  config ${config.path} remembered for ${summary.root}; build dir ${r.dir} prepared${r.seconds > 0 ? ` in ${r.seconds.toFixed(1)} s` : ' (already)'}`);
  }
}
