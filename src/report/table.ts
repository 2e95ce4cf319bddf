// Terminal tables. The only importer of cli-table3.
import Table from 'cli-table3';

export interface TableOptions {
  /** Right-align these column indices (counts). */
  numeric?: readonly number[];
  width?: number;
}

/** A borderless, aligned table: easy to read in a terminal and to paste into a ticket. */
export function renderTable(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>, opts: TableOptions = {}): string {
  const t = new Table({
    head: [...head],
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
    colAligns: head.map((_, i) => ((opts.numeric ?? []).includes(i) ? 'right' : 'left')),
  });
  for (const r of rows) t.push(r.map((c) => String(c)));
  return t.toString().split('\n').map((l) => l.trimEnd()).join('\n');
}
