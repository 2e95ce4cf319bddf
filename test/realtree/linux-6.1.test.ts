// dropsite index on a real Linux tree (Debian's linux-source-6.1, unpacked by .ci/run and named by
// DROPSITE_KERNEL_TREE). The expectations come from the tree itself, by means independent of the
// scanner: a plain textual search for drop calls, and the DEFINE_DROP_REASON list.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isGenericDropApi } from '../../src/kernel/drop-functions.ts';
import { openForRead } from '../../src/index/open.ts';
import { listApis, pickTree } from '../../src/index/read.ts';
import { CLI, runCli } from '../helpers/fixture.ts';

const tree = process.env.DROPSITE_KERNEL_TREE;
const skip = tree === undefined || tree === '' ? 'set DROPSITE_KERNEL_TREE to an unpacked linux-source-6.1 tree (.ci/run does)' : false;
const dir = mkdtempSync(join(tmpdir(), 'dropsite-real-'));
const db = join(dir, 'index.sqlite');
after(() => rmSync(dir, { recursive: true, force: true }));

interface Site { file: string; line: number; function: string; api: string; reason: string | null; reasons: string[]; reasonText: string | null; kind: string }
let sites: Site[] = [];

before(async () => {
  if (skip !== false) return;
  const r = await runCli(['index', tree ?? '', '--db', db]);
  assert.equal(r.code, 0, r.stderr);
  const s = await runCli(['sites', '--db', db, '--json']);
  assert.equal(s.code, 0, s.stderr);
  sites = JSON.parse(s.stdout) as Site[];
});

/** Comments and string literals replaced by spaces (newlines kept), written here independently of src/. */
function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const two = text.slice(i, i + 2);
    if (two === '/*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (two === '//') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      out += ' '.repeat(stop - i);
      i = stop;
    } else if (text[i] === '"' || text[i] === "'") {
      const q = text[i];
      let j = i + 1;
      while (j < text.length && text[j] !== q && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      out += ' '.repeat(Math.min(j + 1, text.length) - i);
      i = j + 1;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

function* cFiles(root: string, rel: string): Generator<string> {
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = `${rel}/${e.name}`;
    if (e.isDirectory()) yield* cFiles(root, p);
    else if (e.name.endsWith('.c')) yield p;
  }
}

/**
 * Calls of the core drop functions in one file, with the function whose body holds them, found the
 * way a careful person would with grep: kernel style opens a function body with `{` in column 0 after
 * its header and closes it with `}` in column 0.
 */
function textualCalls(text: string, names: readonly string[]): Array<{ line: number; api: string; function: string }> {
  const lines = stripComments(text).split('\n');
  const re = new RegExp(`(?<![\\w.>])(${names.join('|')})\\s*\\(`, 'g');
  const out: Array<{ line: number; api: string; function: string }> = [];
  let current: string | null = null;
  let header: string[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith('{')) {
      const h = header.join(' ');
      current = /([A-Za-z_]\w*)\s*\(/.exec(h.replace(/\b__(?:releases|acquires|must_hold|printf)\([^)]*\)/g, ''))?.[1] ?? null;
      header = [];
      return;
    }
    if (line.startsWith('}')) {
      current = null;
      header = [];
      return;
    }
    if (current === null) {
      if (/^\S/.test(line) && !line.startsWith('#')) header.push(line);
      else if (line.trim() === '' || line.startsWith('#')) header = line.startsWith('#') ? header : [];
      if (/;\s*$/.test(line)) header = [];
      return;
    }
    for (const m of line.matchAll(re)) out.push({ line: i + 1, api: m[1] ?? '', function: current });
  });
  return out;
}

test('every textual call of a drop function in net/**/*.c is indexed, in the right function', { skip }, (t) => {
  const root = tree ?? '';
  const apis = ['kfree_skb', 'kfree_skb_reason', 'consume_skb', 'kfree_skb_list', 'kfree_skb_list_reason', 'dev_kfree_skb',
    'dev_kfree_skb_any', 'dev_consume_skb_any', 'dev_kfree_skb_irq', 'dev_consume_skb_irq', 'napi_consume_skb', 'nlmsg_free'];
  const indexed = new Map(sites.map((s) => [`${s.file}:${s.line}:${s.api}`, s]));
  let total = 0;
  const missing: string[] = [];
  const wrongFunction: string[] = [];
  for (const file of cFiles(root, 'net')) {
    for (const c of textualCalls(readFileSync(join(root, file), 'latin1'), apis)) {
      total++;
      const s = indexed.get(`${file}:${c.line}:${c.api}`);
      if (s === undefined) missing.push(`${file}:${c.line} ${c.api} in ${c.function}`);
      else if (s.function !== c.function) wrongFunction.push(`${file}:${c.line} ${c.api}: index says ${s.function}, text says ${c.function}`);
    }
  }
  assert.ok(total > 1500, `the textual search found ${total} calls (expected about two thousand)`);
  const recall = (total - missing.length) / total;
  assert.ok(recall >= 0.995, `recall ${(recall * 100).toFixed(2)}% of ${total}; missing e.g.:\n${missing.slice(0, 15).join('\n')}`);
  const rightFn = (total - missing.length - wrongFunction.length) / (total - missing.length);
  t.diagnostic(`textual calls ${total}, missing ${missing.length} (recall ${(recall * 100).toFixed(2)}%), wrong function ${wrongFunction.length}`);
  for (const m of [...missing, ...wrongFunction].slice(0, 10)) t.diagnostic(m);
  assert.ok(rightFn >= 0.995, `enclosing function right for ${(rightFn * 100).toFixed(2)}%; e.g.:\n${wrongFunction.slice(0, 15).join('\n')}`);
});

test('__udp4_lib_rcv frees with a variable reason that NO_SOCKET reaches', { skip }, () => {
  const root = tree ?? '';
  const text = readFileSync(join(root, 'net/ipv4/udp.c'), 'latin1').split('\n');
  const assign = text.findIndex((l) => /drop_reason = SKB_DROP_REASON_NO_SOCKET;/.test(l));
  assert.ok(assign > 0, 'the tree assigns NO_SOCKET in udp.c');
  const call = text.findIndex((l, i) => i > assign && /kfree_skb_reason\(skb, drop_reason\);/.test(l));
  const site = sites.find((s) => s.file === 'net/ipv4/udp.c' && s.line === call + 1);
  assert.ok(site !== undefined, `a site at net/ipv4/udp.c:${call + 1}`);
  assert.equal(site.function, '__udp4_lib_rcv');
  assert.equal(site.api, 'kfree_skb_reason');
  assert.equal(site.reasonText, 'drop_reason');
  assert.ok(site.reasons.includes('NO_SOCKET'), `reasons ${JSON.stringify(site.reasons)}`);
});

test("the reasons table is the tree's enum, in order", { skip }, async () => {
  const root = tree ?? '';
  const header = readFileSync(join(root, 'include/net/dropreason.h'), 'latin1');
  const list = /#define DEFINE_DROP_REASON\(FN, FNe\)([\s\S]*?)\n\n/.exec(header)?.[1] ?? '';
  const names = [...list.matchAll(/FNe?\((\w+)\)/g)].map((m) => m[1]).filter((n) => n !== 'MAX');
  assert.ok(names.length > 50);
  const r = await runCli(['reasons', '--db', db, '--json']);
  const reasons = (JSON.parse(r.stdout) as Array<{ name: string; value: number; enumName: string }>).filter((x) => x.enumName === 'skb_drop_reason');
  assert.deepEqual(reasons.map((x) => x.name).filter((n) => n !== 'NOT_DROPPED_YET'), names);
  reasons.forEach((x, i) => assert.equal(x.value, i, `${x.name} has value ${i}`));
});

test('an index killed half-way leaves the previous index intact', { skip }, async () => {
  const beforeSize = statSync(db).size;
  const beforeBytes = readFileSync(db);
  // --all changes the file set, so this run cannot reuse the stored index: it reads the whole tree,
  // and is killed while it does.
  const child = spawn(process.execPath, [CLI, 'index', tree ?? '', '--db', db, '--all', '--quiet'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 2500));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.equal(statSync(db).size, beforeSize);
  assert.deepEqual(readFileSync(db), beforeBytes, 'the index file is byte-for-byte what it was');
  const s = await runCli(['sites', '--db', db, '--function', '__udp4_lib_rcv', '--json']);
  assert.equal(s.code, 0);
  assert.ok((JSON.parse(s.stdout) as unknown[]).length >= 2);
  const leftovers = readdirSync(dir).filter((n) => n.includes('.tmp-'));
  const again = await runCli(['index', tree ?? '', '--db', db, '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(leftovers.every((n) => !existsSync(join(dir, n))), 'temporaries of killed runs are removed by the next run');
});

interface Explained { function: string; candidates: Array<{ file: string; line: number; function: string; api: string; reasons: string[]; via: string[]; evidence: string[]; calledAt?: { file: string; line: number; function: string } }> }

test('explain: a newer kernel\'s NO_SOCKET location in __udp4_lib_rcv ranks the NO_SOCKET site of udp.c first', { skip }, async () => {
  const text = readFileSync(join(tree ?? '', 'net/ipv4/udp.c'), 'latin1').split('\n');
  const assign = text.findIndex((l) => /drop_reason = SKB_DROP_REASON_NO_SOCKET;/.test(l));
  const call = text.findIndex((l, i) => i > assign && /kfree_skb_reason\(skb, drop_reason\);/.test(l)) + 1;
  const r = await runCli(['explain', '--db', db, '--json', '__udp4_lib_rcv+0x4bc/0xd00', 'reason:', 'NO_SOCKET']);
  assert.equal(r.code, 0, r.stderr);
  const [e] = JSON.parse(r.stdout) as Explained[];
  const top = e?.candidates[0];
  assert.equal(`${top?.file}:${top?.line}`, `net/ipv4/udp.c:${call}`);
  assert.ok(top?.reasons.includes('NO_SOCKET'));
});

test('explain: tcp_v4_rcv+0x91/0x13f0 reason: NO_SOCKET ranks a NO_SOCKET site of tcp_ipv4.c first', { skip }, async () => {
  const r = await runCli(['explain', '--db', db, '--json', 'tcp_v4_rcv+0x91/0x13f0 reason: NO_SOCKET']);
  assert.equal(r.code, 0, r.stderr);
  const [e] = JSON.parse(r.stdout) as Explained[];
  const top = e?.candidates[0];
  assert.equal(top?.file, 'net/ipv4/tcp_ipv4.c');
  assert.equal(top?.function, 'tcp_v4_rcv');
  assert.ok(top?.reasons.includes('NO_SOCKET'), JSON.stringify(top));
});

test('tail calls: tcp_rcv_established ends by freeing, so its drops are explained at tcp_v4_do_rcv (another file)', { skip }, async () => {
  const s = await runCli(['sites', '--db', db, '--json', '--function', 'tcp_rcv_established']);
  const sites = JSON.parse(s.stdout) as Array<{ file: string; line: number; tail: boolean; reasons: string[] }>;
  const last = sites.find((x) => x.tail);
  assert.ok(last !== undefined, `a final free in tcp_rcv_established: ${s.stdout}`);
  assert.ok(last.reasons.includes('TCP_FLAGS'));
  const r = await runCli(['explain', '--db', db, '--json', 'tcp_v4_do_rcv+0x1d0/0x2b0 reason: TCP_FLAGS']);
  const [e] = JSON.parse(r.stdout) as Explained[];
  const top = e?.candidates[0];
  // Its last call is tcp_drop_reason(), a static wrapper inlined there: the drop is that wrapper's own free.
  const inner = JSON.parse((await runCli(['sites', '--db', db, '--json', '--function', 'tcp_drop_reason'])).stdout) as Array<{ file: string; line: number }>;
  assert.equal(inner.length, 1, JSON.stringify(inner));
  assert.equal(`${top?.file}:${top?.line}`, `${inner[0]?.file}:${inner[0]?.line}`);
  assert.deepEqual(top?.via, ['tcp_rcv_established', 'tcp_drop_reason']);
  assert.equal(top?.calledAt?.line, last.line);
  assert.ok(top?.evidence.some((x) => x.includes('as a jump')), JSON.stringify(top));
});


test('the driver free of 6.1: __dev_kfree_skb_any only forwards its caller\'s free (a generic drop function), dst_discard_out decides', { skip }, () => {
  const handle = openForRead(db);
  try {
    const apis = new Map(listApis(handle, pickTree(handle, undefined, db).id).map((a) => [a.name, a]));
    // `if (in_hardirq() || irqs_disabled()) __dev_kfree_skb_irq(skb, reason); else if (unlikely(reason ==
    // SKB_REASON_DROPPED)) kfree_skb(skb); else consume_skb(skb);`: the caller's reason chooses the free.
    const any = apis.get('__dev_kfree_skb_any');
    assert.equal(any?.file, 'net/core/dev.c');
    assert.equal(any.forwarder, true);
    assert.ok(isGenericDropApi(any));
    assert.ok(isGenericDropApi(apis.get('__dev_kfree_skb_irq')), 'the deferred free');
    // `kfree_skb(skb); return 0;` behind dst->output: its own free is the line.
    assert.equal(apis.get('dst_discard_out')?.forwarder, false);
    assert.equal(isGenericDropApi(apis.get('dst_discard_out')), false);
  } finally {
    handle.close();
  }
});
