// The HTML report in a real browser: headless Chromium loads it from a file, and the test reads what
// Chromium logs (every console message, with --enable-logging=stderr) and the screenshot it takes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { renderHtml } from '../../src/report/render-html.ts';
import type { ReportView } from '../../src/report/view.ts';
import { fixture } from '../helpers/fixture.ts';
import { decodePng, nonBackgroundShare } from './png.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : 'install chromium (Debian package chromium) to run the browser test; .ci/run installs it';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-html-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function loadView(name: string): ReportView {
  const view: ReportView = JSON.parse(readFileSync(fixture('report', name), 'utf8'));
  return view;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One headless Chromium with a fresh profile and no network chatter; `mode` is the extra flag. */
function runChromium(page: string, mode: string[], name: string): Promise<Run> {
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${join(dir, `profile-${name}`)}`, '--enable-logging=stderr', '--v=0',
    ...mode, pathToFileURL(page).href,
  ];
  return new Promise((resolve) => {
    execFile(CHROMIUM, args, { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Console messages and uncaught errors as Chromium logs them: `[…:INFO:CONSOLE:12] "msg", source: file:///… (12)`. */
const consoleLines = (stderr: string): string[] => stderr.split('\n').filter((l) => /CONSOLE|Uncaught/.test(l));

test('the console check sees what a page logs (control page)', { skip }, async () => {
  const page = join(dir, 'control.html');
  writeFileSync(page, '<!DOCTYPE html><title>control</title><p>control</p><script>console.error("dropsite-control"); missingFunction();</script>\n');
  const run = await runChromium(page, ['--screenshot=' + join(dir, 'control.png'), '--window-size=400,300'], 'control');
  assert.equal(run.code, 0, run.stderr);
  const lines = consoleLines(run.stderr);
  assert.ok(lines.some((l) => l.includes('dropsite-control')), run.stderr);
  assert.ok(lines.some((l) => l.includes('Uncaught ReferenceError')), run.stderr);
});

test('the realistic report renders in Chromium without console errors, and is not blank', { skip }, async () => {
  const page = join(dir, 'view-basic.html');
  const shot = join(dir, 'shot.png');
  writeFileSync(page, renderHtml(loadView('view-basic.json'), { width: 120, color: false, allCandidates: false }));
  const run = await runChromium(page, [`--screenshot=${shot}`, '--window-size=1200,1600'], 'basic');
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(consoleLines(run.stderr), []);
  const url = pathToFileURL(page).href;
  assert.deepEqual(run.stderr.split('\n').filter((l) => l.includes(url) && /ERROR|WARNING/.test(l)), [], 'no error logged about the page');
  const png = decodePng(readFileSync(shot));
  assert.equal(png.width, 1200);
  assert.equal(png.height, 1600);
  const share = nonBackgroundShare(png);
  assert.ok(share > 0.02, `only ${(share * 100).toFixed(2)}% of the pixels differ from the background`);
  // UPDATE_GOLDEN=1 refreshes the README screenshot.
  if (process.env.UPDATE_GOLDEN === '1') copyFileSync(shot, fixture('report', 'screenshot.png'));
});

test('the hostile report parses to a DOM without scripts or handlers', { skip }, async () => {
  const page = join(dir, 'view-hostile.html');
  writeFileSync(page, renderHtml(loadView('view-hostile.json'), { width: 120, color: false, allCandidates: true }));
  const run = await runChromium(page, ['--dump-dom'], 'hostile');
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(consoleLines(run.stderr), []);
  const dom = run.stdout;
  assert.ok(dom.includes('<h1>Drops in &lt;script&gt;alert(1)&lt;/script&gt;'), dom.slice(0, 2000));
  assert.ok(!/<script/i.test(dom), 'no script element');
  assert.ok(!/<(img|svg|a)\s[^>]*\son[a-z]+=/i.test(dom), 'no element with an event handler');
  assert.equal(dom.match(/<style>/g)?.length, 1);
});
