// compareCode: identical code with relocations masked, a hand-perturbed copy, and two gcc builds of a small
// drop function that differ in source (fixtures/binary/compare), as objects and as a linked "shipped" image.
// Expected offsets come from objdump's listing of the same objects, not from the code under test.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compareCode, decodeCode, loadKernelImage, loadObject, type FunctionCode } from '../../src/binary/index.ts';
import { fixture } from '../helpers/fixture.ts';
import { compileObject, linkExecutable, NO_GCC, NO_IMAGE, realImage, tempDir } from './build-inputs.ts';

interface ListedCall { end: number; target: string; before: string }

/** The calls `objdump -dr` lists in `fn` of an object: return address, target and the instruction before. */
function listedCalls(path: string, fn: string): ListedCall[] {
  const lines = execFileSync('objdump', ['-dr', `--disassemble=${fn}`, path], { encoding: 'latin1' }).split('\n');
  const calls: ListedCall[] = [];
  let previous = '';
  let pendingCall: { end: number; before: string } | null = null;
  for (const line of lines) {
    const ins = /^\s+([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t(.*)$/.exec(line);
    if (ins !== null) {
      const start = parseInt(ins[1]!, 16);
      const length = ins[2]!.trim().split(' ').length;
      pendingCall = ins[3]!.startsWith('call') ? { end: start + length, before: previous } : null;
      previous = ins[3]!.replace(/\s+/g, ' ');
      continue;
    }
    const reloc = /^\s+[0-9a-f]+: R_X86_64_PLT32\s+(\S+)-0x4$/.exec(line);
    if (reloc !== null && pendingCall !== null) calls.push({ ...pendingCall, target: reloc[1]! });
  }
  return calls;
}

function shifted(code: FunctionCode, at: number, insert: Uint8Array): FunctionCode {
  const bytes = new Uint8Array(code.bytes.length + insert.length);
  bytes.set(code.bytes.subarray(0, at));
  bytes.set(insert, at);
  bytes.set(code.bytes.subarray(at), at + insert.length);
  const move = (offset: number): number => (offset >= at ? offset + insert.length : offset);
  return {
    ...code,
    size: code.size + insert.length,
    bytes,
    relocated: code.relocated.map(([s, e]): [number, number] => [move(s), move(e)]),
    relocTargets: new Map([...(code.relocTargets ?? new Map<number, string>())].map(([k, v]) => [move(k), v])),
  };
}

describe('compareCode on gcc builds of the fixture', { skip: NO_GCC }, () => {
  const dir = tempDir('compare');
  const v1 = compileObject(fixture('binary', 'compare', 'receive-v1.c'), join(dir, 'receive-v1.o'));
  const v2 = compileObject(fixture('binary', 'compare', 'receive-v2.c'), join(dir, 'receive-v2.o'));
  const linked = linkExecutable([fixture('binary', 'compare', 'receive-v1.c'), fixture('binary', 'compare', 'stubs.c')], join(dir, 'shipped'));
  const oldCalls = listedCalls(v1, 'receive');
  const newCalls = listedCalls(v2, 'receive');
  // The same call in both builds: the only call to that target, or among several the one with the same
  // argument set-up right before it.
  const expected = oldCalls.map((c) => {
    const sameTarget = newCalls.filter((n) => n.target === c.target);
    const match = sameTarget.length === 1 ? sameTarget : sameTarget.filter((n) => n.before === c.before);
    assert.equal(match.length, 1, `one ${c.target} after "${c.before}" in v2`);
    return [c.end, match[0]!.end] as const;
  });

  it('an object against itself is identical, every offset maps to itself', () => {
    const code = loadObject(v1).functionCode('receive')!;
    const c = compareCode(code, code);
    assert.equal(c.identical, true);
    assert.equal(c.sizeEqual, true);
    for (const { end } of oldCalls) assert.equal(c.mapOffset(end), end);
    assert.match(c.summary, /^code identical \(\d+ bytes, \d+ relocated operands masked\)$/);
  });

  it('two builds that differ: not identical, each return address maps to the same call in the other', () => {
    assert.ok(expected.length >= 4);
    assert.ok(expected.some(([a, b]) => a !== b), 'the change moved the calls');
    const c = compareCode(loadObject(v1).functionCode('receive')!, loadObject(v2).functionCode('receive')!);
    assert.equal(c.identical, false);
    assert.equal(c.sizeEqual, false);
    assert.equal(c.calls.aligned, oldCalls.length);
    for (const [from, to] of expected) assert.equal(c.mapOffset(from), to, `return address +0x${from.toString(16)}`);
    // Inside the changed code before the first call nothing can place an offset.
    assert.ok(c.firstDifference !== null && c.firstDifference + 1 < Math.min(...oldCalls.map((x) => x.end)));
    assert.equal(c.mapOffset(c.firstDifference + 1), null);
    assert.match(c.summary, /^code differs: size differs/);
  });

  it('the linked image against the object it was linked from is identical (relocated operands masked)', async () => {
    const image = await loadKernelImage(linked);
    assert.equal(image.symbolSource, 'elf-symtab');
    const c = compareCode(image.functionCode('receive')!, loadObject(v1).functionCode('receive')!);
    assert.equal(c.identical, true, c.summary);
  });

  it('with sizes from a symbol map (padding included) it is still identical; against v2 the calls align by name', async () => {
    const slide = 0x3a00000n;
    const map = execFileSync('nm', [linked], { encoding: 'latin1' })
      .split('\n')
      .filter((l) => / [tT] /.test(l))
      .map((l) => `${(BigInt(`0x${l.split(' ')[0]}`) + slide).toString(16)} ${l.slice(17)}`);
    map.push(`${(0xffffffff81000000n + slide).toString(16)} T _text`);
    const image = await loadKernelImage(linked, { kallsyms: map.join('\n') });
    const shipped = image.functionCode('receive')!;
    assert.equal(shipped.sizeExact, false);
    const object = loadObject(v1).functionCode('receive')!;
    assert.ok(shipped.size > object.size, 'the map size holds the alignment padding');
    assert.equal(compareCode(shipped, object).identical, true);
    const c = compareCode(shipped, loadObject(v2).functionCode('receive')!);
    assert.equal(c.identical, false);
    for (const [from, to] of expected) assert.equal(c.mapOffset(from), to, `return address +0x${from.toString(16)}`);
  });
});

describe('compareCode on a real module', { skip: NO_IMAGE }, () => {
  const path = join(realImage()?.modules ?? '', 'net/ipv4/netfilter/ipt_REJECT.ko');

  it('a .ko function against itself is identical', () => {
    const code = loadObject(path).functionCode('reject_tg')!;
    const c = compareCode(code, code);
    assert.equal(c.identical, true);
    assert.equal(c.mapOffset(0x39), 0x39);
  });

  it('a map size that runs past the function into unlisted code: prefix identical, not identical', () => {
    const code = loadObject(path).functionCode('reject_tg')!;
    const next = Uint8Array.of(0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0x11, 0x22, 0x33, 0x44);
    const bytes = new Uint8Array(code.size + next.length);
    bytes.set(code.bytes);
    bytes.set(next, code.size);
    const shipped: FunctionCode = { ...code, sizeExact: false, size: bytes.length, bytes, relocated: [] };
    const c = compareCode(shipped, code);
    assert.equal(c.identical, false);
    assert.equal(c.sizeEqual, false);
    assert.equal(c.prefixIdentical, true);
    // The same tail made of NOPs is padding: then the sizes count as equal and the code as identical.
    bytes.fill(0x90, code.size);
    assert.equal(compareCode(shipped, code).identical, true);
  });

  it('a hand-perturbed copy: a changed immediate differs in place; an inserted nop shifts the later calls', () => {
    const code = loadObject(path).functionCode('reject_tg')!;
    const instructions = decodeCode(code.bytes, 0n);
    const calls = instructions.filter((i) => i.flow === 'call' || i.flow === 'jump').map((i) => i.offset + i.length);
    // Change the last byte of a non-relocated instruction (the reason or type constant before a call).
    const victim = instructions.find((i) => i.length === 5 && code.bytes[i.offset] === 0xbe)!;
    assert.ok(victim, 'a mov $imm,%esi');
    const changed = { ...code, bytes: Uint8Array.from(code.bytes) };
    changed.bytes[victim.offset + 1] = changed.bytes[victim.offset + 1]! ^ 0x40;
    const c1 = compareCode(code, changed);
    assert.equal(c1.identical, false);
    assert.equal(c1.sizeEqual, true);
    assert.equal(c1.firstDifference, victim.offset + 1);
    for (const end of calls) assert.equal(c1.mapOffset(end), end);

    const middle = instructions[Math.floor(instructions.length / 2)]!.offset;
    const grown = shifted(code, middle, Uint8Array.of(0x66, 0x90));
    const c2 = compareCode(code, grown);
    assert.equal(c2.identical, false);
    assert.equal(c2.calls.aligned, c2.calls.shipped);
    for (const end of calls) assert.equal(c2.mapOffset(end), end > middle ? end + 2 : end, `call ending at +0x${end.toString(16)}`);
  });
});
