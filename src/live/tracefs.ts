// Live drops from tracefs: a tracing instance of our own with only the skb events enabled, read
// through its trace_pipe. Nothing global is touched, and the instance is removed on every way out
// we can catch; a killed run leaves one behind, which a later run removes once it is provably dead.
// trace_pipe is read in this process, through a non-blocking descriptor that dies with it.
//
// Ownership and staleness. tracefs is shared by every PID namespace of the machine, so a PID in an
// instance's name proves nothing: a `watch` in a container has a PID that is dead (or someone else's)
// on the host. What does prove an instance alive is its open trace_pipe: while a reader holds it, the
// kernel refuses to remove the instance (rmdir fails with EBUSY, trace_array refcount). So a stale
// candidate is removed with rmdir alone, never by disabling its events first (which silenced a live
// watch in a container: it then reported 0 drops and exited 0), and an instance that is busy is left
// alone and reported. The owner opens trace_pipe right after mkdir; an instance younger than
// STALE_AFTER_MS is not touched either, which covers that moment. Names carry a random suffix, so
// two namespaces with the same PID do not collide.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, read, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaptureError, errnoCode } from '../errors.ts';
import { isPidAlive } from '../pid.ts';

/** Where tracefs lives: its own mount point since 4.1, under debugfs before. */
export const TRACEFS_MOUNTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'] as const;
export const INSTANCE_PREFIX = 'dropsite-';

/** A fresh instance name, `dropsite-<pid>-<random>`: unique even when PID namespaces repeat a PID. */
export function newInstanceName(): string {
  return `${INSTANCE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
}

export function hasTracefs(dir: string): boolean {
  return existsSync(join(dir, 'instances')) && existsSync(join(dir, 'events'));
}

function run(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], (err, _o, stderr) => (err === null ? resolve() : reject(new Error(String(stderr).trim() || err.message))));
  });
}

/** Find tracefs, mounting it on /sys/kernel/tracing when it is not mounted yet (root only). */
export async function findTracefs(): Promise<string> {
  for (const d of TRACEFS_MOUNTS) if (hasTracefs(d)) return d;
  if (process.getuid?.() !== 0) {
    throw new CaptureError('tracefs is not mounted and only root can mount it', { hint: 'run as root (sudo dropsite watch), or mount -t tracefs nodev /sys/kernel/tracing' });
  }
  try {
    await run('mount', ['-t', 'tracefs', 'nodev', TRACEFS_MOUNTS[0]]);
  } catch (err) {
    throw new CaptureError(`cannot mount tracefs on ${TRACEFS_MOUNTS[0]}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'the kernel needs CONFIG_TRACING' });
  }
  if (!hasTracefs(TRACEFS_MOUNTS[0])) throw new CaptureError(`tracefs mounted on ${TRACEFS_MOUNTS[0]} has no instances/ or events/`);
  return TRACEFS_MOUNTS[0];
}

const EVENTS = { kfree_skb: 'skb/kfree_skb', consume_skb: 'skb/consume_skb' } as const;

function disableAll(instance: string): void {
  for (const ev of Object.values(EVENTS)) {
    const f = join(instance, 'events', ev, 'enable');
    try {
      if (existsSync(f)) writeFileSync(f, '0');
    } catch {
      // the instance is going away anyway
    }
  }
}

/** How old an instance must be before another run may take it for stale (its owner opens trace_pipe at once). */
export const STALE_AFTER_MS = 3_000;

/** `dropsite-<pid>-<random>`, or `dropsite-<pid>` as older versions named them. */
const INSTANCE_NAME = /^dropsite-(\d+)(?:-[0-9a-f]+)?$/;

export interface StaleOptions {
  /** Instances younger than this are left alone (default STALE_AFTER_MS). */
  minAgeMs?: number;
  /** Told of each dropsite instance left in place, and why. */
  onKept?: (name: string, why: string) => void;
}

/**
 * Remove instances left by dropsite runs that are provably gone (killed with SIGKILL, say): the PID in
 * the name is not alive here, the instance is older than `minAgeMs`, and the kernel lets it be removed,
 * which it does only when no process has its trace_pipe open. Its events are never touched first.
 */
export function removeStaleInstances(tracefs: string, opts: StaleOptions = {}): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(join(tracefs, 'instances'));
  } catch {
    return removed;
  }
  const minAge = opts.minAgeMs ?? STALE_AFTER_MS;
  for (const n of names) {
    const m = INSTANCE_NAME.exec(n);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isPidAlive(pid)) continue;
    const dir = join(tracefs, 'instances', n);
    try {
      if (Date.now() - statSync(dir).mtimeMs < minAge) {
        opts.onKept?.(n, 'created moments ago');
        continue;
      }
      rmdirSync(dir);
      removed.push(n);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EBUSY') opts.onKept?.(n, 'in use: a process has its trace_pipe open (a dropsite watch in another PID namespace, or a reader of its own)');
      else if (code !== 'ENOENT') opts.onKept?.(n, err instanceof Error ? err.message : String(err));
    }
  }
  return removed;
}

export interface Capture {
  instance: string;
  lines: AsyncIterable<string>;
  /** Disable the events, stop reading and remove the instance at once. Safe to call more than once. */
  stop(): void;
  /**
   * The graceful end: disable the events, let the reader of `lines` take what the kernel still holds
   * (events of the last moments before a Ctrl-C), then stop. Bounded by DRAIN_MS; `lines` must be
   * being read, or it waits that long.
   */
  finish(): Promise<void>;
}

/** The longest finish() waits for the reader to empty trace_pipe. */
export const DRAIN_MS = 2_000;

/** Start capturing skb drop events (and consume events with `consume`) in an instance of our own. */
export function startCapture(tracefs: string, opts: { consume: boolean }): Capture {
  const wanted: Array<keyof typeof EVENTS> = opts.consume ? ['kfree_skb', 'consume_skb'] : ['kfree_skb'];
  for (const ev of wanted) {
    if (!existsSync(join(tracefs, 'events', EVENTS[ev]))) {
      throw new CaptureError(`this kernel has no ${EVENTS[ev]} trace event`, { hint: 'the skb tracepoints need CONFIG_TRACEPOINTS and a kernel from 2.6.30 on' });
    }
  }
  const instance = join(tracefs, 'instances', newInstanceName());
  try {
    mkdirSync(instance);
  } catch (err) {
    throw new CaptureError(`cannot create tracing instance ${instance}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'run as root' });
  }
  let fd: number | null = null;
  let stopped = false;
  let draining = false;
  let drained: () => void = () => undefined;
  const emptied = new Promise<void>((resolve) => {
    drained = resolve;
  });
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    disableAll(instance);
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      fd = null;
    }
    try {
      rmdirSync(instance);
    } catch {
      // left for the next run's removeStaleInstances
    }
  };
  try {
    for (const ev of wanted) writeFileSync(join(instance, 'events', EVENTS[ev], 'enable'), '1');
    // Non-blocking: a blocking read would hold a thread-pool thread (and the instance) until data came.
    // The descriptor dies with the process, so even SIGKILL leaves nothing that keeps the instance busy.
    fd = openSync(join(instance, 'trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    stop();
    throw new CaptureError(`cannot enable skb events in ${instance}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const finish = async (): Promise<void> => {
    if (stopped) return;
    disableAll(instance);
    draining = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([emptied, new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DRAIN_MS);
    })]);
    clearTimeout(timer);
    stop();
  };
  const lines = readLines(() => fd, () => draining, () => drained());
  return { instance, lines, stop, finish };
}

/**
 * Lines from a non-blocking trace_pipe descriptor, polling when it is empty, until it is closed, or,
 * once `draining()` holds, until it is empty (then `onEnd`; also called on every other way out).
 */
async function* readLines(fdOf: () => number | null, draining: () => boolean, onEnd: () => void): AsyncGenerator<string> {
  const buf = Buffer.alloc(1 << 16);
  let rest = '';
  try {
    for (;;) {
      const fd = fdOf();
      if (fd === null) break;
      let n: number;
      try {
        n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, bytes) => (err ? reject(err) : resolve(bytes))));
      } catch (err) {
        if (errnoCode(err) !== 'EAGAIN') break; // EBADF once stop() closed it
        n = 0;
      }
      if (n === 0) {
        // The events are off while draining, so an empty pipe stays empty: everything was read.
        if (draining()) break;
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
      const text = rest + buf.toString('latin1', 0, n);
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) yield l;
    }
    if (rest !== '') yield rest;
  } finally {
    onEnd();
  }
}

/** How long to wait when trace_pipe is empty: 20 wake-ups a second cost nothing, and a line waits at most this. */
const POLL_MS = 50;

/** Overrun counts of the instance's per-CPU buffers (`per_cpu/cpuN/stats`): events the kernel lost. */
export function overruns(instance: string): number {
  let total = 0;
  try {
    for (const cpu of readdirSync(join(instance, 'per_cpu'))) {
      // A control file of our own instance, not an input: tracefs reports its size as 0, so it cannot
      // go through io/regular-file's size check.
      const stats = readFileSync(join(instance, 'per_cpu', cpu, 'stats'), 'utf8');
      total += Number(/^overrun: (\d+)/m.exec(stats)?.[1] ?? 0);
    }
  } catch {
    return total;
  }
  return total;
}
