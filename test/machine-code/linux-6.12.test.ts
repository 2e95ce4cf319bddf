// Machine-code mode on the real Debian 6.12.117 packages: linux-image-6.12.117+deb12-amd64-unsigned
// (6.12.117-1~deb12u1) unpacked with dpkg-deb -x (DROPSITE_KERNEL_IMAGE_DIR_612) and the matching
// linux-source-6.12 tree (DROPSITE_KERNEL_TREE_612); .ci/run exports both. No debug info and no compiler.
// Every expected line was checked by hand against the source and `objdump -d` of the image
// (scripts/extract-vmlinux of the vmlinuz) or `objdump -dr` of the module (xz -dc vxlan.ko.xz):
// - udp_send_skb (0x360 bytes, net/ipv4/udp.c): four plain kfree_skb() sites in the gso_size block, all
//   NOT_SPECIFIED. The code has three calls of sk_skb_reason_drop(NULL, skb, 2), at +0x31c, +0x335 and +0x34e,
//   each followed by `mov $errno,%eax`: 0xffffffa6 (-EMSGSIZE, line 998), 0xfffffffb (-EIO, line 1010) and
//   0xffffffea (-EINVAL, lines 1002 and 1006, which gcc merged into one call).
// - vxlan_xmit_one (0x181e bytes in vxlan.ko, drivers/net/vxlan/vxlan_core.c): the tx_error: free (line 2676)
//   is the call of sk_skb_reason_drop (a relocation) at +0xae4, after `cmp $0xffffffd8` (-ELOOP), `cmp
//   $0xffffff9b` (-ENETUNREACH), dst_release and vxlan_vnifilter_count(…, 5 = VXLAN_VNI_STATS_TX_ERRORS, 0);
//   the drop: label's dev_kfree_skb (line 2664) is the consume_skb call at +0x6f3.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Explanation } from '../../src/model.ts';
import { openForRead } from '../../src/index/open.ts';
import { listApis, pickTree } from '../../src/index/read.ts';
import { isGenericDropApi } from '../../src/kernel/drop-functions.ts';
import { explainJsonIn, runCli } from '../helpers/fixture.ts';
import { indexedTreeForTests } from '../helpers/indexed-tree.ts';

const tree = process.env['DROPSITE_KERNEL_TREE_612'];
const imageDir = process.env['DROPSITE_KERNEL_IMAGE_DIR_612'];
const RELEASE = '6.12.117+deb12-amd64';
const vmlinuz = imageDir === undefined ? '' : join(imageDir, `boot/vmlinuz-${RELEASE}`);
const modules = imageDir === undefined ? '' : join(imageDir, 'lib/modules');
const skip = tree === undefined || tree === '' ? 'set DROPSITE_KERNEL_TREE_612 to an unpacked linux-source-6.12 6.12.117 tree (.ci/run does)'
  : imageDir === undefined || imageDir === '' ? 'set DROPSITE_KERNEL_IMAGE_DIR_612 to a dpkg-deb -x of linux-image-6.12.117+deb12-amd64-unsigned (.ci/run does)'
  : !existsSync(vmlinuz) ? `DROPSITE_KERNEL_IMAGE_DIR_612 has no boot/vmlinuz-${RELEASE} (${vmlinuz})`
  : false;

const { dir, db } = indexedTreeForTests('dropsite-machine-code-612-', tree, skip);

const explainJson = (args: string[]): Promise<Explanation[]> => explainJsonIn(db, args);

const where = (e: Explanation | undefined, rank = 0): string => `${e?.candidates[rank]?.file}:${e?.candidates[rank]?.line}`;

test('6.12, dropwatch form, four same-reason kfree_skb sites: the errno after each call decides udp_send_skb', { skip }, async () => {
  const [msgsize, eio] = await explainJson(['--kernel', vmlinuz, 'udp_send_skb+321', 'udp_send_skb+33a']);
  for (const e of [msgsize, eio]) {
    assert.ok(e !== undefined);
    assert.equal(e.method, 'machine-code');
    // Neither size nor reason was given: the image's own kallsyms and the reason register supply them.
    assert.equal(e.size, 0x360);
    assert.equal(e.reason, 'NOT_SPECIFIED');
    const sameReason = e.candidates.filter((c) => c.file === 'net/ipv4/udp.c' && c.reasons.includes('NOT_SPECIFIED'));
    assert.ok(sameReason.length >= 4, `udp_send_skb has four NOT_SPECIFIED sites; got ${sameReason.length}`);
    assert.ok((e.candidates[0]?.score ?? 0) > (e.candidates[1]?.score ?? 0) * 2, 'the code separates the first from the other same-reason sites');
  }
  assert.equal(where(msgsize), 'net/ipv4/udp.c:998');
  assert.ok(msgsize?.candidates[0]?.evidence.some((x) => x.includes('the constant $0xffffffa6 (-EMSGSIZE) near the drop')), msgsize?.candidates[0]?.evidence.join('\n'));
  assert.ok(msgsize?.notes.some((n) => n.includes('calls sk_skb_reason_drop at +0x31c')), msgsize?.notes.join('\n'));
  assert.equal(where(eio), 'net/ipv4/udp.c:1010');
  assert.ok(eio?.candidates[0]?.evidence.some((x) => x.includes('the constant $0xfffffffb (-EIO) near the drop')), eio?.candidates[0]?.evidence.join('\n'));
  assert.ok(eio?.notes.some((n) => n.includes('calls sk_skb_reason_drop at +0x335')), eio?.notes.join('\n'));
});

test('6.12, two identical frees (kfree_skb(skb); return -EINVAL;) with one call between them: the note says the block may be merged, and neither is scored as certain', { skip }, async () => {
  const [merged, msgsize] = await explainJson(['--kernel', vmlinuz, 'udp_send_skb+353', 'udp_send_skb+321']);
  assert.ok(merged !== undefined && msgsize !== undefined);
  const note = merged.notes.find((n) => n.includes('may have merged their code'));
  assert.ok(note !== undefined, merged.notes.join('\n'));
  assert.match(note, /udp\.c:(1002|1006) and udp\.c:(1002|1006) free the same way/);
  const pair = merged.candidates.slice(0, 2).map((c) => c.line).sort((a, b) => a - b);
  assert.deepEqual(pair, [1002, 1006], 'the two merged sites rank first');
  // Their blocks read the same and free the parameter skb, which udp_send_skb never assigns: gcc's tail merging
  // keeps the first block, and the debug info names 1002 (checked against the -dbg vmlinux). A lean, not certain.
  assert.match(note, /here the first in the source/);
  assert.equal(where(merged), 'net/ipv4/udp.c:1002');
  const first = merged.candidates.find((c) => c.line === 1002);
  assert.ok(first?.evidence.some((x) => x.includes("free the parameter skb, which udp_send_skb never assigns, so gcc's tail merging keeps the first block")), first?.evidence.join('\n'));
  assert.ok(!merged.candidates.find((c) => c.line === 1006)?.evidence.some((x) => x.includes('merged here')));
  assert.ok((merged.candidates[0]?.score ?? 1) < 0.7, `split between them, not certain: ${merged.candidates[0]?.score}`);
  // A site with its own errno is not merged with the others.
  assert.ok(!msgsize.notes.some((n) => n.includes('may have merged')), msgsize.notes.join('\n'));
});

test('6.12, two identical frees of a parameter the function assigns (validate_xmit_xfrm): cross-jumping keeps the last, 169, as the debug info says', { skip }, async () => {
  // validate_xmit_xfrm+0x13c: the debug info names xfrm_device.c:169; line 141 reads the same
  // (`kfree_skb(skb); dev_core_stats_tx_dropped_inc(dev); return NULL;`) and has no call of its own.
  const [e] = await explainJson(['--kernel', vmlinuz, 'validate_xmit_xfrm+13c']);
  assert.ok(e !== undefined);
  const note = e.notes.find((n) => n.includes('may have merged their code'));
  assert.ok(note !== undefined, e.notes.join('\n'));
  assert.match(note, /most often the last in the source/);
  assert.equal(where(e), 'net/xfrm/xfrm_device.c:169');
  assert.ok(e.candidates[0]?.evidence.some((x) => x.includes('validate_xmit_xfrm assigns its parameter skb, so tail merging keeps the later block')), e.candidates[0]?.evidence.join('\n'));
  assert.equal(where(e, 1), 'net/xfrm/xfrm_device.c:141');
});

test('6.12, inside a wrapper of a .c file (netlink_broadcast_filtered frees what it is given): its own frees are ranked by the code, its callers are not the drop call', { skip }, async () => {
  const [e] = await explainJson(['--kernel', vmlinuz, '--event', 'consume_skb', '--max', '40', 'netlink_broadcast_filtered+0x13d/0x540']);
  assert.ok(e !== undefined);
  assert.equal(e.method, 'machine-code');
  assert.equal(where(e), 'net/netlink/af_netlink.c:1539');
  const callers = e.candidates.filter((c) => c.role === 'caller');
  assert.ok(callers.length > 0, 'its callers are still listed');
  // Its two consume_skb frees: of skb (1539) and of info.skb2 (1547).
  const own = e.candidates.filter((c) => c.role === 'site' && c.function === 'netlink_broadcast_filtered' && c.kind === 'consume');
  assert.deepEqual(own.map((c) => c.line).sort((a, b) => a - b), [1539, 1547]);
  for (const c of callers) {
    assert.ok(c.evidence.some((x) => x.includes("inside netlink_broadcast_filtered's own code")), c.evidence.join('\n'));
    // The source's guess ("one of these calls is the real drop site") is not repeated once the code has said otherwise.
    assert.ok(!c.evidence.some((x) => x.includes('one of these calls is the real drop site')), c.evidence.join('\n'));
    assert.ok(c.score < Math.min(...own.map((o) => o.score)), `${c.file}:${c.line} ${c.score} ranks below the function's own frees`);
  }
});

test('6.12, a module location is read from vxlan.ko.xz and its relocations: vxlan_xmit_one+0xae9 is the tx_error free', { skip }, async () => {
  assert.ok(existsSync(join(modules, RELEASE, 'kernel/drivers/net/vxlan/vxlan.ko.xz')), 'Debian 6.12 ships its modules xz-compressed');
  const [txError, dropLabel] = await explainJson(['--modules', modules, 'vxlan_xmit_one+ae9 [vxlan]', 'vxlan_xmit_one+6f8 [vxlan]']);
  assert.ok(txError !== undefined && dropLabel !== undefined);
  assert.equal(txError.method, 'machine-code');
  assert.equal(txError.size, 0x181e, 'the size comes from the .ko symbol table');
  assert.equal(where(txError), 'drivers/net/vxlan/vxlan_core.c:2676');
  // dst_release, vxlan_vnifilter_count and sk_skb_reason_drop are relocation targets: the .ko has no code of theirs.
  assert.ok(txError.candidates[0]?.evidence.some((x) => /calls .*vxlan_vnifilter_count.*dst_release|calls .*dst_release.*vxlan_vnifilter_count/.test(x)), txError.candidates[0]?.evidence.join('\n'));
  assert.ok(txError.notes.some((n) => n.includes('vxlan.ko') && n.includes('calls sk_skb_reason_drop at +0xae4')), txError.notes.join('\n'));
  // The drop: label frees with dev_kfree_skb, which is consume_skb in 6.12: the code's consume_skb call there.
  assert.equal(dropLabel.method, 'machine-code');
  assert.equal(where(dropLabel), 'drivers/net/vxlan/vxlan_core.c:2664');
  assert.ok(dropLabel.notes.some((n) => n.includes('calls consume_skb at +0x6f3')), dropLabel.notes.join('\n'));
  const other = txError.candidates.find((c) => c.line === 2664);
  assert.ok(other?.evidence.some((x) => x.includes('the code calls sk_skb_reason_drop, which dev_kfree_skb() does not reach')), other?.evidence.join('\n'));
});

test('6.12, a site\'s neighbourhood follows its path: the nested -EINVAL return is not the function-level free\'s (mt7915e.ko)', { skip }, async () => {
  // mt7915_mcu_get_eeprom (mt7915/mcu.c): `if (addr > …) { dev_kfree_skb(skb); return -EINVAL; }` nested in
  // `if (!buf)`, then `memcpy(…); dev_kfree_skb(skb); return 0;`. objdump -dr: consume_skb at +0x92 (then the
  // shared exit) and at +0xd3, followed by `mov $0xffffffea,%ebp` (-EINVAL).
  const [last, nested] = await explainJson(['--modules', modules, 'mt7915_mcu_get_eeprom+0x97/0xf0 [mt7915e]', 'mt7915_mcu_get_eeprom+0xd8/0xf0 [mt7915e]']);
  const file = 'drivers/net/wireless/mediatek/mt76/mt7915/mcu.c';
  assert.equal(last?.method, 'machine-code');
  assert.equal(where(last), `${file}:2885`);
  assert.equal(where(nested), `${file}:2878`);
  assert.ok(nested?.candidates[0]?.evidence.some((x) => x.includes('$0xffffffea (-EINVAL) near the drop')), nested?.candidates[0]?.evidence.join('\n'));
  // The function-level free's path holds no -EINVAL: the call without one is not held against it.
  assert.ok(!(last?.candidates[0]?.evidence.some((x) => x.includes('EINVAL')) ?? true), last?.candidates[0]?.evidence.join('\n'));
});

test('6.12, what follows the drop: the label that counts after its free against the one that counts before it (sit.ko)', { skip }, async () => {
  // sit_tunnel_xmit (net/ipv6/sit.c) inlines ipip6_tunnel_xmit, whose tx_error: label frees and then counts
  // (`kfree_skb(skb); DEV_STATS_INC(dev, tx_errors);`, line 1045), while its own tx_err: counts and then frees
  // (line 1095). objdump -dr: sk_skb_reason_drop at +0x94 after `lock incq 0x260(%r14)`, then a jump to the
  // exit; at +0x1ab followed by `lock incq 0x260(%r14)`.
  const [own, inlined] = await explainJson(['--modules', modules, 'sit_tunnel_xmit+0x99/0x960 [sit]', 'sit_tunnel_xmit+0x1b0/0x960 [sit]']);
  const file = 'net/ipv6/sit.c';
  assert.equal(own?.method, 'machine-code');
  assert.equal(where(own), `${file}:1095`);
  const counted = own?.candidates.find((c) => c.line === 1045);
  assert.ok(counted?.evidence.includes('machine code: the code returns after the drop without bumping a counter, but this site bumps one right after it (line 1046: `DEV_STATS_INC(dev, tx_errors);`)'), counted?.evidence.join('\n'));
  assert.equal(where(inlined), `${file}:1045`);
  const plain = inlined?.candidates.find((c) => c.line === 1095);
  assert.ok(plain?.evidence.includes('machine code: the code bumps a counter right after the drop (at +0x1b0), but this site\'s function returns without one'), plain?.evidence.join('\n'));
});

test('6.12, which counter follows the drop: tx_dropped after one free, tx_errors after the other, by their BTF offsets (geneve.ko)', { skip }, async () => {
  // geneve_xmit (drivers/net/geneve.c) frees with dev_kfree_skb (consume_skb) at line 1025, then
  // `DEV_STATS_INC(dev, tx_dropped)`, and at line 1046 after the xmit fails, then tests err and ends with
  // `DEV_STATS_INC(dev, tx_errors)`. objdump -dr of geneve.ko: consume_skb returns to +0xa6 followed by
  // `lock incq 0x270(%r14)`; gcc copied the line-1046 free into the inlined xmit paths, where err is known, and
  // those copies (+0x2c0, +0x5dd) jump to `lock incq 0x260(%r14)`. The module's BTF puts net_device.stats at
  // those offsets: __tx_dropped at 0x270, __tx_errors at 0x260 (the split BTF of a module needs the image's as its base).
  const [first, copy, bare] = await explainJson(['--kernel', vmlinuz, '--modules', modules, 'geneve_xmit+0xa6/0x1360 [geneve]', 'geneve_xmit+0x2c0/0x1360 [geneve]', 'geneve_xmit+5dd [geneve]']);
  const file = 'drivers/net/geneve.c';
  assert.equal(copy?.method, 'machine-code');
  assert.equal(where(first), `${file}:1025`);
  assert.ok(first?.candidates[0]?.evidence.some((x) => x.includes('bumps the counter at 0x270(…) right after the call') && x.includes('net_device.stats.__tx_dropped in geneve.ko\'s BTF')), first?.candidates[0]?.evidence.join('\n'));
  for (const e of [copy, bare]) {
    assert.equal(where(e), `${file}:1046`, e?.candidates.map((c) => `${c.line} ${c.score}`).join(', '));
    assert.ok(e?.candidates[0]?.evidence.some((x) => x.includes('bumps the counter at 0x260(…) right after the call') && x.includes('net_device.stats.__tx_errors') && x.includes('geneve.c:1025 does not')), e?.candidates[0]?.evidence.join('\n'));
    const other = e?.candidates.find((c) => c.line === 1025);
    assert.ok(other?.evidence.some((x) => x.includes('which geneve.c:1046 bumps after its free; this site bumps net_device.stats.__tx_dropped there instead')), other?.evidence.join('\n'));
  }
});

test('6.12, a call on the path through a join tells two same-reason frees apart (mt76.ko)', { skip }, async () => {
  // mt76_rx_aggr_reorder (mt76/agg-rx.c): `if (sn_less) { …; dev_kfree_skb(skb); goto out; }` (line 200), later
  // `if (!ieee80211_sn_less(…)) { …; mt76_rx_aggr_release_frames(…); }` then `if (tid->reorder_buf[idx]) {
  // dev_kfree_skb(skb); goto out; }` (line 226). objdump -dr: consume_skb at +0x17c, on the straight line from
  // +0x15a, which the release_frames call at +0x27f jumps back to (`jmp` at +0x284); consume_skb at +0x2dc.
  const [slot, late] = await explainJson(['--modules', modules, 'mt76_rx_aggr_reorder+0x181/0x310 [mt76]', 'mt76_rx_aggr_reorder+0x2e1/0x310 [mt76]']);
  const file = 'drivers/net/wireless/mediatek/mt76/agg-rx.c';
  assert.equal(slot?.method, 'machine-code');
  assert.equal(where(slot), `${file}:226`);
  assert.ok(slot?.candidates[0]?.evidence.some((x) => x.includes('mt76_rx_aggr_release_frames (called at +0x27f, 2 joins back) on the path into this drop') && x.includes('mt76_rx_aggr_release_frames() at line 219 before this site')), slot?.candidates[0]?.evidence.join('\n'));
  assert.equal(where(late), `${file}:200`);
  assert.ok(!(late?.candidates[0]?.evidence.some((x) => x.includes('mt76_rx_aggr_release_frames')) ?? true), late?.candidates[0]?.evidence.join('\n'));
});

test('6.12, what the code adds to the source: the same-named static a bare offset is in, a WARN\'s bug-table line, an indirect call\'s result, a freed field', { skip }, async () => {
  const [vif, warn, own, helper, field] = await explainJson(['--kernel', vmlinuz, '--max', '3', 'reg_vif_xmit+15d', 'wireless_send_event+0x3d7/0x470', 'end_dt_vrf_core+0x170/0x1e0', 'end_dt_vrf_core+0x143/0x1e0', 'netlink_broadcast_filtered+0x15e/0x540 event: consume_skb']);
  // reg_vif_xmit is static in ipmr.c (0x100 bytes) and ip6mr.c (0x170): +0x15d can only be the IPv6 one's.
  assert.equal(where(vif), 'net/ipv6/ip6mr.c:636');
  assert.ok(vif?.notes.some((n) => n.includes('2 functions of the image are named reg_vif_xmit (256 bytes, 368 bytes); +0x15d is the return address of a drop call only in the one at')), vif?.notes.join('\n'));
  // `if (WARN_ON(!nlh)) { kfree_skb(skb); return; }`: the trap's __bug_table entry names line 563.
  assert.equal(where(warn), 'net/wireless/wext-core.c:564');
  assert.ok(warn?.candidates[0]?.evidence.includes("machine code: the drop follows the trap of a WARN at net/wireless/wext-core.c:563 (its __bug_table entry in the image), inside this site's block"), warn?.candidates[0]?.evidence.join('\n'));
  // end_dt_vrf_rcv (inlined) frees what dev->l3mdev_ops->l3mdev_l3_rcv returned; end_dt_vrf_core frees its parameter.
  assert.equal(where(helper), 'net/ipv6/seg6_local.c:1125');
  assert.ok(helper?.candidates[0]?.evidence.some((x) => x.includes('frees the buffer an indirect call returns, as this site frees skb = dev->l3mdev_ops->l3mdev_l3_rcv(…)')), helper?.candidates[0]?.evidence.join('\n'));
  assert.equal(where(own), 'net/ipv6/seg6_local.c:1189');
  // A module's __bug_table is read through its relocations: the WARN_ON of nfc_vendor_cmd_reply in nfc.ko.
  const [nfc] = await explainJson(['--modules', modules, 'nfc_vendor_cmd_reply+0x95/0x9f [nfc]']);
  assert.equal(where(nfc), 'net/nfc/netlink.c:1689');
  assert.ok(nfc?.candidates[0]?.evidence.includes("machine code: the drop follows the trap of a WARN at net/nfc/netlink.c:1688 (its __bug_table entry in nfc.ko), inside this site's block"), nfc?.candidates[0]?.evidence.join('\n'));
  // consume_skb(info.skb2): the inlined do_one_broadcast() fills p->skb2 from skb_clone().
  assert.equal(where(field), 'net/netlink/af_netlink.c:1547');
  assert.ok(field?.candidates[0]?.evidence.some((x) => x.includes('as this site frees the field skb2, which this file assigns from skb_clone(…)')), field?.candidates[0]?.evidence.join('\n'));
});

function run(cmd: string, args: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => (err === null ? resolve(stdout) : reject(new Error(`${cmd}: ${stderr.toString()}`))));
  });
}

test('6.12, source only: a free four static helpers deep, each called once, is a candidate (rtw89_pci_probe → … → rtw89_pci_alloc_rx_ring)', { skip }, async () => {
  // The debug info of the -dbg package puts rtw89_pci_probe+0x707 at pci.c:3511 inside rtw89_pci_alloc_rx_ring, inlined through
  // rtw89_pci_setup_resource, rtw89_pci_alloc_trx_rings and rtw89_pci_alloc_rx_rings, all static and called once. Three helper
  // levels found no candidate at that line.
  const [e] = await explainJson(['rtw89_pci_probe+0x707/0xe60 [rtw89_pci]']);
  assert.equal(e?.method, 'source');
  assert.equal(where(e), 'drivers/net/wireless/realtek/rtw89/pci.c:3511');
  assert.deepEqual(e?.candidates[0]?.via, ['rtw89_pci_setup_resource', 'rtw89_pci_alloc_trx_rings', 'rtw89_pci_alloc_rx_rings', 'rtw89_pci_alloc_rx_ring']);
  assert.ok(e?.candidates[0]?.evidence.some((x) => x.includes('are static and called once: always inlined')), JSON.stringify(e?.candidates[0]?.evidence));
});

test('6.12: the zstd vmlinuz is read in-process, with the build-id and banner that the tree\'s extract-vmlinux and readelf see', { skip }, async () => {
  const { loadKernelImage } = await import('../../src/binary/index.ts');
  const image = await loadKernelImage(vmlinuz);
  assert.equal(image.format, 'bzImage-zstd');
  assert.equal(image.symbolSource, 'embedded-kallsyms');
  assert.match(image.banner ?? '', /^Linux version 6\.12\.117\+deb12-amd64 .*Debian 6\.12\.117-1~deb12u1/);
  // The reference: the kernel tree's own extractor (zstd) and binutils' note reader on its output.
  const elf = join(dir, 'vmlinux');
  writeFileSync(elf, await run('bash', [join(tree ?? '', 'scripts/extract-vmlinux'), vmlinuz]));
  const notes = (await run('readelf', ['-n', elf])).toString();
  const id = /Build ID: ([0-9a-f]+)/.exec(notes)?.[1];
  assert.ok(id !== undefined && id.length === 40, notes);
  assert.equal(image.buildId, id);
  const udp = image.lookup('udp_send_skb');
  assert.equal(udp.length, 1);
  assert.equal(udp[0]?.size, 0x360);
});

test('6.12: a truncated vmlinuz and a file that is not a kernel get one-line errors naming them', { skip }, async () => {
  const cut = join(dir, 'vmlinuz-truncated');
  writeFileSync(cut, readFileSync(vmlinuz).subarray(0, 4 * 1024 * 1024));
  const config = join(imageDir ?? '', `boot/config-${RELEASE}`);
  for (const [file, expected] of [
    [cut, /^dropsite: --kernel: .*vmlinuz-truncated: (truncated|cannot decompress)/],
    [config, /^dropsite: --kernel: .*config-6\.12\.117\+deb12-amd64 is not a kernel image \(expected a bzImage vmlinuz or an ELF vmlinux\)$/],
  ] as const) {
    const r = await runCli(['explain', '--db', db, '--kernel', file, 'udp_send_skb+321']);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', expected);
  }
});

// dev_kfree_skb_any_reason (net/core/dev.c, extern) is `jmp dev_kfree_skb_irq_reason` on one path and
// `jmp sk_skb_reason_drop` on the other (objdump of the image): its drops are reported at the return from its call.
// - zap_completion_queue (0xd0 bytes, net/core/netpoll.c): `mov $2,%esi; call dev_kfree_skb_any_reason` at +0x67,
//   the inline dev_kfree_skb_any() of line 271.
// - e1000_xmit_frame (0x10b9 bytes in e1000.ko, drivers/net/ethernet/intel/e1000/e1000_main.c): two calls of
//   dev_kfree_skb_any_reason (relocations) at +0x6e5 and +0xe0b, each after `mov $0x2,%esi`, for the three
//   dev_kfree_skb_any() of lines 3157, 3222 and 3272.
test('6.12, a call of dev_kfree_skb_any_reason is a drop call: its code ends with a jump to sk_skb_reason_drop', { skip }, async () => {
  const [zap] = await explainJson(['--kernel', vmlinuz, 'zap_completion_queue+0x6c/0xd0']);
  assert.ok(zap !== undefined);
  assert.equal(zap.method, 'machine-code');
  assert.equal(where(zap), 'net/core/netpoll.c:271');
  assert.equal(zap.reason, 'NOT_SPECIFIED');
  const ev = zap.candidates[0]?.evidence ?? [];
  assert.ok(ev.some((x) => x.includes('dev_kfree_skb_any_reason ends with a jump to sk_skb_reason_drop (a tail call), so its drops are reported here, at the return from its call at +0x67')), ev.join('\n'));
  assert.ok(!ev.some((x) => x.includes('reported inside')), ev.join('\n'));
  assert.ok(!zap.notes.some((n) => n.includes('not the return address of a drop call')), zap.notes.join('\n'));
});

// Its body, `if (in_hardirq() || irqs_disabled()) dev_kfree_skb_irq_reason(skb, reason); else
// kfree_skb_reason(skb, reason);`, only forwards its caller's free: a generic drop function, as 6.1's __dev_kfree_skb_any.
test('6.12, dev_kfree_skb_any_reason only forwards its caller\'s free: a location inside it names its callers, not its own frees', { skip }, async () => {
  const handle = openForRead(db);
  try {
    const api = listApis(handle, pickTree(handle, undefined, db).id).find((a) => a.name === 'dev_kfree_skb_any_reason');
    assert.equal(api?.file, 'net/core/dev.c');
    assert.equal(api.forwarder, true);
    assert.ok(isGenericDropApi(api));
  } finally {
    handle.close();
  }
  const [e] = await explainJson(['dev_kfree_skb_any_reason+0x32/0x40']);
  assert.ok(e !== undefined);
  assert.ok(e.notes.some((n) => n.startsWith('dev_kfree_skb_any_reason is a drop function')), e.notes.join('\n'));
  assert.equal(e.candidates[0]?.role, 'caller', JSON.stringify(e.candidates[0]));
});

test('6.12, a module\'s call of the exported dev_kfree_skb_any_reason: its code is read from --kernel', { skip }, async () => {
  const loc = 'e1000_xmit_frame+0x6ea/0x10b9 [e1000]';
  // Without the image the callee's code is unknown: the location is no drop call the module shows.
  const [alone] = await explainJson(['--modules', modules, loc]);
  assert.ok(alone?.notes.some((n) => n.includes('is not the return address of a drop call')), alone?.notes.join('\n'));
  const [e] = await explainJson(['--kernel', vmlinuz, '--modules', modules, loc]);
  assert.ok(e !== undefined);
  assert.equal(e.reason, 'NOT_SPECIFIED');
  assert.ok(e.notes.some((n) => n.includes('e1000.ko') && n.includes('calls dev_kfree_skb_any_reason at +0x6e5')), e.notes.join('\n'));
  // The three dev_kfree_skb_any() of e1000_main.c come first (the e1000e function of the same name after them),
  // none of them said to be reported inside dev_kfree_skb_any_reason.
  const top = e.candidates.slice(0, 3);
  assert.deepEqual(top.map((c) => `${c.file}:${c.line}`).sort(), [3157, 3222, 3272].map((l) => `drivers/net/ethernet/intel/e1000/e1000_main.c:${l}`));
  for (const c of top) {
    assert.ok(c.evidence.some((x) => x.includes('ends with a jump to sk_skb_reason_drop (a tail call)')), c.evidence.join('\n'));
    assert.ok(!c.evidence.some((x) => x.includes('reported inside')), c.evidence.join('\n'));
  }
});

test('6.12, a tail-called free reported at the caller, in a file that never names an skb (mlme.c): the index reads it for its call of nl80211_radar_notify, and the code shows that call tail-jumps to the drop; that function\'s final frees are the candidates, called at the calling line', { skip }, async () => {
  const loc = '__cfg80211_radar_event+0x82/0x140 [cfg80211]';
  // From source alone: mlme.c is read because its folder holds nl80211_radar_notify, which ends with a free, and it names it.
  const [alone] = await explainJson([loc]);
  assert.deepEqual(alone?.candidates.map((c) => `${c.file}:${c.line} ${c.calledAt?.line ?? ''}`).sort(), ['net/wireless/nl80211.c:19731 1142', 'net/wireless/nl80211.c:19761 1142']);
  const [e] = await explainJson(['--kernel', vmlinuz, '--modules', modules, loc]);
  assert.ok(e !== undefined);
  assert.equal(e.method, 'machine-code');
  // nl80211_radar_notify frees at the end (nla_put_failure:, line 19761) and before a bare return (19731): the location cannot tell them apart.
  assert.deepEqual(e.candidates.map((c) => `${c.file}:${c.line}`), ['net/wireless/nl80211.c:19761', 'net/wireless/nl80211.c:19731']);
  for (const c of e.candidates) {
    assert.deepEqual(c.calledAt, { file: 'net/wireless/mlme.c', line: 1142, function: '__cfg80211_radar_event' });
    assert.ok(c.evidence.some((x) => x.includes('reported at the return from the call of nl80211_radar_notify at net/wireless/mlme.c:1142')), c.evidence.join('\n'));
  }
  assert.ok(e.notes.some((n) => n.includes('nl80211_radar_notify ends with a jump to sk_skb_reason_drop (a tail call)')), e.notes.join('\n'));
  assert.ok(!e.notes.some((n) => n.includes('index the tree') || n.includes('has no drop site in the indexed tree')), e.notes.join('\n'));
  // report: the row is ranked, not "not in index".
  const rec = join(dir, 'radar.txt');
  writeFileSync(rec, `          <idle>-0       [001] ..s1.  1234.567890: kfree_skb: skbaddr=000000001a2b3c4d rx_sk=0000000000000000 protocol=0 location=${loc} reason: NOT_SPECIFIED\n`);
  const r = await runCli(['report', '--db', db, '--kernel', vmlinuz, '--modules', modules, '--as', 'json', rec]);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { rows: Array<{ inIndex: boolean; method: string; candidates: Array<{ file: string; line: number; calledAt?: { line: number } }> }> };
  assert.equal(view.rows[0]?.inIndex, true);
  assert.equal(view.rows[0]?.method, 'machine-code');
  assert.equal(`${view.rows[0]?.candidates[0]?.file}:${view.rows[0]?.candidates[0]?.line}`, 'net/wireless/nl80211.c:19761');
  assert.equal(view.rows[0]?.candidates[0]?.calledAt?.line, 1142);
});

test('6.12, the constants passed to the call that made the freed buffer tell look-alike frees apart (bluetooth.ko)', { skip }, async () => {
  // send_monitor_replay (net/bluetooth/hci_sock.c), inlined into hci_sock_bind: `skb = create_monitor_event(hdev,
  // HCI_DEV_REG); … if (sock_queue_rcv_skb(sk, skb)) kfree_skb(skb);` (line 740), the same with HCI_DEV_OPEN (750),
  // and with HCI_DEV_UP or HCI_DEV_SETUP (761). objdump -dr: `mov $0x1,%esi; call create_monitor_event` before the
  // sk_skb_reason_drop at +0x6da, `mov $0x7,%esi` before the one at +0x7c1.
  const [reg, open] = await explainJson(['--kernel', vmlinuz, '--modules', modules, 'hci_sock_bind+0x6df/0x940 [bluetooth]', 'hci_sock_bind+0x7c6/0x940 [bluetooth]']);
  const file = 'net/bluetooth/hci_sock.c';
  assert.equal(reg?.method, 'machine-code');
  assert.equal(where(reg), `${file}:740`);
  assert.ok(reg?.candidates[0]?.evidence.some((x) => x.includes('frees what create_monitor_event returns when called with $0x1 as its 2nd argument, as this site\'s `skb = create_monitor_event(hdev, HCI_DEV_REG);`')), reg?.candidates[0]?.evidence.join('\n'));
  const other = reg?.candidates.find((c) => c.line === 750);
  assert.ok(other?.evidence.some((x) => x.includes('but this site\'s `skb = create_monitor_event(hdev, HCI_DEV_OPEN);` passes 7')), other?.evidence.join('\n'));
  assert.equal(where(open), `${file}:750`);
  assert.ok(open?.candidates[0]?.evidence.some((x) => x.includes('called with $0x7 as its 2nd argument')), open?.candidates[0]?.evidence.join('\n'));
  // The last site is reached by two assignments (HCI_DEV_UP = 3, HCI_DEV_SETUP = 9): neither is the code's 7.
  const chain = open?.candidates.find((c) => c.line === 761);
  assert.ok(chain?.evidence.some((x) => x.includes('pass 3 or 9')), chain?.evidence.join('\n'));
});

test('6.12, two ring-flush loops freeing look-alike array elements: the element each call loads and clears decides (starfire.ko, hamachi.ko)', { skip }, async () => {
  // starfire's netdev_close (drivers/net/ethernet/adaptec/starfire.c): `dev_kfree_skb(np->rx_info[i].skb);` (1968) and
  // `skb = np->tx_info[i].skb; … dev_kfree_skb(skb); np->tx_info[i].skb = NULL;` (1980), np = netdev_priv(dev). objdump -dr:
  // `mov 0xa20(%rbp,%rbx,2),%rdi; call consume_skb; movq $0x0,0xa20(%rbp,%rbx,2)` (+0x111; %rbp is dev, netdev_priv is
  // dev + 0xa00), and for tx a pointer stepping through the ring, `mov (%rbx),%r12 … movq $0x0,(%rbx)` (+0x185).
  // hamachi_tx_timeout: `skb = hmp->tx_skbuff[i]` (1105) at `mov 0x1a10(%rbx,%rbp,8),%r13`, `skb = hmp->rx_skbuff[i]`
  // (1128) at `mov 0xa10(%rbx,%rbp,1),%r13`.
  const [rx, tx, ham] = await explainJson(['--kernel', vmlinuz, '--modules', modules, 'netdev_close+0x116/0x260 [starfire]', 'netdev_close+0x18a/0x260 [starfire]', 'hamachi_tx_timeout+0x1ec/0x3f0 [hamachi]']);
  const file = 'drivers/net/ethernet/adaptec/starfire.c';
  assert.equal(rx?.method, 'machine-code');
  assert.equal(where(rx), `${file}:1968`);
  const ev = rx?.candidates[0]?.evidence ?? [];
  assert.ok(ev.some((x) => x.includes('frees the buffer loaded from 0xa20(…) (an array element, through an index register), the offset of this site\'s np->rx_info[i].skb (struct netdev_private) in the image\'s BTF past netdev_priv\'s 0xa00')), ev.join('\n'));
  // The indexed load and the indexed clear: both sites clear their element, and both calls do.
  assert.ok(ev.some((x) => x.includes('is set to NULL right after the call, as this site does')), ev.join('\n'));
  assert.ok(rx?.candidates.find((c) => c.line === 1980)?.evidence.some((x) => x.includes('is set to NULL right after the call, as this site does')));
  assert.equal(where(tx), `${file}:1980`);
  assert.equal(where(ham), 'drivers/net/ethernet/packetengines/hamachi.c:1128');
  assert.ok(ham?.candidates[0]?.evidence.some((x) => x.includes('0xa10(…) (an array element, through an index register), the offset of this site\'s skb = hmp->rx_skbuff[i]')), ham?.candidates[0]?.evidence.join('\n'));
  assert.ok(ham?.candidates.find((c) => c.line === 1105)?.evidence.some((x) => x.includes('is at 0x1010 (0x1a10 past netdev_priv) in the image\'s BTF, an array element')));
});
