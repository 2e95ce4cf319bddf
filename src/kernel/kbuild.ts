// Which module a source file is built into, read from the tree's kbuild Makefiles.
import { basename } from 'node:path';

/** Module names compare with `-` and `_` as one (kbuild and modprobe do). */
export const moduleKey = (name: string): string => name.replace(/-/g, '_');

/**
 * The modules a tree's kbuild Makefile links an object into (`nf_tables-objs := nf_tables_core.o …`,
 * `vxlan-y += vxlan_core.o`), followed through composite objects a few levels; the object itself when a
 * Makefile builds it as a module of its own (`obj-$(CONFIG_DUMMY) += dummy.o`).
 */
export function kbuildModules(makefile: readonly string[], object: string): string[] {
  const joined = makefile.join('\n').replace(/\\\n/g, ' ').split('\n');
  const parts = new Map<string, Set<string>>();
  for (const line of joined) {
    const m = /^\s*([A-Za-z0-9_-]+)-(?:y|m|objs|\$\([A-Z0-9_]+\))\s*[:+]?=\s*(.*)$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    for (const o of m[2].split(/\s+/)) {
      const name = /^(?:.*\/)?([A-Za-z0-9_-]+)\.o$/.exec(o)?.[1];
      if (name === undefined) continue;
      const set = parts.get(name) ?? new Set<string>();
      set.add(m[1]);
      parts.set(name, set);
    }
  }
  const out: string[] = [];
  const visit = (name: string, depth: number): void => {
    for (const owner of parts.get(name) ?? []) {
      if (owner === 'obj') {
        if (!out.includes(name)) out.push(name);
      } else if (depth < 4) visit(owner, depth + 1);
    }
  };
  visit(object, 0);
  return out;
}

/** A source file's directory and its parents, nearest first (drivers/net/vxlan, drivers/net, drivers). */
export function sourceLevels(source: string): string[] {
  const out: string[] = [];
  let d = source.includes('/') ? source.slice(0, source.lastIndexOf('/')) : '';
  while (d !== '') {
    out.push(d);
    d = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '';
  }
  return out;
}

/**
 * The modules the nearest Makefile that names a source file's object links it into (mlx5/core/Makefile
 * names en/rep/tc.o), searched up to four folders up; empty when none names it. `makefile` reads
 * `DIR/Makefile` of the tree (null when there is none).
 */
export function modulesOfSource(source: string, makefile: (dir: string) => readonly string[] | null): string[] {
  const stem = basename(source).replace(/\.[^.]*$/, '');
  for (const level of sourceLevels(source).slice(0, 4)) {
    const lines = makefile(level);
    const linked = lines === null ? [] : kbuildModules(lines, stem);
    if (linked.length > 0) return linked;
  }
  return [];
}
