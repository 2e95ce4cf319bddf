import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { lookupSymbol, parseSymbolMap, resolveAddress } from '../../src/locate/kallsyms.ts';

const SAMPLE = readFileSync(new URL('../../fixtures/locate/kallsyms-sample.txt', import.meta.url), 'utf8');

describe('parseSymbolMap', () => {
  const map = parseSymbolMap(SAMPLE);

  it('keeps only text symbols (t/T/w/W), sorted by address', () => {
    const names = map.symbols.map((symbol) => symbol.name);
    assert.equal(names.length, 28);
    assert.ok(!names.includes('init_net'), 'D dropped');
    assert.ok(!names.includes('nf_hooks_lock'), 'b dropped');
    assert.ok(!names.includes('fixed_percpu_data'), 'A dropped');
    assert.ok(!names.includes('nft_chain_filter_ipv4'), 'module d dropped');
    assert.ok(names.includes('arch_cpu_idle_dead'), 'W kept');
    const addresses = map.symbols.map((symbol) => symbol.address);
    assert.deepEqual(addresses, [...addresses].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    // nf_conntrack is listed last in the file but sits below nf_tables.
    assert.deepEqual(names.slice(-5), [
      'nf_conntrack_in',
      'nf_ct_get_tuple',
      'nft_do_chain',
      '__nft_trace_packet',
      'nft_register_chain_type',
    ]);
    assert.equal(map.allZero, false);
    assert.equal(map.skippedCount, 0);
    assert.equal(map.firstSkipped, null);
  });

  it('reads the module column and the type', () => {
    assert.deepEqual(map.byName.get('nft_do_chain'), [
      { name: 'nft_do_chain', address: 0xffffffffc0a02000n, type: 't', module: 'nf_tables', size: 0x940 },
    ]);
    assert.deepEqual(map.byName.get('tcp_v4_rcv'), [
      { name: 'tcp_v4_rcv', address: 0xffffffff817a1f10n, type: 'T', module: null, size: 0x13f0 },
    ]);
  });

  it('sizes stop at a module boundary and at the end', () => {
    assert.equal(lookupSymbol(map, 'nf_ct_get_tuple')?.size, null);
    assert.equal(lookupSymbol(map, 'nft_register_chain_type')?.size, null);
    assert.equal(lookupSymbol(map, '_etext')?.size, null);
  });

  it('aliases at one address share the size to the next address', () => {
    assert.equal(lookupSymbol(map, '_text')?.size, 0x60);
    assert.equal(lookupSymbol(map, 'startup_64')?.size, 0x60);
  });

  it('reads System.map (no module column, 32-bit addresses too)', () => {
    const systemMap = parseSymbolMap('c1000000 T _text\nc1000000 T startup_32\nc10000a0 t verify_cpu\nc1200000 D _sdata\n');
    assert.deepEqual(
      systemMap.symbols.map((symbol) => [symbol.name, symbol.address, symbol.size]),
      [
        ['_text', 0xc1000000n, 0xa0],
        ['startup_32', 0xc1000000n, 0xa0],
        ['verify_cpu', 0xc10000a0n, null],
      ],
    );
  });

  it('flags kptr_restrict: every address zero', () => {
    const restricted = parseSymbolMap(
      '0000000000000000 T _text\n0000000000000000 T tcp_v4_rcv\n0000000000000000 t nft_do_chain\t[nf_tables]\n',
    );
    assert.equal(restricted.allZero, true);
    assert.deepEqual(restricted.symbols, []);
    assert.equal(resolveAddress(restricted, 0xffffffff817a1f10n), null);
    assert.equal(lookupSymbol(restricted, 'tcp_v4_rcv'), null);
  });

  it('does not flag an empty map as restricted', () => {
    const empty = parseSymbolMap('');
    assert.equal(empty.allZero, false);
    assert.deepEqual(empty.symbols, []);
  });

  it('counts malformed lines and skips undefined weak symbols at zero', () => {
    const mixed = parseSymbolMap(
      'ffffffff81000000 T _text\nnot a kallsyms line\n0000000000000000 w __weak_undefined\nffffffff81000060 T\n' +
        'ffffffff81000060 T secondary_startup_64\r\n',
    );
    assert.deepEqual(
      mixed.symbols.map((symbol) => symbol.name),
      ['_text', 'secondary_startup_64'],
    );
    assert.equal(mixed.allZero, false);
    assert.equal(mixed.skippedCount, 2);
    assert.deepEqual(mixed.firstSkipped, { lineNo: 2, line: 'not a kallsyms line' });
  });
});

describe('resolveAddress', () => {
  const map = parseSymbolMap(SAMPLE);
  const cases: Array<{ name: string; address: bigint; want: ReturnType<typeof resolveAddress> }> = [
    {
      name: 'an address inside a function',
      address: 0xffffffff817a1f10n + 0x91n,
      want: { symbol: 'tcp_v4_rcv', offset: 0x91, size: 0x13f0, module: null, start: 0xffffffff817a1f10n },
    },
    {
      name: 'the first byte of a function',
      address: 0xffffffff817a35b0n,
      want: { symbol: '__udp4_lib_rcv', offset: 0, size: 0xd00, module: null, start: 0xffffffff817a35b0n },
    },
    {
      name: 'the last byte of a function',
      address: 0xffffffff817a35b0n + 0xcffn,
      want: { symbol: '__udp4_lib_rcv', offset: 0xcff, size: 0xd00, module: null, start: 0xffffffff817a35b0n },
    },
    {
      name: 'padding before a function belongs to __pfx_',
      address: 0xffffffff817a1f08n,
      want: { symbol: '__pfx_tcp_v4_rcv', offset: 8, size: 0x10, module: null, start: 0xffffffff817a1f00n },
    },
    {
      name: 'aliases: the first one listed wins',
      address: 0xffffffff81000010n,
      want: { symbol: '_text', offset: 0x10, size: 0x60, module: null, start: 0xffffffff81000000n },
    },
    {
      name: 'a suffixed symbol',
      address: 0xffffffff817a42f0n + 0x1den,
      want: { symbol: 'ip_rcv_finish_core.isra.0', offset: 0x1de, size: 0x440, module: null, start: 0xffffffff817a42f0n },
    },
    {
      name: 'a module function',
      address: 0xffffffffc0a0293cn,
      want: { symbol: 'nft_do_chain', offset: 0x93c, size: 0x940, module: 'nf_tables', start: 0xffffffffc0a02000n },
    },
    {
      name: 'the last function of a module has no size',
      address: 0xffffffffc09f0510n,
      want: { symbol: 'nf_ct_get_tuple', offset: 0x10, size: null, module: 'nf_conntrack', start: 0xffffffffc09f0500n },
    },
    { name: 'below the first symbol', address: 0xffffffff80000000n, want: null },
    { name: 'far past the last vmlinux symbol (module space not listed)', address: 0xffffffffa0000000n, want: null },
    { name: 'far past the last symbol of all', address: 0xffffffffc1000000n, want: null },
  ];
  for (const { name, address, want } of cases) {
    it(name, () => {
      assert.deepEqual(resolveAddress(map, address), want);
    });
  }

  it('handles an empty map', () => {
    assert.equal(resolveAddress(parseSymbolMap(''), 0xffffffff81000000n), null);
  });
});

describe('lookupSymbol', () => {
  const map = parseSymbolMap(SAMPLE);

  it('finds a vmlinux function with its size', () => {
    assert.deepEqual(lookupSymbol(map, 'nf_hook_slow'), {
      symbol: 'nf_hook_slow',
      address: 0xffffffff81a00000n,
      size: 0x130,
      module: null,
      sameNameCount: 1,
    });
  });

  it('narrows by module', () => {
    assert.equal(lookupSymbol(map, 'nft_do_chain', 'nf_tables')?.size, 0x940);
    assert.equal(lookupSymbol(map, 'nft_do_chain', null), null);
    assert.equal(lookupSymbol(map, 'nft_do_chain', 'nf_conntrack'), null);
    assert.equal(lookupSymbol(map, 'tcp_v4_rcv', null)?.address, 0xffffffff817a1f10n);
  });

  it('reports same-named static functions, lowest address first', () => {
    assert.deepEqual(lookupSymbol(map, 'proc_show'), {
      symbol: 'proc_show',
      address: 0xffffffff817a4900n,
      size: 0x25b700,
      module: null,
      sameNameCount: 2,
    });
  });

  it('returns null for an unknown name', () => {
    assert.equal(lookupSymbol(map, 'no_such_function'), null);
  });
});
