// One self-contained HTML page: inline CSS and SVG, no script, nothing fetched. A Content-Security-Policy
// forbids scripts and every external load, as a second line of defence behind the escaping in html.ts.
import type { Candidate } from '../model.ts';
import { html, rawHtml, type Html } from './html.ts';
import { bucketSeconds, candidateReason, formatScore, formatSeconds, largest, reasonRestLabel, restLabel, roleLabel, rowReason, seenLabel, sharePercent, siteKey, snippetFor, totalsLabel, treeLabel } from './labels.ts';
import type { RenderOptions } from './render-options.ts';
import type { ReportRow, ReportView, Snippet } from './view.ts';

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE = `
:root { --fg: #1d2330; --muted: #5b6476; --line: #d9dee8; --bg: #ffffff; --panel: #f5f7fa; --bar: #3867a8; --bar-rest: #a4adbd; --bar-reason: #b5562a; --bar-time: #2f8a6a; --mark: #fff2b8; --warn: #fff4e0; --warn-line: #e0a43a; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 8px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 28px 0 8px; overflow-wrap: anywhere; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.warnings { background: var(--warn); border-left: 4px solid var(--warn-line); padding: 8px 16px; margin: 16px 0; }
.warnings ul { margin: 4px 0; padding-left: 20px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
.scroll { overflow-x: auto; }
th { font-weight: 600; color: var(--muted); background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; margin-top: 20px; }
figure { margin: 0; }
figcaption { font-weight: 600; margin: 0 0 4px; }
.chart { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
.chart svg { display: block; width: 100%; height: auto; }
.chart text { font: 13px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; fill: var(--fg); }
.chart .axis { fill: var(--muted); }
.chart line { stroke: var(--line); }
.bar { fill: var(--bar); }
.bar.rest { fill: var(--bar-rest); }
.bar.reason { fill: var(--bar-reason); }
.bar.time { fill: var(--bar-time); }
.row { border-top: 2px solid var(--line); margin-top: 28px; }
.meta { color: var(--muted); margin: 0 0 8px; }
.notes { margin: 8px 0; padding-left: 20px; color: var(--muted); }
.candidates td ul { margin: 0; padding-left: 16px; }
.candidates td.evidence { width: 36%; }
h2 code { font-size: 15px; }
.candidates tr.top td { background: #eef4ff; }
meter { width: 60px; vertical-align: middle; }
.snippet { margin: 10px 0; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
.snippet figcaption { background: var(--panel); padding: 4px 10px; border-bottom: 1px solid var(--line); font-weight: 400; }
.snippet pre { margin: 0; padding: 6px 0; overflow-x: auto; tab-size: 8; }
.snippet .l { display: block; padding: 0 10px; white-space: pre; }
.snippet .l.mark { background: var(--mark); box-shadow: inset 4px 0 0 var(--warn-line); }
.snippet .n { display: inline-block; min-width: 4ch; margin-right: 12px; text-align: right; color: var(--muted); user-select: none; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); }
.none { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
`;

/** Coordinates with one decimal: stable text, enough for a chart. */
const px = (n: number): string => (Math.round(n * 10) / 10).toString();

/** Cut a chart label to `max` characters; the full text stays in the bar's tooltip. */
const clip = (s: string, max: number): string => ([...s].length <= max ? s : `${[...s].slice(0, max - 1).join('')}…`);

/** Control characters other than tab shown as `\xNN` (a NUL or ESC from a log is not text). */
const visible = (s: string): string => s.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);

interface Bar {
  label: string;
  value: number;
  tooltip: string;
  kind: 'bar' | 'bar rest' | 'bar reason' | 'bar time';
}

/** Horizontal bars with labels on the left, values at the bar's end. */
function horizontalBars(bars: readonly Bar[], caption: string): Html {
  const W = 560;
  const LABEL = 230;
  const ROW = 24;
  const BAR = 16;
  const room = W - LABEL - 70;
  const max = largest(bars.map((b) => b.value), 1);
  const H = bars.length * ROW + 8;
  const items = bars.map((b, i) => {
    const y = 4 + i * ROW;
    const w = b.value > 0 ? Math.max(2, (b.value / max) * room) : 0;
    return html`<g><title>${b.tooltip}</title><text x="${px(LABEL - 8)}" y="${px(y + BAR - 4)}" text-anchor="end">${clip(visible(b.label), 28)}</text><rect class="${b.kind}" x="${px(LABEL)}" y="${px(y)}" width="${px(w)}" height="${BAR}" rx="2"></rect><text x="${px(LABEL + w + 6)}" y="${px(y + BAR - 4)}">${b.value}</text></g>`;
  });
  return html`<figure class="chart"><figcaption>${caption}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${caption}">${items}</svg></figure>`;
}

function locationChart(view: ReportView): Html {
  const bars: Bar[] = view.rows.map((r) => ({ label: r.location, value: r.count, tooltip: `${r.location}: ${r.count} drops (${sharePercent(r.share)}), ${rowReason(r)}`, kind: 'bar' }));
  if (view.rest !== null && view.rest.locations > 0) {
    bars.push({ label: `${view.rest.locations} other locations`, value: view.rest.drops, tooltip: restLabel(view.rest), kind: 'bar rest' });
  }
  return horizontalBars(bars, 'Drops by location');
}

function reasonChart(view: ReportView): Html {
  const bars: Bar[] = view.byReason.map((r) => ({ label: r.reason, value: r.count, tooltip: `${r.reason}: ${r.count} drops`, kind: 'bar reason' }));
  if (view.byReasonRest !== null) bars.push({ label: `${view.byReasonRest.reasons} other reasons`, value: view.byReasonRest.drops, tooltip: reasonRestLabel(view.byReasonRest), kind: 'bar rest' });
  return horizontalBars(bars, 'Drops by reason');
}

/** Columns per time bucket, with the time axis relative to the first bucket. */
function timelineChart(timeline: NonNullable<ReportView['timeline']>, unit: ReportView['timelineUnit']): Html {
  const W = 560;
  const H = 200;
  const LEFT = 44;
  const BOTTOM = 24;
  const TOP = 10;
  const first = timeline[0]?.start ?? 0;
  const step = bucketSeconds(timeline);
  const last = (timeline[timeline.length - 1]?.start ?? first) + step;
  const span = Math.max(step, last - first);
  const max = largest(timeline.map((b) => b.count), 1);
  const plotW = W - LEFT - 10;
  const plotH = H - TOP - BOTTOM;
  const colW = Math.max(1, (step / span) * plotW - 1);
  const cols = timeline.map((b) => {
    const x = LEFT + ((b.start - first) / span) * plotW;
    const h = b.count > 0 ? Math.max(1, (b.count / max) * plotH) : 0;
    const tip = unit === 'interval'
      ? `${step === 1 ? `interval ${b.start}` : `intervals ${b.start} to ${b.start + step - 1}`}: ${b.count} drops`
      : `${formatSeconds(b.start - first)} to ${formatSeconds(b.start - first + step)}: ${b.count} drops`;
    return html`<rect class="bar time" x="${px(x)}" y="${px(TOP + plotH - h)}" width="${px(colW)}" height="${px(h)}"><title>${tip}</title></rect>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const x = LEFT + f * plotW;
    return html`<text class="axis" x="${px(x)}" y="${H - 6}" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">+${unit === 'interval' ? String(Math.round(f * span)) : formatSeconds(f * span)}</text>`;
  });
  const caption = unit === 'interval'
    ? `Drops per reporting interval (the recording has no clock; ${step === 1 ? 'one interval' : `${step} intervals`} per bar, from interval ${first})`
    : `Drops over time (buckets of ${formatSeconds(step)}, from t = ${Number.isInteger(first) ? first : first.toFixed(3)} s)`;
  return html`<figure class="chart"><figcaption>${caption}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${caption}"><line x1="${LEFT}" y1="${TOP + plotH}" x2="${W - 10}" y2="${TOP + plotH}"></line><line x1="${LEFT}" y1="${TOP}" x2="${W - 10}" y2="${TOP}"></line><text class="axis" x="${LEFT - 6}" y="${TOP + 10}" text-anchor="end">${max}</text><text class="axis" x="${LEFT - 6}" y="${TOP + plotH}" text-anchor="end">0</text>${cols}${ticks}</svg></figure>`;
}

function snippetFigure(s: Snippet, title: string): Html {
  const lastNo = s.firstLine + s.lines.length - 1;
  const lines = s.lines.map((text, i) => {
    const n = s.firstLine + i;
    const marked = n >= s.markFrom && n <= s.markTo;
    return html`<span class="${marked ? 'l mark' : 'l'}"><span class="n">${n}</span>${visible(text)}</span>`;
  });
  return html`<figure class="snippet"><figcaption><code>${title}</code> <span class="meta">lines ${s.firstLine}–${lastNo}</span></figcaption><pre><code>${lines}</code></pre></figure>`;
}

/** Several reasons joined by `|`, with a break opportunity after each so that the column can wrap. */
function reasonCell(c: Candidate): Html {
  if (c.reason !== null || c.reasons.length === 0) return html`${visible(candidateReason(c))}`;
  return html`${c.reasons.map((r, i) => html`${i > 0 ? html`|<wbr>` : ''}${visible(r)}`)}`;
}

function candidateRow(c: Candidate, rank: number, rowIndex: number): Html {
  const via = c.via.length > 0 ? c.via.join(' → ') : '';
  const evidence = c.evidence.length > 0 ? html`<ul>${c.evidence.map((e) => html`<li>${visible(e)}</li>`)}</ul>` : html`<span class="none">none</span>`;
  const score = Number.isFinite(c.score) ? Math.min(1, Math.max(0, c.score)) : 0;
  return html`<tr class="${rank === 1 ? 'top' : 'other'}" id="row-${rowIndex + 1}-c${rank}"><td class="num">${rank}</td><td><code>${visible(siteKey(c))}</code>${c.endLine > c.line ? html`<span class="meta">–${c.endLine}</span>` : ''}</td><td><code>${visible(c.function)}</code><br><span class="meta">calls <code>${visible(c.api)}</code></span>${c.calledAt !== undefined ? html`<br><span class="meta">called at <code>${visible(`${c.calledAt.file}:${c.calledAt.line}`)}</code> in <code>${visible(c.calledAt.function)}()</code></span>` : ''}</td><td>${reasonCell(c)}</td><td>${roleLabel(c)}${via !== '' ? html`<br><span class="meta">via <code>${visible(via)}</code></span>` : ''}</td><td class="num">${formatScore(c.score)} <meter min="0" max="1" value="${score.toFixed(3)}"></meter></td><td class="evidence">${evidence}</td></tr>`;
}

function rowSection(view: ReportView, row: ReportRow, index: number, opts: RenderOptions): Html {
  const meta = [`${row.count} drops (${sharePercent(row.share)})`, `reason ${rowReason(row)}`, `event ${row.event}`, seenLabel(row, view.timelineUnit) ?? ''].filter((m) => m !== '');
  const notes = row.notes.length > 0 ? html`<ul class="notes">${row.notes.map((n) => html`<li>${visible(n)}</li>`)}</ul>` : '';
  const [top, ...others] = row.candidates;
  let body: Html;
  if (top === undefined) {
    body = html`<p class="none">${row.inIndex ? 'No candidate site in the index.' : `${visible(row.function)} is not in the index.`}</p>`;
  } else {
    const table = html`<div class="scroll"><table class="candidates"><thead><tr><th class="num">#</th><th>site</th><th>function</th><th>reason</th><th>role</th><th class="num">score</th><th>evidence</th></tr></thead><tbody>${row.candidates.map((c, i) => candidateRow(c, i + 1, index))}</tbody></table></div>`;
    const topSnippet = snippetFor(view, top);
    const otherSnippets = others.flatMap((c) => {
      const s = snippetFor(view, c);
      return s === undefined ? [] : [snippetFigure(s, `${visible(siteKey(c))} in ${visible(c.function)}()`)];
    });
    const more = otherSnippets.length > 0
      ? html`<details${opts.allCandidates ? rawHtml(' open') : ''}><summary>source of the other ${otherSnippets.length} candidate${otherSnippets.length === 1 ? '' : 's'}</summary>${otherSnippets}</details>`
      : '';
    body = html`${table}${topSnippet !== undefined ? snippetFigure(topSnippet, `${visible(siteKey(top))} in ${visible(top.function)}()`) : html`<p class="none">No source snippet for ${visible(siteKey(top))}.</p>`}${more}`;
  }
  return html`<section class="row" id="row-${index + 1}"><h2>${index + 1}. <code>${visible(row.location)}</code></h2><p class="meta">${meta.join(' · ')}</p>${notes}${body}</section>`;
}

function summaryTable(view: ReportView): Html {
  const rows = view.rows.map((r, i) => {
    const top = r.candidates[0];
    const site = top !== undefined ? html`<code>${visible(siteKey(top))}</code>` : html`<span class="none">${r.inIndex ? 'no candidate' : 'not in index'}</span>`;
    return html`<tr><td class="num">${i + 1}</td><td class="num">${r.count}</td><td class="num">${sharePercent(r.share)}</td><td><a href="#row-${i + 1}"><code>${visible(r.location)}</code></a></td><td>${visible(rowReason(r))}</td><td>${site}</td><td>${top !== undefined ? html`<code>${visible(top.function)}</code>` : ''}</td><td class="num">${top !== undefined ? formatScore(top.score) : ''}</td></tr>`;
  });
  const rest = view.rest !== null && view.rest.locations > 0 ? html`<p class="meta">… and ${restLabel(view.rest)}.</p>` : '';
  return html`<div class="scroll"><table><thead><tr><th class="num">#</th><th class="num">drops</th><th class="num">share</th><th>location</th><th>reason</th><th>top candidate</th><th>function</th><th class="num">score</th></tr></thead><tbody>${rows}</tbody></table></div>${rest}`;
}

function skippedSection(view: ReportView): Html | '' {
  const total = Math.max(view.totals.skippedLines, view.skipped.length);
  if (total === 0) return '';
  const rows = view.skipped.map((s) => html`<tr><td class="num">${s.lineNo}</td><td><code>${visible(s.line)}</code></td><td>${visible(s.why)}</td></tr>`);
  const shown = view.skipped.length < total ? html`<p class="meta">${total} lines skipped; the first ${view.skipped.length} are listed.</p>` : html`<p class="meta">${total} lines skipped.</p>`;
  return html`<section id="skipped"><h2>Skipped input lines</h2>${shown}${rows.length > 0 ? html`<div class="scroll"><table><thead><tr><th class="num">line</th><th>text</th><th>why</th></tr></thead><tbody>${rows}</tbody></table></div>` : ''}</section>`;
}

export function renderHtml(view: ReportView, opts: RenderOptions): string {
  const warnings = view.warnings.length > 0 ? html`<section class="warnings" id="warnings"><strong>Warnings</strong><ul>${view.warnings.map((w) => html`<li>${visible(w)}</li>`)}</ul></section>` : '';
  const charts = [
    view.rows.length > 0 ? locationChart(view) : '',
    view.byReason.length > 0 ? reasonChart(view) : '',
    view.timeline !== null && view.timeline.length > 0 ? timelineChart(view.timeline, view.timelineUnit) : '',
  ];
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="dropsite">
<title>${visible(view.title)}</title>
<style>${rawHtml(STYLE)}</style>
</head>
<body>
<header>
<h1>${visible(view.title)}</h1>
<dl class="facts">
<dt>source</dt><dd><code>${visible(view.source)}</code> (${visible(view.format)})</dd>
<dt>tree</dt><dd>${view.tree === null ? html`<span class="none">no index</span>` : html`<code>${visible(treeLabel(view))}</code>`}</dd>
<dt>totals</dt><dd>${totalsLabel(view)}</dd>
</dl>
</header>
${warnings}
<main>
<section id="summary"><h2>Drop locations</h2>${view.rows.length > 0 ? summaryTable(view) : html`<p class="none">No drops.</p>`}</section>
<section id="charts" class="charts">${charts}</section>
${view.rows.map((r, i) => rowSection(view, r, i, opts))}
${skippedSection(view)}
</main>
<footer>dropsite report</footer>
</body>
</html>
`;
  return page.text;
}
