// Machine-code mode on the real Debian 6.1 packages: linux-image-6.1.0-56-amd64-unsigned (6.1.192-2)
// unpacked with dpkg-deb -x (DROPSITE_KERNEL_IMAGE_DIR) and the matching linux-source-6.1 tree
// (DROPSITE_KERNEL_TREE); .ci/run exports both. No debug info and no compiler are used.
// The expected lines were checked by hand against `objdump -d` of the image (extract-vmlinux) and of
// the module with its relocations (`objdump -dr vxlan.ko`).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import type { Explanation } from '../../src/model.ts';
import { fixture, runCli } from '../helpers/fixture.ts';

const tree = process.env['DROPSITE_KERNEL_TREE'];
const imageDir = process.env['DROPSITE_KERNEL_IMAGE_DIR'];
const vmlinuz = imageDir === undefined ? '' : join(imageDir, 'boot/vmlinuz-6.1.0-56-amd64');
const modules = imageDir === undefined ? '' : join(imageDir, 'lib/modules');
const skip = tree === undefined || tree === '' ? 'set DROPSITE_KERNEL_TREE to an unpacked linux-source-6.1 tree (.ci/run does)'
  : imageDir === undefined || imageDir === '' ? 'set DROPSITE_KERNEL_IMAGE_DIR to a dpkg-deb -x of linux-image-6.1.0-56-amd64-unsigned (.ci/run does)'
  : !existsSync(vmlinuz) ? `DROPSITE_KERNEL_IMAGE_DIR has no boot/vmlinuz-6.1.0-56-amd64 (${vmlinuz})`
  : false;

const dir = mkdtempSync(join(tmpdir(), 'dropsite-machine-code-'));
const db = join(dir, 'index.sqlite');
const sampleDb = join(dir, 'sample.sqlite');
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  await buildIndex(fixture('sample'), { db: sampleDb });
  if (skip !== false) return;
  const r = await runCli(['index', tree ?? '', '--db', db, '-q']);
  assert.equal(r.code, 0, r.stderr);
});

async function explainJson(args: string[]): Promise<Explanation[]> {
  const r = await runCli(['explain', '--db', db, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Explanation[];
}

test('dropwatch form, four plain kfree_skb sites: the -EMSGSIZE return after the call decides udp_send_skb+0x339', { skip }, async () => {
  const [e] = await explainJson(['--kernel', vmlinuz, 'udp_send_skb+0x339']);
  assert.ok(e !== undefined);
  assert.equal(e.method, 'machine-code');
  // The input had neither size nor reason: the image's symbols and the %esi constant supply them.
  assert.equal(e.size, 0x380);
  assert.equal(e.reason, 'NOT_SPECIFIED');
  const sameReason = e.candidates.filter((c) => c.file === 'net/ipv4/udp.c' && c.reasons.includes('NOT_SPECIFIED'));
  assert.ok(sameReason.length >= 4, `udp_send_skb has four NOT_SPECIFIED sites; got ${sameReason.length}`);
  const top = e.candidates[0];
  assert.ok(top !== undefined);
  assert.equal(`${top.file}:${top.line}`, 'net/ipv4/udp.c:1008');
  assert.ok(top.evidence.some((x) => x.includes('$0xffffffa6 (-EMSGSIZE)')), top.evidence.join('\n'));
  assert.ok(top.score > (e.candidates[1]?.score ?? 0) * 2, 'the code separates it from the other same-reason sites');
  assert.ok(e.notes.some((n) => n.includes('calls kfree_skb_reason at +0x334')), e.notes.join('\n'));
});

test('a module location is read from the .ko and its relocations: vxlan_xmit_one+0x52a [vxlan] is the tx_error free', { skip }, async () => {
  const [e] = await explainJson(['--modules', modules, 'vxlan_xmit_one+0x52a [vxlan]']);
  assert.ok(e !== undefined);
  assert.equal(e.method, 'machine-code');
  const top = e.candidates[0];
  assert.ok(top !== undefined);
  assert.equal(`${top.file}:${top.line}`, 'drivers/net/vxlan/vxlan_core.c:2817');
  // dst_release and kfree_skb_reason are both relocation targets in vxlan.ko: no image symbols exist for them.
  assert.ok(top.evidence.some((x) => x.includes('dst_release')), top.evidence.join('\n'));
  assert.ok(e.notes.some((n) => n.includes('vxlan.ko') && n.includes('kfree_skb_reason')), e.notes.join('\n'));
  const dropLabel = e.candidates.find((c) => c.line === 2805);
  assert.ok(dropLabel !== undefined && dropLabel.evidence.some((x) => x.includes('consume_skb() does not reach') || x.includes('does not reach')), 'the drop: label frees with dev_kfree_skb (consume_skb in 6.1)');
});

test('a truncated vmlinuz gets a one-line error naming the file', { skip }, async () => {
  const cut = join(dir, 'vmlinuz-truncated');
  writeFileSync(cut, readFileSync(vmlinuz).subarray(0, 3 * 1024 * 1024));
  const r = await runCli(['explain', '--db', db, '--kernel', cut, 'udp_send_skb+0x339']);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^dropsite: --kernel: .*vmlinuz-truncated: (truncated|cannot decompress)/);
});

test('a file that is not a kernel gets a one-line error naming it', async () => {
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'these are not the droids\n');
  const r = await runCli(['explain', '--db', sampleDb, '--kernel', text, 'udp_queue_rcv_one_skb+0x20']);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^dropsite: --kernel: .*notes\.txt is not a kernel image \(expected a bzImage vmlinuz or an ELF vmlinux\)$/);
});

test('report --kernel ranks a dropwatch recording\'s rows with the code too', { skip }, async () => {
  const rec = join(dir, 'dropwatch.txt');
  writeFileSync(rec, 'drop at: udp_send_skb+339 (0xffffffff818b70c9)\norigin: software\n');
  const r = await runCli(['report', '--db', db, '--kernel', vmlinuz, '--as', 'json', rec]);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { rows: Array<{ candidates: Array<{ file: string; line: number; evidence: string[] }> }> };
  const top = view.rows[0]?.candidates[0];
  assert.equal(`${top?.file}:${top?.line}`, 'net/ipv4/udp.c:1008');
  assert.ok(top?.evidence.some((x) => x.includes('-EMSGSIZE')));
});
