import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import {
  type DropLocation,
  type ParseLocationOptions,
  functionOfSymbol,
  parseLocation,
  parseLocationLines,
} from '../../src/locate/location.ts';

function expected(input: string, fields: Partial<DropLocation>): DropLocation {
  return {
    input,
    symbol: '',
    function: '',
    isCold: false,
    offset: null,
    size: null,
    module: null,
    address: null,
    reason: null,
    event: null,
    ...fields,
  };
}

interface AcceptedCase {
  name: string;
  input: string;
  opts?: ParseLocationOptions;
  want: Partial<DropLocation>;
}

// Samples marked FORMATS.md are verbatim lines from /work/shared/FORMATS.md.
const ACCEPTED: AcceptedCase[] = [
  {
    name: 'symbol+offset/size (%pS)',
    input: '__udp4_lib_rcv+0x4bc/0xd00',
    want: { symbol: '__udp4_lib_rcv', function: '__udp4_lib_rcv', offset: 0x4bc, size: 0xd00 },
  },
  {
    name: 'symbol+offset without size (perf script, BCC, retis)',
    input: 'sym+0x4bc',
    want: { symbol: 'sym', function: 'sym', offset: 0x4bc },
  },
  {
    name: 'bare offset is hex by default (dropwatch %llx)',
    input: 'netlink_unicast+251',
    want: { symbol: 'netlink_unicast', function: 'netlink_unicast', offset: 0x251 },
  },
  {
    name: 'bare offset is decimal with offsetBase decimal (bpftrace kstack)',
    input: 'tcp_v4_rcv+2503',
    opts: { offsetBase: 'decimal' },
    want: { symbol: 'tcp_v4_rcv', function: 'tcp_v4_rcv', offset: 2503 },
  },
  {
    name: '0x offset stays hex with offsetBase decimal',
    input: 'tcp_v4_rcv+0x10/0x13f0',
    opts: { offsetBase: 'decimal' },
    want: { symbol: 'tcp_v4_rcv', function: 'tcp_v4_rcv', offset: 0x10, size: 0x13f0 },
  },
  {
    name: 'module suffix',
    input: 'nf_hook_slow+0x9b/0x130 [nf_tables]',
    want: { symbol: 'nf_hook_slow', function: 'nf_hook_slow', offset: 0x9b, size: 0x130, module: 'nf_tables' },
  },
  {
    name: 'module with build id',
    input: 'nft_do_chain+0x93c/0x940 [nf_tables 3f2a1b0c4d5e6f708192a3b4c5d6e7f801234567]',
    want: { symbol: 'nft_do_chain', function: 'nft_do_chain', offset: 0x93c, size: 0x940, module: 'nf_tables' },
  },
  {
    name: 'raw address with 0x',
    input: '0xffffffff81a2b3c4',
    want: { address: 0xffffffff81a2b3c4n },
  },
  {
    name: 'raw address, 16 hex digits without 0x',
    input: 'ffffffff81a2b3c4',
    want: { address: 0xffffffff81a2b3c4n },
  },
  {
    name: 'plain symbol without offset (pwru --output-stack)',
    input: 'tcp_v4_rcv',
    want: { symbol: 'tcp_v4_rcv', function: 'tcp_v4_rcv' },
  },
  {
    name: 'a short hex-looking word is a symbol, not an address',
    input: 'deadbeef+0x10',
    want: { symbol: 'deadbeef', function: 'deadbeef', offset: 0x10 },
  },
  {
    name: 'reason with a space',
    input: 'tcp_v4_rcv+0x91/0x13f0 reason: NO_SOCKET',
    want: { symbol: 'tcp_v4_rcv', function: 'tcp_v4_rcv', offset: 0x91, size: 0x13f0, reason: 'NO_SOCKET' },
  },
  {
    name: 'reason without a space, SKB_DROP_REASON_ prefix stripped',
    input: 'tcp_v4_rcv+0x91 reason:SKB_DROP_REASON_NO_SOCKET',
    want: { symbol: 'tcp_v4_rcv', function: 'tcp_v4_rcv', offset: 0x91, reason: 'NO_SOCKET' },
  },
  {
    name: 'event consume_skb after a reason',
    input: 'skb_release_data+0xb1 reason: NOT_SPECIFIED event: consume_skb',
    want: {
      symbol: 'skb_release_data',
      function: 'skb_release_data',
      offset: 0xb1,
      reason: 'NOT_SPECIFIED',
      event: 'consume_skb',
    },
  },
  {
    name: 'module, reason and event together',
    input: 'nf_hook_slow+0x9b/0x130 [nf_tables] reason: NETFILTER_DROP event:kfree_skb',
    want: {
      symbol: 'nf_hook_slow',
      function: 'nf_hook_slow',
      offset: 0x9b,
      size: 0x130,
      module: 'nf_tables',
      reason: 'NETFILTER_DROP',
      event: 'kfree_skb',
    },
  },
  {
    name: '.isra.0 stripped',
    input: 'ip_rcv_finish_core.isra.0+0x1de/0x440',
    want: { symbol: 'ip_rcv_finish_core.isra.0', function: 'ip_rcv_finish_core', offset: 0x1de, size: 0x440 },
  },
  {
    name: '.constprop.0 stripped',
    input: 'mwait_idle_with_hints.constprop.0+0x4b',
    want: { symbol: 'mwait_idle_with_hints.constprop.0', function: 'mwait_idle_with_hints', offset: 0x4b },
  },
  {
    name: '.part.N stripped',
    input: 'gro_normal_list.part.143+0x19',
    want: { symbol: 'gro_normal_list.part.143', function: 'gro_normal_list', offset: 0x19 },
  },
  {
    name: '.isra.0.cold is cold',
    input: 'ip_rcv_finish_core.isra.0.cold+0x3/0x10',
    want: { symbol: 'ip_rcv_finish_core.isra.0.cold', function: 'ip_rcv_finish_core', isCold: true, offset: 3, size: 0x10 },
  },
  {
    name: '.llvm.N stripped',
    input: 'tcp_add_backlog.llvm.2364879051+0x5a',
    want: { symbol: 'tcp_add_backlog.llvm.2364879051', function: 'tcp_add_backlog', offset: 0x5a },
  },
  {
    name: 'tracefs ≥ 6.11 line (FORMATS.md)',
    input:
      'nslookup-113430  [001] ..s1. 164463.161391: kfree_skb: skbaddr=0000000001fff167 rx_sk=0000000000000000 ' +
      'protocol=2048 location=ip_rcv_finish_core+0x233/0x360 reason: IP_LOCAL_SOURCE',
    want: {
      symbol: 'ip_rcv_finish_core',
      function: 'ip_rcv_finish_core',
      offset: 0x233,
      size: 0x360,
      reason: 'IP_LOCAL_SOURCE',
      event: 'kfree_skb',
    },
  },
  {
    name: 'tracefs line with a module',
    input:
      '<idle>-0       [002] ..s1.  512.004211: kfree_skb: skbaddr=00000000a1b2c3d4 rx_sk=0000000000000000 ' +
      'protocol=2048 location=nft_do_chain+0x93c/0x940 [nf_tables] reason: NETFILTER_DROP',
    want: {
      symbol: 'nft_do_chain',
      function: 'nft_do_chain',
      offset: 0x93c,
      size: 0x940,
      module: 'nf_tables',
      reason: 'NETFILTER_DROP',
      event: 'kfree_skb',
    },
  },
  {
    name: 'tracefs consume_skb line (6.3+)',
    input: 'iperf3-665     [005] ..s1.   848.656964: consume_skb: skbaddr=00000000c0ffee00 location=tcp_rcv_established+0x3f2/0x7a0',
    want: {
      symbol: 'tcp_rcv_established',
      function: 'tcp_rcv_established',
      offset: 0x3f2,
      size: 0x7a0,
      event: 'consume_skb',
    },
  },
  {
    name: 'perf script 6.2–6.10 line (FORMATS.md)',
    input:
      'swapper     0 [014] 12814.337522: skb:kfree_skb: skbaddr=0xffff88818f145ce0 protocol=2048 ' +
      'location=dev_kfree_skb_any_reason+0x2e reason: NOT_SPECIFIED',
    want: {
      symbol: 'dev_kfree_skb_any_reason',
      function: 'dev_kfree_skb_any_reason',
      offset: 0x2e,
      reason: 'NOT_SPECIFIED',
      event: 'kfree_skb',
    },
  },
  {
    name: 'perf script ≥ 6.11 line with a double space before reason (FORMATS.md)',
    input:
      'canfdtest  1123 [000]  3893.271264: skb:kfree_skb: skbaddr=0xffff975703c9f700 rx_sk=(nil) protocol=12 ' +
      'location=can_rcv+0x4b  reason: CAN_RX_INVALID_FRAME',
    want: { symbol: 'can_rcv', function: 'can_rcv', offset: 0x4b, reason: 'CAN_RX_INVALID_FRAME', event: 'kfree_skb' },
  },
  {
    name: 'perf script ≤ 5.16 line with a raw address (FORMATS.md)',
    input:
      'java 26982 [026] 330543.363561: skb:kfree_skb: skbaddr=0xffff88803dd83a00 protocol=2048 location=0xffffffff816ea931',
    want: { address: 0xffffffff816ea931n, event: 'kfree_skb' },
  },
  {
    name: 'perf script raw variant with (0x…) after the symbol',
    input:
      'swapper     0 [014] 12814.337522: skb:kfree_skb: skbaddr=0xffff88818f145ce0 protocol=2048 ' +
      'location=dev_kfree_skb_any_reason+0x2e (0xffffffff81b2c3de) reason: NOT_SPECIFIED',
    want: {
      symbol: 'dev_kfree_skb_any_reason',
      function: 'dev_kfree_skb_any_reason',
      offset: 0x2e,
      address: 0xffffffff81b2c3den,
      reason: 'NOT_SPECIFIED',
      event: 'kfree_skb',
    },
  },
  {
    name: 'tracefs line with subsystem reason printed as hex',
    input: 'ping-77 [000] ..s1. 90.000001: kfree_skb: skbaddr=00000000deadbeef protocol=2048 location=ovs_dp_process_packet+0x1a2/0x300 reason: 0x30001',
    want: {
      symbol: 'ovs_dp_process_packet',
      function: 'ovs_dp_process_packet',
      offset: 0x1a2,
      size: 0x300,
      reason: '0x30001',
      event: 'kfree_skb',
    },
  },
  {
    name: 'dropwatch summary ≥ 1.5.2 (FORMATS.md): hex offset without 0x, address kept',
    input: '2 drops at unix_release_sock+33e (0xffffffff8719d4be) [software]',
    want: { symbol: 'unix_release_sock', function: 'unix_release_sock', offset: 0x33e, address: 0xffffffff8719d4ben },
  },
  {
    name: 'dropwatch summary stays hex even with offsetBase decimal',
    input: '15 drops at unix_stream_recvmsg+32a (0xffffffff8719c2aa) [software]',
    opts: { offsetBase: 'decimal' },
    want: { symbol: 'unix_stream_recvmsg', function: 'unix_stream_recvmsg', offset: 0x32a, address: 0xffffffff8719c2aan },
  },
  {
    name: 'dropwatch summary < 1.5.2 without [software] (FORMATS.md)',
    input: '33 drops at tcp_v4_do_rcv+8e (0xffffffff8178619e)',
    want: { symbol: 'tcp_v4_do_rcv', function: 'tcp_v4_do_rcv', offset: 0x8e, address: 0xffffffff8178619en },
  },
  {
    name: 'dropwatch summary without -l: raw address (FORMATS.md)',
    input: '1 drops at location 0xffffffff81572ec8',
    want: { address: 0xffffffff81572ec8n },
  },
  {
    name: 'dropwatch packet mode (FORMATS.md)',
    input: 'drop at: ip_rcv_finish_core.isra.0+0x1de/0x440 (0xffffffff96b6294e)',
    want: {
      symbol: 'ip_rcv_finish_core.isra.0',
      function: 'ip_rcv_finish_core',
      offset: 0x1de,
      size: 0x440,
      address: 0xffffffff96b6294en,
    },
  },
  {
    name: 'dropwatch packet mode with a module',
    input: 'drop at: nf_hook_slow+0x9b/0x130 [nf_tables] (0xffffffffc0a1d9ab)',
    want: {
      symbol: 'nf_hook_slow',
      function: 'nf_hook_slow',
      offset: 0x9b,
      size: 0x130,
      module: 'nf_tables',
      address: 0xffffffffc0a1d9abn,
    },
  },
  {
    name: 'surrounding whitespace and CRLF are trimmed',
    input: '  tcp_v4_rcv+0x91\r\n',
    want: { symbol: 'tcp_v4_rcv', function: 'tcp_v4_rcv', offset: 0x91 },
  },
  {
    name: 'offset equal to size is accepted',
    input: 'f+0x100/0x100',
    want: { symbol: 'f', function: 'f', offset: 0x100, size: 0x100 },
  },
];

describe('parseLocation accepts', () => {
  for (const { name, input, opts, want } of ACCEPTED) {
    it(name, () => {
      assert.deepEqual(parseLocation(input, opts), expected(input.trim(), want));
    });
  }
});

interface RejectedCase {
  name: string;
  input: string;
  opts?: ParseLocationOptions;
  message: RegExp;
}

const REJECTED: RejectedCase[] = [
  { name: 'empty', input: '', message: /^bad location "": it is empty \(expected SYMBOL\+OFFSET/ },
  { name: 'whitespace only', input: ' \t ', message: /it is empty/ },
  { name: 'no symbol', input: '+0x', message: /^bad location "\+0x": symbol before "\+" is empty/ },
  { name: 'empty offset after 0x', input: 'foo+0x', message: /^bad location "foo\+0x": offset "0x" is empty/ },
  { name: 'nothing after +', input: 'foo+', message: /offset after "\+" is empty/ },
  {
    name: 'offset not a number',
    input: 'foo+zz',
    message: /^bad location "foo\+zz": offset "zz" is not a number \(expected SYMBOL\+OFFSET such as tcp_v4_rcv\+0x91\/0x13f0\)$/,
  },
  { name: 'empty size', input: 'foo+0x10/0x', message: /^bad location "foo\+0x10\/0x": size "0x" is empty/ },
  { name: 'size not a number', input: 'foo+0x10/0xqq', message: /size "0xqq" is not a number/ },
  { name: 'symbol with spaces', input: 'tcp v4 rcv+0x10', message: /symbol "tcp v4 rcv" contains spaces/ },
  { name: 'symbol with spaces, no offset', input: 'tcp v4 rcv', message: /symbol "tcp v4 rcv" contains spaces/ },
  { name: 'symbol with a bad character', input: 'foo-bar+0x1', message: /symbol "foo-bar" contains "-"/ },
  { name: 'symbol starting with a digit', input: '9lives+0x1', message: /symbol "9lives" does not start with a letter or "_"/ },
  {
    name: 'symbol longer than KSYM_NAME_LEN',
    input: `${'a'.repeat(600)}+0x1`,
    message: /symbol is 600 characters long, more than the kernel's 512/,
  },
  { name: 'non-printable byte', input: 'tcp_v4\u0000_rcv+0x1', message: /non-printable character U\+0000 at column 7/ },
  { name: 'escape character', input: 'tcp_v4_rcv\u001b[0m+0x1', message: /non-printable character U\+001B at column 11/ },
  { name: 'replacement character from bad UTF-8', input: 'tcp_\uFFFD+0x1', message: /non-printable character U\+FFFD at column 5/ },
  {
    name: 'offset beyond size',
    input: 'f+0x200/0x100',
    message: /^bad location "f\+0x200\/0x100": offset 0x200 is beyond the function size 0x100/,
  },
  {
    name: 'hashed %p from a pre-6.2 tracefs line (FORMATS.md)',
    input:
      '<idle>-0       [036] ..s1.   647.428165: kfree_skb: skbaddr=000000004d037db6 protocol=2048 ' +
      'location=0000000074cd1243 reason: NO_SOCKET',
    message: /location 0000000074cd1243 is a hashed %p pointer from a pre-6\.2 kernel.*cannot be resolved/,
  },
  {
    name: 'hashed %p from a ≤ 5.16 tracefs line (FORMATS.md)',
    input: '<idle>-0       [001] ..s. 68117391.627057: kfree_skb: skbaddr=0000000093c2ae62 protocol=2048 location=000000007e36f1a2',
    message: /location 000000007e36f1a2 is a hashed %p pointer/,
  },
  { name: 'hashed %p given alone', input: '0000000074cd1243', message: /hashed %p pointer/ },
  { name: 'zero address', input: '0x0000000000000000', message: /address 0x0000000000000000 is zero \(kptr_restrict/ },
  { name: 'unexpected trailing text', input: 'tcp_v4_rcv+0x91 because', message: /unexpected "because" after the location/ },
  { name: 'reason without a name', input: 'tcp_v4_rcv+0x91 reason:', message: /"reason:" has no NAME/ },
  { name: 'reason given twice', input: 'tcp_v4_rcv+0x91 reason: A reason: B', message: /reason is given twice/ },
  { name: 'unknown event', input: 'tcp_v4_rcv+0x91 event: kfree_skb_reason', message: /event "kfree_skb_reason" is not kfree_skb or consume_skb/ },
  { name: 'bad module', input: 'nft_do_chain+0x1 [nf tables x]', message: /module "\[nf tables x\]" is not \[MODULE\] or \[MODULE BUILDID\]/ },
  { name: 'bad address in parentheses', input: 'tcp_v4_rcv+0x91 (here)', message: /"\(here\)" is not an address/ },
  { name: 'empty location= value', input: 'x-1 [000] 1.0: kfree_skb: skbaddr=0 location= reason: X', message: /location= is empty/ },
  {
    name: 'hex digits with offsetBase decimal',
    input: 'tcp_v4_rcv+1a',
    opts: { offsetBase: 'decimal' },
    message: /offset "1a" is not a decimal number/,
  },
  { name: 'offset too large', input: 'f+0x1234567890abcdef', message: /offset "0x1234567890abcdef" is too large/ },
  {
    name: 'dropwatch hardware drop',
    input: '3 drops at ingress_flow_action_drop [hardware]',
    message: /hardware drop "ingress_flow_action_drop" is a devlink trap and has no kernel code location/,
  },
  {
    name: 'dropwatch packet-mode hardware drop',
    input: 'drop at: ingress_flow_action_drop (acl_drops)',
    message: /hardware drop "ingress_flow_action_drop" \(trap group acl_drops\)/,
  },
  { name: 'dropwatch summary of another shape', input: '3 drops at somewhere else', message: /what follows "drops at" is not/ },
];

describe('parseLocation rejects', () => {
  for (const { name, input, opts, message } of REJECTED) {
    it(name, () => {
      assert.throws(() => parseLocation(input, opts), (error: unknown) => {
        assert.ok(error instanceof InputError, 'throws InputError');
        assert.match(error.message, message);
        assert.ok(!error.message.includes('\n'), 'message is one line');
        return true;
      });
    });
  }

  it('10 kB of garbage: quotes at most 60 characters, then …', () => {
    const garbage = 'zq#!'.repeat(2560);
    assert.throws(() => parseLocation(garbage), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /^bad location "(zq#!){15}…": it is 10240 characters long/);
      assert.ok(error.message.length < 200, `short message, got ${error.message.length} characters`);
      return true;
    });
  });

  it('long input with spaces: every quoted part is clipped', () => {
    const input = `a${' b'.repeat(1000)}`;
    assert.throws(() => parseLocation(input), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /contains spaces/);
      assert.ok(error.message.length < 220, `short message, got ${error.message.length} characters`);
      return true;
    });
  });

  it('escapes control characters in the quoted input', () => {
    assert.throws(() => parseLocation('a\u0007b'), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /^bad location "a\\x07b": non-printable character U\+0007 at column 2/);
      return true;
    });
  });
});

describe('functionOfSymbol', () => {
  it('strips stacked suffixes and leaves unknown ones', () => {
    assert.deepEqual(functionOfSymbol('foo.constprop.0.isra.0'), { function: 'foo', isCold: false });
    assert.deepEqual(functionOfSymbol('foo.cold.12'), { function: 'foo', isCold: true });
    assert.deepEqual(functionOfSymbol('foo.lto_priv.0'), { function: 'foo', isCold: false });
    assert.deepEqual(functionOfSymbol('foo.bar'), { function: 'foo.bar', isCold: false });
    assert.deepEqual(functionOfSymbol('foo.isra'), { function: 'foo.isra', isCold: false });
  });
});

describe('parseLocationLines', () => {
  const text = readFileSync(new URL('../../fixtures/locate/lines.txt', import.meta.url), 'utf8');

  it('parses good lines, skips bad ones with a reason, ignores blanks and comments', () => {
    const results = parseLocationLines(text.split('\n'));
    assert.deepEqual(
      results.map((entry) => [entry.kind, entry.lineNo]),
      [
        ['ok', 2],
        ['ok', 4],
        ['ok', 5],
        ['ok', 7],
        ['skipped', 8],
        ['ok', 9],
        ['skipped', 10],
        ['skipped', 11],
        ['ok', 12],
      ],
    );
    const [first, second, third, fourth, banner, dropwatch, bad, hashed, address] = results;
    assert.deepEqual(first, {
      kind: 'ok',
      lineNo: 2,
      location: expected('tcp_v4_rcv+0x91/0x13f0 reason: NO_SOCKET', {
        symbol: 'tcp_v4_rcv',
        function: 'tcp_v4_rcv',
        offset: 0x91,
        size: 0x13f0,
        reason: 'NO_SOCKET',
      }),
    });
    assert.equal(second?.kind === 'ok' && second.location.event, 'kfree_skb');
    assert.equal(third?.kind === 'ok' && third.location.module, 'nf_tables');
    assert.equal(fourth?.kind === 'ok' && fourth.location.event, 'consume_skb');
    assert.deepEqual(banner, {
      kind: 'skipped',
      lineNo: 8,
      line: 'Initializing kallsyms db',
      why: 'bad location "Initializing kallsyms db": symbol "Initializing kallsyms db" contains spaces ' +
        '(expected SYMBOL+OFFSET such as tcp_v4_rcv+0x91/0x13f0)',
    });
    assert.equal(dropwatch?.kind === 'ok' && dropwatch.location.address, 0xffffffff8719d4ben);
    assert.equal(bad?.kind === 'skipped' && bad.line, 'foo+zz');
    assert.match(bad?.kind === 'skipped' ? bad.why : '', /offset "zz" is not a number/);
    assert.match(hashed?.kind === 'skipped' ? hashed.why : '', /hashed %p pointer/);
    assert.equal(address?.kind === 'ok' && address.location.address, 0xffffffff81a2b3c4n);
  });

  it('passes offsetBase through', () => {
    const [entry] = parseLocationLines(['tcp_v4_rcv+2503'], { offsetBase: 'decimal' });
    assert.equal(entry?.kind === 'ok' && entry.location.offset, 2503);
  });

  it('never throws on bad input', () => {
    const lines = ['', '#', '\u0000', 'x'.repeat(20_000), '+', '0x0', 'drop at:', '1 drops at ', 'location='];
    const results = parseLocationLines(lines);
    assert.equal(results.length, 7);
    assert.ok(results.every((entry) => entry.kind === 'skipped'));
  });

  it('parses 20,000 lines in one call, the malformed ones skipped', () => {
    const line =
      'nslookup-113430  [001] ..s1. 164463.161391: kfree_skb: skbaddr=0000000001fff167 rx_sk=0000000000000000 ' +
      'protocol=2048 location=ip_rcv_finish_core+0x233/0x360 reason: IP_LOCAL_SOURCE';
    const lines = Array.from({ length: 20_000 }, (_, i) => (i % 10 === 0 ? 'foo+zz' : line));
    const results = parseLocationLines(lines);
    assert.equal(results.filter((entry) => entry.kind === 'ok').length, 18_000);
    assert.equal(results.filter((entry) => entry.kind === 'skipped').length, 2_000);
  });
});
