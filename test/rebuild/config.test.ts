// The parts of --rebuild that need no kernel tree: reading configs (plain and gzipped), choosing the
// default one, the compiler check, what olddefconfig changes, the compiler's first error, the lock.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { withLock } from '../../src/rebuild/build-dir.ts';
import { materialChanges } from '../../src/rebuild/build-dir.ts';
import { chooseConfig, readConfig, rememberConfig } from '../../src/rebuild/config.ts';
import { firstErrorFor } from '../../src/rebuild/make.ts';
import { compilerWarning, probeToolchain } from '../../src/rebuild/toolchain.ts';

const dir = mkdtempSync(join(tmpdir(), 'dropsite-rebuild-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = '#\n# Linux/x86 6.1.192 Kernel Configuration\n#\nCONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"\nCONFIG_NET=y\nCONFIG_BRIDGE=m\n# CONFIG_NET_DSA is not set\n';

test('a config is read plain or gzipped, with its compiler and version', () => {
  const plain = join(dir, 'config-6.1.0-56-amd64');
  writeFileSync(plain, CONFIG);
  const gz = join(dir, 'config.gz');
  writeFileSync(gz, gzipSync(CONFIG));
  for (const p of [plain, gz]) {
    const c = readConfig(p);
    assert.equal(c.ccVersionText, 'gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0');
    assert.equal(c.kernelVersion, '6.1.192');
    assert.equal(c.text, CONFIG);
  }
  writeFileSync(join(dir, 'not-config'), 'hello\n');
  assert.throws(() => readConfig(join(dir, 'not-config')), /not a kernel config/);
  assert.throws(() => readConfig(dir), /cannot read config .*directory/);
});

test('the default config is the running kernel\'s only when the tree is of its version, else a clear error', () => {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'boot'), { recursive: true });
  mkdirSync(join(root, 'proc'), { recursive: true });
  const cache = join(dir, 'cache');
  const base = { treeRoot: '/src/linux', cacheDir: cache, rootDir: root };
  assert.throws(() => chooseConfig({ ...base, treeVersion: '6.1.192', running: '6.18.3-fc' }), /running kernel is 6\.18\.3-fc, so its config does not fit/);
  assert.throws(() => chooseConfig({ ...base, treeVersion: '6.1.192', running: '6.1.0-56-amd64' }), /looked for .*boot\/config-6\.1\.0-56-amd64 and .*proc\/config\.gz/);
  writeFileSync(join(root, 'proc', 'config.gz'), gzipSync(CONFIG));
  assert.equal(chooseConfig({ ...base, treeVersion: '6.1.192', running: '6.1.0-56-amd64' }).path, join(root, 'proc', 'config.gz'));
  writeFileSync(join(root, 'boot', 'config-6.1.0-56-amd64'), CONFIG);
  assert.equal(chooseConfig({ ...base, treeVersion: '6.1.192', running: '6.1.0-56-amd64' }).path, join(root, 'boot', 'config-6.1.0-56-amd64'));
  // A remembered config wins over the running kernel's, and needs no matching version.
  rememberConfig(cache, '/src/linux', readConfig(join(root, 'boot', 'config-6.1.0-56-amd64')));
  assert.equal(chooseConfig({ ...base, treeVersion: '6.1.192', running: '6.18.3-fc' }).text, CONFIG);
});

test('a compiler of another version than the config names is a warning naming both; a missing one names the package', async () => {
  const other = join(dir, 'gcc-13');
  writeFileSync(other, '#!/bin/sh\necho "gcc-13 (Debian 13.2.0-25) 13.2.0"\n');
  chmodSync(other, 0o755);
  const same = join(dir, 'gcc-same');
  writeFileSync(same, '#!/bin/sh\necho "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"\n');
  chmodSync(same, 0o755);
  const text = 'gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0';
  // Fake include dir with the headers, so that only the compiler is probed for real here.
  const inc = join(dir, 'include');
  mkdirSync(join(inc, 'openssl'), { recursive: true });
  writeFileSync(join(inc, 'gelf.h'), '');
  writeFileSync(join(inc, 'openssl', 'opensslv.h'), '');
  const tools = await probeToolchain(other, text, inc).catch((err: Error) => err);
  if (tools instanceof Error) {
    // make, flex, bison, bc or perl are missing here: the error names the packages.
    assert.match(tools.message, /cannot rebuild: missing/);
    return;
  }
  assert.match(compilerWarning(tools, text) ?? '', /built with "gcc-12 \(Debian 12\.2\.0-14\+deb12u1\) 12\.2\.0" but .*gcc-13 is "gcc-13 \(Debian 13\.2\.0-25\) 13\.2\.0"/);
  assert.equal(compilerWarning(await probeToolchain(same, text, inc), text), null, 'the program name (gcc vs gcc-12) is not the version');
  await assert.rejects(probeToolchain(join(dir, 'no-such-cc'), text, inc), /missing the compiler .*no-such-cc/);
  await assert.rejects(probeToolchain(same, text, join(dir, 'empty')), (err: Error & { hint?: string }) => /libelf-dev/.test(err.message) && /apt-get install .*libelf-dev libssl-dev/.test(err.hint ?? ''));
});

test('olddefconfig changes: toolchain-decided symbols are not material, kernel choices are', () => {
  const before = 'CONFIG_CC_VERSION_TEXT="gcc-12 x"\nCONFIG_PAHOLE_VERSION=124\nCONFIG_NET=y\n# CONFIG_DSA is not set\nCONFIG_BRIDGE=m\n';
  const after = 'CONFIG_CC_VERSION_TEXT="gcc x"\nCONFIG_PAHOLE_VERSION=0\nCONFIG_NET=y\nCONFIG_DSA=y\nCONFIG_BUILD_SALT=""\n';
  assert.deepEqual(materialChanges(before, after), ['CONFIG_BRIDGE: m → n', 'CONFIG_DSA: n → y']);
});

test('the first error line of a failed object is its own, even when make interleaves two files', () => {
  const lines = [
    '  CC      net/dsa/slave.o',
    '  CC      net/ipv4/udp.o',
    'In file included from /t/net/dsa/slave.c:25:',
    "/t/net/dsa/dsa_priv.h:197:38: error: 'struct net_device' has no member named 'dsa_ptr'",
    '/t/net/ipv4/udp.c:10:1: error: expected identifier',
    'make[4]: *** [/t/scripts/Makefile.build:250: net/dsa/slave.o] Error 1',
  ];
  assert.match(firstErrorFor(lines, 'net/dsa/slave.o'), /dsa_priv\.h:197:38: error: 'struct net_device'/);
  assert.match(firstErrorFor(lines, 'net/ipv4/udp.o'), /udp\.c:10:1: error: expected identifier/);
  assert.match(firstErrorFor(["make[4]: *** No rule to make target 'net/x/y.o'.  Stop."], 'net/x/y.o'), /not a target kbuild knows/);
});

test('the build directory lock: a second holder waits, a lock left by a dead process is taken over', async () => {
  const d = join(dir, 'locked');
  const order: string[] = [];
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => { release = r; });
  const a = withLock(d, async () => { order.push('a in'); await held; order.push('a out'); });
  await new Promise((r) => setTimeout(r, 50));
  let waited = false;
  const b = withLock(d, async () => { order.push('b in'); }, { onWait: () => { waited = true; } });
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(order, ['a in']);
  release();
  await Promise.all([a, b]);
  assert.deepEqual(order, ['a in', 'a out', 'b in']);
  assert.ok(waited);
  // pid 2^22+1 is above Linux's pid_max limit: no such process.
  writeFileSync(join(d, 'dropsite.lock'), String(4194305));
  assert.equal(await withLock(d, async () => 'taken over', { waitMs: 1000 }), 'taken over');
});

test('--config and --cc without --rebuild, --kernel on the exporter, or --rebuild with --vmlinux, are usage errors', async () => {
  const { runCli } = await import('../helpers/fixture.ts');
  const a = await runCli(['explain', '--config', join(dir, 'config-6.1.0-56-amd64'), '__udp4_lib_rcv+0x9a2']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--config and --cc go with --rebuild/);
  const w = await runCli(['watch', '--kernel', join(dir, 'vmlinuz'), '--metrics', '127.0.0.1:0', '--duration', '1']);
  assert.equal(w.code, 2);
  assert.match(w.stderr, /the exporter .*does not take --kernel or --modules/);
  const b = await runCli(['explain', '--rebuild', '--vmlinux', '/nonexistent', '__udp4_lib_rcv+0x9a2']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /give --rebuild or --vmlinux, not both/);
  // --kernel alone is machine-code ranking on report: a missing image is a one-line input error, not a usage error.
  const c = await runCli(['report', '--kernel', '/nonexistent', join(dir, 'config-6.1.0-56-amd64')]);
  assert.equal(c.code, 1);
});
