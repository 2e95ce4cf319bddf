// node_exporter's textfile collector reads *.prom files from a directory: ours is written whole, through
// io/output-file.ts (a dot-file temporary in the same directory, renamed over the old one), so a scrape
// never sees half a file and the collector never picks up the temporary.
import { writeOutputFile } from '../io/output-file.ts';

export function writeTextfile(path: string, text: string): void {
  writeOutputFile(path, text, [], '--textfile');
}
