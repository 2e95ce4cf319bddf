import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { InputError } from '../../src/errors.ts';
import { loadKernelImage } from '../../src/binary/index.ts';
import { decodeXz } from '../../src/binary/xz.ts';
import { fixture } from '../helpers/fixture.ts';
import { bzImageAround, hasTool, linkExecutable, NO_GCC, tempDir, withSize } from './build-inputs.ts';

const dir = tempDir('vmlinuz');
const elfPath = NO_GCC ? '' : linkExecutable([fixture('binary', 'vmlinuz', 'tiny-kernel.c')], join(dir, 'vmlinux'));
const elf = NO_GCC ? new Uint8Array(0) : readFileSync(elfPath);

function compress(tool: string, args: readonly string[], input: Uint8Array): Uint8Array {
  return execFileSync(tool, [...args], { input, maxBuffer: 1 << 30 });
}

function nmAddress(name: string): bigint {
  const line = execFileSync('nm', [elfPath], { encoding: 'latin1' }).split('\n').find((l) => l.endsWith(` ${name}`));
  assert.ok(line, `nm lists ${name}`);
  return BigInt(`0x${line.split(' ')[0]}`);
}

function readelfBuildId(): string {
  const match = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', elfPath], { encoding: 'latin1' }));
  assert.ok(match, 'readelf shows a build-id');
  return match[1]!;
}

async function expectInputError(promise: Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof InputError, `an InputError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    for (const part of parts) assert.ok(err.message.includes(part), `"${err.message}" names ${part}`);
    return true;
  });
}

// One bzImage per payload compression, each made by that compression's own tool the way the kernel's
// Makefile calls it (xz with the x86 BCJ filter and CRC32; zstd, lz4 legacy and xz with the size appended).
const PAYLOADS: ReadonlyArray<{ kind: string; tool: string; make: () => Uint8Array }> = [
  { kind: 'gzip', tool: 'gzip', make: () => compress('gzip', ['-n', '-9', '-c'], elf) },
  { kind: 'xz', tool: 'xz', make: () => withSize(compress('xz', ['--check=crc32', '--x86', '--lzma2=dict=1MiB', '-c'], elf), elf.length) },
  { kind: 'zstd', tool: 'zstd', make: () => withSize(compress('zstd', ['-19', '-q', '-c'], elf), elf.length) },
  { kind: 'lz4', tool: 'lz4', make: () => withSize(compress('lz4', ['-l', '-9', '-q', '-c'], elf), elf.length) },
  { kind: 'bzip2', tool: 'bzip2', make: () => withSize(compress('bzip2', ['-9', '-c'], elf), elf.length) },
];

describe('loadKernelImage on bzImage-shaped files', () => {
  for (const { kind, tool, make } of PAYLOADS) {
    it(`reads a ${kind} payload back to the ELF it was made from`, { skip: NO_GCC || (hasTool(tool) ? false : `${tool} is not installed (.ci/run installs it)`) }, async () => {
      const path = join(dir, `vmlinuz-${kind}`);
      writeFileSync(path, bzImageAround(make()));
      const image = await loadKernelImage(path);
      assert.equal(image.format, `bzImage-${kind}`);
      assert.equal(Buffer.compare(Buffer.from(image.elf.bytes), Buffer.from(elf)), 0, 'decompressed bytes equal the ELF');
      assert.equal(image.banner, 'Linux version 9.9.9-fixture (builder@example) (gcc) #1 SMP PREEMPT_DYNAMIC');
      assert.equal(image.buildId, readelfBuildId());
      assert.equal(image.symbolSource, 'elf-symtab');
      assert.deepEqual(image.lookup('udp_rcv').map((s) => s.address), [nmAddress('udp_rcv')]);
    });
  }

  it('accepts a raw ELF vmlinux', { skip: NO_GCC }, async () => {
    const image = await loadKernelImage(elfPath);
    assert.equal(image.format, 'elf');
    assert.equal(image.lookup('kfree_skb_reason')[0]?.address, nmAddress('kfree_skb_reason'));
    const code = image.functionCode('udp_rcv');
    assert.ok(code);
    assert.equal(code.sizeExact, true);
    assert.deepEqual(code.relocated, []);
  });
});

describe('xz streams', () => {
  // Pseudo-random bytes with many E8/E9 rel32 patterns, so that the x86 filter has real work to undo.
  const data = new Uint8Array(1 << 20);
  let seed = 12345;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    data[i] = seed >>> 24;
    if ((seed & 0x3f) === 0 && i + 5 < data.length) {
      data[i] = seed & 0x40 ? 0xe8 : 0xe9;
      data[i + 4] = seed & 0x80 ? 0x00 : 0xff;
    }
  }

  it('undoes the x86 BCJ filter exactly', { skip: hasTool('xz') ? false : 'xz is not installed' }, async () => {
    const packed = compress('xz', ['--check=crc32', '--x86', '--lzma2=preset=1', '-c'], data);
    assert.equal(Buffer.compare(Buffer.from(await decodeXz(packed)), Buffer.from(data)), 0);
  });

  it('reads several blocks, CRC64 and no filter', { skip: hasTool('xz') ? false : 'xz is not installed' }, async () => {
    const packed = compress('xz', ['--check=crc64', '--block-size=300000', '--lzma2=preset=1', '-c'], data);
    assert.equal(Buffer.compare(Buffer.from(await decodeXz(packed)), Buffer.from(data)), 0);
  });
});

describe('bad kernel image inputs give one-line errors', () => {
  it('a truncated bzImage', { skip: NO_GCC || (hasTool('xz') ? false : 'xz is not installed') }, async () => {
    const whole = bzImageAround(withSize(compress('xz', ['--check=crc32', '--x86', '--lzma2=dict=1MiB', '-c'], elf), elf.length));
    const path = join(dir, 'vmlinuz-cut');
    writeFileSync(path, whole.subarray(0, whole.length - 100));
    await expectInputError(loadKernelImage(path), path, 'truncated');
  });

  it('a bzImage whose compressed payload is cut short', { skip: NO_GCC || (hasTool('xz') ? false : 'xz is not installed') }, async () => {
    const packed = compress('xz', ['--check=crc32', '--x86', '--lzma2=dict=1MiB', '-c'], elf);
    const path = join(dir, 'vmlinuz-cut-payload');
    writeFileSync(path, bzImageAround(packed.subarray(0, Math.floor(packed.length / 2))));
    await expectInputError(loadKernelImage(path), path, 'cannot decompress its xz payload');
  });

  it('a truncated ELF', { skip: NO_GCC }, async () => {
    const path = join(dir, 'vmlinux-cut');
    writeFileSync(path, elf.subarray(0, 3000));
    await expectInputError(loadKernelImage(path), path, 'truncated');
  });

  it('a bzImage with a compression that is not decoded names it and the supported ones', async () => {
    const path = join(dir, 'vmlinuz-lzma');
    writeFileSync(path, bzImageAround(Uint8Array.of(0x5d, 0x00, 0x00, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff)));
    await expectInputError(loadKernelImage(path), path, 'lzma-compressed kernels are not supported (supported: gzip, xz, zstd, lz4, bzip2)');
  });

  it('a gzip file that is not a kernel', async () => {
    const path = join(dir, 'notes.gz');
    writeFileSync(path, gzipSync(Buffer.from('not a kernel\n')));
    await expectInputError(loadKernelImage(path), path, 'is not a kernel image (expected a bzImage vmlinuz or an ELF vmlinux)');
  });

  it('a text file', async () => {
    const path = join(dir, 'README');
    writeFileSync(path, 'hello\n');
    await expectInputError(loadKernelImage(path), path, 'is not a kernel image');
  });

  it('a FIFO, /dev/zero, a directory, a missing file', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expectInputError(loadKernelImage(fifo), fifo, 'is a FIFO, expected a regular file');
    await expectInputError(loadKernelImage('/dev/zero'), '/dev/zero', 'is a character device');
    await expectInputError(loadKernelImage(dir), dir, 'is a directory');
    await expectInputError(loadKernelImage(join(dir, 'missing')), 'missing', 'no such file');
  });
});
