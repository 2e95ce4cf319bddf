// Real drops for live tests.
import { createSocket } from 'node:dgram';

/** Send datagrams to a UDP port nobody listens on: each one is a NO_SOCKET drop in __udp4_lib_rcv. */
export async function sendToClosedPort(count: number): Promise<void> {
  const probe = createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const s = createSocket('udp4');
  for (let i = 0; i < count; i++) await new Promise<void>((r) => s.send('dropsite', port, '127.0.0.1', () => r()));
  await new Promise<void>((r) => s.close(() => r()));
}
