// Drops inside inlined helpers on the real Debian 6.12.117 modules (DROPSITE_KERNEL_IMAGE_DIR_612, the dpkg-deb -x
// of linux-image-6.12.117+deb12-amd64-unsigned) and the matching linux-source-6.12 tree (DROPSITE_KERNEL_TREE_612);
// .ci/run exports both. Each expected line is the DWARF line of the -dbg package's vmlinux/module debug info for
// that location (bench/calibration's truth set), and each code fact was checked with `objdump -dr` of the .ko:
// - tun_device_event+0x369 [tun]: tun_queue_resize passes tun_ptr_free to ptr_ring_resize_multiple_bh, whose
//   inlined `destroy(ptr)` (ptr_ring.h:571) became a direct, inlined tun_ptr_free: sk_skb_reason_drop at +0x364,
//   tun.c:623. veth_napi_del_range+0x12a [veth]: the same through ptr_ring_cleanup(…, veth_ptr_free), veth.c:297.
// - hci_sock_bind+0x6df and +0x7c6 [bluetooth]: send_monitor_replay (inlined) frees after three calls of
//   create_monitor_event; `mov $0x1,%esi` before the call at +0x6b2 (HCI_DEV_REG, line 735, free at 740) and
//   `mov $0x7,%esi` before the one at +0x661 (HCI_DEV_OPEN, line 745, free at 750).
// - mac80211_hwsim_beacon_tx+0x23d and +0x120 [mac80211_hwsim]: __mac80211_hwsim_beacon_tx is called twice and
//   split by gcc (`call __mac80211_hwsim_beacon_tx.part.0`): its head, with `dev_kfree_skb(skb); return;` at line
//   2247, is inlined at both calls (consume_skb at +0x11b and +0x238).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Explanation } from '../../src/model.ts';
import { explainJsonIn } from '../helpers/fixture.ts';
import { indexedTreeForTests } from '../helpers/indexed-tree.ts';

const tree = process.env['DROPSITE_KERNEL_TREE_612'];
const imageDir = process.env['DROPSITE_KERNEL_IMAGE_DIR_612'];
const modules = imageDir === undefined ? '' : join(imageDir, 'lib/modules');
const skip = tree === undefined || tree === '' ? 'set DROPSITE_KERNEL_TREE_612 to an unpacked linux-source-6.12 6.12.117 tree (.ci/run does)'
  : imageDir === undefined || imageDir === '' ? 'set DROPSITE_KERNEL_IMAGE_DIR_612 to a dpkg-deb -x of linux-image-6.12.117+deb12-amd64-unsigned (.ci/run does)'
  : !existsSync(modules) ? `DROPSITE_KERNEL_IMAGE_DIR_612 has no lib/modules (${modules})`
  : false;

const { db } = indexedTreeForTests('dropsite-inlined-helpers-612-', tree, skip);

const explainJson = (args: string[]): Promise<Explanation[]> => explainJsonIn(db, ['--modules', modules, ...args]);
const where = (e: Explanation | undefined, rank = 0): string => `${e?.candidates[rank]?.file}:${e?.candidates[rank]?.line}`;
const evidenceOf = (e: Explanation | undefined, file: string, line: number): string[] => e?.candidates.find((c) => c.file === file && c.line === line)?.evidence ?? [];

test('6.12 modules: a bound `destroy(ptr)` of ptr_ring gives way to the function the driver passes there (tun.ko, veth.ko)', { skip }, async () => {
  const [tun, veth] = await explainJson(['tun_device_event+0x369/0x480 [tun]', 'veth_napi_del_range+0x12a/0x200 [veth]']);
  assert.equal(tun?.method, 'machine-code');
  assert.equal(where(tun), 'drivers/net/tun.c:623');
  const ring = evidenceOf(tun, 'include/linux/ptr_ring.h', 571);
  assert.ok(ring.some((x) => x.startsWith('machine code: this line calls through a pointer (`destroy(ptr);`), bound to __skb_array_destroy_skb only where a caller passes it; here tun_ptr_free is passed to ptr_ring_resize_multiple_bh_noprof()')), ring.join('\n'));
  // The source's evidence names the function handed over, not the first helper of the chain (tun_queue_resize).
  const own = evidenceOf(tun, 'drivers/net/tun.c', 623);
  assert.ok(own.includes('tun_ptr_free is passed as a function to ptr_ring_resize_multiple_bh_noprof(): inlined only when that call is, and the call through the pointer with it'), own.join('\n'));
  assert.equal(where(veth), 'drivers/net/veth.c:297');
  const cleanup = evidenceOf(veth, 'include/linux/ptr_ring.h', 673);
  assert.ok(cleanup.some((x) => x.includes('here veth_ptr_free is passed to ptr_ring_cleanup()')), cleanup.join('\n'));
});

test('6.12 modules: the constant given to the call on the path that also made the freed buffer is weighed once (bluetooth.ko)', { skip }, async () => {
  const [reg, open] = await explainJson(['hci_sock_bind+0x6df/0x940 [bluetooth] reason: NOT_SPECIFIED', 'hci_sock_bind+0x7c6/0x940 [bluetooth] reason: NOT_SPECIFIED']);
  const file = 'net/bluetooth/hci_sock.c';
  assert.equal(reg?.method, 'machine-code');
  assert.equal(where(reg), `${file}:740`);
  assert.equal(where(open), `${file}:750`);
  // create_monitor_event is both a call on the path into the drop and the call whose result is freed: its $0x1 /
  // $0x7 count once, as the freed buffer's origin, never a second time as a path call's argument.
  for (const [e, line] of [[reg, 740], [open, 750]] as const) {
    const ev = evidenceOf(e, file, line);
    assert.ok(ev.some((x) => x.startsWith('machine code: frees what create_monitor_event returns when called with')), ev.join('\n'));
    assert.ok(!ev.some((x) => x.includes('as argument 2 to create_monitor_event')), ev.join('\n'));
  }
  assert.ok(evidenceOf(reg, file, 750).some((x) => x.includes('but this site\'s `skb = create_monitor_event(hdev, HCI_DEV_OPEN);` passes 7')), evidenceOf(reg, file, 750).join('\n'));
});

test('6.12 modules: a helper split by gcc and called twice is inlined twice, each copy with its own free (mac80211_hwsim.ko)', { skip }, async () => {
  const [second, first] = await explainJson(['mac80211_hwsim_beacon_tx+0x23d/0x250 [mac80211_hwsim]', 'mac80211_hwsim_beacon_tx+0x120/0x250 [mac80211_hwsim]']);
  const file = 'drivers/net/wireless/virtual/mac80211_hwsim.c';
  assert.equal(second?.method, 'machine-code');
  for (const e of [second, first]) {
    assert.equal(where(e), `${file}:2247`);
    const ev = evidenceOf(e, file, 2247);
    assert.ok(ev.includes('machine code: mac80211_hwsim_beacon_tx calls __mac80211_hwsim_beacon_tx 2 times in its source, and the code calls only __mac80211_hwsim_beacon_tx.part (gcc split it: its head is inlined at each call): 2 copies of this site\'s code, so it can stand for 2 drop calls'), ev.join('\n'));
    assert.ok(!ev.some((x) => x.includes('it has its own symbol')), ev.join('\n'));
  }
});
