// Commands as data, parsed with node:util's parseArgs, with the help text made from the same data.
// No argument library: `dropsite explain` has to answer in well under 150 ms, and loading one (with
// the child_process machinery it pulls in) cost about 20 ms of that.
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';

export type OptionValue = string | number | boolean;

export interface OptionSpec {
  /** `--json`, `-q, --quiet`, `--db <file>`. */
  flags: string;
  description: string;
  default?: OptionValue;
  /** Shown in help instead of the default value itself. */
  defaultText?: string;
  /** Turns the text into the value; throws an Error whose message says what was expected. */
  parse?: (text: string) => OptionValue;
  choices?: readonly string[];
}

export interface ArgumentSpec {
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
}

export interface CommandSpec {
  name: string;
  description: string;
  args?: readonly ArgumentSpec[];
  options: readonly OptionSpec[];
  run: (args: Array<string | string[] | undefined>, flags: Record<string, OptionValue | undefined>) => Promise<void>;
}

export interface ProgramSpec {
  name: string;
  version: string;
  description: string;
  commands: readonly CommandSpec[];
}

/** What the command line asks for: a command to run, or text to print. */
export type Invocation =
  | { kind: 'run'; command: CommandSpec; args: Array<string | string[] | undefined>; flags: Record<string, OptionValue | undefined> }
  | { kind: 'print'; text: string };

interface ParsedFlags {
  short: string | null;
  long: string;
  key: string;
  valueName: string | null;
}

function parseFlags(flags: string): ParsedFlags {
  const m = /^(?:-([A-Za-z]), )?--([a-z][a-z0-9-]*)(?: <([^>]+)>)?$/.exec(flags);
  if (m === null || m[2] === undefined) throw new Error(`bad option spec ${flags}`);
  return { short: m[1] ?? null, long: m[2], key: m[2].replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), valueName: m[3] ?? null };
}

const HELP: OptionSpec = { flags: '-h, --help', description: 'show this help' };

function argUsage(a: ArgumentSpec): string {
  const inner = `${a.name}${a.variadic === true ? '...' : ''}`;
  return a.required === true ? `<${inner}>` : `[${inner}]`;
}

function columns(rows: ReadonlyArray<readonly [string, string]>): string[] {
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`);
}

function optionLine(o: OptionSpec): readonly [string, string] {
  const p = parseFlags(o.flags);
  const left = p.short !== null ? o.flags : `    ${o.flags}`;
  const extras: string[] = [];
  if (o.choices !== undefined) extras.push(`choices: ${o.choices.join(', ')}`);
  if (o.default !== undefined && o.default !== false) extras.push(`default: ${o.defaultText ?? String(o.default)}`);
  return [left, extras.length > 0 ? `${o.description} (${extras.join('; ')})` : o.description];
}

export function commandHelp(program: ProgramSpec, c: CommandSpec): string {
  const args = c.args ?? [];
  const lines = [`Usage: ${program.name} ${c.name} [options]${args.map((a) => ` ${argUsage(a)}`).join('')}`, '', c.description];
  if (args.length > 0) lines.push('', 'Arguments:', ...columns(args.map((a) => [a.name, a.description] as const)));
  lines.push('', 'Options:', ...columns([...c.options, HELP].map(optionLine)));
  return `${lines.join('\n')}\n`;
}

export function programHelp(program: ProgramSpec): string {
  const lines = [
    `Usage: ${program.name} <command> [options]`, '', program.description, '',
    'Commands:', ...columns(program.commands.map((c) => [`${c.name}${(c.args ?? []).map((a) => ` ${argUsage(a)}`).join('')}`, c.description] as const)),
    '', 'Options:', ...columns([['-V, --version', 'show the version'], ['-h, --help', 'show this help']]),
    '', `Run '${program.name} <command> --help' for a command's options.`,
  ];
  return `${lines.join('\n')}\n`;
}

function usageError(program: ProgramSpec, c: CommandSpec | null, message: string): UsageError {
  return new UsageError(message, { hint: c === null ? `run '${program.name} --help' for the commands` : `run '${program.name} ${c.name} --help' for its options` });
}

/** The message node:util gives names the option in its own words; say it in ours, in one line. */
function describeParseError(err: unknown, c: CommandSpec): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const msg = err instanceof Error ? err.message : String(err);
  const opt = /'(-[^' ]+)/.exec(msg)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option '${opt}' for ${c.name}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const spec = c.options.find((o) => o.flags.includes(opt.replace(/^-+/, '--')) || o.flags.startsWith(`${opt},`));
    if (spec !== undefined && parseFlags(spec.flags).valueName === null) return `option '${opt}' takes no value`;
    // node:util calls a value that starts with '-' ambiguous: it could be the next option.
    if (/ambiguous/.test(msg)) return `option '${spec?.flags ?? opt}' is followed by something that looks like an option; write ${opt}=VALUE to give a value that starts with '-'`;
    return `option '${spec?.flags ?? opt}' needs a value`;
  }
  return msg.split('\n')[0] ?? msg;
}

export function parseCommandLine(program: ProgramSpec, argv: readonly string[]): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const named = first === 'help' ? program.commands.find((c) => c.name === rest[0]) : undefined;
    return { kind: 'print', text: named !== undefined ? commandHelp(program, named) : programHelp(program) };
  }
  if (first === '-V' || first === '--version') return { kind: 'print', text: `${program.version}\n` };
  const command = program.commands.find((c) => c.name === first);
  if (command === undefined) {
    throw usageError(program, null, first.startsWith('-') ? `unknown option '${first}' (give a command first)` : `unknown command '${first}'`);
  }
  const end = rest.indexOf('--');
  const beforeEnd = end < 0 ? rest : rest.slice(0, end);
  if (beforeEnd.includes('-h') || beforeEnd.includes('--help')) return { kind: 'print', text: commandHelp(program, command) };

  const specs = command.options.map((o) => ({ o, p: parseFlags(o.flags) }));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const { p } of specs) options[p.long] = p.short !== null ? { type: p.valueName !== null ? 'string' : 'boolean', short: p.short } : { type: p.valueName !== null ? 'string' : 'boolean' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(program, command, describeParseError(err, command));
  }

  const flags: Record<string, OptionValue | undefined> = {};
  for (const { o, p } of specs) {
    const given = parsed.values[p.long];
    if (given === undefined) {
      flags[p.key] = o.default;
      continue;
    }
    if (typeof given !== 'string') {
      flags[p.key] = true;
      continue;
    }
    if (o.choices !== undefined && !o.choices.includes(given)) {
      throw usageError(program, command, `--${p.long} ${given}: expected one of ${o.choices.join(', ')}`);
    }
    try {
      flags[p.key] = o.parse !== undefined ? o.parse(given) : given;
    } catch (err) {
      throw usageError(program, command, `--${p.long} ${given}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  const positionals = [...parsed.positionals];
  const args: Array<string | string[] | undefined> = [];
  for (const a of command.args ?? []) {
    if (a.variadic === true) {
      args.push(positionals.splice(0));
      continue;
    }
    const v = positionals.shift();
    if (v === undefined && a.required === true) throw usageError(program, command, `missing required argument '${a.name}'`);
    args.push(v);
  }
  if (positionals.length > 0) {
    throw usageError(program, command, `unexpected argument '${positionals[0] ?? ''}' for ${command.name} (it takes ${(command.args ?? []).map(argUsage).join(' ') || 'no arguments'})`);
  }
  return { kind: 'run', command, args, flags };
}
