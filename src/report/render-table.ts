// The terminal report: a summary header, one table row per drop location, then reasons, skipped
// lines and warnings, all fitted to the terminal width.
import type { Candidate } from '../model.ts';
import { formatScore, largest, reasonRestLabel, restLabel, rowReason, sharePercent, siteKey, totalsLabel, treeLabel } from './labels.ts';
import type { RenderOptions } from './render-options.ts';
import { renderTable } from './table.ts';
import { displayWidth, fitEnd, fitStart, printable, wrapText } from './terminal-text.ts';
import type { ReportRow, ReportView } from './view.ts';

const SKIPPED_SHOWN = 5;
/** `renderTable` separates columns with two spaces. */
const GAP = 2;

const sgr = (open: number, close: number) => (s: string, on: boolean): string => (on && s !== '' ? `\u001b[${open}m${s}\u001b[${close}m` : s);
const bold = sgr(1, 22);
const dim = sgr(2, 22);
const yellow = sgr(33, 39);

interface Column {
  head: string;
  numeric: boolean;
  /** Narrowest the column may be squeezed to (never below its content's width if that is smaller). */
  min: number;
  /** Which end to cut: paths keep their tail (file name and line), locations their offset. */
  cut: 'end' | 'start' | 'symbol';
  /** Columns dropped first when even the minimum widths do not fit; 0 is never dropped. */
  dropOrder: number;
  /** Share of the squeeze: a column with twice the weight keeps about twice the width. */
  weight: number;
}

const COLUMNS: readonly Column[] = [
  { head: 'drops', numeric: true, min: 5, cut: 'end', dropOrder: 0, weight: 1 },
  { head: 'share', numeric: true, min: 5, cut: 'end', dropOrder: 2, weight: 1 },
  { head: 'location', numeric: false, min: 12, cut: 'symbol', dropOrder: 0, weight: 2 },
  { head: 'reason', numeric: false, min: 8, cut: 'end', dropOrder: 3, weight: 1 },
  { head: 'top candidate', numeric: false, min: 14, cut: 'start', dropOrder: 0, weight: 2 },
  { head: 'function', numeric: false, min: 8, cut: 'end', dropOrder: 1, weight: 1 },
  { head: 'score', numeric: true, min: 5, cut: 'end', dropOrder: 4, weight: 1 },
];

interface Line {
  cells: string[];
  /** Other candidates of a row, shown dimmed. */
  secondary: boolean;
}

/** Cut a location's symbol, keeping `+0xoff [module]` when that takes at most half the room. */
function fitLocation(text: string, width: number): string {
  const plus = text.lastIndexOf('+');
  const tail = plus > 0 ? text.slice(plus) : '';
  if (displayWidth(text) <= width || tail === '' || displayWidth(tail) > width / 2) return fitEnd(text, width);
  return fitEnd(text.slice(0, plus), width - displayWidth(tail)) + tail;
}

/** The function, and for a wrapper's own free the line that called it (what tells its calls apart). */
function functionCell(c: Candidate): string {
  const at = c.calledAt;
  if (at === undefined) return c.function;
  const where = at.file === c.file ? `line ${at.line}` : `${at.file.slice(at.file.lastIndexOf('/') + 1)}:${at.line}`;
  return `${c.function} ← ${where}`;
}

function candidateCells(c: Candidate): [string, string, string] {
  return [siteKey(c), functionCell(c), formatScore(c.score)];
}

function rowLines(row: ReportRow, allCandidates: boolean): Line[] {
  const [top, ...others] = row.candidates;
  const site: [string, string, string] = top !== undefined ? candidateCells(top) : [row.inIndex ? 'no candidate' : 'not in index', '', ''];
  const lines: Line[] = [{ cells: [String(row.count), sharePercent(row.share), row.location, rowReason(row), ...site], secondary: false }];
  if (allCandidates) for (const c of others) lines.push({ cells: ['', '', '', '', ...candidateCells(c)], secondary: true });
  return lines.map((l) => ({ ...l, cells: l.cells.map(printable) }));
}

/** Column widths that fit `width`, shrinking the widest (by weight) squeezable column one step at a time. */
function fitColumns(lines: readonly Line[], keep: readonly number[], width: number): number[] | null {
  const natural = keep.map((i) => largest(lines.map((l) => displayWidth(l.cells[i] ?? '')), displayWidth(COLUMNS[i]?.head ?? '')));
  const mins = keep.map((i, k) => Math.min(natural[k] ?? 0, COLUMNS[i]?.min ?? 0));
  const widths = [...natural];
  const budget = width - GAP * (keep.length - 1);
  let total = widths.reduce((a, b) => a + b, 0);
  while (total > budget) {
    let pick = -1;
    let pickSize = 0;
    for (let k = 0; k < widths.length; k++) {
      const w = widths[k] ?? 0;
      const size = w / (COLUMNS[keep[k] ?? 0]?.weight ?? 1);
      if (w > (mins[k] ?? 0) && (pick < 0 || size > pickSize)) {
        pick = k;
        pickSize = size;
      }
    }
    if (pick < 0) return null;
    widths[pick] = (widths[pick] ?? 1) - 1;
    total--;
  }
  return widths;
}

function renderRows(view: ReportView, opts: RenderOptions): string[] {
  const lines = view.rows.flatMap((r) => rowLines(r, opts.allCandidates));
  let keep = COLUMNS.map((_, i) => i);
  let widths = fitColumns(lines, keep, opts.width);
  // Too narrow even for the minimums: give up the least useful columns, one at a time.
  const droppable = COLUMNS.map((c, i) => ({ i, order: c.dropOrder })).filter((c) => c.order > 0).sort((a, b) => a.order - b.order);
  while (widths === null && droppable.length > 0) {
    const gone = droppable.shift()?.i;
    keep = keep.filter((i) => i !== gone);
    widths = fitColumns(lines, keep, opts.width);
  }
  const w = widths ?? keep.map((i) => COLUMNS[i]?.min ?? 1);
  const fit = (text: string, k: number): string => {
    const col = COLUMNS[keep[k] ?? 0];
    const room = w[k] ?? 0;
    return col?.cut === 'start' ? fitStart(text, room) : col?.cut === 'symbol' ? fitLocation(text, room) : fitEnd(text, room);
  };
  const head = keep.map((i, k) => bold(fit(COLUMNS[i]?.head ?? '', k), opts.color));
  const body = lines.map((l) => keep.map((i, k) => {
    const text = fit(l.cells[i] ?? '', k);
    return l.secondary ? dim(text, opts.color) : text;
  }));
  const numeric = keep.flatMap((i, k) => (COLUMNS[i]?.numeric === true ? [k] : []));
  return renderTable(head, body, { numeric }).split('\n');
}

function renderReasons(view: ReportView, opts: RenderOptions): string[] {
  if (view.byReason.length === 0) return [];
  const total = view.totals.drops;
  const room = Math.max(1, opts.width - 5 - 6 - 2 * GAP);
  const rows = view.byReason.map((r) => [String(r.count), sharePercent(total > 0 ? r.count / total : 0), fitEnd(printable(r.reason), room)]);
  const rest = view.byReasonRest !== null ? [fitEnd(`… and ${reasonRestLabel(view.byReasonRest)}`, opts.width)] : [];
  return ['', bold('drops by reason', opts.color), ...renderTable(['drops', 'share', 'reason'], rows, { numeric: [0, 1] }).split('\n'), ...rest];
}

function renderSkipped(view: ReportView, opts: RenderOptions): string[] {
  const total = view.totals.skippedLines;
  if (total === 0 && view.skipped.length === 0) return [];
  const shown = view.skipped.slice(0, SKIPPED_SHOWN);
  const out = ['', bold(`${Math.max(total, view.skipped.length)} input lines skipped${shown.length > 0 ? `, the first ${shown.length}:` : ''}`, opts.color)];
  for (const s of shown) {
    const why = ` (${printable(s.why)})`;
    const prefix = `  line ${s.lineNo}: `;
    const room = opts.width - displayWidth(prefix);
    const text = printable(s.line);
    // Keep the why when there is room for it; the line itself is what gets cut.
    const line = displayWidth(why) < room / 2 ? fitEnd(text, room - displayWidth(why)) + why : fitEnd(text + why, room);
    out.push(dim(fitEnd(prefix + line, opts.width), opts.color));
  }
  const more = Math.max(total, view.skipped.length) - shown.length;
  if (more > 0) out.push(fitEnd(`  … and ${more} more`, opts.width));
  return out;
}

function renderNotes(view: ReportView, opts: RenderOptions): string[] {
  const noted = view.rows.filter((r) => r.notes.length > 0);
  if (!opts.allCandidates || noted.length === 0) return [];
  const out = ['', bold('notes', opts.color)];
  for (const r of noted) {
    out.push(fitEnd(`  ${printable(r.location)}`, opts.width));
    for (const n of r.notes) out.push(...wrapText(printable(n), opts.width, '    '));
  }
  return out;
}

function renderWarnings(view: ReportView, opts: RenderOptions): string[] {
  const out: string[] = [];
  for (const w of view.warnings) {
    const [first = '', ...rest] = wrapText(`warning: ${printable(w)}`, opts.width, '');
    const cont = rest.join(' ');
    out.push(first.replace(/^warning:/, yellow('warning:', opts.color)));
    if (cont !== '') out.push(...wrapText(cont, opts.width, '  '));
  }
  return out.length > 0 ? ['', ...out] : [];
}

export function renderReportTable(view: ReportView, opts: RenderOptions): string {
  const width = Math.max(20, Math.floor(opts.width));
  const o: RenderOptions = { ...opts, width };
  const out: string[] = [
    bold(fitEnd(printable(view.title), width), o.color),
    ...wrapText(`source ${printable(view.source)} (${printable(view.format)}), tree ${printable(treeLabel(view))}`, width),
    ...wrapText(totalsLabel(view), width),
    '',
  ];
  if (view.rows.length === 0) out.push('no drops');
  else out.push(...renderRows(view, o));
  if (view.rest !== null && view.rest.locations > 0) out.push(fitEnd(`… and ${restLabel(view.rest)}`, width));
  out.push(...renderReasons(view, o), ...renderNotes(view, o), ...renderSkipped(view, o), ...renderWarnings(view, o));
  // Row cells are cut to their columns above; this only guards text that was not (a very narrow terminal).
  return out.map((l) => (displayWidth(l) > width && !l.includes('\u001b') ? fitEnd(l, width) : l)).join('\n') + '\n';
}
