// Run by recording.test.ts in a child process: stream LINE_COUNT generated tracefs lines through readRecording and
// print one JSON line with the counts, the throughput and the peak heap. A child process, because node:test installs
// promise hooks that make every await of the async generator about 20 times slower than in the CLI.
import { readRecording } from '../../src/locate/recording.ts';

const LINE_COUNT = Number(process.argv[2] ?? 1_000_000);
// Every 1000th line has a hashed pre-6.2 location and is skipped.
const HASHED_EVERY = 1000;

function* tracefsLines(): Generator<string> {
  for (let i = 0; i < LINE_COUNT; i++) {
    const time = (1000 + i / 1000).toFixed(6);
    const location = i % HASHED_EVERY === HASHED_EVERY - 1
      ? '0000000074cd1243'
      : `tcp_v4_rcv+0x${(i % 4096).toString(16)}/0x1010`;
    yield `          <idle>-0       [002] ..s2.  ${time}: kfree_skb: skbaddr=00000000b74a1e9c protocol=2048 location=${location} reason: NO_SOCKET`;
  }
}

const heapBefore = process.memoryUsage().heapUsed;
let peakHeap = heapBefore;
let drops = 0;
let skipped = 0;
const started = process.hrtime.bigint();
for await (const item of readRecording(tracefsLines(), { format: 'auto' })) {
  if (item.kind === 'drop') drops += 1;
  else skipped += 1;
  if ((drops + skipped) % 50_000 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${JSON.stringify({
  lines: LINE_COUNT,
  drops,
  skipped,
  seconds,
  linesPerSecond: Math.round(LINE_COUNT / seconds),
  heapBefore,
  peakHeap,
})}\n`);
