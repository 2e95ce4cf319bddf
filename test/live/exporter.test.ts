// dropsite watch as an exporter on the running kernel, as root: a real Prometheus (Debian's prometheus package)
// scrapes `watch --metrics` while UDP datagrams hit a closed port on 127.0.0.1; node_exporter's textfile collector
// reads `--textfile`; `--as jsonl` streams rows. Every server here is started by the test on 127.0.0.1, on a free
// port, with throwaway config and storage, and stopped by the test (after() kills what is left, on failure too).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, fixture, runCli } from '../helpers/fixture.ts';
import { sendToClosedPort } from '../helpers/live-drops.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'live capture needs root (CI runs as root)';
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const needs = (bin: string): string | false => (skip !== false ? skip : existsSync(bin) ? false : `needs ${bin} (Debian's prometheus / prometheus-node-exporter packages; .ci/run installs them)`);

const tree = process.env.DROPSITE_KERNEL_TREE !== undefined && process.env.DROPSITE_KERNEL_TREE !== '' ? process.env.DROPSITE_KERNEL_TREE : fixture('sample');
const dir = mkdtempSync(join(tmpdir(), 'dropsite-exporter-'));
const db = join(dir, 'index.sqlite');
const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const tracefs = (): string => TRACEFS.find((d) => existsSync(join(d, 'instances'))) ?? TRACEFS[0] ?? '';
/** The tracing instances of one dropsite process (`dropsite-<pid>-<random>`). */
const instancesOf = (pid: number | undefined): string[] => {
  try {
    return readdirSync(join(tracefs(), 'instances')).filter((n) => n.startsWith(`dropsite-${pid ?? 0}-`)).map((n) => join(tracefs(), 'instances', n));
  } catch {
    return [];
  }
};
/** The one instance of a running exporter. */
const instanceOf = (pid: number | undefined): string => {
  const list = instancesOf(pid);
  assert.equal(list.length, 1, `expected one tracing instance of pid ${pid ?? 0}, found ${list.length}`);
  return list[0] ?? '';
};

const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

before(async () => {
  if (skip !== false) return;
  const r = await runCli(['index', tree, '--db', db, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

interface Running {
  child: ChildProcess;
  pid: number | undefined;
  stderr: () => string;
  stdout: () => string;
  done: Promise<number | null>;
}

function start(cmd: string, args: readonly string[]): Running {
  const child = spawn(cmd, [...args], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', HOME: dir } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, pid: child.pid, stderr: () => stderr, stdout: () => stdout, done };
}

const watch = (args: readonly string[]): Running => start(process.execPath, [CLI, 'watch', ...args]);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null> | T | null, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string } | null> {
  try {
    const r = await fetch(url, { headers });
    return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
  } catch {
    return null;
  }
}

/** Until /healthz says the capture runs (the instance exists and its event is on). */
const healthy = (port: number, w: Running): Promise<object> => waitFor(`watch /healthz on ${port} (stderr: ${w.stderr()})`, async () => {
  const r = await get(`http://127.0.0.1:${port}/healthz`);
  return r?.status === 200 ? JSON.parse(r.body) as object : null;
}, 60_000);

const hasHist = (): boolean => existsSync(join(tracefs(), 'events/skb/kfree_skb/hist'));
/** The samples of `name` in exposition text, as label maps with their value (label order as the exporter wrote it, or sorted as node_exporter does). */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The NO_SOCKET drops in __udp4_lib_rcv, attributed to net/ipv4/udp.c by the source method (0 when absent). */
function noSocketDrops(text: string): number {
  const s = samples(text, 'dropsite_drops_total').find((x) => x.labels.function === '__udp4_lib_rcv' && x.labels.reason === 'NO_SOCKET');
  if (s === undefined) return 0;
  assert.match(s.labels.location ?? '', /^__udp4_lib_rcv\+0x[0-9a-f]+$/);
  assert.equal(s.labels.file, 'net/ipv4/udp.c');
  assert.match(s.labels.line ?? '', /^\d+$/);
  assert.equal(s.labels.method, 'source');
  assert.equal(s.labels.event, 'kfree_skb');
  return s.value;
}

async function sigterm(w: Running): Promise<number | null> {
  w.child.kill('SIGTERM');
  return w.done;
}

describe('watch --metrics with a real Prometheus', { skip: needs(PROMETHEUS) }, () => {
  it('Prometheus\'s query API returns NO_SOCKET drops in __udp4_lib_rcv with file net/ipv4/udp.c; SIGTERM leaves no instance', async () => {
    const port = await freePort();
    const w = watch(['--db', db, '--metrics', `127.0.0.1:${port}`, '--interval', '1']);
    await healthy(port, w);
    // The mismatch between this machine's kernel and the indexed tree is a warning and labels, never a crash.
    assert.match(w.stderr(), /^warning: the running kernel is .* but the index has Linux /m);
    // This kernel has no hist triggers: the fallback source, said on stderr and in dropsite_info.
    const source = hasHist() ? 'hist' : 'trace_pipe';
    assert.match(w.stderr(), source === 'hist' ? /counting drops from an in-kernel hist trigger/ : /counting drops from trace_pipe \(this kernel has no hist triggers\)/);

    const promPort = await freePort();
    const promDir = join(dir, 'prometheus');
    mkdirSync(join(promDir, 'data'), { recursive: true });
    writeFileSync(join(promDir, 'prometheus.yml'), [
      'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', '  - job_name: dropsite',
      '    static_configs:', `      - targets: ['127.0.0.1:${port}']`, '',
    ].join('\n'));
    const prom = start(PROMETHEUS, [
      `--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ]);
    await sendToClosedPort(50);
    const query = encodeURIComponent('dropsite_drops_total{function="__udp4_lib_rcv",reason="NO_SOCKET"}');
    const result = await waitFor(`Prometheus to have the drops (prometheus stderr: ${prom.stderr().slice(-500)})`, async () => {
      const r = await get(`http://127.0.0.1:${promPort}/api/v1/query?query=${query}`);
      if (r?.status !== 200) return null;
      const body = JSON.parse(r.body) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      const found = body.data.result.find((x) => Number(x.value[1]) > 0);
      return found ?? null;
    }, 60_000);
    assert.equal(result.metric.file, 'net/ipv4/udp.c');
    assert.equal(result.metric.method, 'source');
    assert.ok(Number(result.value[1]) >= 50, `value ${result.value[1]}`);
    // Prometheus 2.x asks for OpenMetrics first: the scrape went through that path, and the target is up.
    const targets = JSON.parse((await get(`http://127.0.0.1:${promPort}/api/v1/targets`))?.body ?? '{}') as { data: { activeTargets: Array<{ health: string; lastError: string }> } };
    assert.deepEqual(targets.data.activeTargets.map((t) => [t.health, t.lastError]), [['up', '']]);
    const info = JSON.parse((await get(`http://127.0.0.1:${promPort}/api/v1/query?query=dropsite_info`))?.body ?? '{}') as { data: { result: Array<{ metric: Record<string, string> }> } };
    assert.equal(info.data.result[0]?.metric.kernel, release());
    assert.match(info.data.result[0]?.metric.tree_version ?? '', /^6\.1\./);
    assert.equal(info.data.result[0]?.metric.index, db);
    assert.equal(info.data.result[0]?.metric.source, source);

    // Every query of the Grafana dashboard runs on this Prometheus, and the top-lines table names the line (rate()
    // needs two samples of the series: more drops, then wait for a scrape or two).
    await sendToClosedPort(20);
    const ratesQuery = encodeURIComponent('rate(dropsite_drops_total{function="__udp4_lib_rcv",reason="NO_SOCKET"}[5m]) > 0');
    await waitFor('a drop rate in Prometheus', async () => {
      const r = await get(`http://127.0.0.1:${promPort}/api/v1/query?query=${ratesQuery}`);
      return r !== null && (JSON.parse(r.body) as { data: { result: unknown[] } }).data.result.length > 0 ? true : null;
    }, 30_000);
    const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const expr = target.expr.replaceAll('$instance', '.*');
        const r = await get(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);
        const body = JSON.parse(r?.body ?? '{}') as { status: string; error?: string; data?: { result: Array<{ metric: Record<string, string> }> } };
        assert.equal(body.status, 'success', `${panel.title}: ${expr}: ${body.error ?? ''}`);
        if (panel.title.startsWith('Top drop lines')) assert.ok(body.data?.result.some((x) => x.metric.file === 'net/ipv4/udp.c' && x.metric.reason === 'NO_SOCKET'), JSON.stringify(body.data));
      }
    }

    const om = await get(`http://127.0.0.1:${port}/metrics`, { Accept: 'application/openmetrics-text; version=1.0.0' });
    assert.match(om?.type ?? '', /^application\/openmetrics-text/);
    assert.ok(om?.body.endsWith('# EOF\n'));
    prom.child.kill('SIGTERM');
    await prom.done;
    assert.equal(await sigterm(w), 0, w.stderr());
    assert.deepEqual(instancesOf(w.pid), [], 'no tracing instance is left');
    assert.match(w.stderr(), /^dropsite: stopped after \d+ drops/m);
  });
});

describe('watch --textfile read by node_exporter', { skip: needs(NODE_EXPORTER) }, () => {
  it('is written every interval, passes promtool, and node_exporter\'s textfile collector serves it', async () => {
    const textDir = join(dir, 'textfile');
    mkdirSync(textDir);
    const file = join(textDir, 'dropsite.prom');
    const w = watch(['--db', db, '--textfile', file, '--interval', '1']);
    await waitFor(`the textfile (stderr: ${w.stderr()})`, () => (existsSync(file) && w.stderr().includes('counting drops') ? true : null), 60_000);
    await sendToClosedPort(20);
    const text = await waitFor('the drops in the textfile', () => {
      const t = existsSync(file) ? readFileSync(file, 'utf8') : '';
      return noSocketDrops(t) >= 20 ? t : null;
    }, 20_000);
    assert.deepEqual(readdirSync(textDir), ['dropsite.prom'], 'no temporary file left beside it');
    if (existsSync(PROMTOOL)) {
      const check = start(PROMTOOL, ['check', 'metrics']);
      check.child.stdin?.end(text);
      assert.equal(await check.done, 0, check.stdout() + check.stderr());
    }
    const nePort = await freePort();
    const ne = start(NODE_EXPORTER, ['--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${textDir}`, `--web.listen-address=127.0.0.1:${nePort}`]);
    const scraped = await waitFor(`node_exporter (stderr: ${ne.stderr().slice(-500)})`, async () => {
      const r = await get(`http://127.0.0.1:${nePort}/metrics`);
      return r?.status === 200 ? r.body : null;
    }, 20_000);
    assert.ok(noSocketDrops(scraped) >= 20, 'node_exporter serves the textfile\'s drops');
    assert.match(scraped, /^node_textfile_scrape_error 0$/m);
    ne.child.kill('SIGTERM');
    await ne.done;
    assert.equal(await sigterm(w), 0, w.stderr());
    assert.deepEqual(instancesOf(w.pid), [], 'no tracing instance is left');
  });
});

describe('watch as an exporter, failure paths', { skip }, () => {
  it('--as jsonl streams rows with the host, the line and the interval count; --db names a directory of indexes', async () => {
    // The directory a fleet ships: the index (linked here), and a file that is not one.
    const shipped = join(dir, 'indexes');
    mkdirSync(shipped);
    symlinkSync(db, join(shipped, 'linux.sqlite'));
    writeFileSync(join(shipped, 'notes.txt'), 'built on the build machine\n');
    const w = watch(['--db', shipped, '--as', 'jsonl', '--host', 'web-17', '--interval', '1']);
    await waitFor(`capture (stderr: ${w.stderr()})`, () => (w.stderr().includes('counting drops') ? true : null), 60_000);
    assert.match(w.stderr(), /^warning: skipped .*notes\.txt: cannot read index/m);
    await sendToClosedPort(15);
    await waitFor('a jsonl row', () => (w.stdout().includes('"reason":"NO_SOCKET"') ? true : null), 20_000);
    assert.equal(await sigterm(w), 0, w.stderr());
    const rows = w.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const ours = rows.filter((r) => r.function === '__udp4_lib_rcv' && r.reason === 'NO_SOCKET');
    assert.ok(ours.length > 0);
    for (const r of ours) {
      assert.equal(r.schema, 1);
      assert.equal(r.host, 'web-17');
      assert.equal(r.file, 'net/ipv4/udp.c');
      assert.equal(typeof r.line, 'number');
      assert.equal(r.interval_s, 1);
      assert.match(String(r.time), /^\d{4}-\d\d-\d\dT/);
    }
    assert.ok(ours.reduce((a, r) => a + Number(r.count), 0) >= 15);
  });

  it('no index: a warning, the drops still counted and served, unresolved, with empty dropsite_info labels', async () => {
    const port = await freePort();
    const w = watch(['--db', join(dir, 'no-such-indexes'), '--metrics', `127.0.0.1:${port}`]);
    await healthy(port, w);
    assert.match(w.stderr(), /^warning: no index at .*no-such-indexes: drops are counted without source lines/m);
    await sendToClosedPort(10);
    const body = await waitFor('unresolved drops', async () => {
      const r = await get(`http://127.0.0.1:${port}/metrics`);
      return r !== null && /^dropsite_drops_unresolved_total\{reason="NO_SOCKET"\} [1-9]/m.test(r.body) ? r.body : null;
    }, 20_000);
    assert.match(body, /^dropsite_drops_total\{location="__udp4_lib_rcv\+0x[0-9a-f]+",function="__udp4_lib_rcv",reason="NO_SOCKET",event="kfree_skb",file="",line="",method="none"\} [1-9]/m);
    assert.match(body, new RegExp(`^dropsite_info\\{kernel="${release().replace(/[.+]/g, '\\$&')}",tree_version="",index="",source="[a-z_]+"\\} 1$`, 'm'));
    assert.equal(await sigterm(w), 0, w.stderr());
  });

  it('--max-series 1: the second location (a TCP SYN to a closed port, or any other drop) folds into location="other"', async () => {
    const port = await freePort();
    const w = watch(['--db', db, '--metrics', `127.0.0.1:${port}`, '--max-series', '1']);
    await healthy(port, w);
    await sendToClosedPort(5);
    // A TCP connection to a closed port: tcp_v4_rcv finds no socket, sends a reset and drops the SYN (NO_SOCKET).
    const closed = await freePort();
    await new Promise<void>((r) => {
      const c = createConnection({ host: '127.0.0.1', port: closed });
      c.on('error', () => r());
      c.on('connect', () => { c.destroy(); r(); });
    });
    const body = await waitFor('a refused series', async () => {
      const r = await get(`http://127.0.0.1:${port}/metrics`);
      return r !== null && /^dropsite_series_dropped_total [1-9]/m.test(r.body) ? r.body : null;
    }, 20_000);
    const series = samples(body, 'dropsite_drops_total');
    assert.equal(series.filter((x) => x.labels.location !== 'other').length, 1, JSON.stringify(series));
    const other = series.filter((x) => x.labels.location === 'other');
    assert.ok(other.length >= 1 && other.every((x) => x.labels.file === '' && x.labels.method === 'none' && x.value > 0), JSON.stringify(other));
    assert.equal(await sigterm(w), 0, w.stderr());
  });

  it('a port already in use: one clear error naming it, exit 1, no instance left', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const addr = busy.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    try {
      const w = watch(['--db', db, '--metrics', `127.0.0.1:${port}`]);
      assert.equal(await w.done, 1, w.stderr());
      assert.match(w.stderr(), new RegExp(`^dropsite: cannot listen on 127\\.0\\.0\\.1:${port} for --metrics: the address is already in use`, 'm'));
      assert.deepEqual(instancesOf(w.pid), [], 'no tracing instance is left');
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  it('an event switched off under it (another tool cleaning up) is set up again, counted, and the exporter lives on', async () => {
    const port = await freePort();
    const w = watch(['--db', db, '--metrics', `127.0.0.1:${port}`, '--interval', '1', '--capture', 'trace_pipe']);
    await healthy(port, w);
    // What a stale-instance clean-up of another dropsite does before its rmdir fails (our trace_pipe is open).
    writeFileSync(join(instanceOf(w.pid), 'events/skb/kfree_skb/enable'), '0');
    await waitFor('the restart', async () => {
      const r = await get(`http://127.0.0.1:${port}/metrics`);
      return r !== null && /^dropsite_capture_restarts_total\{cause="event-disabled"\} 1$/m.test(r.body) ? true : null;
    }, 20_000);
    assert.match(w.stderr(), /kfree_skb was switched off in .*: capture set up again/);
    await healthy(port, w);
    await sendToClosedPort(12);
    const body = await waitFor('drops after the restart', async () => {
      const r = await get(`http://127.0.0.1:${port}/metrics`);
      return r !== null && noSocketDrops(r.body) >= 12 ? r.body : null;
    }, 20_000);
    assert.ok(body.length > 0);
    assert.equal(readFileSync(join(instanceOf(w.pid), 'events/skb/kfree_skb/enable'), 'utf8').trim(), '1');
    assert.equal(await sigterm(w), 0, w.stderr());
    assert.deepEqual(instancesOf(w.pid), [], 'no tracing instance is left');
  });
});
