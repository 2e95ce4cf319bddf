// The kernel config a rebuild uses: a `.config`, a `config-<release>` file or a gzipped
// `/proc/config.gz`; the default one of the running kernel; the one remembered for a tree.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../errors.ts';
import { LIMITS, readRegularFile } from '../io/regular-file.ts';

export interface KernelConfig {
  /** Where it was read from. */
  path: string;
  text: string;
  /** sha256 of the text, hex. */
  hash: string;
  /** `CONFIG_CC_VERSION_TEXT`: the compiler the kernel was built with (`gcc (Debian 12.2.0-14+deb12u1) 12.2.0`). */
  ccVersionText: string | null;
  /** From the header `# Linux/x86 6.1.192 Kernel Configuration`. */
  kernelVersion: string | null;
}

/** Parses config text (already decompressed); refuses text with no CONFIG_ line. */
export function parseConfig(text: string, path: string): KernelConfig {
  if (!/^CONFIG_[A-Z0-9_]+=/m.test(text)) {
    throw new InputError(`${path} is not a kernel config (no CONFIG_…= line)`, { hint: 'give a .config, a /boot/config-<release> file or /proc/config.gz' });
  }
  const cc = /^CONFIG_CC_VERSION_TEXT="((?:[^"\\]|\\.)*)"$/m.exec(text)?.[1] ?? null;
  const version = /^# Linux\/\S+ (\S+) Kernel Configuration$/m.exec(text)?.[1] ?? null;
  return { path, text, hash: createHash('sha256').update(text).digest('hex'), ccVersionText: cc, kernelVersion: version };
}

/** Reads a config file; gzip (`/proc/config.gz`) is recognised by its magic bytes. */
export function readConfig(path: string): KernelConfig {
  let raw: Buffer;
  try {
    raw = readRegularFile(path, LIMITS.small, '--config');
  } catch (err) {
    throw new InputError(`cannot read config ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw, { maxOutputLength: LIMITS.small });
    } catch (err) {
      throw new InputError(`cannot read config ${path}: not valid gzip (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return parseConfig(raw.toString('latin1'), path);
}

/** `6.1.0-56-amd64` → `6.1`; `6.1.192` → `6.1`. */
const majorMinor = (v: string): string => /^(\d+\.\d+)/.exec(v)?.[1] ?? v;

/** A file naming the config remembered for a tree (by `dropsite index TREE --config FILE`). */
function rememberedPath(cacheDir: string, treeRoot: string): string {
  return join(cacheDir, 'configs', `${createHash('sha256').update(treeRoot).digest('hex').slice(0, 16)}.config`);
}

/** Keeps a copy of the config for the tree, so that later commands rebuild without --config. */
export function rememberConfig(cacheDir: string, treeRoot: string, config: KernelConfig): string {
  const path = rememberedPath(cacheDir, treeRoot);
  mkdirSync(join(cacheDir, 'configs'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, config.text);
  renameSync(tmp, path);
  return path;
}

export function rememberedConfig(cacheDir: string, treeRoot: string): KernelConfig | null {
  const path = rememberedPath(cacheDir, treeRoot);
  return existsSync(path) ? readConfig(path) : null;
}

export interface ConfigChoice {
  /** --config FILE, when given. */
  given?: string | undefined;
  treeRoot: string;
  treeVersion: string | null;
  cacheDir: string;
  /** The running kernel's release (uname -r); a parameter for tests. */
  running?: string;
  /** Where /boot and /proc live; a parameter for tests. */
  rootDir?: string;
}

/**
 * The config to rebuild with: --config, else the one remembered for the tree, else the running
 * kernel's (/boot/config-$(uname -r), then /proc/config.gz) when the tree is of the running version.
 */
export function chooseConfig(c: ConfigChoice): KernelConfig {
  if (c.given !== undefined) return readConfig(c.given);
  const kept = rememberedConfig(c.cacheDir, c.treeRoot);
  if (kept !== null) return kept;
  const running = c.running ?? release();
  const root = c.rootDir ?? '/';
  const tried = [join(root, 'boot', `config-${running}`), join(root, 'proc', 'config.gz')];
  const hint = 'give --config FILE: the config of the kernel that recorded the drops (Debian and Ubuntu keep it as /boot/config-<release> and in the linux-image-<release> package; RHEL in /boot too; a running kernel with CONFIG_IKCONFIG_PROC has /proc/config.gz), or remember one with `dropsite index TREE --config FILE`';
  if (c.treeVersion === null || majorMinor(c.treeVersion) !== majorMinor(running)) {
    throw new InputError(`no config for ${c.treeRoot} (Linux ${c.treeVersion ?? '?'}): the running kernel is ${running}, so its config does not fit this tree`, { hint });
  }
  for (const p of tried) if (existsSync(p)) return readConfig(p);
  throw new InputError(`no config found for the running kernel ${running} (looked for ${tried.join(' and ')})`, { hint });
}
