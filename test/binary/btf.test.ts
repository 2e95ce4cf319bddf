// The BTF reader (src/binary/btf.ts): struct member offsets by name, through anonymous unions, with a module's
// split BTF on top of its base; a clear error for a cut-short section; and the real Debian images, whose
// offsets were checked by hand against `objdump -dr` (`mov 0x180(%rbx),%rsi` before the free of
// ddev->chaining_skb in nfc_digital.ko's digital_in_recv_dep_res, 6.1 and 6.12; skb->len is 0x70).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Btf, BtfError } from '../../src/binary/btf.ts';
import { loadKernelImage, loadModule } from '../../src/binary/index.ts';
import { fromKernelImage } from '../../src/machine-code/code-image.ts';
import { buildBtf } from '../helpers/btf-builder.ts';

const base = buildBtf([
  { name: '', union: true, size: 8, members: [{ name: 'next', type: 'ptr', offset: 0 }, { name: 'list', type: 'ptr', offset: 0 }] },
  { name: 'sk_buff', size: 0x80, members: [{ name: '', type: '', offset: 0 }, { name: 'len', type: 'int', offset: 0x70 }, { name: 'pkt_type', type: 'int', offset: 0x7c, bits: 3 }] },
]);

test('member offsets by struct name, an anonymous union\'s members at its own offset, a bitfield at its byte', () => {
  const b = Btf.parse(base.bytes, 'test');
  const [skb] = b.structsNamed('sk_buff');
  assert.ok(skb !== undefined);
  assert.equal(b.member(skb, 'len')?.offset, 0x70);
  assert.equal(b.member(skb, 'pkt_type')?.offset, 0x7c);
  assert.equal(b.member(skb, 'list')?.offset, 0);
  assert.equal(b.member(skb, 'nope'), null);
  assert.deepEqual(b.structsNamed('net_device'), []);
});

test('split BTF: a module\'s structs get ids after its base\'s and name base types through it', () => {
  const mod = buildBtf([
    { name: 'sk_buff', size: 0x80, members: [{ name: 'len', type: 'int', offset: 0x70 }] },
    { name: 'ring', size: 0x40, members: [{ name: 'skb', type: 'ptr:sk_buff', offset: 0x18 }, { name: 'tail_skb', type: 'ptr:sk_buff', offset: 0x20 }] },
  ], base);
  const b = Btf.parse(base.bytes, 'test');
  const m = Btf.parse(mod.bytes, 'mod.ko: .BTF', b);
  const [ring] = m.structsNamed('ring');
  assert.ok(ring !== undefined && ring > base.types, 'a module type id continues its base\'s');
  assert.equal(m.member(ring, 'tail_skb')?.offset, 0x20);
  assert.equal(m.structsNamed('sk_buff').length, 2, 'the base\'s and the module\'s own');
  const skb = m.member(ring, 'skb');
  assert.ok(skb !== null && m.isPointer(skb.type));
  assert.equal(m.member(m.resolve(skb.type, true), 'len')?.offset, 0x70);
});

test('a cut-short or foreign section is a one-line error naming it', () => {
  assert.throws(() => Btf.parse(base.bytes.subarray(0, base.bytes.length - 9), 'vmlinux: .BTF'), (e: unknown) => e instanceof BtfError && /^vmlinux: \.BTF: not a BTF section \(its header gives types and strings up to byte \d+, but it holds \d+\)$/.test(e.message));
  assert.throws(() => Btf.parse(base.bytes.subarray(0, 10), 'x.ko: .BTF'), { name: 'BtfError', message: 'x.ko: .BTF: not a BTF section (10 bytes, shorter than its 24-byte header)' });
  assert.throws(() => Btf.parse(new Uint8Array(64), 'zeros'), { message: 'zeros: not a BTF section (no 0xeb9f magic)' });
});

for (const [env, release, ko] of [
  ['DROPSITE_KERNEL_IMAGE_DIR', '6.1.0-56-amd64', 'kernel/net/nfc/nfc_digital.ko'],
  ['DROPSITE_KERNEL_IMAGE_DIR_612', '6.12.117+deb12-amd64', 'kernel/net/nfc/nfc_digital.ko.xz'],
] as const) {
  const dir = process.env[env];
  const vmlinuz = dir === undefined ? '' : join(dir, `boot/vmlinuz-${release}`);
  const module = dir === undefined ? '' : join(dir, `lib/modules/${release}`, ko);
  const skip = dir === undefined || dir === '' ? `set ${env} to a dpkg-deb -x of the ${release} image package (.ci/run does)`
    : !existsSync(vmlinuz) || !existsSync(module) ? `${env} has no boot/vmlinuz-${release} or ${ko}` : false;
  test(`the ${release} image's .BTF and nfc_digital's split BTF on top of it`, { skip }, async () => {
    const image = await loadKernelImage(vmlinuz);
    const bytes = fromKernelImage(image).btf?.() ?? null;
    assert.ok(bytes !== null, 'the stripped image keeps its .BTF');
    const t = performance.now();
    const b = Btf.parse(bytes, 'the image\'s .BTF');
    const [skb, ...more] = b.structsNamed('sk_buff');
    assert.ok(skb !== undefined && more.length === 0);
    assert.ok(performance.now() - t < 5000, 'parsed in well under a second on an idle machine');
    assert.equal(b.member(skb, 'len')?.offset, 0x70);
    const obj = await loadModule(module);
    const sec = obj.elf.section('.BTF');
    assert.ok(sec !== undefined);
    const m = Btf.parse(obj.elf.sectionBytes(sec), `${ko}: .BTF`, b);
    const [dev] = m.structsNamed('nfc_digital_dev');
    assert.ok(dev !== undefined && dev > b.count);
    assert.equal(m.member(dev, 'chaining_skb')?.offset, 0x180);
    assert.equal(m.member(dev, 'saved_skb')?.offset, 0x198);
  });
}
