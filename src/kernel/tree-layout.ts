// What kind of tree a directory is, read from the tree itself.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
}

export function probeTree(root: string): TreeProbe {
  let version: string | null = null;
  try {
    version = kernelVersion(readFileSync(join(root, 'Makefile'), 'latin1'));
  } catch {
    version = null;
  }
  const isKernelTree = version !== null && existsSync(join(root, 'include')) && (existsSync(join(root, 'net')) || existsSync(join(root, 'kernel')));
  let reasonsFile: string | null = null;
  for (const f of DROP_REASON_FILES) {
    try {
      if (/\benum\s+skb_drop_reason\s*\{/.test(readFileSync(join(root, f), 'latin1'))) {
        reasonsFile = f;
        break;
      }
    } catch {
      // not in this tree
    }
  }
  return { version, isKernelTree, reasonsFile };
}

/** The git HEAD commit of a tree checked out with git, or null. */
export function gitHead(root: string): string | null {
  try {
    const head = readFileSync(join(root, '.git', 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
    if (ref === undefined) return /^[0-9a-f]{40}$/.test(head) ? head : null;
    return readFileSync(join(root, '.git', ref), 'utf8').trim() || null;
  } catch {
    return null;
  }
}
