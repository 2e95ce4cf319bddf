// --rebuild on the real Debian 6.1 tree (DROPSITE_KERNEL_TREE) against the shipped image it was built
// into (DROPSITE_KERNEL_IMAGE_DIR: `dpkg-deb -x` of linux-image-6.1.0-56-amd64-unsigned). The drop
// locations come from the shipped machine code itself (src/binary decodes its calls), and each answer
// is checked against the source text: the line must hold a free call, in the function the chain names.
// One build directory (prepare once) is shared by every test of this file; the build stays small.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/fixture.ts';
import { imageCalls, loadKernelImage, moduleCalls, type ShippedCall } from './shipped-calls.ts';

const tree = process.env.DROPSITE_KERNEL_TREE ?? '';
const imageDir = process.env.DROPSITE_KERNEL_IMAGE_DIR ?? '';
const skip = tree === '' || imageDir === ''
  ? 'set DROPSITE_KERNEL_TREE (linux-source-6.1 6.1.192-2, unpacked) and DROPSITE_KERNEL_IMAGE_DIR (dpkg-deb -x of linux-image-6.1.0-56-amd64-unsigned 6.1.192-2); .ci/run does'
  : false;
const dir = mkdtempSync(join(tmpdir(), 'dropsite-rebuild-'));
const db = join(dir, 'index.sqlite');
const env = { XDG_CACHE_HOME: join(dir, 'cache') };
after(() => rmSync(dir, { recursive: true, force: true }));

const bootDir = (): string => join(imageDir, 'boot');
const release = (): string => (readdirSync(bootDir()).find((f) => f.startsWith('config-')) ?? 'config-?').slice('config-'.length);
const config = (): string => join(bootDir(), `config-${release()}`);
const vmlinuz = (): string => join(bootDir(), `vmlinuz-${release()}`);
const modules = (): string => join(imageDir, 'lib', 'modules', release());

/** A compiler wrapper that logs every invocation, then runs the kernel's own compiler: counts compiler starts. */
const ccLog = join(dir, 'cc.log');
/** Compilations the wrapper saw (`--version` probes are not compilations). */
const compilations = (): number => readFileSync(ccLog, 'utf8').split('\n').filter((l) => / -c /.test(l)).length;
const cc = join(dir, 'cc-logged');

interface Candidate { file: string; line: number; function: string; via: string[]; role: string; reasons: string[]; api: string; evidence: string[] }
interface Result { input: string; method: string; verified: string; exact: boolean; candidates: Candidate[]; notes: string[] }

let udp: { size: number; calls: ShippedCall[] } = { size: 0, calls: [] };
let dst: { size: number; calls: ShippedCall[] } = { size: 0, calls: [] };
let br: { size: number; calls: ShippedCall[] } = { size: 0, calls: [] };
let first: Result[] = [];
let firstStderr = '';
let locations: string[] = [];

const isFree = (c: ShippedCall): boolean => c.callee === 'kfree_skb_reason' || c.callee === 'consume_skb';
const loc = (fn: string, c: ShippedCall, size: number): string => `${fn}+0x${c.offset.toString(16)}/0x${size.toString(16)}`;
const source = (file: string): string[] => readFileSync(join(tree, file), 'latin1').split('\n');
/** The line span of a C function definition, found by its header text. */
function span(file: string, header: RegExp): [number, number] {
  const lines = source(file);
  const start = lines.findIndex((l) => header.test(l));
  assert.ok(start >= 0, `${header} in ${file}`);
  const end = lines.findIndex((l, i) => i > start && l === '}');
  return [start + 1, end + 1];
}
const holdsFree = (c: Candidate): boolean => /\b(kfree_skb\w*|consume_skb|dev_kfree_skb\w*)\s*\(/.test(source(c.file)[c.line - 1] ?? '');

async function explain(extra: string[], locs: string[]): Promise<{ results: Result[]; stderr: string; code: number }> {
  const r = await runCli(['explain', '--db', db, '--rebuild', '--config', config(), '--cc', cc, '--kernel', vmlinuz(), '--modules', modules(), '--json', ...extra, ...locs], env);
  return { results: r.code === 0 ? JSON.parse(r.stdout) as Result[] : [], stderr: r.stderr, code: r.code };
}

before(async () => {
  if (skip !== false) return;
  const real = existsSync('/usr/bin/gcc-12') ? '/usr/bin/gcc-12' : 'gcc';
  writeFileSync(cc, `#!/bin/sh\necho "$*" >> '${ccLog}'\nexec ${real} "$@"\n`);
  chmodSync(cc, 0o755);
  const r = await runCli(['index', tree, '--db', db, '-q'], env);
  assert.equal(r.code, 0, r.stderr);
  const image = await loadKernelImage(vmlinuz());
  udp = imageCalls(image, '__udp4_lib_rcv');
  dst = imageCalls(image, 'dst_discard');
  br = await moduleCalls(join(modules(), 'kernel/net/bridge/bridge.ko'), 'br_handle_frame_finish');
  locations = [
    ...udp.calls.filter(isFree).map((c) => loc('__udp4_lib_rcv', c, udp.size)),
    ...dst.calls.filter(isFree).map((c) => loc('dst_discard', c, dst.size)),
    ...br.calls.filter(isFree).map((c) => `${loc('br_handle_frame_finish', c, br.size)} [bridge]`),
    // CONFIG_NET_DSA is off in this config: net/dsa/slave.c does not compile (a real build error).
    'dsa_slave_xmit+0x20/0x100',
  ];
  const out = await explain([], locations);
  assert.equal(out.code, 0, out.stderr);
  first = out.results;
  firstStderr = out.stderr;
});

const resultFor = (prefix: string): Result[] => first.filter((r) => r.input.startsWith(prefix));

test('NO_SOCKET in __udp4_lib_rcv is exact, verified against the shipped vmlinuz', { skip }, async () => {
  // The NO_SOCKET drop is the kfree_skb_reason call right after icmp_send(…ICMP_PORT_UNREACH…) in the shipped code.
  const i = udp.calls.findIndex((c, k) => c.callee === 'kfree_skb_reason' && udp.calls[k - 1]?.callee === '__icmp_send');
  assert.ok(i > 0, udp.calls.map((c) => c.callee).join(' '));
  const want = loc('__udp4_lib_rcv', udp.calls[i] as ShippedCall, udp.size);
  const r = first.find((x) => x.input === want);
  assert.ok(r !== undefined, firstStderr);
  assert.equal(r.method, 'rebuilt');
  assert.equal(r.verified, 'code', r.notes.join('\n'));
  assert.equal(r.exact, true);
  const lines = source('net/ipv4/udp.c');
  const icmp = lines.findIndex((l) => /icmp_send\(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH/.test(l));
  const line = lines.findIndex((l, k) => k > icmp && /kfree_skb_reason\(skb, drop_reason\)/.test(l)) + 1;
  assert.deepEqual([r.candidates[0]?.file, r.candidates[0]?.line], ['net/ipv4/udp.c', line]);
  assert.ok(r.candidates[0]?.reasons.includes('NO_SOCKET'), JSON.stringify(r.candidates[0]));
  // Every free call of the function: code identical, and a line that holds a free.
  for (const x of resultFor('__udp4_lib_rcv+')) {
    assert.equal(x.verified, 'code', `${x.input}: ${x.notes.join('; ')}`);
    assert.ok(x.candidates[0] !== undefined && holdsFree(x.candidates[0]), `${x.input}: ${JSON.stringify(x.candidates[0])}`);
  }
});

test('a drop inside a static helper that gcc inlined names the helper\'s line, with the helper in the chain', { skip }, () => {
  const [from, to] = span('net/ipv4/udp.c', /^static int __udp4_lib_mcast_deliver\(/);
  const inHelper = resultFor('__udp4_lib_rcv+').filter((r) => r.candidates[0]?.via.includes('__udp4_lib_mcast_deliver'));
  assert.ok(inHelper.length >= 2, JSON.stringify(resultFor('__udp4_lib_rcv+').map((r) => r.candidates[0])));
  for (const r of inHelper) {
    const c = r.candidates[0] as Candidate;
    assert.equal(r.verified, 'code');
    assert.ok(c.line >= from && c.line <= to && holdsFree(c), `${r.input}: ${c.file}:${c.line} not a free inside __udp4_lib_mcast_deliver (${from}-${to})`);
  }
});

test('a module location is rebuilt as a module and verified against the shipped .ko', { skip }, () => {
  const rs = resultFor('br_handle_frame_finish+');
  assert.ok(rs.length > 0);
  const [from, to] = span('net/bridge/br_input.c', /^int br_handle_frame_finish\(/);
  for (const r of rs) {
    assert.equal(r.method, 'rebuilt', r.notes.join('\n'));
    assert.equal(r.verified, 'code', r.notes.join('\n'));
    const c = r.candidates[0] as Candidate;
    assert.ok(c.file === 'net/bridge/br_input.c' && c.line >= from && c.line <= to && holdsFree(c), JSON.stringify(c));
  }
});

test('a location inside an out-of-line header inline called through a pointer (dst_discard) is its free', { skip }, () => {
  const [r] = resultFor('dst_discard+');
  assert.ok(r !== undefined);
  assert.equal(r.verified, 'code', r.notes.join('\n'));
  const c = r.candidates[0] as Candidate;
  const [from, to] = span('net/core/dst.c', /^int dst_discard_out\(/);
  assert.ok(c.file === 'net/core/dst.c' && c.line >= from && c.line <= to && holdsFree(c), JSON.stringify(c));
  assert.ok(c.evidence.some((e) => e.includes('dst_discard (include/net/dst.h:')), c.evidence.join('; '));
});

test('a file that does not build falls back to source ranking, with the compiler\'s first error', { skip }, () => {
  const [r] = resultFor('dsa_slave_xmit+');
  assert.ok(r !== undefined);
  assert.equal(r.method, 'source');
  assert.equal(r.exact, false);
  assert.ok(r.notes.some((n) => n.startsWith('not rebuilt: net/dsa/slave.c did not build:') && /error:/.test(n)), r.notes.join('\n'));
  assert.ok(r.candidates.length > 0, 'still ranked from source');
  assert.match(firstStderr, /rebuilt: \d+ file\(s\) .*1 failed/);
});

test('a second run over the same locations starts no compiler; a damaged object is rebuilt', { skip }, async () => {
  const before = compilations();
  assert.ok(before > 0, 'the first run compiled through the wrapper');
  const again = await explain([], locations.filter((l) => !l.startsWith('dsa_')));
  assert.equal(again.code, 0, again.stderr);
  assert.equal(compilations(), before, 'no compiler started');
  assert.match(again.stderr, /0 compiled/);
  assert.deepEqual(again.results.map((r) => [r.input, r.candidates[0]?.line]), first.filter((r) => !r.input.startsWith('dsa_')).map((r) => [r.input, r.candidates[0]?.line]));
  // An object cut short (as by a killed compiler) is not trusted: the next run compiles it again.
  const buildRoot = join(env.XDG_CACHE_HOME, 'dropsite', 'build');
  const [bdir] = readdirSync(buildRoot);
  const obj = join(buildRoot, bdir ?? '', 'net/core/dst.o');
  writeFileSync(obj, readFileSync(obj).subarray(0, 1000));
  const third = await explain([], locations.filter((l) => l.startsWith('dst_discard')));
  assert.equal(third.code, 0, third.stderr);
  assert.ok(compilations() > before, 'dst.c compiled again');
  assert.equal(third.results[0]?.verified, 'code');
});

test('report --rebuild of a dropwatch recording (bare hex offsets, no sizes) points each row of the tree at its exact line', { skip }, async () => {
  const rows = [
    ...udp.calls.filter(isFree).map((c) => `__udp4_lib_rcv+${c.offset.toString(16)}`),
    ...dst.calls.filter(isFree).map((c) => `dst_discard+${c.offset.toString(16)}`),
  ];
  const text = ['Initializing kallsyms db', 'dropwatch> start', ...rows.map((r, i) => `${i + 2} drops at ${r} (0xffffffff81000000) [software]`),
    '7 drops at not_a_function_of_this_tree+1c (0xffffffffc0001000) [software]'].join('\n');
  const file = join(dir, 'dropwatch.txt');
  writeFileSync(file, `${text}\n`);
  const r = await runCli(['report', file, '--db', db, '--as', 'json', '--rebuild', '--config', config(), '--cc', cc, '--kernel', vmlinuz()], env);
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { rows: Array<{ location: string; function: string; inIndex: boolean; candidates: Candidate[]; notes: string[] }> };
  const held = view.rows.filter((x) => x.function !== 'not_a_function_of_this_tree');
  assert.equal(held.length, rows.length);
  for (const row of held) {
    assert.ok(row.notes.includes('exact: rebuilt, code identical to the shipped kernel'), `${row.location}: ${row.notes.join('; ')}`);
    const want = first.find((x) => x.input.startsWith(`${row.location}/`));
    assert.deepEqual([row.candidates[0]?.file, row.candidates[0]?.line], [want?.candidates[0]?.file, want?.candidates[0]?.line], row.location);
  }
});

test('index --config remembers the config for the tree: later rebuilds need no --config', { skip }, async () => {
  const r = await runCli(['index', tree, '--db', db, '--config', config(), '--cc', cc], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /config .* remembered for .*; build dir .* prepared \(already\)/);
  const want = first.find((x) => x.input.startsWith('dst_discard+'));
  const out = await runCli(['explain', '--db', db, '--rebuild', '--cc', cc, '--kernel', vmlinuz(), '--json', want?.input ?? ''], env);
  assert.equal(out.code, 0, out.stderr);
  const [e] = JSON.parse(out.stdout) as Result[];
  assert.deepEqual([e?.method, e?.verified, e?.candidates[0]?.line], ['rebuilt', 'code', want?.candidates[0]?.line]);
});

test('a compiler of another version than CONFIG_CC_VERSION_TEXT, or a config of another kernel, gives a warning naming both', { skip }, async () => {
  // A compiler that says it is gcc 13 (and cannot build anything): the warning comes before any build.
  const other = join(dir, 'cc-13');
  writeFileSync(other, '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "gcc (GCC) 13.2.0"; exit 0; fi\nexit 1\n');
  chmodSync(other, 0o755);
  // And the config of another kernel version: here the 6.1 config with the header of a 6.12 one.
  const otherConfig = join(dir, 'config-6.12.0-1-amd64');
  writeFileSync(otherConfig, readFileSync(config(), 'latin1').replace(/^# Linux\/x86 \S+ Kernel Configuration$/m, '# Linux/x86 6.12.117 Kernel Configuration'));
  const r = await runCli(['explain', '--db', db, '--rebuild', '--config', otherConfig, '--cc', other, locations[0] ?? ''], env);
  assert.match(r.stderr, /warning: the kernel was built with "gcc-12 \(Debian 12\.2\.0-14\+deb12u1\) 12\.2\.0" but .*cc-13 is "gcc \(GCC\) 13\.2\.0"/);
  assert.match(r.stderr, /warning: .*config-6\.12\.0-1-amd64 is the config of Linux 6\.12\.117 but the tree is 6\.1\.\d+/);
});

test('watch --rebuild finds the running kernel\'s config, or says which file it needs', { skip }, async () => {
  const r = await runCli(['watch', '--db', db, '--rebuild', '--duration', '1'], env);
  const running = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  if (r.stderr.includes('--rebuild: the final report rebuilds with')) return;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`dropsite: no config .*running kernel is ${running.replace(/[.+]/g, '\\$&')}`));
  assert.match(r.stderr, /hint: give --config FILE/);
});
