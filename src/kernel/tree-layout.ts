// What kind of tree a directory is, read from the tree itself. Every file is opened through
// io/regular-file (a FIFO or a device at a fixed path must not hang or flood the probe).
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { FileKindError, LIMITS, readRegularText } from '../io/regular-file.ts';
import { DROP_REASON_FILES } from './drop-reasons.ts';

/** `VERSION.PATCHLEVEL.SUBLEVEL[EXTRAVERSION]` from the top Makefile's text, or null. */
export function kernelVersion(makefile: string): string | null {
  const field = (name: string): string | null => new RegExp(`^${name}\\s*=[ \\t]*(\\S*)`, 'm').exec(makefile)?.[1] ?? null;
  const version = field('VERSION');
  const patch = field('PATCHLEVEL');
  if (version === null || patch === null || !/^\d+$/.test(version) || !/^\d+$/.test(patch)) return null;
  const sub = field('SUBLEVEL');
  const extra = field('EXTRAVERSION') ?? '';
  return `${version}.${patch}${sub !== null && sub !== '' ? `.${sub}` : ''}${extra}`;
}

export interface TreeProbe {
  version: string | null;
  /** A top Makefile with a kernel version, and the folders every kernel tree has. */
  isKernelTree: boolean;
  /** The file holding `enum skb_drop_reason`, if any. */
  reasonsFile: string | null;
  /** Files at the fixed paths that exist but are not regular files or are too large (a FIFO, a device). */
  refused: string[];
}

export function probeTree(root: string): TreeProbe {
  const refused: string[] = [];
  /** The file's text, or null when it is absent; a special file is refused and noted. */
  const read = (rel: string, max: number): string | null => {
    try {
      return readRegularText(join(root, rel), max, rel);
    } catch (err) {
      if (err instanceof FileKindError) refused.push(err.message);
      return null;
    }
  };
  const makefile = read('Makefile', LIMITS.small);
  const version = makefile === null ? null : kernelVersion(makefile);
  const isKernelTree = version !== null && existsSync(join(root, 'include')) && (existsSync(join(root, 'net')) || existsSync(join(root, 'kernel')));
  let reasonsFile: string | null = null;
  for (const f of DROP_REASON_FILES) {
    const text = read(f, LIMITS.source);
    if (text !== null && /\benum\s+skb_drop_reason\s*\{/.test(text)) {
      reasonsFile = f;
      break;
    }
  }
  return { version, isKernelTree, reasonsFile, refused };
}

/** A loose ref's name as git allows it (git check-ref-format, the parts that matter here): no `..`, no absolute path. */
const REF = /^refs\/(?:[A-Za-z0-9_+-][A-Za-z0-9._+-]*\/)*[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/;
const HASH = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * The git HEAD commit of a tree checked out with git, or null. The index is readable by others, so
 * nothing outside the tree's own `.git` directory may end up in it: `.git` must be a real directory
 * (not a symlink, not a worktree's `gitdir:` file), each file is opened only when its real path stays
 * inside it, only its first line is read, and that line must be a ref name or a SHA-1/SHA-256 hash.
 */
export function gitHead(root: string): string | null {
  try {
    const git = join(root, '.git');
    if (!lstatSync(git).isDirectory()) return null;
    const gitReal = realpathSync(git);
    const firstLine = (rel: string, max: number): string | null => {
      const path = join(git, rel);
      if (!existsSync(path)) return null;
      const real = realpathSync(path);
      if (!real.startsWith(gitReal + sep)) return null;
      return readRegularText(real, max, rel, 'utf8').split('\n', 1)[0]?.trim() ?? null;
    };
    const head = firstLine('HEAD', LIMITS.small);
    if (head === null) return null;
    if (HASH.test(head)) return head;
    const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
    if (ref === undefined || !REF.test(ref) || ref.split('/').some((p) => p.startsWith('.') || p.endsWith('.lock'))) return null;
    const loose = firstLine(ref, LIMITS.small);
    if (loose !== null) return HASH.test(loose) ? loose : null;
    // `git pack-refs` moved it: `<hash> <ref>` lines, `^<hash>` lines peel the tag above them.
    const packedPath = join(git, 'packed-refs');
    if (!existsSync(packedPath) || !realpathSync(packedPath).startsWith(gitReal + sep)) return null;
    for (const line of readRegularText(realpathSync(packedPath), LIMITS.source, 'packed-refs', 'utf8').split('\n')) {
      const [hash, name] = line.trim().split(' ');
      if (name === ref && hash !== undefined && HASH.test(hash)) return hash;
    }
    return null;
  } catch {
    return null;
  }
}
