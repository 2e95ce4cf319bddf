// Locations that name no module (dropwatch prints `vxlan_xmit_one+ae9`, no `[vxlan]`): the module that defines
// the function is found from its indexed source file's directory (module-lookup.ts). The search order is tested
// on made-up module lists; the rest on the real Debian 6.12.117 packages (DROPSITE_KERNEL_IMAGE_DIR_612, a
// dpkg-deb -x of linux-image-6.12.117+deb12-amd64-unsigned, and DROPSITE_KERNEL_TREE_612; .ci/run exports both),
// where vxlan_xmit_one+0xae9 in vxlan.ko.xz is the tx_error free at drivers/net/vxlan/vxlan_core.c:2676
// (see linux-6.12.test.ts for how that was checked against `objdump -dr`).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ObjectFile } from '../../src/binary/index.ts';
import { kbuildModules, sourceLevels } from '../../src/kernel/kbuild.ts';
import { ModuleFinder, treeDirOf } from '../../src/machine-code/module-lookup.ts';
import type { Explanation } from '../../src/model.ts';
import { explainJsonIn, runCli } from '../helpers/fixture.ts';
import { indexedTreeForTests } from '../helpers/indexed-tree.ts';

test('a source file\'s directory and its parents, nearest first; a module file\'s folder from after kernel/', () => {
  assert.deepEqual(sourceLevels('drivers/net/vxlan/vxlan_core.c'), ['drivers/net/vxlan', 'drivers/net', 'drivers']);
  assert.deepEqual(sourceLevels('init.c'), []);
  assert.equal(treeDirOf('/lib/modules/6.12', '/lib/modules/6.12/kernel/drivers/net/vxlan/vxlan.ko.xz'), 'drivers/net/vxlan');
  // --modules given as lib/modules (one level up): the first kernel/ folder still starts the tree path.
  assert.equal(treeDirOf('/lib/modules', '/lib/modules/6.12/kernel/kernel/bpf/preload/bpf_preload.ko.xz'), 'kernel/bpf/preload');
  assert.equal(treeDirOf('/m', '/m/updates/drivers/net/dummy.ko'), 'drivers/net');
});

test('a kbuild Makefile names the module an object is linked into, through composite objects and continued lines', () => {
  const makefile = [
    'obj-$(CONFIG_NF_TABLES) += nf_tables.o',
    'nf_tables-objs := nf_tables_core.o nf_tables_api.o \\',
    '\t\t  nft_immediate.o',
    'obj-$(CONFIG_DUMMY) += dummy.o',
    'liquidio-y := lio_main.o lio_core.o',
    'liquidio_vf-y := lio_vf_main.o lio_core.o',
    'obj-$(CONFIG_LIQUIDIO) += liquidio.o',
    'obj-$(CONFIG_LIQUIDIO_VF) += liquidio_vf.o',
    'mlx5_core-y += en/rep/tc.o',
    'obj-$(CONFIG_MLX5_CORE) += mlx5_core.o',
  ];
  assert.deepEqual(kbuildModules(makefile, 'nft_immediate'), ['nf_tables']);
  assert.deepEqual(kbuildModules(makefile, 'dummy'), ['dummy']);
  assert.deepEqual(kbuildModules(makefile, 'lio_core').sort(), ['liquidio', 'liquidio_vf']);
  assert.deepEqual(kbuildModules(makefile, 'tc'), ['mlx5_core']);
  assert.deepEqual(kbuildModules(makefile, 'absent'), []);
});

test('the module finder opens the nearest level first, the single-file module of the source first, and keeps every module of the level that defines it', async () => {
  const defines: Record<string, string[]> = {
    '/m/kernel/drivers/net/dummy.ko': ['dummy_xmit', 'shared_fn'],
    '/m/kernel/drivers/net/veth.ko': ['veth_xmit', 'shared_fn'],
    '/m/kernel/drivers/net/liquidio/liquidio.ko': ['lio_xmit'],
    '/m/kernel/drivers/net/liquidio/liquidio_vf.ko': ['lio_xmit'],
    '/m/kernel/drivers/net/liquidio/other.ko': [],
  };
  const opened: string[] = [];
  const finder = new ModuleFinder('/m', Object.keys(defines), async (file) => {
    opened.push(file);
    return { path: file, functions: () => (defines[file] ?? []).map((name) => ({ name })) } as unknown as ObjectFile;
  });
  // dummy.c's own module is dummy.ko: found first, and the rest of drivers/net is not opened.
  const dummy = await finder.find('shared_fn', ['drivers/net/dummy.c']);
  assert.deepEqual(dummy.hits.map((h) => h.module), ['dummy']);
  assert.deepEqual(opened, ['/m/kernel/drivers/net/dummy.ko']);
  // Two modules of one folder (lio_main.c and lio_vf_main.c both in liquidio/): both kept, for the weighing to pick by the offset.
  const lio = await finder.find('lio_xmit', ['drivers/net/liquidio/lio_main.c']);
  assert.deepEqual(lio.hits.map((h) => h.module).sort(), ['liquidio', 'liquidio_vf']);
  assert.equal(lio.opened, 3);
  // Nothing in the folder or its parents defines it: no hit, and each file was opened once (its names are kept).
  const before = opened.length;
  const none = await finder.find('missing_fn', ['drivers/net/liquidio/lio_main.c']);
  assert.deepEqual(none.hits, []);
  assert.deepEqual(opened.slice(before), ['/m/kernel/drivers/net/veth.ko'], 'only veth.ko, not opened before, is opened now');
});

const tree = process.env['DROPSITE_KERNEL_TREE_612'];
const imageDir = process.env['DROPSITE_KERNEL_IMAGE_DIR_612'];
const RELEASE = '6.12.117+deb12-amd64';
const vmlinuz = imageDir === undefined ? '' : join(imageDir, `boot/vmlinuz-${RELEASE}`);
const modules = imageDir === undefined ? '' : join(imageDir, 'lib/modules');
const vxlanKo = join(modules, RELEASE, 'kernel/drivers/net/vxlan/vxlan.ko.xz');
const skip = tree === undefined || tree === '' ? 'set DROPSITE_KERNEL_TREE_612 to an unpacked linux-source-6.12 6.12.117 tree (.ci/run does)'
  : imageDir === undefined || imageDir === '' ? 'set DROPSITE_KERNEL_IMAGE_DIR_612 to a dpkg-deb -x of linux-image-6.12.117+deb12-amd64-unsigned (.ci/run does)'
  : !existsSync(vmlinuz) || !existsSync(vxlanKo) ? `DROPSITE_KERNEL_IMAGE_DIR_612 has no boot/vmlinuz-${RELEASE} or no ${vxlanKo}`
  : false;

const { dir, db } = indexedTreeForTests('dropsite-module-lookup-', tree, skip);

const where = (e: Explanation | undefined): string => `${e?.candidates[0]?.file}:${e?.candidates[0]?.line}`;

test('6.12, dropwatch form without [vxlan]: the module is found from vxlan_core.c\'s folder, with the same first answer as the [vxlan] form', { skip }, async () => {
  const [bare, named] = await explainJsonIn(db, ['--kernel', vmlinuz, '--modules', modules, 'vxlan_xmit_one+ae9', 'vxlan_xmit_one+ae9 [vxlan]']);
  assert.equal(bare?.method, 'machine-code');
  assert.equal(named?.method, 'machine-code');
  assert.equal(where(bare), 'drivers/net/vxlan/vxlan_core.c:2676');
  assert.equal(where(bare), where(named));
  assert.equal(bare?.size, 0x181e, 'the size comes from vxlan.ko\'s symbol table');
  assert.ok(bare?.notes.includes('machine code: vxlan_xmit_one is not in the image, and the location names no module: vxlan_xmit_one found in drivers/net/vxlan/vxlan.ko.xz (the module of vxlan_core.c)'), bare?.notes.join('\n'));
  assert.ok(!(named?.notes.some((n) => n.includes('names no module')) ?? true), 'the [vxlan] form needs no lookup');
});

test('6.12, a static function of two modules (e1000 and e1000e), dropwatch form: the candidates of the other module\'s source are pushed down, with the evidence named', { skip }, async () => {
  const [bare, named] = await explainJsonIn(db, ['--kernel', vmlinuz, '--modules', modules, 'e1000_xmit_frame+6ea', 'e1000_xmit_frame+0x6ea/0x10b9 [e1000]']);
  // Named, the tree's kbuild already leaves e1000e's function out (the next test, source only).
  assert.equal(named?.method, 'machine-code');
  assert.ok(!(named?.candidates ?? []).some((c) => c.file.startsWith('drivers/net/ethernet/intel/e1000e/')));
  assert.equal(where(named), where(bare));
  for (const e of [bare]) {
    assert.equal(e?.method, 'machine-code');
    const files = (e?.candidates ?? []).map((c) => c.file);
    const own = files.filter((f) => f.startsWith('drivers/net/ethernet/intel/e1000/'));
    const other = files.filter((f) => f.startsWith('drivers/net/ethernet/intel/e1000e/'));
    assert.ok(own.length > 0 && other.length > 0, files.join(', '));
    // Every e1000 candidate ranks above every e1000e one.
    assert.ok(files.lastIndexOf(own[own.length - 1] ?? '') < files.indexOf(other[0] ?? ''), files.join(', '));
    const pushed = e?.candidates.find((c) => c.file.startsWith('drivers/net/ethernet/intel/e1000e/'));
    assert.ok(pushed?.evidence.includes('machine code: the code is e1000.ko\'s, built from drivers/net/ethernet/intel/e1000/; drivers/net/ethernet/intel/e1000e/netdev.c is another module\'s source'), pushed?.evidence.join('\n'));
    assert.ok(e?.notes.includes('machine code: the code is e1000.ko\'s, whose sources are in drivers/net/ethernet/intel/e1000/: the candidates in drivers/net/ethernet/intel/e1000e/netdev.c are of another module'), e?.notes.join('\n'));
  }
});

test('6.12, source only, a location naming module e1000: only the e1000_xmit_frame that kbuild builds into e1000 is ranked', { skip }, async () => {
  const [e] = await explainJsonIn(db, ['e1000_xmit_frame+0x6ea/0x10b9 [e1000]', 'e1000_xmit_frame+0x6ea/0x10b9']);
  assert.equal(e?.method, 'source');
  const files = new Set((e?.candidates ?? []).map((c) => c.file));
  assert.ok(files.has('drivers/net/ethernet/intel/e1000/e1000_main.c'), [...files].join(', '));
  assert.ok(![...files].some((f) => f.startsWith('drivers/net/ethernet/intel/e1000e/')), [...files].join(', '));
  assert.ok(e?.notes.includes('2 functions are named e1000_xmit_frame; the location is in module e1000, and the tree\'s kbuild Makefiles build only drivers/net/ethernet/intel/e1000/e1000_main.c into it: the others are left out'), e?.notes.join('\n'));
  // Without the module name both are ranked.
  const [, bare] = await explainJsonIn(db, ['e1000_xmit_frame+0x6ea/0x10b9 [e1000]', 'e1000_xmit_frame+0x6ea/0x10b9']);
  assert.ok((bare?.candidates ?? []).some((c) => c.file.startsWith('drivers/net/ethernet/intel/e1000e/')));
});

test('6.12, report of a dropwatch recording: the module row is ranked with vxlan.ko\'s code', { skip }, async () => {
  const rec = join(dir, 'dropwatch.txt');
  writeFileSync(rec, '15 drops at vxlan_xmit_one+ae9 (0xffffffffc0a1b2c3) [software]\n2 drops at vxlan_xmit_one+6f8 (0xffffffffc0a1b2c3) [software]\n');
  const r = await runCli(['report', '--db', db, '--kernel', vmlinuz, '--modules', modules, '--as', 'json', rec]);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { rows: Array<{ count: number; method: string; notes: string[]; candidates: Array<{ file: string; line: number }> }> };
  const [first, second] = view.rows;
  assert.equal(first?.count, 15);
  assert.equal(first?.method, 'machine-code');
  assert.equal(`${first?.candidates[0]?.file}:${first?.candidates[0]?.line}`, 'drivers/net/vxlan/vxlan_core.c:2676');
  assert.ok(first?.notes.some((n) => n.includes('found in drivers/net/vxlan/vxlan.ko.xz')), first?.notes.join('\n'));
  // The drop: label's dev_kfree_skb is the consume_skb call at +0x6f3.
  assert.equal(`${second?.candidates[0]?.file}:${second?.candidates[0]?.line}`, 'drivers/net/vxlan/vxlan_core.c:2664');
});

test('6.12, a module function whose module is not under --modules: a note says where it looked, and the answer ranks from source', { skip }, async () => {
  // A modules folder with only dummy.ko.xz (drivers/net), a parent of vxlan_core.c's folder: opened, no vxlan_xmit_one.
  const mods = join(dir, 'only-dummy', RELEASE, 'kernel/drivers/net');
  mkdirSync(mods, { recursive: true });
  copyFileSync(join(modules, RELEASE, 'kernel/drivers/net/dummy.ko.xz'), join(mods, 'dummy.ko.xz'));
  const r = await runCli(['explain', '--db', db, '--json', '--modules', join(dir, 'only-dummy'), 'vxlan_xmit_one+ae9']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const [e] = JSON.parse(r.stdout) as Explanation[];
  assert.equal(e?.method, 'source');
  assert.ok((e?.candidates.length ?? 0) > 0);
  assert.ok(e?.notes.includes(`machine code: no kernel image was given, and the location names no module; no module under ${join(dir, 'only-dummy')} in the directories of its source (drivers/net/vxlan) or their parents defines it (1 opened): ranked from source`), e?.notes.join('\n'));
});

test('6.12, watch\'s machine code: a module found for a location without one is checked against the loaded module\'s build-id', { skip }, async () => {
  const { openRunningCode } = await import('../../src/machine-code/running.ts');
  const { openForRead } = await import('../../src/index/open.ts');
  const { pickTree } = await import('../../src/index/read.ts');
  const { Explainer } = await import('../../src/explain/explain.ts');
  const { loadModule } = await import('../../src/binary/index.ts');
  const { parseLocation } = await import('../../src/locate/location.ts');
  const idx = openForRead(db);
  try {
    const t = pickTree(idx, undefined, db);
    const explainer = new Explainer(idx, t);
    const l = parseLocation('vxlan_xmit_one+ae9');
    const query = { input: l.input, symbol: l.symbol, function: l.function, isCold: l.isCold, offset: l.offset, size: l.size, module: l.module, reason: l.reason, event: l.event };
    const note = (id: string): string => {
      const sys = join(dir, `sys-module-${id.slice(0, 4)}`, 'vxlan', 'notes');
      mkdirSync(sys, { recursive: true });
      // A GNU build-id note as /sys/module/vxlan/notes/.note.gnu.build-id holds it.
      const n = Buffer.alloc(16 + id.length / 2);
      n.writeUInt32LE(4, 0);
      n.writeUInt32LE(id.length / 2, 4);
      n.writeUInt32LE(3, 8);
      n.write('GNU\0', 12, 'latin1');
      Buffer.from(id, 'hex').copy(n, 16);
      writeFileSync(join(sys, '.note.gnu.build-id'), n);
      return join(sys, '..', '..');
    };
    const own = (await loadModule(vxlanKo)).buildId;
    assert.ok(own !== null);
    // The loaded module is this .ko: used.
    const same = await openRunningCode(idx, t, { kernel: null, modules, sysModulePath: note(own) });
    assert.deepEqual(await same.code.findModules([query]), []);
    const e = explainer.explain(query, { code: same.code });
    assert.equal(e.method, 'machine-code');
    assert.equal(where(e), 'drivers/net/vxlan/vxlan_core.c:2676');
    // Another build is loaded: refused with both ids, and the location ranks from source.
    const other = 'ab'.repeat(20);
    const wrong = await openRunningCode(idx, t, { kernel: null, modules, sysModulePath: note(other) });
    const problems = await wrong.code.findModules([query]);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', new RegExp(`^module vxlan: .*vxlan\\.ko\\.xz is not the loaded module \\(build-id ${own}, the loaded module's .* is ${other}\\): its rows rank from source$`));
    const refused = explainer.explain(query, { code: wrong.code });
    assert.equal(refused.method, 'source');
    assert.ok(refused.notes.includes(`machine code: the location names no module; ${vxlanKo} defines vxlan_xmit_one but is not the loaded module's build: ranked from source`), refused.notes.join('\n'));
  } finally {
    idx.close();
  }
});
