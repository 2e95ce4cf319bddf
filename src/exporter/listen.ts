// The HTTP side: /metrics (Prometheus text, or OpenMetrics when the scraper asks for it) and /healthz, on node:http.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { CaptureError, UsageError } from '../errors.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

/** The default binds to loopback: exposing drop locations to the network is an explicit `0.0.0.0:PORT`. */
export const DEFAULT_HOST = '127.0.0.1';

/** `127.0.0.1:9464`, `0.0.0.0:9464`, `[::1]:9464`, `:9464` or `9464` (the last two on 127.0.0.1). */
export function parseListenAddress(text: string): ListenAddress {
  const t = text.trim();
  const m = /^\[([0-9a-fA-F:.]+)\]:([0-9]{1,5})$/.exec(t) ?? /^([^:[\]]*):([0-9]{1,5})$/.exec(t) ?? /^()([0-9]{1,5})$/.exec(t);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new UsageError(`--metrics ${text}: expected HOST:PORT (127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464) or a port`);
  }
  return { host: m[1] === undefined || m[1] === '' ? DEFAULT_HOST : m[1], port };
}

export interface Health {
  ok: boolean;
  body: object;
}

export interface MetricsServer {
  /** `http://HOST:PORT`, with the port the kernel gave when 0 was asked. */
  url: string;
  close(): Promise<void>;
}

/** OpenMetrics when the Accept header names it (Prometheus 2.x asks for it first), else the Prometheus text format. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}

export async function serveMetrics(
  addr: ListenAddress,
  sources: { prometheus: client.Registry<client.RegistryContentType>; openMetrics: client.Registry<client.RegistryContentType>; health: () => Health },
): Promise<MetricsServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      const registry = wantsOpenMetrics(req.headers.accept) ? sources.openMetrics : sources.prometheus;
      const body = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/healthz') {
      const h = sources.health();
      res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(h.body)}\n`);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('dropsite: /metrics or /healthz\n');
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  // A scraper that keeps its connection open must not hold the exporter up at exit.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
      const why = err.code === 'EADDRINUSE' ? 'the address is already in use (another exporter on that port?)'
        : err.code === 'EACCES' ? 'permission denied' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.message;
      reject(new CaptureError(`cannot listen on ${where} for --metrics: ${why}`, { hint: 'pick another port with --metrics HOST:PORT' }));
    });
    server.listen(addr.port, addr.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
