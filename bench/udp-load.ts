// Load for the watch benchmark: UDP datagrams to a closed port on 127.0.0.1. Each one is a real drop:
// __udp4_lib_rcv finds no socket and frees the skb with reason NO_SOCKET (the ICMP port unreachable
// it sends back is consumed, not dropped, and an unconnected sender never sees it as an error).
// It runs as a process of its own so that its CPU time is never charged to dropsite.
//
//   node --import tsx bench/udp-load.ts --rate N --seconds S     (rate 0: as fast as it can)
//
// Protocol with the bench: one JSON line `{"ready":true,"port":P}` once the sockets are set up; the
// load starts when a line arrives on stdin (so that Node's start-up is outside the measured window);
// one JSON line with the figures when done. Only its own sockets are touched.
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

/** Sends not yet completed, at most: bounds memory when the kernel is slower than the loop. */
const MAX_IN_FLIGHT = 512;
const PAYLOAD = Buffer.from('dropsite-bench\n');
const HOST = '127.0.0.1';

export interface LoadSummary {
  port: number;
  targetRate: number;
  seconds: number;
  attempted: number;
  /** Datagrams the kernel accepted (attempted − failed): each is one NO_SOCKET drop. */
  sent: number;
  failed: number;
  errors: Record<string, number>;
  /** From the first send to the last one started. */
  elapsedS: number;
  achievedRate: number;
}

function usageError(text: string): void {
  process.stderr.write(`udp-load: ${text}\nusage: node --import tsx bench/udp-load.ts --rate N --seconds S\n`);
  process.exitCode = 2;
}

/** A port nothing listens on: bind one, note it, close it. Another process could take it in between; on loopback it is unlikely. */
async function closedPort(): Promise<number> {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.bind(0, HOST, () => resolve());
  });
  const { port } = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rate: { type: 'string' }, seconds: { type: 'string' } }, strict: true });
  const targetRate = Number(values.rate ?? '0');
  const seconds = Number(values.seconds ?? '5');
  if (!Number.isFinite(targetRate) || targetRate < 0) return usageError(`--rate expects a number ≥ 0, got ${values.rate ?? ''}`);
  if (!Number.isFinite(seconds) || seconds <= 0) return usageError(`--seconds expects a number > 0, got ${values.seconds ?? ''}`);

  const port = await closedPort();
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, HOST, () => resolve());
  });
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);

  const go = await new Promise<boolean>((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', () => {
      resolve(true); // before close(), whose 'close' event would resolve false first
      rl.close();
    });
    // stdin closed without a line: the bench went away, so do nothing.
    rl.once('close', () => resolve(false));
  });
  if (!go) {
    socket.close();
    return;
  }

  const errors: Record<string, number> = {};
  let attempted = 0;
  let completed = 0;
  let failed = 0;
  let isSending = true;
  let isScheduled = false;
  let lastSendAt = 0n;
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;

  const summary = await new Promise<LoadSummary>((resolve) => {
    const finishIfDone = (): void => {
      if (isSending || completed < attempted) return;
      const elapsedS = Number((lastSendAt === 0n ? started : lastSendAt) - started) / 1e9;
      const sent = attempted - failed;
      resolve({ port, targetRate, seconds, attempted, sent, failed, errors, elapsedS, achievedRate: elapsedS > 0 ? sent / elapsedS : 0 });
    };
    const schedule = (delayMs: number): void => {
      if (isScheduled || !isSending) return;
      isScheduled = true;
      const run = (): void => {
        isScheduled = false;
        pump();
      };
      if (delayMs > 0) setTimeout(run, delayMs);
      else setImmediate(run);
    };
    const onSent = (err: Error | null): void => {
      completed++;
      if (err !== null) {
        failed++;
        const code = 'code' in err && typeof err.code === 'string' ? err.code : err.message;
        errors[code] = (errors[code] ?? 0) + 1;
      }
      if (!isSending) finishIfDone();
      else if (attempted - completed <= MAX_IN_FLIGHT / 2) schedule(0);
    };
    const pump = (): void => {
      const t = elapsed();
      if (t >= seconds) {
        isSending = false;
        finishIfDone();
        return;
      }
      // Paced by the clock, not by a sleep per datagram: a late tick sends what it owes.
      const due = targetRate > 0 ? Math.ceil(targetRate * t) : Number.POSITIVE_INFINITY;
      while (attempted < due && attempted - completed < MAX_IN_FLIGHT) {
        attempted++;
        socket.send(PAYLOAD, port, HOST, onSent);
      }
      lastSendAt = process.hrtime.bigint();
      if (attempted - completed >= MAX_IN_FLIGHT) return; // onSent resumes
      schedule(targetRate > 0 && attempted >= due ? 1 : 0);
    };
    pump();
  });
  socket.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

await main();
