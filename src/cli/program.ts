// The command line: the commands as data (cli/args.ts parses them) over the library. Only this
// folder reads argv or sets exit codes. Commands are loaded when run: `explain` must start fast,
// and must not load tree-sitter.
import { defaultDbPath } from '../index/open.ts';
import type { RecordingFormat } from '../locate/recording.ts';
import type { ReportFormat } from '../report/view.ts';
import { parseCommandLine, type CommandSpec, type OptionSpec, type OptionValue, type ProgramSpec } from './args.ts';
import type { ExplainFlags } from './commands/explain.ts';
import type { SitesFlags } from './commands/query.ts';
import type { ReportFlags, WatchFlags } from './commands/report.ts';
import type { ExporterFlags } from './commands/watch-exporter.ts';
import { EXIT, reportError } from './exit.ts';
import { writeOut } from './sink.ts';

export const VERSION = '0.1.0';

// Literal lists (no runtime import), checked against the types.
const RECORDING_FORMAT_NAMES = ['auto', 'dropwatch', 'tracefs', 'perf', 'bpftrace', 'retis-json', 'systemtap', 'net-dropmonitor', 'tracefs-hist'] satisfies Array<RecordingFormat | 'auto'>;
const REPORT_FORMAT_NAMES = ['table', 'md', 'html', 'json'] satisfies ReportFormat[];

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new Error(`expected a whole number ≥ 0, got "${v}"`);
  return n;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`expected a number of seconds > 0, got "${v}"`);
  return n;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 1) throw new Error(`expected a whole number ≥ 1, got "${v}"`);
  return n;
}

const db: OptionSpec = { flags: '--db <file>', description: 'index database', default: defaultDbPath(process.env), defaultText: '${XDG_CACHE_HOME:-~/.cache}/dropsite/index.sqlite' };
const tree: OptionSpec = { flags: '--tree <path|version>', description: 'which indexed tree (default: the latest indexed)' };
const json = (description: string): OptionSpec => ({ flags: '--json', description });
const context = (description: string): OptionSpec => ({ flags: '--context <n>', description, default: 3, parse: nonNegativeInt });
const top: OptionSpec = { flags: '--top <n>', description: 'locations shown', default: 20, parse: positiveInt };
const output = (description: string): OptionSpec => ({ flags: '-o, --output <file>', description });
const as: OptionSpec = { flags: '--as <format>', description: 'output format (default: from --output\'s extension, else table)', choices: REPORT_FORMAT_NAMES };
const kernel: OptionSpec = { flags: '--kernel <file>', description: 'the shipped kernel image (vmlinuz or vmlinux, no debug info needed): rank by its machine code (watch: it must be the running kernel, same build-id as /sys/kernel/notes; or /proc/kcore); with --rebuild, compare the rebuilt code with it' };
const modules: OptionSpec = { flags: '--modules <dir>', description: 'folder of the kernel\'s modules (lib/modules/VERSION): rank module locations by their .ko code; with --rebuild, compare with them (watch: /lib/modules/$(uname -r))' };
const allCandidates: OptionSpec = { flags: '--all-candidates', description: 'show every candidate of each location, not only the best' };

/** A watch that exports metrics or JSON lines instead of printing a report at the end (src/exporter/). */
const isExporterRun = (flags: Record<string, OptionValue | undefined>): boolean =>
  flags.metrics !== undefined || flags.textfile !== undefined || flags.as === 'jsonl';

/** --rebuild and its inputs, shared by explain, report and watch. */
const rebuildOptions: readonly OptionSpec[] = [
  { flags: '--rebuild', description: "exact lines without the debug package: rebuild the functions' files from the tree and the kernel's config (needs make, gcc, flex, bison, bc, libelf-dev, libssl-dev)" },
  { flags: '--config <file>', description: 'kernel config for --rebuild: .config, /boot/config-<release> or /proc/config.gz (default: the one `index --config` remembered, else the running kernel\'s)' },
  { flags: '--cc <compiler>', description: 'compiler for --rebuild (default: the one the config names when installed, e.g. gcc-12, else gcc)' },
];

/** The flags object a command's runner reads; the specs above decide its keys and value types. */
const flagsAs = <T>(flags: Record<string, OptionValue | undefined>): T => flags as unknown as T;

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'index',
    description: 'index every place a Linux source tree frees an skb on a drop or consume path',
    args: [{ name: 'tree', description: 'top folder of a Linux source tree', required: true }],
    options: [
      db,
      { flags: '-j, --jobs <n>', description: 'worker threads (default: all cores)', parse: positiveInt },
      { flags: '-q, --quiet', description: 'no progress bar and no summary' },
      { flags: '--force', description: 'index a folder that does not look like a kernel tree' },
      { flags: '--all', description: 'also index tools/, scripts/, samples/ and Documentation/' },
      { flags: '--config <file>', description: "remember this kernel config for the tree, so that --rebuild needs no --config (and prepare its build once now)" },
      { flags: '--cc <compiler>', description: 'with --config: the compiler the prepared build uses' },
    ],
    run: async ([t], flags) => (await import('./commands/index.ts')).runIndex(String(t), flagsAs(flags)),
  },
  {
    name: 'sites',
    description: 'list the indexed drop sites',
    options: [
      db, tree,
      { flags: '--function <name>', description: 'only sites in this function' },
      { flags: '--reason <name>', description: 'only sites this reason can reach (NO_SOCKET)' },
      { flags: '--file <glob>', description: "only files matching this glob ('net/ipv4/*')" },
      { flags: '--api <name>', description: 'only calls of this drop function or wrapper' },
      json('JSON array (schema in the README)'),
    ],
    run: async (_, flags) => (await import('./commands/query.ts')).runSites(flagsAs<SitesFlags>(flags)),
  },
  {
    name: 'reasons',
    description: "list the tree's drop reasons with how many sites each can reach",
    options: [db, tree, json('JSON output')],
    run: async (_, flags) => (await import('./commands/query.ts')).runReasons(flagsAs(flags)),
  },
  {
    name: 'trees',
    description: 'list the indexed trees',
    options: [db, json('JSON output')],
    run: async (_, flags) => (await import('./commands/query.ts')).runTrees(flagsAs(flags)),
  },
  {
    name: 'explain',
    description: 'rank the source lines that a drop location (symbol+offset) can stand for',
    args: [{ name: 'location', description: 'e.g. __udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET, netlink_unicast+251, or a tracefs/perf/dropwatch line', variadic: true }],
    options: [
      db, tree,
      { flags: '--stdin', description: 'read one location per line from stdin: LOCATION [reason: NAME] [event: NAME]' },
      { flags: '--decimal', description: 'read bare offsets (+155) as decimal, as bpftrace prints them (default: hex, as dropwatch)' },
      { flags: '--reason <name>', description: 'the drop reason the event reported (NO_SOCKET)' },
      { flags: '--event <name>', description: 'kfree_skb (default) or consume_skb' },
      { flags: '--kallsyms <file>', description: 'a saved /proc/kallsyms: names raw addresses and gives function sizes' },
      { flags: '--system-map <file>', description: 'a System.map, as --kallsyms' },
      { flags: '--vmlinux <file>', description: 'exact mode: a vmlinux or .ko with debug info (uses binutils nm and addr2line)' },
      kernel, modules, ...rebuildOptions,
      context('source lines shown around each site'),
      { flags: '--max <n>', description: 'candidates shown per location', default: 5, parse: positiveInt },
      json('JSON output (schema in the README)'),
    ],
    run: async ([words], flags) => (await import('./commands/explain.ts')).runExplain(Array.isArray(words) ? words : [], flagsAs<ExplainFlags>(flags)),
  },
  {
    name: 'report',
    description: 'aggregate a recorded drop log (dropwatch, tracefs, perf script, bpftrace, retis, dropwatch.stp, net_dropmonitor) and point each location at its source line',
    args: [{ name: 'file', description: 'the recording; - or nothing for stdin' }],
    options: [
      db, tree,
      { flags: '--format <format>', description: "the recording's format", choices: RECORDING_FORMAT_NAMES, default: 'auto' },
      as, output('write the report to a file'), top, allCandidates,
      { flags: '--kallsyms <file>', description: 'name raw addresses with a saved /proc/kallsyms of the recording machine' },
      { flags: '--system-map <file>', description: 'name raw addresses with a System.map' },
      kernel, modules, ...rebuildOptions,
      context('source lines around each site'),
    ],
    run: async ([file], flags) => (await import('./commands/report.ts')).runReport(typeof file === 'string' ? file : undefined, flagsAs<ReportFlags>(flags)),
  },
  {
    name: 'watch',
    description: 'live drops with their source lines: dropwatch, annotated (root)',
    options: [
      db, tree,
      { flags: '--source <source>', description: 'where drops come from', choices: ['tracefs', 'dropwatch'], default: 'tracefs' },
      { flags: '--interval <s>', description: 'seconds between refreshes of the live table', default: 1, parse: positiveNumber },
      { flags: '--duration <s>', description: 'stop after this many seconds (default: Ctrl-C)', parse: positiveNumber },
      { flags: '--consume', description: 'also count consume_skb events (normal frees)' },
      { ...as, description: 'format of the final report, or jsonl: one JSON line per location that dropped, every --interval', choices: [...REPORT_FORMAT_NAMES, 'jsonl'] },
      output('write the final report to a file'), top, allCandidates,
      kernel, modules, ...rebuildOptions,
      context('source lines around each site'),
      { flags: '--metrics <addr>', description: 'serve Prometheus /metrics and /healthz on HOST:PORT (a bare port binds 127.0.0.1; 0.0.0.0:9464 opts in to the network)' },
      { flags: '--textfile <file>', description: "write the metrics to FILE every --interval (atomically), for node_exporter's textfile collector" },
      { flags: '--max-series <n>', description: 'distinct location series at most; new ones past it are counted as location="other"', default: 2000, parse: positiveInt },
      { flags: '--capture <how>', description: 'exporter capture: a hist trigger counts in the kernel (CONFIG_HIST_TRIGGERS), trace_pipe reads each event', choices: ['auto', 'hist', 'trace_pipe'], default: 'auto' },
      { flags: '--host <name>', description: 'the host field of --as jsonl lines (default: the hostname)' },
    ],
    run: async (_, flags) => isExporterRun(flags)
      ? (await import('./commands/watch-exporter.ts')).runExporterWatch(flagsAs<ExporterFlags>(flags))
      : (await import('./commands/report.ts')).runWatch(flagsAs<WatchFlags>(flags)),
  },
  {
    name: 'demo',
    description: 'index the bundled sample tree into a temporary index and show what dropsite finds (npm start)',
    options: [],
    run: async () => (await import('./commands/demo.ts')).runDemo(),
  },
];

export const PROGRAM: ProgramSpec = {
  name: 'dropsite',
  version: VERSION,
  description: 'Find the source line that dropped a packet: index a Linux tree, explain drop locations, annotate drop reports.',
  commands: COMMANDS,
};

/** Runs one command line (without `node` and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const inv = parseCommandLine(PROGRAM, argv);
    if (inv.kind === 'print') {
      await writeOut(inv.text.replace(/\n$/, ''));
      return EXIT.ok;
    }
    await inv.command.run(inv.args, inv.flags);
    return EXIT.ok;
  } catch (err) {
    return reportError(err);
  }
}
