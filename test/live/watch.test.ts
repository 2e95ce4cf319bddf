// dropsite watch on the running kernel, as root: real NO_SOCKET drops from UDP datagrams sent to a
// closed port on 127.0.0.1, explained against the indexed tree, and tracing left as it was found.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeStaleInstances, STALE_AFTER_MS } from '../../src/live/tracefs.ts';
import { CLI, fixture, runCli } from '../helpers/fixture.ts';
import { sendToClosedPort } from '../helpers/live-drops.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'live capture needs root (CI runs as root)';
const tree = process.env.DROPSITE_KERNEL_TREE !== undefined && process.env.DROPSITE_KERNEL_TREE !== '' ? process.env.DROPSITE_KERNEL_TREE : fixture('sample');
const dir = mkdtempSync(join(tmpdir(), 'dropsite-live-'));
const db = join(dir, 'index.sqlite');
const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  if (skip !== false) return;
  const r = await runCli(['index', tree, '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

const tracefs = (): string | undefined => TRACEFS.find((d) => existsSync(join(d, 'instances')));
const ourInstances = (): string[] => {
  const t = tracefs();
  return t === undefined ? [] : readdirSync(join(t, 'instances')).filter((n) => n.startsWith('dropsite-'));
};
/** The instances of one watch process (other runs on the machine may have theirs). */
const instancesOf = (pid: number | undefined): string[] => ourInstances().filter((n) => n.startsWith(`dropsite-${pid ?? 0}-`));
/** True once a watch's instance has the kfree_skb event switched on. */
const capturing = (): boolean => ourInstances().some((n) => {
  try {
    return readFileSync(join(tracefs() ?? '', 'instances', n, 'events/skb/kfree_skb/enable'), 'utf8').trim() === '1';
  } catch {
    return false;
  }
});
const globalFlag = (): string | null => {
  const t = tracefs();
  return t === undefined ? null : readFileSync(join(t, 'events/skb/kfree_skb/enable'), 'utf8').trim();
};

function runWatch(args: readonly string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; pid: number | undefined; kill: (sig: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [CLI, 'watch', '--db', db, ...args], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return {
    pid: child.pid,
    kill: (sig) => child.kill(sig),
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
  };
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

test('watch reports NO_SOCKET drops in __udp4_lib_rcv with their line in net/ipv4/udp.c, and cleans up', { skip }, async () => {
  // Not mounted yet (a fresh machine): watch mounts tracefs itself, and the kernel's default flag is 0.
  const flagBefore = globalFlag() ?? '0';
  const w = runWatch(['--duration', '3', '--as', 'json']);
  await waitFor(capturing, 5000);
  await sendToClosedPort(40);
  const r = await w.done;
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { rows: Array<{ function: string; reason: string | null; count: number; candidates: Array<{ file: string; line: number }> }> };
  const row = view.rows.find((x) => x.function === '__udp4_lib_rcv' && x.reason === 'NO_SOCKET');
  assert.ok(row !== undefined, `rows: ${JSON.stringify(view.rows.map((x) => [x.function, x.reason, x.count]))}; stderr: ${r.stderr}`);
  assert.ok(row.count >= 40);
  assert.equal(row.candidates[0]?.file, 'net/ipv4/udp.c');
  assert.deepEqual(instancesOf(w.pid), [], 'no dropsite instance is left');
  assert.equal(globalFlag(), flagBefore, 'the global kfree_skb enable flag is as it was');
});

test('a watch killed with SIGKILL leaves its instance; the next watch removes it', { skip, timeout: 60_000 }, async () => {
  const w = runWatch([]);
  const mine = (): string | undefined => ourInstances().find((n) => n.startsWith(`dropsite-${w.pid ?? 0}-`));
  await waitFor(() => mine() !== undefined, 5000);
  const name = mine();
  assert.ok(name !== undefined, 'the instance exists while watch runs');
  w.kill('SIGKILL');
  await w.done;
  assert.ok(ourInstances().includes(name), 'SIGKILL cannot clean up');
  // Another run takes an instance for stale only once it is older than STALE_AFTER_MS.
  await new Promise((r) => setTimeout(r, STALE_AFTER_MS + 200));
  const next = runWatch(['--duration', '1', '--as', 'json']);
  const r = await next.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`removed tracing instance ${name} left by a dropsite run that was killed`));
  assert.ok(!ourInstances().includes(name));
});

/** A PID that no process can have here: above the kernel's pid_max. */
const deadPid = (): number => Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) + 1000 + Math.floor(Math.random() * 1000);

test('an instance whose PID is dead here but whose trace_pipe is open (a watch in a container) is left alone', { skip, timeout: 30_000 }, () => {
  const t = tracefs() ?? '';
  // The name an older dropsite in another PID namespace gives its instance: only a PID, dead on this side.
  const name = `dropsite-${deadPid()}`;
  const dir = join(t, 'instances', name);
  mkdirSync(dir);
  let fd: number | null = null;
  try {
    writeFileSync(join(dir, 'events/skb/kfree_skb/enable'), '1');
    fd = openSync(join(dir, 'trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
    const kept: string[] = [];
    const removed = removeStaleInstances(t, { minAgeMs: 0, onKept: (n, why) => kept.push(`${n}: ${why}`) });
    assert.ok(!removed.includes(name));
    assert.ok(existsSync(dir), 'the live instance is still there');
    assert.equal(readFileSync(join(dir, 'events/skb/kfree_skb/enable'), 'utf8').trim(), '1', 'its events are still enabled');
    assert.ok(kept.some((k) => k.startsWith(`${name}: in use`)), kept.join('; '));
    // Young instances are left alone too (the owner opens trace_pipe right after mkdir).
    closeSync(fd);
    fd = null;
    const young: string[] = [];
    assert.deepEqual(removeStaleInstances(t, { onKept: (n) => young.push(n) }).filter((n) => n === name), []);
    assert.ok(young.includes(name));
    // Once nobody reads it and it is old enough, it is provably stale: removed.
    assert.ok(removeStaleInstances(t, { minAgeMs: 0 }).includes(name));
    assert.ok(!existsSync(dir));
  } finally {
    if (fd !== null) closeSync(fd);
    if (existsSync(dir)) rmdirSync(dir);
  }
});

test('SIGTERM right after a burst stops cleanly with a report that counts every drop of the burst', { skip }, async () => {
  const w = runWatch(['--as', 'json']);
  await waitFor(capturing, 5000);
  // No pause before the signal: the last drops are still in the kernel's buffer, and must be read.
  await sendToClosedPort(200);
  w.kill('SIGTERM');
  const r = await w.done;
  assert.equal(r.code, 0, r.stderr);
  const view = JSON.parse(r.stdout) as { rows: Array<{ function: string; reason: string | null; count: number }> };
  const noSocket = view.rows.filter((x) => x.function === '__udp4_lib_rcv' && x.reason === 'NO_SOCKET').reduce((n, x) => n + x.count, 0);
  assert.ok(noSocket >= 200, `NO_SOCKET drops counted: ${noSocket} of 200; stderr: ${r.stderr}`);
  assert.deepEqual(instancesOf(w.pid), []);
});

const hasDropwatch = (): boolean => ['/usr/bin/dropwatch', '/usr/sbin/dropwatch'].some((p) => existsSync(p));

test('watch --source dropwatch drives dropwatch, or says the kernel has no drop monitor', { skip: skip !== false ? skip : hasDropwatch() ? false : 'install Debian\'s dropwatch to run this test (.ci/run installs it)' }, async () => {
  const w = runWatch(['--source', 'dropwatch', '--duration', '2', '--as', 'json']);
  const r = await w.done;
  if (r.code === 0) {
    // A kernel with CONFIG_NET_DROP_MONITOR: a report came back.
    assert.ok((JSON.parse(r.stdout) as { totals: { drops: number } }).totals.drops >= 0);
  } else {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^dropsite: this kernel has no drop monitor \(dropwatch: Unable to find NET_DM family\)$/m);
    assert.match(r.stderr, /use --source tracefs/);
  }
});

const imageDir = process.env.DROPSITE_KERNEL_IMAGE_DIR;
const debian61 = imageDir === undefined || imageDir === '' ? null : join(imageDir, 'boot/vmlinuz-6.1.0-56-amd64');

test('watch --kernel with an image that is not the running kernel is refused before capture, naming both build-ids', {
  skip: skip !== false ? skip : debian61 === null || !existsSync(debian61) ? 'set DROPSITE_KERNEL_IMAGE_DIR to a dpkg-deb -x of linux-image-6.1.0-56-amd64-unsigned (.ci/run does)' : false,
}, async (t) => {
  const { buildIdFromNotes, loadKernelImage } = await import('../../src/binary/index.ts');
  const running = buildIdFromNotes(readFileSync('/sys/kernel/notes'));
  const image = (await loadKernelImage(debian61 ?? '')).buildId;
  assert.ok(running !== null && image !== null);
  if (running === image) {
    t.skip('this host runs Debian 6.1.0-56 itself: the image is the running kernel, nothing to refuse');
    return;
  }
  const flagBefore = globalFlag();
  const w = runWatch(['--kernel', debian61 ?? '', '--duration', '2', '--as', 'json']);
  const r = await w.done;
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.equal(lines[0], `dropsite: --kernel ${debian61} is not the running kernel: its build-id is ${image}, the running kernel's (/sys/kernel/notes) is ${running}; give the running kernel's vmlinuz, or --kernel /proc/kcore, or leave --kernel out to rank from source`);
  assert.deepEqual(instancesOf(w.pid), [], 'refused before any tracing instance was made');
  assert.equal(globalFlag(), flagBefore);
});

test('watch --kernel /proc/kcore reads the running kernel\'s memory, or says in one line that this kernel has none', { skip }, async () => {
  const w = runWatch(['--kernel', '/proc/kcore', '--duration', '3', '--as', 'json']);
  if (!existsSync('/proc/kcore')) {
    const r = await w.done;
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', /^dropsite: --kernel \/proc\/kcore: this kernel has no \/proc\/kcore \(CONFIG_PROC_KCORE is off, or \/proc is restricted\); give the running kernel's vmlinuz, or leave --kernel out to rank from source$/);
    assert.deepEqual(instancesOf(w.pid), []);
    return;
  }
  // A kernel with /proc/kcore: the drops are ranked with its code, named by /proc/kallsyms.
  await waitFor(capturing, 10_000);
  await sendToClosedPort(20);
  const r = await w.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /--kernel \/proc\/kcore: the running kernel's memory, named by \/proc\/kallsyms/);
  const view = JSON.parse(r.stdout) as { rows: Array<{ function: string; method?: string; notes: string[] }> };
  const row = view.rows.find((x) => x.function === '__udp4_lib_rcv');
  assert.ok(row !== undefined, JSON.stringify(view.rows));
  // The code decides only where the index knows the running kernel's drop functions: the same major.minor.
  const indexed = (JSON.parse((await runCli(['trees', '--db', db, '--json'])).stdout) as Array<{ version: string | null }>)[0]?.version ?? '';
  if (release().split('.').slice(0, 2).join('.') === indexed.split('.').slice(0, 2).join('.')) {
    assert.equal(row.method, 'machine-code', JSON.stringify(row));
    assert.ok(row.notes.some((n) => n.includes('kernel memory (kcore)')), row.notes.join('\n'));
  }
  assert.deepEqual(instancesOf(w.pid), []);
});
