// Drop sites whose code is the same as another site's of the same function (its own or an inlined helper's): the
// free call written the same way and followed by the same statement (`kfree_skb(skb); return -EINVAL;` twice). gcc merges such
// identical tails into one copy (cross-jumping), so of a group of twins usually only one is a call in the
// machine code. Measured on the tune half of Debian 6.12 (bench/calibration, every drop call of a function is
// in the truth): a site with a twin is a call of the binary 30-70 % of the time, a site without one 95 %.
import type { DropSite } from '../model.ts';
import { compareText } from '../text-order.ts';

/** The text of a site's block: the statement of the call and the next statement, spaces removed; null when unreadable. */
export function blockText(lines: readonly string[], site: Pick<DropSite, 'line' | 'endLine'>): string | null {
  if (site.line < 1 || site.line > lines.length) return null;
  let i = site.line - 1;
  let call = '';
  // The call's statement, to its semicolon (a call can span lines).
  for (; i < lines.length && i < site.endLine + 3; i++) {
    call += lines[i] ?? '';
    if ((lines[i] ?? '').includes(';')) break;
  }
  // The next line of code, blank, comment and preprocessor lines skipped.
  for (let j = i + 1; j < lines.length && j < i + 20; j++) {
    const s = (lines[j] ?? '').trim();
    if (s === '' || s.startsWith('/*') || s.startsWith('*') || s.startsWith('//') || s.startsWith('#')) continue;
    return `${call.replace(/\s+/g, '')}|${s.replace(/\s+/g, '')}`;
  }
  return null;
}

export interface Twins {
  /** The same for every twin of one group. */
  key: string;
  /** The lines of the group, by file and in source order (this site's included). */
  lines: number[];
  /** The block's code as written (call and next statement). */
  text: string;
}

/**
 * For each site, its twins among `sites`: those of the same group (the caller's context: the location's function)
 * with the same block text and the same reasons, whatever function of that group's inlined code holds them (once
 * inlined, the same block in two helpers is the same code, and cross-jumping works on the whole function); null
 * when it has none or `group` is null. `read` gives a file's lines.
 */
export function findTwins(sites: ReadonlyArray<{ site: DropSite; group: string | null }>, read: (file: string) => readonly string[] | null): Array<Twins | null> {
  const texts = sites.map(({ site, group }) => {
    if (group === null) return null;
    const lines = read(site.file);
    const text = lines === null ? null : blockText(lines, site);
    // Different reasons reaching the same call text mean different code before it (`drop_reason = …;`): no twins.
    return text === null ? null : { key: `${group}\0${[...site.reasons].sort().join(',')}\0${text}`, text };
  });
  const byKey = new Map<string, Array<{ file: string; line: number }>>();
  texts.forEach((t, i) => {
    const s = sites[i]?.site;
    if (t === null || s === undefined) return;
    const list = byKey.get(t.key) ?? [];
    if (!list.some((p) => p.file === s.file && p.line === s.line)) list.push({ file: s.file, line: s.line });
    byKey.set(t.key, list);
  });
  return texts.map((t) => {
    if (t === null) return null;
    const places = [...(byKey.get(t.key) ?? [])].sort((a, b) => compareText(a.file, b.file) || a.line - b.line);
    return places.length < 2 ? null : { key: t.key, lines: places.map((p) => p.line), text: t.text.replace('|', ' ') };
  });
}
