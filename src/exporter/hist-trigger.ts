// The hist source: a hist trigger of our own in our own tracing instance, so the kernel counts drops per (location,
// reason) and we read its table once per interval: the cost follows the number of distinct locations, never the drop
// rate. Needs CONFIG_HIST_TRIGGERS, probed by the `hist` file of events/skb/kfree_skb (this machine's 6.18 kernel has
// none, so this path runs here only against a stand-in HistInstance, in the tests). Triggers are per instance, so the
// global tracing state is not touched; removing the instance removes the trigger with it.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nameReasonValue } from '../locate/recording-hist.ts';
import { readRecording } from '../locate/recording.ts';
import { dropCountOf } from './drop-count.ts';
import type { DropMetrics } from './metrics.ts';
import type { SourceStatus } from './trace-pipe.ts';

const KFREE_SKB = join('events', 'skb', 'kfree_skb');
/**
 * Our trigger. `size` is the table's entry count (a power of two; 2048 is the kernel's default): past it, new keys
 * are not counted and show in the file's `Dropped:` total, which feeds dropsite_events_lost_total.
 */
export const HIST_TRIGGER = 'hist:keys=location.sym-offset,reason:vals=hitcount:size=8192';

/** Whether this kernel can aggregate in kernel: CONFIG_HIST_TRIGGERS gives every event a `hist` file. */
export function hasHistTriggers(tracefs: string): boolean {
  return existsSync(join(tracefs, KFREE_SKB, 'hist'));
}

/** The few file operations the hist source needs: tracefs in production, a stand-in in tests. */
export interface HistInstance {
  readonly path: string;
  exists(): boolean;
  create(): void;
  /** The trigger is installed (the event's `trigger` file lists it). */
  hasTrigger(): boolean;
  setTrigger(): void;
  readHist(): string;
  /** Remove the trigger and the instance; never throws. */
  remove(): void;
}

export function tracefsHistInstance(tracefs: string, name: string): HistInstance {
  const path = join(tracefs, 'instances', name);
  const event = join(path, KFREE_SKB);
  return {
    path,
    exists: () => existsSync(path),
    create: () => mkdirSync(path),
    hasTrigger: () => {
      try {
        return readFileSync(join(event, 'trigger'), 'utf8').split('\n').some((l) => l.startsWith('hist:keys=location.sym-offset,reason'));
      } catch {
        return false;
      }
    },
    setTrigger: () => writeFileSync(join(event, 'trigger'), HIST_TRIGGER),
    readHist: () => readFileSync(join(event, 'hist'), 'utf8'),
    remove: () => {
      try {
        // `!` + the trigger's own text removes it (Documentation/trace/histogram.rst).
        writeFileSync(join(event, 'trigger'), `!${HIST_TRIGGER}`);
      } catch {
        // the instance may be gone already
      }
      try {
        rmdirSync(path);
      } catch {
        // left for the next run's removeStaleInstances
      }
    },
  };
}

const DROPPED_RE = /^\s+Dropped:\s*([0-9]+)\s*$/m;
const TABLE_FULL = 'the hist table was full';

export class HistSource {
  readonly name = 'hist';
  readonly #instance: HistInstance;
  readonly #metrics: DropMetrics;
  readonly #reasonNames: ReadonlyMap<number, string> | null;
  readonly #log: (text: string) => void;
  /** Entry key → the hitcount read last time: the kernel's counts are totals since the trigger was set. */
  #last = new Map<string, number>();
  #lostBefore = 0;
  #lostNow = 0;
  #problem: string | null = null;
  #running = false;

  constructor(instance: HistInstance, opts: { metrics: DropMetrics; reasonNames: ReadonlyMap<number, string> | null; log: (text: string) => void }) {
    this.#instance = instance;
    this.#metrics = opts.metrics;
    this.#reasonNames = opts.reasonNames;
    this.#log = opts.log;
  }

  get instance(): string {
    return this.#instance.path;
  }

  start(): void {
    this.#instance.create();
    try {
      this.#instance.setTrigger();
    } catch (err) {
      this.#instance.remove();
      throw err;
    }
    this.#running = true;
  }

  /** Once per interval: read the table, count what grew, and set the trigger up again if it was lost. */
  async check(): Promise<void> {
    if (!this.#running) return;
    const cause = !this.#instance.exists() ? 'instance-gone' : !this.#instance.hasTrigger() ? 'trigger-gone' : null;
    if (cause !== null) {
      this.#metrics.addRestart(cause);
      this.#lostBefore += this.#lostNow;
      this.#lostNow = 0;
      this.#last = new Map();
      try {
        if (!this.#instance.exists()) this.#instance.create();
        this.#instance.setTrigger();
        this.#problem = null;
        this.#log(`hist trigger in ${this.#instance.path} was lost (${cause}): set up again`);
      } catch (err) {
        this.#problem = `hist trigger in ${this.#instance.path} was lost (${cause}), and setting it up again failed: ${err instanceof Error ? err.message : String(err)}`;
        this.#log(`${this.#problem} (retrying every interval)`);
        return;
      }
    }
    let text: string;
    try {
      text = this.#instance.readHist();
    } catch (err) {
      this.#metrics.addRestart('read-error');
      this.#problem = `cannot read ${this.#instance.path} hist: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    this.#problem = null;
    await this.#count(text);
  }

  async #count(text: string): Promise<void> {
    const seen = new Map<string, number>();
    for await (const item of readRecording(text.split('\n'), { format: 'tracefs-hist' })) {
      if (item.kind === 'skipped') {
        if (!item.why.startsWith(TABLE_FULL)) this.#metrics.addSkipped(1);
        continue;
      }
      const reason = nameReasonValue(item.reason, this.#reasonNames);
      const drop = dropCountOf(item, reason);
      const key = `${drop.location}\u0000${reason ?? ''}`;
      const before = this.#last.get(key) ?? 0;
      seen.set(key, item.count);
      // A smaller count than last time: the table was cleared under us (someone rewrote the trigger); count it anew.
      drop.count = item.count >= before ? item.count - before : item.count;
      this.#metrics.add(drop);
    }
    this.#last = seen;
    this.#lostNow = Number(DROPPED_RE.exec(text)?.[1] ?? 0);
    this.#metrics.setLost(this.#lostBefore + this.#lostNow);
  }

  status(): SourceStatus {
    return { ok: this.#problem === null && this.#running, problem: this.#problem };
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    // A last read, so that the drops of the final interval are counted (never setting anything up again).
    if (this.#instance.exists() && this.#instance.hasTrigger()) {
      try {
        await this.#count(this.#instance.readHist());
      } catch {
        // the counts of the last interval are lost; the clean-up below still runs
      }
    }
    this.#instance.remove();
  }
}
