// The real Debian 6.1 image (linux-image-6.1.0-56-amd64-unsigned 6.1.192-2, extracted by .ci/run): its xz
// vmlinuz read in-process, its symbols from the embedded kallsyms tables, checked against independent tools
// (xz -dc for the bytes, the image's own call instructions for the addresses).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { InputError } from '../../src/errors.ts';
import { decodeCode, loadKernelImage, type KernelImage } from '../../src/binary/index.ts';
import { readBzImagePayload } from '../../src/binary/bzimage.ts';
import { bzImageAround, NO_IMAGE, realImage, tempDir } from './build-inputs.ts';

const real = realImage();

describe('the real 6.1 vmlinuz', { skip: NO_IMAGE }, () => {
  let image: KernelImage;
  let loadMs = 0;
  before(async () => {
    const start = performance.now();
    image = await loadKernelImage(real!.vmlinuz);
    loadMs = performance.now() - start;
  });

  it('decompresses to the bytes xz -dc gives, with the banner and build-id of the build', () => {
    const file = readFileSync(real!.vmlinuz);
    const payload = readBzImagePayload(file);
    // xz -dc stops at the kernel's appended size word with an error, after writing the whole stream.
    let reference: Buffer;
    try {
      reference = execFileSync('xz', ['-dc'], { input: file.subarray(payload.offset, payload.offset + payload.length), maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
    } catch (err) {
      reference = (err as { stdout: Buffer }).stdout;
    }
    const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
    assert.equal(image.format, 'bzImage-xz');
    assert.equal(image.elf.bytes.length, reference.length);
    assert.equal(sha(image.elf.bytes), sha(reference));
    assert.match(image.banner ?? '', /^Linux version 6\.1\.0-56-amd64 \(debian-kernel@lists\.debian\.org\) \(gcc-12 .* #1 SMP PREEMPT_DYNAMIC Debian 6\.1\.192-2 /);
    assert.match(image.buildId ?? '', /^[0-9a-f]{40}$/);
    const vmlinux = join(tempDir('xz-real'), 'vmlinux');
    writeFileSync(vmlinux, reference);
    const readelf = execFileSync('readelf', ['-n', vmlinux], { encoding: 'latin1' }).match(/Build ID: ([0-9a-f]+)/);
    assert.ok(readelf, 'readelf shows the build-id');
    assert.equal(image.buildId, readelf[1]);
    // Load time is a figure for the README, not a gate; print it.
    process.stdout.write(`# load+decompress+kallsyms: ${loadMs.toFixed(0)} ms\n`);
  });

  it('finds its symbols in the embedded kallsyms tables', () => {
    assert.equal(image.symbolSource, 'embedded-kallsyms');
    const names = image.symbols();
    assert.ok(names.size > 40000, `${names.size} text symbols`);
    for (const name of ['__udp4_lib_rcv', 'kfree_skb_reason', 'netlink_unicast', 'tcp_v4_rcv', '__fentry__']) {
      const found = image.lookup(name);
      assert.equal(found.length, 1, name);
      assert.ok(found[0]!.address >= 0xffffffff81000000n && found[0]!.size > 0, name);
    }
    assert.ok(image.lookup('raw_rcv').length >= 1);
  });

  it('addresses agree with the code: __udp4_lib_rcv starts with call __fentry__ and calls kfree_skb_reason', () => {
    const code = image.functionCode('__udp4_lib_rcv');
    assert.ok(code);
    const instructions = decodeCode(code.bytes, code.address);
    const first = instructions[0]!;
    assert.equal(first.flow, 'call');
    assert.deepEqual(image.namesAt(first.target!), ['__fentry__']);
    const callees = instructions.filter((i) => i.flow === 'call').map((i) => image.namesAt(i.target!));
    assert.ok(callees.filter((n) => n.includes('kfree_skb_reason')).length >= 2, 'calls kfree_skb_reason');
    assert.ok(callees.some((n) => n.includes('__icmp_send')), 'calls __icmp_send (the NO_SOCKET path)');
    // Every call of the function lands on a symbol's first byte: the table is not shifted.
    assert.ok(callees.every((n) => n.length > 0), 'every direct call target is a symbol start');
    const total = instructions.reduce((n, i) => n + i.length, 0);
    assert.equal(total, code.size, 'the instructions tile the symbol exactly');
  });

  it('takes a kallsyms text instead, with the KASLR slide from _text', async () => {
    const slide = 0x1e400000n;
    const lines: string[] = [];
    for (const [name, list] of image.symbols()) for (const s of list) lines.push(`${(s.address + slide).toString(16)} t ${name}`);
    lines.push(`${(0xffffffff81000000n + slide).toString(16)} T _text`);
    lines.push('ffffffffc0a02000 t nft_do_chain\t[nf_tables]');
    const viaText = await loadKernelImage(real!.vmlinuz, { kallsyms: lines.reverse().join('\n') });
    assert.equal(viaText.symbolSource, 'kallsyms-text');
    assert.equal(viaText.slide, slide);
    assert.deepEqual(viaText.lookup('__udp4_lib_rcv'), image.lookup('__udp4_lib_rcv'));
    assert.deepEqual(viaText.lookup('nft_do_chain'), [], 'module symbols are not the image\'s');
    assert.deepEqual(Buffer.from(viaText.functionCode('netlink_unicast')!.bytes), Buffer.from(image.functionCode('netlink_unicast')!.bytes));
  });

  it('reads a gzip bzImage made from the same vmlinux (re-compressed by the test) to the same symbols', async () => {
    const dir = tempDir('gzip-real');
    const path = join(dir, 'vmlinuz-gzip');
    writeFileSync(path, bzImageAround(gzipSync(image.elf.bytes, { level: 1 }), '6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2'));
    const gz = await loadKernelImage(path);
    assert.equal(gz.format, 'bzImage-gzip');
    assert.equal(gz.buildId, image.buildId);
    assert.equal(gz.symbols().size, image.symbols().size);
    assert.deepEqual(gz.lookup('kfree_skb_reason'), image.lookup('kfree_skb_reason'));
  });

  it('a truncated copy gives one line naming the file', async () => {
    const dir = tempDir('cut-real');
    const path = join(dir, 'vmlinuz-cut');
    writeFileSync(path, readFileSync(real!.vmlinuz).subarray(0, 4 * 1024 * 1024));
    await assert.rejects(loadKernelImage(path), (err: unknown) => err instanceof InputError && !err.message.includes('\n') && err.message.includes(path) && err.message.includes('truncated'));
  });
});
