// The embedded kallsyms finder on tables this test writes itself, in the two orders scripts/kallsyms.c has
// used (6.1: offsets, relative_base, num_syms, names, markers, seqs, token table, token index; 6.4 and later:
// num_syms, names, markers, token table, token index, offsets, relative_base, seqs), inside unrelated bytes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KallsymsNotFoundError, readEmbeddedKallsyms } from '../../src/binary/kallsyms-tables.ts';

interface Sym { type: string; name: string; address: bigint }

const BASE = 0xffffffff81000000n;

function makeSymbols(count: number): Sym[] {
  const out: Sym[] = [];
  let address = BASE;
  let seed = 7;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out.push({ type: i % 5 === 0 ? 'T' : 't', name: `${['udp', 'tcp', 'skb', 'nf'][seed & 3]}_${i}_rcv${seed % 7 === 0 ? '.constprop.0' : ''}`, address });
    address += BigInt(16 + (seed % 400));
  }
  return out;
}

/** 256 tokens: the printable characters, then frequent pairs for the rest of the byte values. */
function makeTokens(): string[] {
  const tokens: string[] = [];
  const pairs = ['_r', 'rc', 'cv', 'ud', 'dp', 'tc', 'cp', 'sk', 'kb', 'nf', 'co', 'on', 'ns', 'st', 'pr', 'op', '.c', '_1', '_2', '_3'];
  let p = 0;
  for (let i = 0; i < 256; i++) {
    if (i >= 0x21 && i <= 0x7e) tokens.push(String.fromCharCode(i));
    else tokens.push(pairs[p++ % pairs.length]! + String.fromCharCode(0x41 + (i % 26)));
  }
  // Make the pair tokens useful: a few exact pairs that occur in the names.
  tokens[0] = '_rcv';
  tokens[1] = 'udp_';
  tokens[2] = 'tcp_';
  return tokens;
}

function encodeName(text: string, tokens: readonly string[]): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < text.length) {
    let best = -1;
    for (let t = 0; t < 256; t++) if (text.startsWith(tokens[t]!, at) && (best < 0 || tokens[t]!.length > tokens[best]!.length)) best = t;
    out.push(best);
    at += tokens[best]!.length;
  }
  return out;
}

class Writer {
  bytes: number[] = [];
  align(): void { while (this.bytes.length % 8) this.bytes.push(0); }
  u16(v: number): void { this.bytes.push(v & 0xff, (v >>> 8) & 0xff); }
  u32(v: number): void { this.bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff); }
  u64(v: bigint): void { for (let i = 0n; i < 8n; i++) this.bytes.push(Number((v >> (8n * i)) & 0xffn)); }
  junk(n: number, seed: number): void { let s = seed; for (let i = 0; i < n; i++) { s = (s * 69069 + 1) >>> 0; this.bytes.push(s >>> 24); } }
}

function writeTables(symbols: readonly Sym[], order: '6.1' | '6.4', percpu: boolean): Uint8Array {
  const tokens = makeTokens();
  const w = new Writer();
  w.junk(3001, 1);
  const offsets = (): void => {
    w.align();
    for (const s of symbols) w.u32(percpu ? Number(BigInt.asUintN(32, BASE - 1n - s.address)) : Number(s.address - BASE));
    w.align();
    w.u64(BASE);
  };
  const names = (): void => {
    w.align();
    w.u32(symbols.length);
    w.align();
    const start = w.bytes.length;
    const markers: number[] = [];
    symbols.forEach((s, i) => {
      if (i % 256 === 0) markers.push(w.bytes.length - start);
      const enc = encodeName(s.type + s.name, tokens);
      w.bytes.push(enc.length, ...enc);
    });
    w.align();
    for (const m of markers) w.u32(m);
  };
  const seqs = (): void => {
    w.align();
    symbols.forEach((_, i) => w.bytes.push((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff));
  };
  const tokenTables = (): void => {
    w.align();
    const index: number[] = [];
    let off = 0;
    for (const t of tokens) {
      index.push(off);
      w.bytes.push(...Buffer.from(t, 'latin1'), 0);
      off += t.length + 1;
    }
    w.align();
    for (const i of index) w.u16(i);
  };
  if (order === '6.1') {
    offsets();
    names();
    seqs();
    tokenTables();
  } else {
    names();
    tokenTables();
    offsets();
    seqs();
  }
  w.junk(2003, 2);
  return Uint8Array.from(w.bytes);
}

describe('readEmbeddedKallsyms', () => {
  const symbols = makeSymbols(3000);
  for (const [order, percpu] of [['6.1', true], ['6.4', false], ['6.4', true]] as const) {
    it(`decodes the ${order} order${percpu ? ' with --absolute-percpu' : ''}`, () => {
      const tables = readEmbeddedKallsyms(writeTables(symbols, order, percpu));
      assert.equal(tables.symbols.length, symbols.length);
      assert.deepEqual(tables.symbols, symbols);
      assert.equal(tables.relativeBase, BASE);
      assert.equal(tables.absolutePercpu, percpu);
    });
  }

  it('says so when there is no table', () => {
    const w = new Writer();
    w.junk(100000, 3);
    assert.throws(() => readEmbeddedKallsyms(Uint8Array.from(w.bytes)), KallsymsNotFoundError);
  });
});
