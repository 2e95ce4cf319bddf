// node_exporter's textfile collector reads *.prom files from a directory: write ours whole, to a temporary file in the
// same directory and rename it over the old one, so that a scrape never sees half a file.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors.ts';

export function writeTextfile(path: string, text: string): void {
  // A dot-file: the collector only reads names ending in .prom, so it never picks up the temporary file.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new InputError(`cannot write --textfile ${path}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'give a file in a writable directory (node_exporter --collector.textfile.directory)' });
  }
}
