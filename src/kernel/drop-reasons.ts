// The tree's own drop reasons: `enum skb_drop_reason` and subsystem reason enums, in enum order,
// with the string the kfree_skb tracepoint prints and the kernel-doc text that explains each.
// Where the enum lives moved between releases (include/linux/skbuff.h in 5.17–6.0,
// include/net/dropreason.h in 6.0–6.3, include/net/dropreason-core.h from 6.4, commit 5b8285cca6fe);
// `dropReasonFiles` lists them newest first and the caller reads the first that exists.
import type { DropReason } from '../model.ts';

export const DROP_REASON_FILES = ['include/net/dropreason-core.h', 'include/net/dropreason.h', 'include/linux/skbuff.h'] as const;

const ENUM_START = /\benum\s+(\w*drop_reason)\s*\{/g;
const ENUMERATOR = /^\s*([A-Z][A-Z0-9_]*)\s*(?:=\s*([^,\n]+?))?\s*,?\s*(?:\/\*.*)?$/;

/** The name the tracepoint prints for an enumerator: the core prefix removed (`SKB_CONSUMED` → `CONSUMED`). */
export function reasonString(enumerator: string): string {
  // Only one prefix goes: SKB_DROP_REASON_SKB_CSUM prints as SKB_CSUM.
  return enumerator.startsWith('SKB_DROP_REASON_') ? enumerator.slice('SKB_DROP_REASON_'.length) : enumerator.replace(/^SKB_/, '');
}

function describe(comment: string, enumerator: string): string {
  return comment
    .trim()
    .replace(/^\/\*\*?|\*\/$/g, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .join(' ')
    .replace(new RegExp(`^\\s*@${enumerator}:\\s*`), '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Every `enum …drop_reason { … }` of one file. Bounds (`…_MAX`, `…_SUBSYS_MASK`) are left out.
 * Values follow C rules: an explicit integer sets the counter; any other initialiser leaves it unknown (-1).
 */
export function parseDropReasons(text: string, file: string): DropReason[] {
  const out: DropReason[] = [];
  for (const m of text.matchAll(ENUM_START)) {
    const enumName = m[1] ?? '';
    const open = m.index + m[0].length;
    const close = text.indexOf('};', open);
    if (close < 0) continue;
    let line = text.slice(0, open).split('\n').length;
    let comment = '';
    let value = 0;
    let inComment = false;
    for (const raw of text.slice(open, close).split('\n')) {
      const here = line++;
      const trimmed = raw.trim();
      if (inComment || trimmed.startsWith('/*')) {
        comment = inComment ? `${comment}\n${raw}` : raw;
        inComment = !trimmed.includes('*/');
        if (trimmed.startsWith('/*') && trimmed.includes('*/') && !trimmed.endsWith('*/')) inComment = false;
        continue;
      }
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      const e = ENUMERATOR.exec(raw);
      if (e === null) {
        comment = '';
        continue;
      }
      const name = e[1] ?? '';
      const init = e[2]?.trim();
      if (init !== undefined) value = /^(?:0x[0-9a-f]+|\d+)$/i.test(init) ? Number(init) : -1;
      if (!/_MAX$|_SUBSYS_MASK$/.test(name)) {
        out.push({ name: reasonString(name), value, enumName, file, line: here, description: describe(comment, name) });
      }
      if (value >= 0) value++;
      comment = '';
    }
  }
  return out;
}
