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

// objdump -d of the image: ip_mr_input+0x35d is `mov $1,%esi; mov %rbx,%rdi; call kfree_skb_reason` and then
// `mov %r14d,%eax` (PTR_ERR(mrt)); only two branches enter it, `ja` at +0x76 and +0x181, each right after
// `call ipmr_rt_fib_lookup; mov %rax,%r14; cmp $0xfffffffffffff000,%rax` (IS_ERR(mrt)).
test('dropwatch form, several NOT_SPECIFIED kfree_skb sites: the call the branch into the drop block tests decides ip_mr_input+0x36a', { skip }, async () => {
  const [e] = await explainJson(['--kernel', vmlinuz, 'ip_mr_input+36a']);
  assert.ok(e !== undefined);
  assert.equal(e.method, 'machine-code');
  assert.equal(e.reason, 'NOT_SPECIFIED');
  const sameReason = e.candidates.filter((c) => c.file === 'net/ipv4/ipmr.c' && c.function === 'ip_mr_input' && c.reasons.includes('NOT_SPECIFIED'));
  assert.ok(sameReason.length >= 3, `ip_mr_input frees with kfree_skb in several places; got ${sameReason.length}`);
  const top = e.candidates[0];
  assert.ok(top !== undefined);
  assert.equal(`${top.file}:${top.line}`, 'net/ipv4/ipmr.c:2133');
  assert.ok(top.evidence.some((x) => x.includes('the branches into this drop block test what ipmr_rt_fib_lookup returns')), top.evidence.join('\n'));
  assert.ok(!e.candidates.slice(1).some((c) => c.evidence.some((x) => x.includes('test what ipmr_rt_fib_lookup returns'))), 'no other site is under that condition');
  assert.ok(top.score > (e.candidates[1]?.score ?? 0) * 1.5, 'the code separates it from the other same-reason sites');
});

// objdump -d: __udp4_lib_rcv+0x86b is `call consume_skb` with %rdi from %rbx, which +0x849 set from the result of
// `call skb_clone` at +0x844 (`mov %rax,%rbx`): the inlined __udp4_lib_mcast_deliver's consume_skb(nskb), not
// its consume_skb(skb) at +0x8bb (%rdi from a stack slot holding the caller's skb).
test('dropwatch form, two consume_skb sites of an inlined helper: the freed buffer is what skb_clone returned, so __udp4_lib_rcv+0x870 is consume_skb(nskb)', { skip }, async () => {
  const [e] = await explainJson(['--kernel', vmlinuz, '__udp4_lib_rcv+870']);
  assert.ok(e !== undefined);
  assert.equal(e.method, 'machine-code');
  assert.equal(e.event, 'consume_skb');
  const top = e.candidates[0];
  const second = e.candidates[1];
  assert.ok(top !== undefined && second !== undefined);
  assert.equal(`${top.file}:${top.line}`, 'net/ipv4/udp.c:2384');
  assert.equal(`${second.file}:${second.line}`, 'net/ipv4/udp.c:2395', 'the other consume_skb of the same helper');
  assert.ok(top.evidence.some((x) => x.includes('frees the buffer skb_clone returns, as this site frees nskb = skb_clone(…)')), top.evidence.join('\n'));
  assert.ok(!second.evidence.some((x) => x.includes('frees the buffer skb_clone returns')), second.evidence.join('\n'));
  assert.ok(top.score > second.score, `${top.score} > ${second.score}`);
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

test('a /proc/kcore-shaped core of the image, with a KASLR slide and the boot-time patches, gives the file\'s answers', { skip }, async () => {
  const { loadKernelImage } = await import('../../src/binary/index.ts');
  const { decodeFunction } = await import('../../src/machine-code/decode.ts');
  const image = await loadKernelImage(vmlinuz);
  const text = image.elf.section('.text');
  assert.ok(text !== undefined);
  const slide = 0x1e600000n; // 2 MiB aligned, as KASLR picks
  const body = Buffer.from(image.elf.sectionBytes(text));
  // Patch udp_send_skb as the running kernel does: the ftrace call becomes a nop, return thunks become
  // `ret; int3`, retpoline calls become indirect calls (alternatives).
  const code = image.functionCode('udp_send_skb');
  assert.ok(code !== null);
  const fn = decodeFunction(code, { byAddress: (a) => { const r = image.resolve(a); return r !== null && r.offset === 0 ? r.name : null; } });
  const at = Number(code.address - text.addr);
  let patches = 0;
  const regs = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
  for (const x of fn.insns) {
    const o = at + x.off;
    if (x.len !== 5 || body[o] === undefined) continue;
    if (x.callee === '__fentry__') {
      body.set([0x0f, 0x1f, 0x44, 0x00, 0x00], o);
      patches++;
    } else if (x.flow === 'ret' && body[o] === 0xe9) {
      body.set([0xc3, 0xcc, 0xcc, 0xcc, 0xcc], o);
      patches++;
    } else if (x.flow === 'icall' && body[o] === 0xe8) {
      const r = regs.findIndex((n) => (x.callee ?? '').endsWith(`_${n}`));
      if (r < 0) continue;
      body.set(r < 8 ? [0xff, 0xd0 + r, 0x0f, 0x1f, 0x00] : [0x41, 0xff, 0xd0 + r - 8, 0x66, 0x90], o);
      patches++;
    }
  }
  assert.ok(patches >= 2, `patched ${patches} instructions`);
  // ELF64 core: header, one PT_LOAD program header, the text at a page boundary.
  const hdr = Buffer.alloc(4096);
  hdr.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  hdr.writeUInt16LE(4, 16); // ET_CORE
  hdr.writeUInt16LE(62, 18); // EM_X86_64
  hdr.writeUInt32LE(1, 20);
  hdr.writeBigUInt64LE(64n, 32); // e_phoff
  hdr.writeUInt16LE(64, 52);
  hdr.writeUInt16LE(56, 54);
  hdr.writeUInt16LE(1, 56);
  hdr.writeUInt32LE(1, 64); // PT_LOAD
  hdr.writeUInt32LE(5, 68);
  hdr.writeBigUInt64LE(4096n, 72);
  hdr.writeBigUInt64LE(text.addr + slide, 80);
  hdr.writeBigUInt64LE(text.addr + slide, 88);
  hdr.writeBigUInt64LE(BigInt(body.length), 96);
  hdr.writeBigUInt64LE(BigInt(body.length), 104);
  const corePath = join(dir, 'kcore');
  writeFileSync(corePath, Buffer.concat([hdr, body]));
  const ksyms: string[] = [`${(text.addr + slide).toString(16)} T _text`];
  for (const [name, list] of image.symbols()) for (const s of list) ksyms.push(`${(s.address + slide).toString(16)} t ${name}`);
  const ksymsPath = join(dir, 'kallsyms');
  writeFileSync(ksymsPath, ksyms.join('\n') + '\n');

  const fromFile = await explainJson(['--kernel', vmlinuz, 'udp_send_skb+0x339', 'udp_send_skb+0x350']);
  const fromCore = await explainJson(['--kernel', corePath, '--kallsyms', ksymsPath, 'udp_send_skb+0x339', 'udp_send_skb+0x350']);
  const answers = (es: Explanation[]): string[] => es.map((e) => e.candidates.slice(0, 3).map((c) => `${c.file}:${c.line} ${c.score}`).join(', '));
  assert.deepEqual(answers(fromCore), answers(fromFile));
  assert.ok(fromCore.every((e) => e.method === 'machine-code'));
  assert.ok(fromCore[0]?.notes.some((n) => n.includes('kernel memory (kcore)')), fromCore[0]?.notes.join('\n'));
});
