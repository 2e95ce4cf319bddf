// The report renderers on hand-written views: a realistic one (fixtures/report/view-basic.json) and a
// hostile one whose symbols, evidence, source and log lines carry markup (view-hostile.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isReportFormat, REPORT_FORMATS, RENDERERS, type RenderOptions } from '../../src/report/formats.ts';
import { escapeHtml } from '../../src/report/html.ts';
import { renderHtml } from '../../src/report/render-html.ts';
import { renderJson } from '../../src/report/render-json.ts';
import { renderMarkdown } from '../../src/report/render-md.ts';
import { renderReportTable } from '../../src/report/render-table.ts';
import type { ReportView } from '../../src/report/view.ts';
import { fixture } from '../helpers/fixture.ts';

function loadView(name: string): ReportView {
  const view: ReportView = JSON.parse(readFileSync(fixture('report', name), 'utf8'));
  return view;
}

const basic = loadView('view-basic.json');
const hostile = loadView('view-hostile.json');
const opts = (o: Partial<RenderOptions> = {}): RenderOptions => ({ width: 160, color: false, allCandidates: false, ...o });
const site = (c: { file: string; line: number }): string => `${c.file}:${c.line}`;
const stripAnsi = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '');
const columns = (line: string): number => [...stripAnsi(line)].length;

test('the fixtures are what the tests need', () => {
  assert.ok(basic.rows.length >= 3 && basic.rows.length <= 6);
  assert.ok(basic.rows.some((r) => !r.inIndex && r.candidates.length === 0), 'a row not in the index');
  assert.ok(basic.timeline !== null && basic.skipped.length > 5 && basic.rest !== null);
  for (const r of basic.rows.filter((r) => r.candidates.length > 0)) {
    const top = r.candidates[0];
    assert.ok(top !== undefined && Object.hasOwn(basic.snippets, site(top)), `snippet for ${r.location}`);
  }
});

test('table: every line fits the width, with and without colour and other candidates', () => {
  for (const view of [basic, hostile]) {
    for (const width of [80, 160, 40]) {
      for (const allCandidates of [false, true]) {
        for (const color of [false, true]) {
          const out = renderReportTable(view, opts({ width, allCandidates, color }));
          for (const line of out.split('\n')) assert.ok(columns(line) <= width, `${columns(line)} > ${width}: ${JSON.stringify(line)}`);
        }
      }
    }
  }
});

test('table: counts, shares and the top candidate file:line of each row', () => {
  const wide = renderReportTable(basic, opts());
  const narrow = renderReportTable(basic, opts({ width: 80 }));
  for (const r of basic.rows) {
    const top = r.candidates[0];
    assert.match(wide, new RegExp(`^ +${r.count}  +${(r.share * 100).toFixed(1)}%  +${r.location.replace(/[[\]+.]/g, '\\$&')}`, 'm'));
    assert.match(narrow, new RegExp(`^ +${r.count}  +${(r.share * 100).toFixed(1)}%`, 'm'));
    if (top === undefined) continue;
    assert.ok(wide.includes(site(top)), site(top));
    // At 80 columns the path may lose its head, never the file name and line.
    assert.ok(narrow.includes(`${top.file.split('/').pop()}:${top.line}`), site(top));
  }
  assert.ok(wide.includes('not in index'));
  assert.match(wide, /^… and 4 more locations with 6 drops not shown$/m);
  assert.match(wide, /^source perf-script\.txt \(perf-script\), tree \/usr\/src\/linux-source-6\.1 \(Linux 6\.1\.0\)$/m);
  assert.match(wide, /^41 drops at 9 locations, 41 events, 7 lines skipped$/m);
  assert.match(wide, /^ +23 +56\.1% +NO_SOCKET$/m, 'reasons summary');
  assert.match(wide, /^warning: perf reported 12 lost events/m);
});

test('table: skipped lines show the first five with line numbers, then the total', () => {
  const out = renderReportTable(basic, opts());
  assert.match(out, /^7 input lines skipped, the first 5:$/m);
  for (const s of basic.skipped.slice(0, 5)) assert.match(out, new RegExp(`^  line ${s.lineNo}: `, 'm'));
  assert.ok(!out.includes(`line ${basic.skipped[5]?.lineNo}:`));
  assert.match(out, /^  … and 2 more$/m);
});

test('table: other candidates only with allCandidates', () => {
  const others = basic.rows.flatMap((r) => r.candidates.slice(1)).map(site);
  assert.ok(others.length > 0);
  const one = renderReportTable(basic, opts());
  const all = renderReportTable(basic, opts({ allCandidates: true }));
  assert.ok(others.every((s) => !one.includes(s)));
  assert.ok(others.every((s) => all.includes(s)));
});

test('table: control characters from a log line cannot reach the terminal', () => {
  const out = renderReportTable(hostile, opts());
  assert.ok(!out.includes('\u001b') && !out.includes('\r'));
  assert.ok(out.includes('\\x1b[31mred'));
});

/** Cells of a Markdown table line, split at pipes that are not escaped. */
const mdCells = (line: string): string[] => line.split(/(?<!\\)\|/).slice(1, -1);

function mdTableAfter(md: string, heading: string): string[] {
  const lines = md.split('\n');
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, heading);
  const table: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.startsWith('|')) table.push(l);
    else if (table.length > 0) break;
  }
  return table;
}

test('md: one valid table row per view row, pipes in cells escaped', () => {
  for (const view of [basic, hostile]) {
    const md = renderMarkdown(view, opts());
    const table = mdTableAfter(md, '## Drop locations');
    assert.equal(table.length, view.rows.length + 2);
    const width = mdCells(table[0] ?? '').length;
    assert.equal(width, 8);
    assert.match(table[1] ?? '', /^\|(---:?\|)+$/);
    for (const line of table) assert.equal(mdCells(line).length, width, line);
    for (const line of [table[0] ?? '', ...table.slice(2)]) assert.ok(line.startsWith('| ') && line.endsWith(' |'), line);
    view.rows.forEach((r, i) => assert.equal(mdCells(table[i + 2] ?? '')[1]?.trim(), String(r.count)));
  }
  const md = renderMarkdown(hostile, opts());
  assert.ok(md.includes('\\|pipe'), 'a pipe in a file name is escaped');
  assert.ok(md.includes('``evil<script>alert(1)</script>+0x10 [mod\\|"x"&`y`]``'), 'a backtick in a cell gets a longer code delimiter');
  assert.match(md, /^# Drops in \\<script\\>alert\(1\)\\<\/script\\> \\& "quoted"/m);
});

test('md: each top location has a c snippet with its lines marked', () => {
  const md = renderMarkdown(basic, opts());
  for (const r of basic.rows) {
    const top = r.candidates[0];
    if (top === undefined) continue;
    assert.ok(md.includes(`### ${basic.rows.indexOf(r) + 1}. \`${r.location}\``));
    assert.match(md, new RegExp(`^> ${top.line} \\| `, 'm'), `marked line ${site(top)}`);
  }
  assert.equal(md.split('\n').filter((l) => l === '```c').length, basic.rows.filter((r) => r.candidates.length > 0).length);
  assert.ok(mdTableAfter(md, '## Drops by reason').length === basic.byReason.length + 2);
  assert.match(md, /^## Skipped input lines$/m);
  assert.match(md, /^ 58: irq\/125-mlx5_comp/m);
  // The hostile source holds ``` itself: the fence is longer, so the block cannot be closed early.
  const evil = renderMarkdown(hostile, opts());
  assert.match(evil, /^````c$/m);
  assert.match(evil, /^> 12 \|/m);
  assert.match(evil, /^> 13 \|/m);
});

test('json: schemaVersion 1 first, round-trips the view, keys sorted', () => {
  const out = renderJson(basic, opts());
  const doc: unknown = JSON.parse(out);
  assert.deepEqual(doc, { schemaVersion: 1, ...basic });
  assert.match(out, /^\{\n {2}"schemaVersion": 1,\n {2}"byReason"/);
  assert.ok(out.includes('"snippets"') && out.includes('"net/ipv4/udp.c:126"'));
  // The same view built in another key order gives the same text.
  const reorder = (v: unknown): unknown => Array.isArray(v) ? v.map(reorder)
    : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorder(x)])) : v;
  const reordered: ReportView = JSON.parse(JSON.stringify(reorder(basic)));
  assert.equal(renderJson(reordered, opts()), out);
});

test('json: bigints (SQLite integers) become numbers, never a throw', () => {
  const view = structuredClone(basic);
  Reflect.set(view.totals, 'drops', 41n);
  Reflect.set(view.rows[0] ?? {}, 'count', 2n ** 60n);
  const doc: unknown = JSON.parse(renderJson(view, opts()));
  assert.equal(Reflect.get(Reflect.get(Object(doc), 'totals'), 'drops'), 41);
  assert.equal(Reflect.get(Reflect.get(Object(doc), 'rows')[0], 'count'), (2n ** 60n).toString());
});

/** Every tag the HTML renderer writes: anything else would have come from the data. */
const TAGS = new Set(['html', 'head', 'meta', 'title', 'style', 'body', 'header', 'main', 'footer', 'section', 'h1', 'h2', 'dl', 'dt', 'dd', 'p', 'ul', 'li',
  'div', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'code', 'pre', 'span', 'strong', 'a', 'br', 'wbr', 'meter', 'details', 'summary', 'figure', 'figcaption',
  'svg', 'g', 'rect', 'text', 'line']);

function assertSafeHtml(out: string): void {
  assert.ok(!/<script/i.test(out), 'no script element');
  assert.equal(out.match(/<\/style>/g)?.length, 1, 'only the stylesheet closes a style element');
  for (const m of out.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)) {
    const [tag, name = '', attrs = ''] = m;
    assert.ok(TAGS.has(name.toLowerCase()), `unexpected tag ${tag}`);
    assert.ok(!/\son[a-z]+\s*=/i.test(attrs), `event handler in ${tag}`);
    assert.ok(!/\b(src|srcset|action|formaction|xlink:href)\s*=/i.test(attrs), `resource attribute in ${tag}`);
    for (const h of attrs.matchAll(/\bhref\s*=\s*"([^"]*)"/gi)) assert.match(h[1] ?? '', /^#row-\d+$/, `link in ${tag}`);
    assert.ok(!/(https?:)?\/\//.test(attrs), `URL in ${tag}`);
  }
  assert.ok(!/<!DOCTYPE html>[\s\S]*<!DOCTYPE/i.test(out));
}

test('html: everything from the view is escaped, markup and attributes alike', () => {
  const out = renderHtml(hostile, opts({ allCandidates: true }));
  assertSafeHtml(out);
  assert.ok(!out.includes('<script>alert'));
  assert.ok(out.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(out.includes(`<title>${escapeHtml('Drops in <script>alert(1)</script> & "quoted" </style> \'single\'')}</title>`));
  assert.ok(out.includes('fn_&quot;quoted&quot;&amp;amp;&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(out.includes('&lt;/style&gt;'));
  assert.ok(out.includes('\\x1b[31mred'), 'control characters are shown, not passed on');
  assert.equal(escapeHtml(`<a href="x" title='y'>&\``), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;');
});

test('html: self-contained, nothing to fetch', () => {
  const out = renderHtml(basic, opts());
  assertSafeHtml(out);
  assert.ok(!/https?:\/\//i.test(out), 'no URL at all');
  assert.ok(!/@import|url\(/i.test(out), 'no CSS import or url()');
  assert.match(out, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;/);
});

test('html: title, charts, each row with its candidates and marked snippet', () => {
  const out = renderHtml(basic, opts());
  assert.ok(out.startsWith('<!DOCTYPE html>\n<html lang="en">'));
  assert.ok(out.includes('<title>Packet drops in perf-script.txt</title>'));
  assert.ok(out.includes('<h1>Packet drops in perf-script.txt</h1>'));
  assert.ok(out.includes('<figcaption>Drops by location</figcaption>'));
  assert.ok(out.includes('<figcaption>Drops by reason</figcaption>'));
  assert.ok(out.includes('<figcaption>Drops over time (buckets of 1s, from t = 8123 s)</figcaption>'));
  assert.equal(out.match(/<rect class="bar time"/g)?.length, basic.timeline?.length);
  assert.equal(out.match(/<rect class="bar reason"/g)?.length, basic.byReason.length);
  basic.rows.forEach((r, i) => {
    assert.ok(out.includes(`<section class="row" id="row-${i + 1}"><h2>${i + 1}. <code>${escapeHtml(r.location)}</code></h2>`));
    for (const c of r.candidates) assert.ok(out.includes(`<code>${escapeHtml(site(c))}</code>`), site(c));
  });
  assert.ok(out.includes('<span class="l mark"><span class="n">126</span>\tkfree_skb_reason(skb, drop_reason);</span>'));
  assert.ok(out.includes('mlx5e_handle_rx_cqe is not in the index.'));
  assert.ok(out.includes('<td class="num">58</td><td><code>irq/125-mlx5_comp'));
  assert.ok(out.includes('perf reported 12 lost events'));
  // Other candidates' source is folded away unless every candidate is asked for.
  assert.ok(out.includes('<details><summary>source of the other 3 candidates</summary>'));
  assert.ok(renderHtml(basic, opts({ allCandidates: true })).includes('<details open><summary>source of the other 3 candidates</summary>'));
  const noTimeline = renderHtml({ ...basic, timeline: null }, opts());
  assert.ok(!noTimeline.includes('Drops over time'));
});

test('formats: one renderer per format, all returning text', () => {
  assert.deepEqual([...REPORT_FORMATS], ['table', 'md', 'json', 'html']);
  assert.ok(isReportFormat('md') && !isReportFormat('xml') && !isReportFormat('constructor'));
  for (const f of REPORT_FORMATS) {
    const out = RENDERERS[f](basic, opts());
    assert.ok(out.length > 100 && out.endsWith('\n'), f);
  }
  const empty: ReportView = { ...basic, rows: [], rest: null, byReason: [], timeline: null, skipped: [], snippets: {}, warnings: [],
    totals: { events: 0, drops: 0, locations: 0, skippedLines: 0 }, tree: null };
  for (const f of REPORT_FORMATS) assert.doesNotThrow(() => RENDERERS[f](empty, opts()), f);
});

test('md, html, json: a wrapper\'s free shows the call that reached it (calledAt)', () => {
  const view: ReportView = structuredClone(basic);
  const row = view.rows.find((r) => r.candidates.length > 0);
  const top = row?.candidates[0];
  assert.ok(top !== undefined);
  top.calledAt = { file: 'net/ipv4/tcp_input.c', line: 5017, function: 'tcp_data_queue' };
  assert.match(renderMarkdown(view, opts()), /, called at `net\/ipv4\/tcp_input\.c:5017` in `tcp_data_queue\(\)`,/);
  assert.ok(renderHtml(view, opts()).includes('called at <code>net/ipv4/tcp_input.c:5017</code> in <code>tcp_data_queue()</code>'));
  assert.match(renderJson(view, opts()), /"calledAt": \{\s*"file": "net\/ipv4\/tcp_input\.c",\s*"function": "tcp_data_queue",\s*"line": 5017/);
  // The table's function column names the calling line too (same file: its line only).
  const table = renderReportTable(view, opts({ width: 200 }));
  assert.ok(table.includes(`${top.function} ← ${top.file === 'net/ipv4/tcp_input.c' ? 'line 5017' : 'tcp_input.c:5017'}`), table);
  // Without it, nothing is printed.
  assert.ok(!renderMarkdown(basic, opts()).includes('called at'));
  assert.ok(!renderReportTable(basic, opts({ width: 200 })).includes(' ← '));
});
