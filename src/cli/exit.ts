// Exit codes: 0 ok, 1 a known error (one line, then its hint), 2 usage, 3 an unexpected bug.
import { DropsiteError, UsageError } from '../errors.ts';
import { printable } from '../report/terminal-text.ts';
import { writeErr } from './sink.ts';

export const EXIT = { ok: 0, error: 1, usage: 2, bug: 3 } as const;

export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    writeErr(`dropsite: ${printable(err.message)}`);
    if (err.hint !== undefined) writeErr(`  hint: ${printable(err.hint)}`);
    return EXIT.usage;
  }
  if (err instanceof DropsiteError) {
    writeErr(`dropsite: ${printable(err.message)}`);
    if (err.hint !== undefined) writeErr(`  hint: ${printable(err.hint)}`);
    return EXIT.error;
  }
  writeErr(`dropsite: internal error (please report it): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  return EXIT.bug;
}
