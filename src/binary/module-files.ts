// Module files under a folder (lib/modules/VERSION), by module name. modprobe treats dashes and underscores
// in a name as the same (`br_netfilter`, `br-netfilter`), so names are keyed with underscores. Links are not
// followed, and the walk stops 12 levels down.
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { moduleKey } from '../kernel/kbuild.ts';

const MODULE_FILE = /^(.+)\.ko(?:\.(?:xz|gz|zst))?$/;

/** A module file's name without `.ko` and its compression (`vxlan.ko.xz` → `vxlan`). */
export const moduleNameOf = (file: string): string => MODULE_FILE.exec(basename(file))?.[1] ?? basename(file);

/** The key of a module name: dashes as underscores. */
export { moduleKey };

/** Every `.ko`, `.ko.xz`, `.ko.gz` and `.ko.zst` under `dir`, keyed by moduleKey; the first found wins. */
export function findModuleFiles(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (d: string, depth: number): void => {
    if (depth > 12) return;
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(join(d, e.name), depth + 1);
      else if (e.isFile()) {
        const name = MODULE_FILE.exec(e.name)?.[1];
        if (name !== undefined && !found.has(moduleKey(name))) found.set(moduleKey(name), join(d, e.name));
      }
    }
  };
  walk(dir, 0);
  return found;
}
