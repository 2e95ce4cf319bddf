// A hostile tree rewrites the user's terminal only if dropsite prints its control characters raw.
// File names, the Makefile's version, kernel-doc text, source lines and symbol maps carry ESC, OSC,
// CR, BEL, C1 and DEL here; no text output of any command may pass one through.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { printable } from '../../src/report/terminal-text.ts';
import { fixture } from '../helpers/fixture.ts';
import { copySample, runCliTimed } from '../helpers/hostile.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-escapes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// The tree's own folder name carries an escape too: it is shown as the tree's root.
const tree = join(dir, 'tree\u001b[2J');
const db = join(dir, 'index.sqlite');
const EVIL_FILE = 'net/ipv4/evil\u001b]0;owned\u0007\r.c';

/** Any byte a terminal acts on: C0 but tab and newline, DEL, C1. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

function assertClean(what: string, text: string): void {
  const m = CONTROL.exec(text);
  assert.equal(m, null, `${what} prints a raw control character U+${m?.[0].charCodeAt(0).toString(16).padStart(4, '0')} near ${JSON.stringify(text.slice(Math.max(0, (m?.index ?? 0) - 30), (m?.index ?? 0) + 30))}`);
}

before(async () => {
  copySample(tree);
  const mk = join(tree, 'Makefile');
  writeFileSync(mk, readFileSync(mk, 'latin1').replace(/^EXTRAVERSION =.*$/m, 'EXTRAVERSION = -rc1\u001b]8;;http://x/\u0007'));
  const reasons = join(tree, 'include/net/dropreason.h');
  writeFileSync(reasons, readFileSync(reasons, 'latin1').replace('no socket wants the packet (closed port)', 'no socket \u001b[31mwants\u009b2J the packet\u007f'));
  writeFileSync(join(tree, EVIL_FILE), [
    '/* Fixture: a hostile file whose name and lines carry terminal escapes. */',
    '#include <linux/skbuff.h>',
    'int evil_rcv(struct sk_buff *skb)',
    '{',
    '\t/* \u001b]52;c;cm0gLXJmIH4=\u0007 clipboard write, \r carriage return */',
    '\tkfree_skb_reason(skb, SKB_DROP_REASON_NO_SOCKET);',
    '\treturn 0;',
    '}',
    '',
  ].join('\n'), 'latin1');
  const r = await runCliTimed(['index', tree, '--db', db]);
  assert.equal(r.code, 0, r.stderr);
  assertClean('index', r.stdout + r.stderr);
});

test('printable: one escaping of every control character, visible and reversible by eye', () => {
  assert.equal(printable('a\u001b[31mb'), 'a\\x1b[31mb');
  assert.equal(printable('x\r\ny'), 'x\\x0d\\x0ay');
  assert.equal(printable('bell\u0007 del\u007f c1\u009b'), 'bell\\x07 del\\x7f c1\\x9b');
  assert.equal(printable('tab\there'), 'tab here');
  assert.equal(printable('rtl\u202eevil'), 'rtl\\u202eevil', 'bidi overrides reorder what the user reads');
  assert.equal(printable('plain ü 漢字'), 'plain ü 漢字');
});

test('sites, reasons and trees print no raw control character', { timeout: 20_000 }, async () => {
  for (const args of [['sites'], ['sites', '--file', 'net/ipv4/*'], ['reasons'], ['trees']]) {
    const r = await runCliTimed([...args, '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    assertClean(args.join(' '), r.stdout + r.stderr);
  }
  const sites = await runCliTimed(['sites', '--db', db, '--function', 'evil_rcv']);
  assert.match(sites.stdout, /evil\\x1b\]0;owned\\x07\\x0d\.c/, 'the name is shown, escaped');
});

test('explain prints the hostile file name and source lines escaped', { timeout: 20_000 }, async () => {
  const r = await runCliTimed(['explain', '--db', db, 'evil_rcv+0x10/0x40', '--context', '3']);
  assert.equal(r.code, 0, r.stderr);
  assertClean('explain', r.stdout + r.stderr);
  assert.match(r.stdout, /\\x1b\]52;c;/);
  const typo = await runCliTimed(['explain', '--db', db, 'evil\u001b[2J_rcv+0x10/0x40']);
  assertClean('explain of a hostile location', typo.stdout + typo.stderr);
});

test('explain names raw addresses from a hostile symbol map, escaped', { timeout: 20_000 }, async () => {
  const map = join(dir, 'kallsyms');
  writeFileSync(map, 'ffffffff81000000 T _text\nffffffff81000100 t evil_rcv\u001b[2J\nffffffff81000200 T next_fn\n');
  const r = await runCliTimed(['explain', '--db', db, '--kallsyms', map, '0xffffffff81000110']);
  assertClean('explain --kallsyms', r.stdout + r.stderr);
});

test('report as a table prints no raw control character', { timeout: 20_000 }, async () => {
  const rec = join(dir, 'rec.txt');
  writeFileSync(rec, `${readFileSync(fixture('sample', 'recording', 'dropwatch.txt'), 'latin1')}1 drops at evil_rcv+10 (0xffffffff81000110) [\u001b]0;x\u0007]\n`);
  const r = await runCliTimed(['report', '--db', db, rec, '--all-candidates']);
  assert.equal(r.code, 0, r.stderr);
  assertClean('report', r.stdout + r.stderr);
});

test('errors and warnings on stderr are escaped too', { timeout: 20_000 }, async () => {
  const r = await runCliTimed(['report', '--db', db, join(dir, 'no\u001b[2Jsuch\rfile')]);
  assert.equal(r.code, 1);
  assertClean('an error naming a hostile path', r.stderr);
  assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('  hint:')).length, 1, 'still one line');
});
