// Relocatable objects: a gcc-built fixture and real modules of the 6.1 image, each checked against what
// `objdump -dr` says about the same bytes (relocation offsets, widths and targets).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { loadModule, loadObject, type ObjectFile } from '../../src/binary/index.ts';
import { fixture } from '../helpers/fixture.ts';
import { compileObject, hasTool, NO_GCC, NO_IMAGE, realImage, tempDir } from './build-inputs.ts';

interface ObjdumpReloc { section: string; offset: number; type: string; target: string }

/** Every relocation `objdump -dr` prints inside executable sections, with its section. */
function objdumpRelocations(path: string): ObjdumpReloc[] {
  const out: ObjdumpReloc[] = [];
  let section = '';
  for (const line of execFileSync('objdump', ['-dr', path], { encoding: 'latin1', maxBuffer: 1 << 28 }).split('\n')) {
    const header = /^Disassembly of section (\S+):$/.exec(line);
    if (header !== null) section = header[1]!;
    const reloc = /^\s+([0-9a-f]+): (R_X86_64_\w+)\s+(\S+)$/.exec(line);
    if (reloc !== null) out.push({ section, offset: parseInt(reloc[1]!, 16), type: reloc[2]!, target: reloc[3]! });
  }
  return out;
}

const WIDTH: Record<string, number> = { R_X86_64_64: 8, R_X86_64_PC32: 4, R_X86_64_PLT32: 4, R_X86_64_32: 4, R_X86_64_32S: 4 };

/** For every function of `object`, its relocated ranges and named targets equal objdump's. */
function assertMatchesObjdump(object: ObjectFile, path: string): number {
  const relocs = objdumpRelocations(path);
  let checked = 0;
  for (const fn of object.functions()) {
    const code = object.functionCode(fn.name, { size: fn.size });
    assert.ok(code, fn.name);
    const expected = relocs
      .filter((r) => r.section === fn.section && r.offset >= fn.value && r.offset < fn.value + fn.size)
      .map((r) => [r.offset - fn.value, Math.min(r.offset - fn.value + (WIDTH[r.type] ?? 4), fn.size)]);
    assert.deepEqual(code.relocated, expected, `${fn.name}: relocated ranges`);
    for (const r of relocs) {
      if (r.section !== fn.section || r.offset < fn.value || r.offset >= fn.value + fn.size) continue;
      const symbol = r.target.replace(/[-+]0x[0-9a-f]+$/, '');
      const named: string | undefined = code.relocTargets?.get(r.offset - fn.value);
      // A relocation against a section symbol is named by the function it points at, or section+offset.
      if (symbol.startsWith('.')) assert.ok(named !== undefined && named.length > 0, `${fn.name}+0x${(r.offset - fn.value).toString(16)}`);
      else assert.equal(named, symbol, `${fn.name}+0x${(r.offset - fn.value).toString(16)}`);
      checked++;
    }
  }
  return checked;
}

describe('loadObject on a gcc-built object', { skip: NO_GCC }, () => {
  const dir = tempDir('object');
  const path = compileObject(fixture('binary', 'compare', 'receive-v1.c'), join(dir, 'receive.o'));

  it('lists its function with st_size and its calls as relocations, as objdump does', () => {
    const object = loadObject(path);
    assert.deepEqual(object.functions().map((f) => [f.name, f.section, f.global]), [['receive', '.text', true]]);
    assert.equal(object.modinfo, undefined);
    const checked = assertMatchesObjdump(object, path);
    assert.ok(checked >= 4, `${checked} relocations checked`);
    const code = object.functionCode('receive')!;
    assert.deepEqual([...new Set(code.relocTargets!.values())].sort(), ['count_error', 'deliver', 'kfree_skb_reason']);
  });
});

const real = realImage();

describe('loadObject and loadModule on real 6.1 modules', { skip: NO_IMAGE }, () => {
  for (const module of ['net/ipv4/netfilter/ipt_REJECT.ko', 'drivers/net/tun.ko', 'net/ipv4/netfilter/nf_reject_ipv4.ko']) {
    it(`${module}: every function's relocations equal objdump -dr`, () => {
      const path = join(real!.modules, module);
      const object = loadObject(path);
      assert.ok(object.functions().length > 0);
      const checked = assertMatchesObjdump(object, path);
      assert.ok(checked > 10, `${checked} relocations checked`);
      assert.match(object.modinfo?.get('vermagic')?.[0] ?? '', /^6\.1\.0-56-amd64 SMP /);
      if (hasTool('modinfo')) {
        assert.equal(object.modinfo?.get('vermagic')?.[0], execFileSync('modinfo', ['-F', 'vermagic', path], { encoding: 'latin1' }).trim());
      }
    });
  }

  it('tun.ko: cold parts in .text.unlikely are functions too, and jumps to them are named', () => {
    const object = loadObject(join(real!.modules, 'drivers/net/tun.ko'));
    const cold = object.functions().filter((f) => f.section === '.text.unlikely');
    assert.ok(cold.length > 0);
    const names = new Set(cold.map((f) => f.name));
    const jumpsToCold = object.functions().flatMap((f) => [...(object.functionCode(f.name, { size: f.size })?.relocTargets?.values() ?? [])]).filter((n) => names.has(n));
    assert.ok(jumpsToCold.length > 0, 'some relocation against .text.unlikely resolves to a .cold function');
  });

  it('a .ko.xz (as kmod compresses modules) reads the same through loadModule; loadObject says to use it', { skip: hasTool('xz') ? false : 'xz is not installed' }, async () => {
    const dir = tempDir('ko-xz');
    const ko = join(dir, 'ipt_REJECT.ko');
    copyFileSync(join(real!.modules, 'net/ipv4/netfilter/ipt_REJECT.ko'), ko);
    execFileSync('xz', ['--check=crc32', '--lzma2=dict=1MiB', '-k', ko]);
    const plain = loadObject(ko);
    const packed = await loadModule(`${ko}.xz`);
    assert.deepEqual(packed.functions(), plain.functions());
    assert.deepEqual(packed.functionCode('reject_tg')?.relocated, plain.functionCode('reject_tg')?.relocated);
    assert.throws(() => loadObject(`${ko}.xz`), (err: unknown) => err instanceof InputError && err.message.includes('xz-compressed') && err.message.includes('loadModule'));
  });
});

describe('bad object inputs give one-line errors', () => {
  it('a non-ELF file and a truncated one', () => {
    const dir = tempDir('bad-object');
    const text = join(dir, 'notes.ko');
    writeFileSync(text, 'not an object\n');
    assert.throws(() => loadObject(text), (err: unknown) => err instanceof InputError && err.message.includes(text) && err.message.includes('not an ELF object'));
    const cut = join(dir, 'cut.o');
    writeFileSync(cut, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(100)]));
    assert.throws(() => loadObject(cut), (err: unknown) => err instanceof InputError && !err.message.includes('\n') && err.message.includes(cut));
  });
});
