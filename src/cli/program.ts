#!/usr/bin/env node
// The command line: commander wiring over the library. Only this folder reads argv or sets exit codes.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { defaultDbPath } from '../index/open.ts';
import type { ExplainFlags } from './commands/explain.ts';
import type { SitesFlags } from './commands/query.ts';
import type { ReportFlags, WatchFlags } from './commands/report.ts';
import type { RecordingFormat } from '../locate/recording.ts';
import type { ReportFormat } from '../report/view.ts';
import { EXIT, reportError } from './exit.ts';

// Commands are loaded when run: `explain` must start fast, and must not load tree-sitter.

// Literal lists (no runtime import), checked against the types.
const RECORDING_FORMAT_NAMES = ['auto', 'dropwatch', 'tracefs', 'perf', 'bpftrace', 'retis-json'] satisfies Array<RecordingFormat | 'auto'>;
const REPORT_FORMAT_NAMES = ['table', 'md', 'html', 'json'] satisfies ReportFormat[];

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number ≥ 0, got "${v}"`);
  return n;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number of seconds > 0, got "${v}"`);
  return n;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number ≥ 1, got "${v}"`);
  return n;
}

const dbOption = (): Option => new Option('--db <file>', 'index database').default(defaultDbPath(process.env), '${XDG_CACHE_HOME:-~/.cache}/dropsite/index.sqlite');

export function buildProgram(): Command {
  const program = new Command('dropsite')
    .description('Find the source line that dropped a packet: index a Linux tree, explain drop locations, annotate drop reports.')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();

  program.command('index')
    .description('index every place a Linux source tree frees an skb on a drop or consume path')
    .argument('<tree>', 'top folder of a Linux source tree')
    .addOption(dbOption())
    .option('-j, --jobs <n>', 'worker threads (default: all cores)', positiveInt)
    .option('-q, --quiet', 'no progress bar and no summary')
    .option('--force', 'index a folder that does not look like a kernel tree')
    .option('--all', 'also index tools/, scripts/, samples/ and Documentation/')
    .action(async (tree: string, flags: { db: string; jobs?: number; quiet?: boolean; force?: boolean; all?: boolean }) => (await import('./commands/index.ts')).runIndex(tree, flags));

  program.command('sites')
    .description('list the indexed drop sites')
    .addOption(dbOption())
    .option('--tree <path|version>', 'which indexed tree (default: the latest indexed)')
    .option('--function <name>', 'only sites in this function')
    .option('--reason <name>', 'only sites this reason can reach (NO_SOCKET)')
    .option('--file <glob>', "only files matching this glob ('net/ipv4/*')")
    .option('--api <name>', 'only calls of this drop function or wrapper')
    .option('--json', 'JSON array (schema in the README)')
    .action(async (flags: SitesFlags) => (await import('./commands/query.ts')).runSites(flags));

  program.command('reasons')
    .description("list the tree's drop reasons with how many sites each can reach")
    .addOption(dbOption())
    .option('--tree <path|version>', 'which indexed tree')
    .option('--json', 'JSON output')
    .action(async (flags: { db: string; tree?: string; json?: boolean }) => (await import('./commands/query.ts')).runReasons(flags));

  program.command('trees')
    .description('list the indexed trees')
    .addOption(dbOption())
    .option('--json', 'JSON output')
    .action(async (flags: { db: string; json?: boolean }) => (await import('./commands/query.ts')).runTrees(flags));

  program.command('explain')
    .description('rank the source lines that a drop location (symbol+offset) can stand for')
    .argument('[location...]', 'e.g. __udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET, netlink_unicast+251, or a tracefs/perf/dropwatch line')
    .addOption(dbOption())
    .option('--tree <path|version>', 'which indexed tree')
    .option('--stdin', 'read one location per line from stdin: LOCATION [reason: NAME] [event: NAME]')
    .option('--decimal', 'read bare offsets (+155) as decimal, as bpftrace prints them (default: hex, as dropwatch)')
    .option('--reason <name>', 'the drop reason the event reported (NO_SOCKET)')
    .option('--event <name>', 'kfree_skb (default) or consume_skb')
    .option('--kallsyms <file>', 'a saved /proc/kallsyms: names raw addresses and gives function sizes')
    .option('--system-map <file>', 'a System.map, as --kallsyms')
    .option('--vmlinux <file>', 'exact mode: a vmlinux or .ko with debug info (uses binutils nm and addr2line)')
    .addOption(new Option('--context <n>', 'source lines shown around each site').default(3).argParser(nonNegativeInt))
    .addOption(new Option('--max <n>', 'candidates shown per location').default(5).argParser(positiveInt))
    .option('--json', 'JSON output (schema in the README)')
    .action(async (words: string[], flags: ExplainFlags) => (await import('./commands/explain.ts')).runExplain(words, flags));

  program.command('report')
    .description('aggregate a recorded drop log (dropwatch, tracefs, perf script, bpftrace, retis) and point each location at its source line')
    .argument('[file]', 'the recording; - or nothing for stdin')
    .addOption(dbOption())
    .option('--tree <path|version>', 'which indexed tree')
    .addOption(new Option('--format <format>', 'the recording\'s format').choices(RECORDING_FORMAT_NAMES).default('auto'))
    .addOption(new Option('--as <format>', 'output format (default: from --output\'s extension, else table)').choices(REPORT_FORMAT_NAMES))
    .option('-o, --output <file>', 'write the report to a file')
    .addOption(new Option('--top <n>', 'locations shown').default(20).argParser(positiveInt))
    .option('--all-candidates', 'show every candidate of each location, not only the best')
    .option('--kallsyms <file>', 'name raw addresses with a saved /proc/kallsyms of the recording machine')
    .option('--system-map <file>', 'name raw addresses with a System.map')
    .addOption(new Option('--context <n>', 'source lines around each site').default(3).argParser(nonNegativeInt))
    .action(async (file: string | undefined, flags: ReportFlags) => (await import('./commands/report.ts')).runReport(file, flags));

  program.command('watch')
    .description('live drops with their source lines: dropwatch, annotated (root)')
    .addOption(dbOption())
    .option('--tree <path|version>', 'which indexed tree')
    .addOption(new Option('--source <source>', 'where drops come from').choices(['tracefs', 'dropwatch']).default('tracefs'))
    .addOption(new Option('--interval <s>', 'seconds between refreshes of the live table').default(1).argParser(positiveNumber))
    .addOption(new Option('--duration <s>', 'stop after this many seconds (default: Ctrl-C)').argParser(positiveNumber))
    .option('--consume', 'also count consume_skb events (normal frees)')
    .addOption(new Option('--as <format>', 'format of the final report').choices(REPORT_FORMAT_NAMES))
    .option('-o, --output <file>', 'write the final report to a file')
    .addOption(new Option('--top <n>', 'locations shown').default(20).argParser(positiveInt))
    .option('--all-candidates', 'show every candidate of each location')
    .addOption(new Option('--context <n>', 'source lines around each site').default(3).argParser(nonNegativeInt))
    .action(async (flags: WatchFlags) => (await import('./commands/report.ts')).runWatch(flags));

  program.command('demo')
    .description('index the bundled sample tree into a temporary index and show what dropsite finds (npm start)')
    .action(async () => (await import('./commands/demo.ts')).runDemo());

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    return reportError(err);
  }
}

process.exitCode = await main(process.argv);
