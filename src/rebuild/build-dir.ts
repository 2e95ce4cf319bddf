// The build directory of one (tree, config, compiler), outside the tree (kbuild's O=), under
// ${XDG_CACHE_HOME:-~/.cache}/dropsite/build/. A lock file keeps two dropsite processes from
// building in it at once; `olddefconfig` and `prepare` run once, recorded by a marker written last.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { InputError } from '../errors.ts';
import type { KernelConfig } from './config.ts';
import { makeArgs, runMake, type BuildContext } from './make.ts';
import type { Toolchain } from './toolchain.ts';

/** `${XDG_CACHE_HOME:-~/.cache}/dropsite` */
export function cacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'dropsite');
}

export function buildDirFor(cache: string, tree: string, config: KernelConfig, tc: Toolchain): string {
  const key = createHash('sha256').update([resolve(tree), config.hash, tc.cc, tc.ccVersion].join('\0')).digest('hex').slice(0, 16);
  return join(cache, 'build', key);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Runs `fn` holding the directory's lock (an O_EXCL file naming our pid). A lock whose process is
 * gone is taken over; a live one is waited for, up to `waitMs`.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>, opts: { waitMs?: number; onWait?: (pid: number) => void } = {}): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, 'dropsite.lock');
  const deadline = Date.now() + (opts.waitMs ?? 30 * 60_000);
  let told = false;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lock, 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
        try { unlinkSync(lock); } catch { /* another process took it over first */ }
        continue;
      }
      if (Date.now() > deadline) throw new InputError(`build directory ${dir} is locked by dropsite process ${pid}`, { hint: 'wait for it to finish' });
      if (!told) opts.onWait?.(pid);
      told = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    try { unlinkSync(lock); } catch { /* already gone */ }
  }
}

/** What kbuild needs of a source tree for an O= build: no configuration or generated files in it. */
export function checkTreeClean(tree: string): void {
  const dirt = ['.config', 'include/config', 'include/generated', 'arch/x86/include/generated'].filter((p) => existsSync(join(tree, p)));
  if (dirt.length > 0) {
    throw new InputError(`${tree} is not clean for an out-of-tree build (it holds ${dirt.join(', ')}), so kbuild refuses O=`, {
      hint: 'use a fresh copy of the tree, or run `make mrproper` in it (that deletes its configuration)',
    });
  }
}

/** Config symbols that the toolchain decides (olddefconfig rewrites them), not the kernel's choices. */
const TOOLCHAIN_SYMBOL = /^CONFIG_(CC_|GCC_|CLANG_|LD_|AS_|PAHOLE_|RUSTC_|BUILD_SALT|SYSTEM_TRUSTED_KEYS|MODULE_SIG_|DEBUG_INFO_BTF_MODULES|MODULE_ALLOW_BTF_MISMATCH|TOOLS_SUPPORT_|OBJTOOL|HAVE_|ARCH_|LLD_|CC_HAS|RUST)/;

function settings(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of text.split('\n')) {
    const s = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(l) ?? /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(l);
    if (s?.[1] !== undefined) m.set(s[1], s[2] ?? 'n');
  }
  return m;
}

/** Symbols whose value olddefconfig changed, toolchain-decided ones left out. */
export function materialChanges(before: string, after: string): string[] {
  const a = settings(before);
  const b = settings(after);
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (TOOLCHAIN_SYMBOL.test(k)) continue;
    const x = a.get(k) ?? 'n';
    const y = b.get(k) ?? 'n';
    if (x !== y && !(x === 'n' && y === '') && !(x === '' && y === 'n')) out.push(`${k}: ${x} → ${y}`);
  }
  return out.sort();
}

export interface Prepared extends BuildContext {
  /** Seconds prepare took in this run; 0 when it was already done. */
  prepareSeconds: number;
  warnings: string[];
}

interface Marker { tree: string; configHash: string; cc: string; ccVersion: string; changes: string[] }

/** More changed symbols than this means a config of another kernel: refused. */
const MAX_CHANGES = 40;

/** olddefconfig + prepare in the build directory, once. Call under its lock. */
export async function prepareBuildDir(tree: string, dir: string, config: KernelConfig, tc: Toolchain, jobs: number, onPhase?: (what: string) => void): Promise<Prepared> {
  const root = resolve(tree);
  const rel = relative(root, resolve(dir));
  if (rel === '' || !rel.startsWith('..')) throw new InputError(`the build directory ${dir} is inside the tree ${root}: dropsite never writes into a tree`, { hint: 'set XDG_CACHE_HOME to a folder outside the tree' });
  const ctx: BuildContext = { tree: root, dir, cc: tc.cc, jobs };
  const markerPath = join(dir, 'dropsite-prepared.json');
  const warnings: string[] = [];
  if (existsSync(markerPath)) {
    try {
      const m = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
      if (m.configHash === config.hash && m.cc === tc.cc) {
        if (m.changes.length > 0) warnings.push(`olddefconfig changed ${m.changes.length} setting(s) of ${config.path} for this tree (${m.changes.slice(0, 5).join('; ')}${m.changes.length > 5 ? '; …' : ''})`);
        return { ...ctx, prepareSeconds: 0, warnings };
      }
    } catch { /* a marker we cannot read: prepare again */ }
  }
  checkTreeClean(root);
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '.config'), config.text);
  onPhase?.('olddefconfig');
  const old = await runMake([...makeArgs(ctx), 'olddefconfig']);
  if (old.code !== 0) throw makeFailure('olddefconfig', old.lines, root);
  const changes = materialChanges(config.text, readFileSync(join(dir, '.config'), 'latin1'));
  if (changes.length > MAX_CHANGES) {
    throw new InputError(`${config.path} does not fit ${root}: olddefconfig would change ${changes.length} settings (${changes.slice(0, 3).join('; ')}; …)`, {
      hint: `it is the config of another kernel version${config.kernelVersion !== null ? ` (${config.kernelVersion})` : ''}: give the config of the kernel this tree is`,
    });
  }
  if (changes.length > 0) warnings.push(`olddefconfig changed ${changes.length} setting(s) of ${config.path} for this tree (${changes.slice(0, 5).join('; ')}${changes.length > 5 ? '; …' : ''})`);
  onPhase?.('prepare');
  const prep = await runMake([...makeArgs(ctx), `-j${jobs}`, 'prepare']);
  if (prep.code !== 0) throw makeFailure('prepare', prep.lines, root);
  const marker: Marker = { tree: root, configHash: config.hash, cc: tc.cc, ccVersion: tc.ccVersion, changes };
  const tmp = `${markerPath}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(marker));
  renameSync(tmp, markerPath);
  return { ...ctx, prepareSeconds: (performance.now() - t0) / 1000, warnings };
}

function makeFailure(step: string, lines: readonly string[], tree: string): InputError {
  if (lines.some((l) => /source tree is not clean/.test(l))) {
    return new InputError(`kbuild calls ${tree} unclean: it refuses an out-of-tree (O=) build`, { hint: 'use a fresh copy of the tree, or run `make mrproper` in it' });
  }
  const err = lines.find((l) => /error|\*\*\*/i.test(l)) ?? lines[lines.length - 1] ?? '';
  return new InputError(`make ${step} failed: ${err.trim()}`);
}
