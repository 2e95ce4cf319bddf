// Machine-code mode on the real Debian 6.1 packages: linux-image-6.1.0-56-amd64-unsigned (6.1.192-2)
// unpacked with dpkg-deb -x (DROPSITE_KERNEL_IMAGE_DIR) and the matching linux-source-6.1 tree
// (DROPSITE_KERNEL_TREE); .ci/run exports both. No debug info and no compiler are used.
// The expected lines were checked by hand against `objdump -d` of the image (extract-vmlinux) and of
// the module with its relocations (`objdump -dr vxlan.ko`).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/build-index.ts';
import type { Explanation } from '../../src/model.ts';
import type { CodeImage } from '../../src/machine-code/code-image.ts';
import { fixture, explainJsonIn, runCli } from '../helpers/fixture.ts';

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

const explainJson = (args: string[]): Promise<Explanation[]> => explainJsonIn(db, args);

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

test('tcp_drop_reason inlined into tcp_data_queue: the code\'s reason picks its free through a call that passes it', { skip }, async () => {
  const src = readFileSync(join(tree ?? '', 'net/ipv4/tcp_input.c'), 'latin1').split('\n');
  const start = src.findIndex((l) => /^static void tcp_drop_reason\(/.test(l));
  const own = src.findIndex((l, i) => i > start && /\bkfree_skb_reason\(/.test(l)) + 1;
  // Offsets of drop calls of the shipped tcp_data_queue (objdump of the image): %esi holds 36 and 25.
  for (const [offset, reason] of [['0x9cf', 'TCP_OFO_DROP'], ['0xb30', 'TCP_OFOMERGE']] as const) {
    const [e] = await explainJson(['--kernel', vmlinuz, `tcp_data_queue+${offset}`]);
    assert.ok(e !== undefined);
    assert.equal(e.method, 'machine-code');
    assert.equal(e.reason, reason);
    const top = e.candidates[0];
    assert.equal(`${top?.file}:${top?.line}`, `net/ipv4/tcp_input.c:${own}`, JSON.stringify(e.candidates.slice(0, 3)));
    const at = top?.calledAt;
    assert.ok(at !== undefined && new RegExp(`tcp_drop_reason\\([^;]*${reason}`).test(src.slice(at.line - 1, at.line + 2).join(' ')), JSON.stringify(at));
  }
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

/** The image's `__jump_table` entries (each s32 code, s32 target, s64 key, relative to itself) as absolute [site, target]. */
function staticKeySites(table: { address: bigint; bytes: Uint8Array }): Array<[bigint, bigint]> {
  const v = new DataView(table.bytes.buffer, table.bytes.byteOffset, table.bytes.byteLength);
  const out: Array<[bigint, bigint]> = [];
  for (let o = 0; o + 16 <= table.bytes.length; o += 16) {
    const at = table.address + BigInt(o);
    out.push([at + BigInt(v.getInt32(o, true)), at + 4n + BigInt(v.getInt32(o + 4, true))]);
  }
  return out;
}

/**
 * The table as the running kernel holds it: jump_label_sort_entries() reorders the entries at boot, and moving
 * an entry changes its relative fields (jump_label_swap). Reversed here, with the fields moved along.
 */
function reorderedJumpTable(bytes: Uint8Array): Buffer {
  const n = Math.floor(bytes.length / 16);
  const src = Buffer.from(bytes.buffer, bytes.byteOffset, n * 16);
  const out = Buffer.alloc(n * 16);
  for (let i = 0; i < n; i++) {
    const j = n - 1 - i;
    const delta = (i - j) * 16;
    out.writeInt32LE(src.readInt32LE(i * 16) + delta, j * 16);
    out.writeInt32LE(src.readInt32LE(i * 16 + 4) + delta, j * 16 + 4);
    out.writeBigInt64LE(src.readBigInt64LE(i * 16 + 8) + BigInt(delta), j * 16 + 8);
  }
  return out;
}

/** An ELF64 core (what /proc/kcore is): one PT_LOAD per segment, each at a page boundary after the headers. */
function elfCore(segments: ReadonlyArray<{ vaddr: bigint; bytes: Uint8Array }>): Buffer {
  const hdr = Buffer.alloc(4096);
  hdr.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  hdr.writeUInt16LE(4, 16); // ET_CORE
  hdr.writeUInt16LE(62, 18); // EM_X86_64
  hdr.writeUInt32LE(1, 20);
  hdr.writeBigUInt64LE(64n, 32); // e_phoff
  hdr.writeUInt16LE(64, 52);
  hdr.writeUInt16LE(56, 54);
  hdr.writeUInt16LE(segments.length, 56);
  const parts: Buffer[] = [hdr];
  let offset = 4096;
  segments.forEach((seg, i) => {
    const ph = 64 + i * 56;
    hdr.writeUInt32LE(1, ph); // PT_LOAD
    hdr.writeUInt32LE(5, ph + 4);
    hdr.writeBigUInt64LE(BigInt(offset), ph + 8);
    hdr.writeBigUInt64LE(seg.vaddr, ph + 16);
    hdr.writeBigUInt64LE(seg.vaddr, ph + 24);
    hdr.writeBigUInt64LE(BigInt(seg.bytes.length), ph + 32);
    hdr.writeBigUInt64LE(BigInt(seg.bytes.length), ph + 40);
    const padded = Buffer.alloc(Math.ceil(seg.bytes.length / 4096) * 4096);
    padded.set(seg.bytes);
    parts.push(padded);
    offset += padded.length;
  });
  return Buffer.concat(parts);
}

test('a /proc/kcore-shaped core of the image, with a KASLR slide, the boot-time patches and flipped static keys, gives the file\'s answers', { skip }, async () => {
  const { loadKernelImage } = await import('../../src/binary/index.ts');
  const { decodeFunction } = await import('../../src/machine-code/decode.ts');
  const { fromKernelImage } = await import('../../src/machine-code/code-image.ts');
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
  // Static keys switched the other way than the image has them, as static_branch_enable() does at run time:
  // every __jump_table site of __udp4_lib_rcv (nops in the image: 5-byte `0f 1f 44 00 00` and 2-byte `66 90`)
  // becomes the jump to its target, of the same size.
  const table = fromKernelImage(image).jumpTable();
  assert.ok(table !== null, 'the image\'s __jump_table, found by its kallsyms bounds');
  const udp = image.lookup('__udp4_lib_rcv')[0];
  assert.ok(udp !== undefined);
  let flipped = 0;
  for (const [site, target] of staticKeySites(table)) {
    if (site < udp.address || site >= udp.address + BigInt(udp.size)) continue;
    const o = Number(site - text.addr);
    if (body[o] === 0x0f && body[o + 1] === 0x1f) {
      body[o] = 0xe9;
      body.writeInt32LE(Number(target - (site + 5n)), o + 1);
      flipped++;
    } else if (body[o] === 0x66 && body[o + 1] === 0x90) {
      body[o] = 0xeb;
      body.writeInt8(Number(target - (site + 2n)), o + 1);
      flipped++;
    }
  }
  assert.ok(flipped >= 2, `flipped ${flipped} static-key sites in __udp4_lib_rcv`);
  const start = image.symbolAddress('__start___jump_table');
  const stop = image.symbolAddress('__stop___jump_table');
  assert.ok(start !== null && stop !== null && start === table.address);
  const corePath = join(dir, 'kcore');
  // The running kernel's types too (`.BTF`, between `__start_BTF` and `__stop_BTF`): struct field offsets.
  const btf = image.elf.section('.BTF');
  assert.ok(btf !== undefined, 'the image keeps its .BTF');
  writeFileSync(corePath, elfCore([{ vaddr: text.addr + slide, bytes: body }, { vaddr: start + slide, bytes: reorderedJumpTable(table.bytes) }, { vaddr: btf.addr + slide, bytes: image.elf.sectionBytes(btf) }]));
  const ksyms: string[] = [`${(text.addr + slide).toString(16)} T _text`];
  for (const [name, list] of image.symbols()) for (const s of list) ksyms.push(`${(s.address + slide).toString(16)} t ${name}`);
  const ksymsPath = join(dir, 'kallsyms');
  writeFileSync(ksymsPath, ksyms.join('\n') + '\n');
  // The same running kernel's kallsyms with its data symbols (CONFIG_KALLSYMS_ALL), which bound the table.
  const ksymsAllPath = join(dir, 'kallsyms-all');
  writeFileSync(ksymsAllPath, [...ksyms, `${(start + slide).toString(16)} D __start___jump_table`, `${(stop + slide).toString(16)} D __stop___jump_table`,
    `${(btf.addr + slide).toString(16)} R __start_BTF`, `${(btf.addr + BigInt(btf.size) + slide).toString(16)} R __stop_BTF`].join('\n') + '\n');

  // The drop calls of __udp4_lib_rcv return to +0x210, +0x9a2 and +0xae5 (kfree_skb_reason), +0x870 and +0x8c0 (consume_skb).
  const locations = ['udp_send_skb+0x339', 'udp_send_skb+0x350', '__udp4_lib_rcv+0x210', '__udp4_lib_rcv+0x9a2', '__udp4_lib_rcv+0xae5', '__udp4_lib_rcv+0x870'];
  const fromFile = await explainJson(['--kernel', vmlinuz, ...locations]);
  const fromCore = await explainJson(['--kernel', corePath, '--kallsyms', ksymsAllPath, ...locations]);
  const answers = (es: Explanation[]): string[] => es.map((e) => `${e.reason ?? ''} ${e.candidates.slice(0, 3).map((c) => `${c.file}:${c.line} ${c.score} ${c.evidence.join(' | ')}`).join(', ')}`);
  assert.deepEqual(answers(fromCore), answers(fromFile));
  assert.ok(fromCore.every((e) => e.method === 'machine-code'));
  assert.ok(fromCore[0]?.notes.some((n) => n.includes('kernel memory (kcore)')), fromCore[0]?.notes.join('\n'));

  // What the decoder sees of __udp4_lib_rcv, the same from the file and from the core: every static-key site
  // as its nop plus the table's jump. Without the table's bounds in the kallsyms, the flipped jumps hide the
  // paths that fall through them (the decoded flow differs; in this function the drop calls' reasons and
  // neighbours come out the same either way, so the answers above would not show it).
  const { openKcore } = await import('../../src/machine-code/code-image.ts');
  const { normaliseStaticKeys } = await import('../../src/machine-code/static-keys.ts');
  const { findDropCalls } = await import('../../src/machine-code/calls.ts');
  const callees = new Map([['kfree_skb_reason', { name: 'kfree_skb_reason', reasonArg: 1, skbArg: 0 }], ['consume_skb', { name: 'consume_skb', reasonArg: null, skbArg: 0 }]]);
  const seen = (img: CodeImage): string => {
    const c = img.functionCode('__udp4_lib_rcv');
    assert.ok(c !== null);
    const t = img.jumpTable();
    const edges = (t === null ? [] : staticKeySites(t))
      .filter(([site]) => site >= c.address && site < c.address + BigInt(c.size))
      .map(([site, target]): [number, number] => [Number(site - c.address), Number(target - c.address)]);
    const decoded = decodeFunction(normaliseStaticKeys(c, edges), { byAddress: (a) => { const r = img.resolve(a); return r !== null && r.offset === 0 ? r.name : null; } });
    const flow = decoded.insns.map((x) => `${x.off.toString(16)} ${x.flow} ${x.local ?? ''}`).join('\n');
    const calls = findDropCalls(decoded, callees, { noreturn: new Set(), hiddenEdges: edges }).map((d) => `+${d.ret.toString(16)} ${d.callee} ${JSON.stringify(d.reasons)} ${d.neighbours.join(',')}`);
    return `${edges.length} edges\n${calls.join('\n')}\n${flow}`;
  };
  const core = openKcore(corePath, readFileSync(ksymsAllPath, 'utf8'));
  const blind = openKcore(corePath, readFileSync(ksymsPath, 'utf8'));
  try {
    const file = seen(fromKernelImage(image));
    assert.match(file, /^[1-9]\d* edges\n/);
    assert.equal(seen(core), file);
    assert.notEqual(seen(blind), file);
  } finally {
    core.close();
    blind.close();
  }
});

function run(cmd: string, args: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => (err === null ? resolve(stdout) : reject(new Error(`${cmd}: ${stderr.toString()}`))));
  });
}

/**
 * The image's `.notes` section, as the running kernel of that image exports it in /sys/kernel/notes (cut out by
 * binutils from the tree's extract-vmlinux output), and the build-id readelf reads there.
 */
async function notesOf(image: string, treeRoot: string, out: string): Promise<{ path: string; id: string | undefined }> {
  const elf = `${out}.vmlinux`;
  writeFileSync(elf, await run('bash', [join(treeRoot, 'scripts/extract-vmlinux'), image]));
  await run('objcopy', ['-O', 'binary', '--only-section=.notes', elf, out]);
  const id = /Build ID: ([0-9a-f]{40})/.exec((await run('readelf', ['-n', elf])).toString())?.[1];
  rmSync(elf);
  return { path: out, id };
}

// watch --kernel on a host that runs this very image: the live capture here is another kernel (its drops are not
// this image's code), so the watch pipeline is fed recorded locations of the 6.1 image instead, as tracefs lines,
// with the image's own notes standing in for /sys/kernel/notes (a library parameter, not a command-line flag).
test('watch\'s machine code: with the running kernel\'s notes matching the image, live drops are ranked with the machine code', { skip }, async () => {
  const { openRunningCode } = await import('../../src/machine-code/running.ts');
  const { openForRead } = await import('../../src/index/open.ts');
  const { pickTree } = await import('../../src/index/read.ts');
  const { Explainer } = await import('../../src/explain/explain.ts');
  const { DropAggregator } = await import('../../src/build-report.ts');
  const { readRecording } = await import('../../src/locate/recording.ts');
  const notes = await notesOf(vmlinuz, tree ?? '', join(dir, 'notes-6.1'));
  const idx = openForRead(db);
  try {
    const t = pickTree(idx, undefined, db);
    const explainer = new Explainer(idx, t);
    // The loaded vxlan module's notes, as /sys/module/vxlan/notes/.note.gnu.build-id holds them: the .ko's own.
    const sysModule = join(dir, 'sys-module');
    mkdirSync(join(sysModule, 'vxlan', 'notes'), { recursive: true });
    const ko = join(modules, '6.1.0-56-amd64/kernel/drivers/net/vxlan/vxlan.ko');
    await run('objcopy', ['-O', 'binary', '--only-section=.note.gnu.build-id', ko, join(sysModule, 'vxlan', 'notes', '.note.gnu.build-id')]);
    const opened = await openRunningCode(idx, t, { kernel: vmlinuz, modules, notesPath: notes.path, sysModulePath: sysModule });
    assert.ok(notes.id !== undefined);
    assert.equal(opened.checked, `--kernel ${vmlinuz} is the running kernel (build-id ${notes.id})`);
    // What the running kernel's trace_pipe prints (%pS locations), two drops of one site and one of a module.
    const lines = [
      '          <idle>-0       [001] ..s2.  1021.118470: kfree_skb: skbaddr=00000000b74a1e9c protocol=2048 location=udp_send_skb+0x339/0x380 reason: NOT_SPECIFIED',
      '          <idle>-0       [001] ..s2.  1021.118571: kfree_skb: skbaddr=00000000b74a1e9c protocol=2048 location=udp_send_skb+0x339/0x380 reason: NOT_SPECIFIED',
      '          <idle>-0       [000] ..s2.  1021.218470: kfree_skb: skbaddr=000000003b1c27aa protocol=2048 location=vxlan_xmit_one+0x52a/0x1117 [vxlan] reason: NOT_SPECIFIED',
    ];
    const agg = new DropAggregator();
    async function* feed(): AsyncGenerator<string> {
      yield* lines;
    }
    for await (const item of readRecording(feed(), { format: 'tracefs' })) agg.add(item);
    for (const p of await opened.code.loadModules(agg.modules())) assert.fail(p);
    const view = agg.view(explainer, { title: 'Live drops', source: 'live tracefs', format: 'tracefs', top: 20, allCandidates: false, context: 0, code: opened.code });
    const row = (fn: string): (typeof view.rows)[number] | undefined => view.rows.find((r) => r.function === fn);
    const udp = row('udp_send_skb');
    assert.equal(udp?.count, 2);
    assert.equal(udp?.method, 'machine-code');
    assert.equal(`${udp?.candidates[0]?.file}:${udp?.candidates[0]?.line}`, 'net/ipv4/udp.c:1008');
    assert.ok(udp?.candidates[0]?.evidence.some((x) => x.includes('-EMSGSIZE')), udp?.candidates[0]?.evidence.join('\n'));
    const vx = row('vxlan_xmit_one');
    assert.equal(vx?.method, 'machine-code');
    assert.equal(`${vx?.candidates[0]?.file}:${vx?.candidates[0]?.line}`, 'drivers/net/vxlan/vxlan_core.c:2817');
    assert.ok(vx?.notes.some((n) => n.includes('vxlan.ko')), vx?.notes.join('\n'));
  } finally {
    idx.close();
  }
});

test('watch\'s machine code: an image that is not the running kernel is refused, naming both build-ids', { skip }, async () => {
  const { openRunningCode } = await import('../../src/machine-code/running.ts');
  const { InputError } = await import('../../src/errors.ts');
  const { openForRead } = await import('../../src/index/open.ts');
  const { pickTree } = await import('../../src/index/read.ts');
  const { buildIdFromNotes, loadKernelImage } = await import('../../src/binary/index.ts');
  // Another build's notes: those of this host's running kernel, which is not Debian's 6.1.0-56.
  const other = join(dir, 'notes-other');
  const host = '/sys/kernel/notes';
  const theirs = existsSync(host) ? readFileSync(host) : null;
  if (theirs === null || buildIdFromNotes(theirs) === null) {
    // No readable notes here: a hand-made GNU build-id note of a different id stands in.
    const n = Buffer.alloc(12 + 4 + 20);
    n.writeUInt32LE(4, 0);
    n.writeUInt32LE(20, 4);
    n.writeUInt32LE(3, 8);
    n.write('GNU\0', 12, 'latin1');
    n.fill(0xab, 16);
    writeFileSync(other, n);
  } else {
    writeFileSync(other, theirs);
  }
  const otherId = buildIdFromNotes(readFileSync(other));
  const mine = (await loadKernelImage(vmlinuz)).buildId;
  assert.ok(otherId !== null && mine !== null && otherId !== mine);
  const idx = openForRead(db);
  try {
    const t = pickTree(idx, undefined, db);
    await assert.rejects(openRunningCode(idx, t, { kernel: vmlinuz, modules: null, notesPath: other }), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.message, `--kernel ${vmlinuz} is not the running kernel: its build-id is ${mine}, the running kernel's (${other}) is ${otherId}; give the running kernel's vmlinuz, or --kernel /proc/kcore, or leave --kernel out to rank from source`);
      return true;
    });
    await assert.rejects(openRunningCode(idx, t, { kernel: vmlinuz, modules: null, notesPath: join(dir, 'no-such-notes') }), /cannot read the running kernel's build-id from .*no-such-notes: no such file/);
    // A loaded module of another build (its notes hold another id): its .ko is not used, and the warning names both ids.
    const sysModule = join(dir, 'sys-module-other');
    mkdirSync(join(sysModule, 'vxlan', 'notes'), { recursive: true });
    writeFileSync(join(sysModule, 'vxlan', 'notes', '.note.gnu.build-id'), readFileSync(other));
    const ko = join(modules, '6.1.0-56-amd64/kernel/drivers/net/vxlan/vxlan.ko');
    const koId = /Build ID: ([0-9a-f]{40})/.exec((await run('readelf', ['-n', ko])).toString())?.[1];
    const modulesOnly = await openRunningCode(idx, t, { kernel: null, modules, sysModulePath: sysModule });
    assert.deepEqual(await modulesOnly.code.loadModules(['vxlan']), [
      `module vxlan: ${ko} is not the loaded module (build-id ${koId}, the loaded module's (${join(sysModule, 'vxlan', 'notes', '.note.gnu.build-id')}) is ${otherId}): its rows rank from source`,
    ]);
    const { Explainer } = await import('../../src/explain/explain.ts');
    const e = new Explainer(idx, t).explain({ input: 'vxlan_xmit_one+0x52a [vxlan]', symbol: 'vxlan_xmit_one', function: 'vxlan_xmit_one', isCold: false, offset: 0x52a, size: null, module: 'vxlan', reason: null, event: null }, { maxCandidates: 3, code: modulesOnly.code });
    assert.equal(e.method, 'source');
  } finally {
    idx.close();
  }
});
