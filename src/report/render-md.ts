// Markdown for tickets and pull requests (GitHub-flavoured: pipe tables, fenced code).
// Every string from the view is escaped: a symbol or log line must not turn into markup.
import type { Candidate } from '../model.ts';
import { candidateReason, formatScore, largest, reasonRestLabel, restLabel, roleLabel, rowReason, seenLabel, sharePercent, siteKey, snippetFor, totalsLabel, treeLabel } from './labels.ts';
import type { RenderOptions } from './render-options.ts';
import { printable } from './terminal-text.ts';
import type { ReportRow, ReportView, Snippet } from './view.ts';

const SKIPPED_SHOWN = 20;

/** One line of text: control characters made visible, line breaks folded. */
const oneLine = (s: string): string => printable(s.replace(/\r?\n/g, ' '));

const ALNUM = /[\p{L}\p{N}]/u;

/**
 * Plain Markdown text: backslash-escape everything inline syntax could use, so it reads back literally.
 * An `_` between letters or digits cannot open emphasis in GFM, so `NO_SOCKET` stays readable.
 */
const mdText = (s: string): string =>
  oneLine(s).replace(/[\\`*_[\]<>|&~]/g, (ch, at: number, all: string) =>
    ch === '_' && ALNUM.test(all.charAt(at - 1)) && ALNUM.test(all.charAt(at + 1)) ? ch : `\\${ch}`);

/**
 * Inline code. A backtick run in the text needs a longer delimiter; a `|` needs `\|` in a table cell
 * (GFM splits cells before it parses code spans, and drops the backslash inside the span).
 */
function mdCode(s: string, inTable: boolean): string {
  const text = inTable ? oneLine(s).replace(/\|/g, '\\|') : oneLine(s);
  if (text === '') return '';
  const longest = largest((text.match(/`+/g) ?? []).map((r) => r.length), 0);
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') || (text.startsWith(' ') && text.endsWith(' ')) ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A fence longer than any backtick run inside the block, so the block cannot be closed early. */
function codeBlock(lang: string, lines: readonly string[]): string[] {
  const longest = largest(lines.flatMap((l) => (l.match(/`+/g) ?? []).map((r) => r.length)), 0);
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}${lang}`, ...lines, fence];
}

const tableRow = (cells: readonly string[]): string => `| ${cells.map((c) => (c === '' ? ' ' : c)).join(' | ')} |`;

function mdTable(head: readonly string[], align: ReadonlyArray<'l' | 'r'>, rows: ReadonlyArray<readonly string[]>): string[] {
  return [tableRow(head), `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map(tableRow)];
}

function rowsTable(view: ReportView): string[] {
  const rows = view.rows.map((r, i) => {
    const top = r.candidates[0];
    return [
      String(i + 1),
      String(r.count),
      sharePercent(r.share),
      mdCode(r.location, true),
      mdText(rowReason(r)),
      top !== undefined ? mdCode(siteKey(top), true) : r.inIndex ? 'no candidate' : '*not in index*',
      top !== undefined ? mdCode(top.function, true) : '',
      top !== undefined ? formatScore(top.score) : '',
    ];
  });
  return mdTable(['#', 'Drops', 'Share', 'Location', 'Reason', 'Top candidate', 'Function', 'Score'], ['r', 'r', 'r', 'l', 'l', 'l', 'l', 'r'], rows);
}

/** Source lines with the site's statement marked `>`, numbered like `explain` prints them. */
function snippetLines(s: Snippet): string[] {
  const last = s.firstLine + s.lines.length - 1;
  const width = String(last).length;
  return s.lines.map((text, i) => {
    const n = s.firstLine + i;
    const mark = n >= s.markFrom && n <= s.markTo ? '>' : ' ';
    return `${mark} ${String(n).padStart(width)} | ${printable(text.replace(/\t/g, '    '))}`;
  });
}

function candidateLine(c: Candidate, rank: number): string[] {
  const via = c.via.length > 0 ? `, via ${c.via.map((v) => mdCode(v, false)).join(' → ')}` : '';
  const out = [
    `${rank}. ${mdCode(siteKey(c), false)} in ${mdCode(`${c.function}()`, false)}${c.calledAt !== undefined ? `, called at ${mdCode(`${c.calledAt.file}:${c.calledAt.line}`, false)} in ${mdCode(`${c.calledAt.function}()`, false)},` : ''} calls ${mdCode(c.api, false)}, reason ${mdText(candidateReason(c))}, score ${formatScore(c.score)} (${roleLabel(c)}${via})`,
  ];
  for (const e of c.evidence) out.push(`   - ${mdText(e)}`);
  return out;
}

function rowSection(view: ReportView, row: ReportRow, index: number, opts: RenderOptions): string[] {
  const out = ['', `### ${index + 1}. ${mdCode(row.location, false)}: ${mdText(rowReason(row))}, ${row.count} drops (${sharePercent(row.share)})`, ''];
  const facts = [row.event === 'consume_skb' ? 'event consume_skb' : '', seenLabel(row, view.timelineUnit) ?? ''].filter((f) => f !== '');
  if (facts.length > 0) out.push(`${facts.join(', ')}`, '');
  const [top, ...others] = row.candidates;
  if (top === undefined) {
    out.push(row.inIndex ? 'No candidate site in the index.' : `${mdCode(row.function, false)} is not in the index.`);
  } else {
    out.push(...candidateLine(top, 1));
    const snippet = snippetFor(view, top);
    if (snippet !== undefined) out.push('', ...codeBlock('c', snippetLines(snippet)));
    if (opts.allCandidates && others.length > 0) {
      out.push('');
      others.forEach((c, i) => out.push(...candidateLine(c, i + 2)));
    }
    else if (others.length > 0) out.push('', `${others.length} other candidate${others.length === 1 ? '' : 's'} not shown.`);
  }
  for (const n of row.notes) out.push('', `> ${mdText(n)}`);
  return out;
}

export function renderMarkdown(view: ReportView, opts: RenderOptions): string {
  const out = [`# ${mdText(view.title)}`, ''];
  out.push(`- **Source:** ${mdCode(view.source, false)} (${mdText(view.format)})`);
  out.push(`- **Tree:** ${view.tree === null ? 'no index' : mdCode(treeLabel(view), false)}`);
  out.push(`- **Totals:** ${mdText(totalsLabel(view))}`);
  for (const w of view.warnings) out.push(`- **Warning:** ${mdText(w)}`);
  out.push('', '## Drop locations', '');
  if (view.rows.length === 0) out.push('No drops.');
  else out.push(...rowsTable(view));
  if (view.rest !== null && view.rest.locations > 0) out.push('', `… and ${restLabel(view.rest)}.`);
  if (view.rows.length > 0) {
    out.push('', '## Top locations');
    view.rows.forEach((r, i) => out.push(...rowSection(view, r, i, opts)));
  }
  if (view.byReason.length > 0) {
    const total = view.totals.drops;
    out.push('', '## Drops by reason', '');
    out.push(...mdTable(['Reason', 'Drops', 'Share'], ['l', 'r', 'r'], view.byReason.map((r) => [mdCode(r.reason, true), String(r.count), sharePercent(total > 0 ? r.count / total : 0)])));
    if (view.byReasonRest !== null) out.push('', `… and ${reasonRestLabel(view.byReasonRest)}.`);
  }
  const skippedTotal = Math.max(view.totals.skippedLines, view.skipped.length);
  if (skippedTotal > 0) {
    out.push('', '## Skipped input lines', '');
    const shown = view.skipped.slice(0, SKIPPED_SHOWN);
    out.push(`${skippedTotal} line${skippedTotal === 1 ? '' : 's'} could not be read${shown.length < skippedTotal ? `; the first ${shown.length}` : ''}:`);
    if (shown.length > 0) {
      const width = String(largest(shown.map((s) => s.lineNo), 0)).length;
      out.push('', ...codeBlock('text', shown.map((s) => `${String(s.lineNo).padStart(width)}: ${oneLine(s.line)}  (${oneLine(s.why)})`)));
    }
  }
  return `${out.join('\n')}\n`;
}
