// Terminal rendering of explanations. Pure: explanations and source lines in, text out. Every field
// comes from a tree, a log or a symbol map, so each goes through `printable` (no raw terminal escapes).
import type { Explanation } from '../model.ts';
import { printable as p } from './terminal-text.ts';
import { calledAtLabel } from './labels.ts';

/** Source lines of a file, 1-based index, or null when the file could not be read. */
export type SourceLines = (file: string) => readonly string[] | null;

export interface ExplainTextOptions {
  context: number;
  color: boolean;
}

const bold = (s: string, on: boolean): string => (on ? `\u001b[1m${s}\u001b[22m` : s);
const dim = (s: string, on: boolean): string => (on ? `\u001b[2m${s}\u001b[22m` : s);

function snippet(lines: readonly string[], line: number, endLine: number, context: number, color: boolean): string[] {
  const from = Math.max(1, line - context);
  const to = Math.min(lines.length, endLine + context);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    const mark = n >= line && n <= endLine ? '>' : ' ';
    const text = p((lines[n - 1] ?? '').replace(/\t/g, '    '));
    const row = `      ${mark} ${String(n).padStart(width)} | ${text}`;
    out.push(mark === '>' ? bold(row, color) : dim(row, color));
  }
  return out;
}

/** How far a result can be trusted, in the words every renderer uses. */
export function trustLabel(e: Pick<Explanation, 'method' | 'verified' | 'exact' | 'notes'>): string {
  if (e.method === 'rebuilt') {
    if (e.notes.some((n) => /differs from the shipped|the build differs/.test(n))) return 'rebuilt, code differs';
    if (!e.exact) return 'rebuilt, no line in its debug info';
    return e.verified === 'code' ? 'exact: rebuilt, code identical to the shipped kernel' : e.verified === 'size' ? 'rebuilt, size matches' : 'rebuilt, not verified (no size, no shipped code)';
  }
  return e.method === 'debuginfo' ? 'exact (debug info)' : e.method === 'machine-code' ? 'ranked with the machine code' : 'from source';
}

/** The last line of source-only output: how to get the exact line. */
export const exactHint = (vmlinux: boolean): string => 'hint: for the exact line, add --rebuild (rebuilds the function\'s file from the tree; needs the kernel\'s config: --config FILE, and --kernel VMLINUZ to verify)'
  + (vmlinux ? ' or --vmlinux with the -dbg vmlinux' : '');

export function renderExplanations(list: readonly Explanation[], source: SourceLines, opts: ExplainTextOptions): string {
  const out: string[] = [];
  for (const e of list) {
    const where = e.offset === null ? p(e.symbol || e.function) : `${p(e.symbol)}+0x${e.offset.toString(16)}${e.size !== null ? `/0x${e.size.toString(16)}` : ''}`;
    const extra = [e.reason !== null ? `reason ${p(e.reason)}` : '', e.event !== 'kfree_skb' ? `event ${e.event}` : '', trustLabel(e)].filter((x) => x !== '');
    out.push(bold(`${where}`, opts.color) + `  (${extra.join(', ')})`);
    if (e.candidates.length === 0) out.push('  no candidate');
    e.candidates.forEach((c, i) => {
      const reason = c.reason ?? (c.reasons.length > 0 ? c.reasons.join('|') : c.kind === 'consume' ? 'consume' : '?');
      const via = c.via.length > 0 ? `  via ${p(c.via.join(' → '))}` : '';
      const role = c.role === 'caller' ? '  [caller of the drop function]' : c.role === 'debuginfo' ? '  [debug info, no indexed site]' : '';
      const called = c.calledAt !== undefined ? `  ${p(calledAtLabel(c))}` : '';
      out.push(`  ${i + 1}. ${bold(`${p(c.file)}:${c.line}`, opts.color)}  ${p(c.function)}() calls ${p(c.api)}  reason ${p(reason)}  score ${c.score.toFixed(2)}${called}${via}${role}`);
      for (const ev of c.evidence) out.push(`       - ${p(ev)}`);
      const lines = opts.context >= 0 ? source(c.file) : null;
      if (lines !== null) out.push(...snippet(lines, c.line, c.endLine, opts.context, opts.color));
      // The wrapper's own line is the same for all its calls: the calling line is what tells them apart.
      const at = c.calledAt;
      const callerLines = at !== undefined && opts.context >= 0 ? source(at.file) : null;
      if (at !== undefined && callerLines !== null) {
        out.push(dim(`      ${p(calledAtLabel(c))}:`, opts.color), ...snippet(callerLines, at.line, at.line, 0, opts.color));
      }
    });
    for (const n of e.notes) out.push(`  note: ${p(n)}`);
    out.push('');
  }
  return out.join('\n');
}
