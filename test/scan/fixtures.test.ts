// The scanner on hand-written kernel-style trees: every expected site, nothing else, the right
// wrappers and roots. Expectations live in fixtures/scan/<case>/expected.json, written from the
// source by hand, independently of the scanner.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseDropReasons } from '../../src/kernel/drop-reasons.ts';
import { scanTree } from '../../src/scan/scan-tree.ts';
import { fixture } from '../helpers/fixture.ts';

interface Expected {
  sites: Array<{ file: string; line: number; function: string; api: string; kind: string; reasons: string[]; tail?: boolean }>;
  wrappers: string[];
  roots: string[];
  reasons: string[];
  notSites: Array<{ file: string; line: number; why?: string }>;
  calls?: Array<{ file: string; line: number; caller: string; callee: string; calleeFile: string; kind?: 'inline' | 'tail' }>;
  notCalls?: Array<{ file: string; line: number; why: string }>;
}

for (const name of ['basic', 'reason-variable', 'wrappers', 'helpers', 'macros-and-errors', 'tail-calls']) {
  test(`scan fixture ${name}`, async () => {
    const dir = fixture('scan', name);
    const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as Expected;
    const { resolution } = await scanTree(dir);
    const key = (s: { file: string; line: number; api: string }): string => `${s.file}:${s.line} ${s.api}`;
    const found = new Map(resolution.sites.map((s) => [key(s), s]));
    for (const e of expected.sites) {
      const s = found.get(key(e));
      assert.ok(s !== undefined, `missing site ${key(e)} in ${e.function}`);
      assert.equal(s.function, e.function, `enclosing function of ${key(e)}`);
      assert.equal(s.kind, e.kind, `kind of ${key(e)}`);
      assert.deepEqual([...s.reasons].sort(), [...e.reasons].sort(), `reasons of ${key(e)}`);
      if (e.tail !== undefined) assert.equal(s.tail, e.tail, `tail position of ${key(e)}`);
    }
    const expectedKeys = new Set(expected.sites.map(key));
    const extra = resolution.sites.filter((s) => !expectedKeys.has(key(s))).map(key);
    assert.deepEqual(extra, [], 'sites the fixture does not expect');
    for (const n of expected.notSites) {
      assert.ok(!resolution.sites.some((s) => s.file === n.file && s.line === n.line), `${n.file}:${n.line} is not a site (${n.why ?? ''})`);
    }
    const roots = resolution.apis.filter((a) => a.role === 'root').map((a) => a.name).sort();
    assert.deepEqual(roots, [...expected.roots].sort(), 'roots');
    const wrappers = resolution.apis.filter((a) => a.role === 'wrapper').map((a) => a.name).sort();
    assert.deepEqual(wrappers, [...expected.wrappers].sort(), 'wrappers');
    for (const c of expected.calls ?? []) {
      assert.ok(resolution.edges.some((e) => e.file === c.file && e.line === c.line && e.callee === c.callee && e.caller === c.caller && e.calleeFile === c.calleeFile
        && (c.kind === undefined || e.kind === c.kind)), `edge ${c.caller} -> ${c.callee} at ${c.file}:${c.line}${c.kind !== undefined ? ` (${c.kind})` : ''}`);
    }
    for (const c of expected.notCalls ?? []) {
      assert.ok(!resolution.edges.some((e) => e.file === c.file && e.line === c.line), `no edge at ${c.file}:${c.line} (${c.why})`);
    }
    assert.equal(resolution.usedSeeds, false);
    const reasons = parseDropReasons(readFileSync(`${dir}/include/net/dropreason.h`, 'latin1'), 'include/net/dropreason.h')
      .filter((r) => r.enumName === 'skb_drop_reason' && r.name !== 'NOT_DROPPED_YET' && r.name !== 'CONSUMED').map((r) => r.name);
    assert.deepEqual(reasons, expected.reasons, 'reasons in enum order');
  });
}
