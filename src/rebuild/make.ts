// Running kbuild: one `make -k -jN O=DIR` for exactly the objects a batch needs, with a manifest of
// the objects that a finished make produced (hash and source stamp). An object the manifest does
// not vouch for is deleted before make runs, so a build killed halfway never leaves an object
// that a later run trusts; an object it vouches for is used without starting make at all.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.ts';

export interface MakeRun {
  code: number;
  /** stdout and stderr lines, in arrival order (capped). */
  lines: string[];
}

const MAX_LINES = 20_000;

/** make with an argument array; `onLine` sees each output line as it arrives. */
export function runMake(args: readonly string[], onLine?: (line: string) => void): Promise<MakeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('make', [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const lines: string[] = [];
    const take = (stream: NodeJS.ReadableStream): void => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        rest += d;
        const parts = rest.split('\n');
        rest = parts.pop() ?? '';
        for (const l of parts) {
          if (lines.length < MAX_LINES) lines.push(l);
          onLine?.(l);
        }
      });
      stream.on('end', () => {
        if (rest !== '') {
          lines.push(rest);
          onLine?.(rest);
        }
      });
    };
    take(child.stdout);
    take(child.stderr);
    child.on('error', (err) => reject('code' in err && err.code === 'ENOENT'
      ? new InputError('cannot run make: it is not installed', { hint: 'apt-get install make' }) : err));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal !== null ? 128 : 1), lines }));
  });
}

export interface BuildContext {
  tree: string;
  dir: string;
  cc: string;
  jobs: number;
}

/** The arguments every make run of a build directory shares. */
export const makeArgs = (ctx: BuildContext): string[] => ['-C', ctx.tree, `O=${ctx.dir}`, `CC=${ctx.cc}`];

interface ManifestEntry {
  sha256: string;
  srcSize: number;
  srcMtimeMs: number;
}

type Manifest = Record<string, ManifestEntry>;

const manifestPath = (dir: string): string => join(dir, 'dropsite-objects.json');

function readManifest(dir: string): Manifest {
  try {
    const m = JSON.parse(readFileSync(manifestPath(dir), 'utf8')) as unknown;
    return typeof m === 'object' && m !== null ? m as Manifest : {};
  } catch {
    return {};
  }
}

function writeManifest(dir: string, m: Manifest): void {
  const tmp = `${manifestPath(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(m));
  renameSync(tmp, manifestPath(dir));
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** `net/ipv4/udp.o` → `net/ipv4/udp.c`. */
export const sourceOf = (obj: string): string => obj.replace(/\.o$/, '.c');

function entryFor(ctx: BuildContext, obj: string): ManifestEntry | null {
  const out = join(ctx.dir, obj);
  const src = join(ctx.tree, sourceOf(obj));
  if (!existsSync(out) || !existsSync(src)) return null;
  const st = statSync(src);
  return { sha256: sha256(out), srcSize: st.size, srcMtimeMs: Math.round(st.mtimeMs) };
}

const trusted = (ctx: BuildContext, m: Manifest, obj: string): boolean => {
  const e = Object.hasOwn(m, obj) ? m[obj] : undefined;
  if (e === undefined) return false;
  const now = entryFor(ctx, obj);
  return now !== null && now.sha256 === e.sha256 && now.srcSize === e.srcSize && now.srcMtimeMs === e.srcMtimeMs;
};

export type ObjectResult = { ok: true; path: string; cached: boolean } | { ok: false; error: string };

export interface BuildProgress {
  done: number;
  total: number;
  file: string;
}

export interface ObjectsBuilt {
  results: Map<string, ObjectResult>;
  /** Objects compiled by this run (0: make was not started). */
  compiled: number;
  cached: number;
  ms: number;
}

/** The compiler's first error line for a failed object, from make's interleaved output. */
export function firstErrorFor(lines: readonly string[], obj: string): string {
  const src = sourceOf(obj);
  let ctx: string | null = null;
  let first: string | null = null;
  for (const l of lines) {
    const inc = /(?:In file included from |^)(\S+\.c)(?::\d+)*[:,]/.exec(l);
    if (inc?.[1] !== undefined) ctx = inc[1];
    if (/\berror\b/i.test(l) && !/^make(\[\d+\])?: \*\*\*/.test(l)) {
      const own = /(\S+\.c):\d+/.exec(l)?.[1] ?? ctx;
      if (own !== null && (own === src || own.endsWith(`/${src}`))) return l.trim();
      first ??= l.trim();
    }
  }
  const rule = lines.find((l) => l.includes(`'${obj}'`) && /No rule to make target/.test(l));
  if (rule !== undefined) return `${obj} is not a target kbuild knows (${rule.replace(/^make(\[\d+\])?: \*\*\* /, '').trim()})`;
  return first ?? lines.find((l) => /^make(\[\d+\])?: \*\*\*/.test(l))?.trim() ?? 'make failed without a message';
}

/**
 * Builds the objects (tree-relative `dir/file.o`) that the manifest does not vouch for, in one
 * `make -k`. Call under the build directory's lock.
 */
export async function buildObjects(ctx: BuildContext, objects: readonly string[], onProgress?: (p: BuildProgress) => void): Promise<ObjectsBuilt> {
  const t0 = performance.now();
  const manifest = readManifest(ctx.dir);
  const results = new Map<string, ObjectResult>();
  const todo: string[] = [];
  for (const obj of new Set(objects)) {
    if (trusted(ctx, manifest, obj)) results.set(obj, { ok: true, path: join(ctx.dir, obj), cached: true });
    else todo.push(obj);
  }
  const cached = results.size;
  if (todo.length === 0) return { results, compiled: 0, cached, ms: performance.now() - t0 };
  for (const obj of todo) {
    delete manifest[obj];
    const out = join(ctx.dir, obj);
    if (existsSync(out)) unlinkSync(out);
  }
  // Drop the entries first: a make killed from here on leaves no entry for what it touched.
  writeManifest(ctx.dir, manifest);
  let done = 0;
  const wanted = new Set(todo);
  const run = await runMake([...makeArgs(ctx), '-k', `-j${ctx.jobs}`, ...todo], (l) => {
    const m = /^\s+CC(?: \[M\])?\s+(\S+\.o)$/.exec(l);
    if (m?.[1] !== undefined && wanted.has(m[1])) onProgress?.({ done: ++done, total: todo.length, file: m[1] });
  });
  let compiled = 0;
  for (const obj of todo) {
    const entry = run.code === 0 || existsSync(join(ctx.dir, obj)) ? entryFor(ctx, obj) : null;
    if (entry !== null) {
      manifest[obj] = entry;
      compiled++;
      results.set(obj, { ok: true, path: join(ctx.dir, obj), cached: false });
    } else {
      results.set(obj, { ok: false, error: firstErrorFor(run.lines, obj) });
    }
  }
  writeManifest(ctx.dir, manifest);
  return { results, compiled, cached, ms: performance.now() - t0 };
}
