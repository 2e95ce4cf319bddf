// Entry point of a scanning thread: the ScanState answers each message from the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import type { ToWorker } from './protocol.ts';
import { garbageCollector } from './gc.ts';
import { ScanState } from './scan-state.ts';

const port = parentPort;
if (port !== null) {
  const state = new ScanState(String(workerData.root), (done) => port.postMessage({ type: 'progress', done }));
  const collect = garbageCollector();
  port.on('message', (msg: ToWorker) => {
    port.postMessage(state.handle(msg));
    collect?.();
  });
}
