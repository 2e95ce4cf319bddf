// The command-line layer on its own: the real command table (src/cli/program.ts) through parseArgs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandLine } from '../../src/cli/args.ts';
import { PROGRAM } from '../../src/cli/program.ts';
import { UsageError } from '../../src/errors.ts';

const run = (argv: string[]): { name: string; args: unknown[]; flags: Record<string, unknown> } => {
  const inv = parseCommandLine(PROGRAM, argv);
  assert.equal(inv.kind, 'run');
  if (inv.kind !== 'run') throw new Error('unreachable');
  return { name: inv.command.name, args: inv.args, flags: inv.flags };
};

const usage = (argv: string[], re: RegExp): void => {
  assert.throws(() => parseCommandLine(PROGRAM, argv), (err: unknown) => err instanceof UsageError && re.test(err.message) && err.message.split('\n').length === 1,
    `${argv.join(' ')} → ${re}`);
};

test('options get their defaults, parsers and camelCase names; variadic words stay in order', () => {
  const e = run(['explain', 'tcp_v4_rcv+0x91/0x13f0', 'reason:', 'NO_SOCKET', '--max', '2', '--system-map', 'S', '--json']);
  assert.equal(e.name, 'explain');
  assert.deepEqual(e.args, [['tcp_v4_rcv+0x91/0x13f0', 'reason:', 'NO_SOCKET']]);
  assert.equal(e.flags.max, 2);
  assert.equal(e.flags.context, 3, 'default');
  assert.equal(e.flags.systemMap, 'S');
  assert.equal(e.flags.json, true);
  assert.equal(e.flags.stdin, undefined);
  const r = run(['report', '-', '--format', 'perf', '-o', 'x.html', '--all-candidates']);
  assert.deepEqual(r.args, ['-']);
  assert.equal(r.flags.format, 'perf');
  assert.equal(r.flags.output, 'x.html');
  assert.equal(r.flags.allCandidates, true);
  assert.deepEqual(run(['explain', '--', '-weird+0x1']).args, [['-weird+0x1']], 'after --, words are locations');
});

test('bad command lines are one-line usage errors naming the bad part', () => {
  usage(['frob'], /unknown command 'frob'/);
  usage(['--frob'], /unknown option '--frob'/);
  usage(['explain', '--frob'], /unknown option '--frob' for explain/);
  usage(['explain', '--db'], /option '--db <file>' needs a value/);
  usage(['explain', '--json=yes'], /option '--json' takes no value/);
  usage(['explain', '--max', '0'], /--max 0: expected a whole number ≥ 1/);
  usage(['explain', '--context', '-1'], /write --context=VALUE/);
  usage(['report', '--format', 'pcap'], /--format pcap: expected one of auto, dropwatch/);
  usage(['index'], /missing required argument 'tree'/);
  usage(['index', 'a', 'b'], /unexpected argument 'b' for index/);
  usage(['trees', 'x'], /unexpected argument 'x' for trees \(it takes no arguments\)/);
});

test('help and version are printed, not run; help lists every option with its default', () => {
  const top = parseCommandLine(PROGRAM, []);
  assert.equal(top.kind, 'print');
  for (const c of PROGRAM.commands) assert.match(top.kind === 'print' ? top.text : '', new RegExp(`\\n  ${c.name}\\b`));
  const h = parseCommandLine(PROGRAM, ['explain', 'x+1', '--help']);
  const text = h.kind === 'print' ? h.text : '';
  assert.match(text, /^Usage: dropsite explain \[options\] \[location\.\.\.\]/);
  assert.match(text, /--max <n> +candidates shown per location \(default: 5\)/);
  assert.match(text, /--db <file> +index database \(default: \$\{XDG_CACHE_HOME:-~\/\.cache\}\/dropsite\/index\.sqlite\)/);
  const rep = parseCommandLine(PROGRAM, ['help', 'report']);
  assert.match(rep.kind === 'print' ? rep.text : '', /choices: auto, dropwatch, tracefs, perf, bpftrace, retis-json/);
  const v = parseCommandLine(PROGRAM, ['--version']);
  assert.equal(v.kind === 'print' ? v.text.trim() : '', PROGRAM.version);
});
