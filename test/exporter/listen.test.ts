// The exporter's HTTP side in process: addresses, content negotiation, /healthz, a port already in use.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { DropMetrics, parseListenAddress } from '../../src/exporter/index.ts';
import { serveMetrics, wantsOpenMetrics } from '../../src/exporter/listen.ts';

const info = { kernel: 'k', tree_version: '', index: '', source: 'trace_pipe' };

describe('exporter HTTP', () => {
  it('addresses: a bare port binds loopback; 0.0.0.0 and [::1] as given; nonsense is a usage error', () => {
    assert.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress(':9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
    assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
    assert.throws(() => parseListenAddress('localhost:99999'), (e: Error) => e.name === 'UsageError' && /--metrics localhost:99999: expected HOST:PORT/.test(e.message));
    assert.throws(() => parseListenAddress('web:metrics'), /expected HOST:PORT/);
  });

  it('serves Prometheus text by default and OpenMetrics when asked; /healthz follows the capture', async () => {
    const m = new DropMetrics({ resolve: () => ({ function: 'f', file: 'a.c', line: '1', method: 'source', resolved: true }), maxSeries: 10, info });
    m.add({ location: 'f+0x1', symbol: 'f', function: 'f', isCold: false, offset: 1, size: null, module: null, reason: 'NO_SOCKET', event: 'kfree_skb', count: 2 });
    let ok = true;
    const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, {
      prometheus: m.registry({ openMetrics: false, withProcessMetrics: false }),
      openMetrics: m.registry({ openMetrics: true, withProcessMetrics: false }),
      health: () => ({ ok, body: { status: ok ? 'ok' : 'degraded' } }),
    });
    try {
      const text = await fetch(`${server.url}/metrics`);
      assert.equal(text.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(await text.text(), /^dropsite_drops_total\{location="f\+0x1",[^}]*\} 2$/m);
      // Prometheus 2.42's scrape Accept header.
      const accept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
      assert.equal(wantsOpenMetrics(accept), true);
      const om = await fetch(`${server.url}/metrics`, { headers: { Accept: accept } });
      assert.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
      assert.ok((await om.text()).endsWith('# EOF\n'));
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      ok = false;
      const h = await fetch(`${server.url}/healthz`);
      assert.equal(h.status, 503);
      assert.deepEqual(await h.json(), { status: 'degraded' });
      assert.equal((await fetch(`${server.url}/nothing`)).status, 404);
    } finally {
      await server.close();
    }
  });

  it('a port already in use: a CaptureError naming the address', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const addr = busy.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    try {
      const m = new DropMetrics({ resolve: () => ({ function: '', file: '', line: '', method: 'none', resolved: false }), maxSeries: 1, info });
      const r = m.registry({ openMetrics: false, withProcessMetrics: false });
      await assert.rejects(serveMetrics({ host: '127.0.0.1', port }, { prometheus: r, openMetrics: r, health: () => ({ ok: true, body: {} }) }),
        (e: Error) => e.name === 'CaptureError' && e.message === `cannot listen on 127.0.0.1:${port} for --metrics: the address is already in use (another exporter on that port?)`);
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });
});
