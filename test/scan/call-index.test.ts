// The lookups the scan loop keeps from round to round (call-index.ts, name-matcher.ts) give what one
// fresh pass would: the same calls in the same order, however the summaries arrived.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { CallIndex, type CallRef } from '../../src/scan/call-index.ts';
import { FileScan } from '../../src/scan/file-scan.ts';
import { CallNames } from '../../src/scan/name-matcher.ts';
import type { FileSummary } from '../../src/scan/summary.ts';
import { fixture } from '../helpers/fixture.ts';

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourcesUnder(p));
    else if (/\.[ch]$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

const calledNames = (text: string): Set<string> => new Set(Array.from(text.matchAll(/\b([A-Za-z_]\w*)\s*\(/g), (m) => m[1] ?? ''));

/** Every function and macro of the fixture trees, as the scanner summarises them. */
function summaries(): FileSummary[] {
  const out: FileSummary[] = [];
  for (const tree of ['wrappers', 'helpers', 'missed-sites', 'tail-calls']) {
    const dir = fixture('scan', tree);
    for (const path of sourcesUnder(dir)) {
      const text = readFileSync(path, 'latin1');
      out.push(new FileScan(`${tree}/${relative(dir, path)}`, text).scan(calledNames(text)));
    }
  }
  return out;
}

const describe = (refs: readonly CallRef[] | undefined): string[] => (refs ?? []).map((r) => `${r.file}:${r.fn.name}:${r.call.line}:${r.call.column}`);

test('callers, passers and parameter calls are in the order of one pass, however the summaries arrived', () => {
  const all = summaries();
  const fresh = new CallIndex();
  for (const s of all) fresh.add(s.file, s);
  // Round by round: every file first gets its later half, then its earlier half, then everything again.
  const grown = new CallIndex();
  for (const s of all) grown.add(s.file, { ...s, functions: s.functions.slice(Math.floor(s.functions.length / 2)), macros: s.macros.slice(1) });
  for (const s of [...all].reverse()) grown.add(s.file, { ...s, functions: s.functions.slice(0, Math.floor(s.functions.length / 2)) });
  for (const s of all) grown.add(s.file, s);

  const callees = new Set(all.flatMap((s) => s.functions.flatMap((f) => f.calls.map((c) => c.callee))));
  assert.ok(callees.size > 50, `${callees.size} callees`);
  let compared = 0;
  for (const name of callees) {
    const want = describe(fresh.callersOf.get(name));
    const got = describe(grown.callersOf.get(name));
    // The grown index holds each file's functions in arrival order; the fresh one in file order.
    // Both must list a callee's callers by file rank, then function, then call.
    assert.deepEqual(got.map((x) => x.split(':')[0]), want.map((x) => x.split(':')[0]), name);
    assert.deepEqual(new Set(got), new Set(want), name);
    compared += want.length;
  }
  assert.ok(compared > 100, `${compared} calls compared`);
  for (const [file, u] of grown.files) {
    const order = new Map(u.functions.map((f, i) => [f, i]));
    for (const name of callees) {
      const refs = (grown.callersOf.get(name) ?? []).filter((r) => r.file === file);
      const places = refs.map((r) => order.get(r.fn) ?? -1);
      assert.deepEqual(places, [...places].sort((a, b) => a - b), `${file}: callers of ${name} in the file's order`);
    }
  }
  assert.deepEqual(grown.paramCalls.map((r) => r.file), fresh.paramCalls.map((r) => r.file));
  assert.ok(fresh.paramCalls.length > 0, 'the missed-sites tree calls function-pointer parameters');
  assert.ok(fresh.passedBy.size > 0);
  for (const name of fresh.passedBy.keys()) {
    assert.deepEqual(new Set(describe(grown.passedBy.get(name))), new Set(describe(fresh.passedBy.get(name))), `calls passing ${name}`);
  }
});

test('CallNames finds the calls an alternation of the names finds, in text order', () => {
  for (const tree of ['wrappers', 'missed-sites', 'macros-and-errors']) {
    for (const path of sourcesUnder(fixture('scan', tree))) {
      const text = readFileSync(path, 'latin1');
      const calls = new CallNames(text);
      const names = [...calledNames(text)];
      // Every other name, and a name that is only a prefix of called names.
      const some = new Set([...names.filter((_, i) => i % 2 === 0), 'kfree']);
      const pattern = new RegExp(`\\b(?:${[...some].join('|')})\\s*\\(`, 'g');
      assert.deepEqual(calls.calls(some), Array.from(text.matchAll(pattern), (m) => m.index), path);
      assert.deepEqual(calls.calls(new Set(['no_such_function_anywhere'])), []);
    }
  }
});
