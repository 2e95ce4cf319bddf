// The trace_pipe source: live/tracefs.ts's instance, read event by event, watched each interval. An instance that
// is gone, an event someone switched off (another tool's cleanup), tracing turned off or a read that failed is set
// up again and counted; nothing here throws once the first start has worked.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRecording } from '../locate/recording.ts';
import { overruns, startCapture, type Capture } from '../live/tracefs.ts';
import { dropCountOf } from './drop-count.ts';
import type { DropMetrics } from './metrics.ts';

const EVENT_DIRS = { kfree_skb: 'events/skb/kfree_skb', consume_skb: 'events/skb/consume_skb' } as const;

export interface SourceStatus {
  ok: boolean;
  /** What is wrong right now (null when ok). */
  problem: string | null;
}

export class TracePipeSource {
  readonly name = 'trace_pipe';
  readonly #tracefs: string;
  readonly #consume: boolean;
  readonly #metrics: DropMetrics;
  readonly #log: (text: string) => void;
  #capture: Capture | null = null;
  #reading: Promise<void> | null = null;
  #readFailed: string | null = null;
  /** Overruns of instances already replaced: the lost counter keeps growing across restarts. */
  #lostBefore = 0;
  #problem: string | null = null;
  #stopped = false;

  constructor(tracefs: string, opts: { consume: boolean; metrics: DropMetrics; log: (text: string) => void }) {
    this.#tracefs = tracefs;
    this.#consume = opts.consume;
    this.#metrics = opts.metrics;
    this.#log = opts.log;
  }

  get instance(): string | null {
    return this.#capture?.instance ?? null;
  }

  /** The first start: a failure here is the user's to see (no tracefs, no skb events, not root). */
  start(): void {
    this.#open();
  }

  #open(): void {
    const capture = startCapture(this.#tracefs, { consume: this.#consume });
    this.#capture = capture;
    this.#readFailed = null;
    this.#reading = this.#read(capture);
  }

  async #read(capture: Capture): Promise<void> {
    try {
      for await (const item of readRecording(capture.lines, { format: 'tracefs' })) {
        if (item.kind === 'drop') this.#metrics.add(dropCountOf(item));
        else this.#metrics.addSkipped(1);
      }
      if (!this.#stopped && this.#capture === capture) this.#readFailed = 'trace_pipe closed';
    } catch (err) {
      if (!this.#stopped && this.#capture === capture) this.#readFailed = `read error: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Why the capture no longer counts drops, or null. */
  #whatIsWrong(): { cause: string; text: string } | null {
    const capture = this.#capture;
    if (capture === null) return { cause: 'not-running', text: 'no capture' };
    if (!existsSync(capture.instance)) return { cause: 'instance-gone', text: `tracing instance ${capture.instance} disappeared` };
    if (this.#readFailed !== null) return { cause: 'read-error', text: this.#readFailed };
    const events = this.#consume ? (['kfree_skb', 'consume_skb'] as const) : (['kfree_skb'] as const);
    for (const ev of events) {
      if (readFlag(join(capture.instance, EVENT_DIRS[ev], 'enable')) !== '1') return { cause: 'event-disabled', text: `${ev} was switched off in ${capture.instance}` };
    }
    if (readFlag(join(capture.instance, 'tracing_on')) === '0') return { cause: 'tracing-off', text: `tracing_on was turned off in ${capture.instance}` };
    return null;
  }

  /** Once per interval: lost events, and set the capture up again when something broke it. */
  check(): void {
    if (this.#stopped) return;
    const capture = this.#capture;
    if (capture !== null && existsSync(capture.instance)) this.#metrics.setLost(this.#lostBefore + overruns(capture.instance));
    const wrong = this.#whatIsWrong();
    if (wrong === null) {
      this.#problem = null;
      return;
    }
    this.#metrics.addRestart(wrong.cause);
    if (capture !== null) {
      this.#lostBefore += existsSync(capture.instance) ? overruns(capture.instance) : 0;
      capture.stop();
      this.#capture = null;
    }
    try {
      this.#open();
      this.#problem = null;
      this.#log(`${wrong.text}: capture set up again in ${this.#capture?.instance ?? '?'}`);
    } catch (err) {
      this.#problem = `${wrong.text}, and setting it up again failed: ${err instanceof Error ? err.message : String(err)}`;
      this.#log(`${this.#problem} (retrying every interval)`);
    }
  }

  status(): SourceStatus {
    return { ok: this.#problem === null && this.#capture !== null, problem: this.#problem };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const capture = this.#capture;
    if (capture !== null && existsSync(capture.instance)) this.#metrics.setLost(this.#lostBefore + overruns(capture.instance));
    capture?.stop();
    await this.#reading?.catch(() => undefined);
  }
}

function readFlag(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}
