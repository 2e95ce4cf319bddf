/** Bump when summaries or their resolution change: an index or cache of another version is rebuilt. */
export const SCANNER_VERSION = 21;

// What the scanner keeps of each parsed function or macro: a compact, serialisable summary that is
// enough to decide later (once every drop API is known) which calls are drop sites, which
// functions are wrappers, and which reasons reach a call. Summaries are cached per file.
import type { FunctionRecord } from '../model.ts';

export interface CallSummary {
  callee: string;
  /** 1-based line and column of the callee's name. */
  line: number;
  column: number;
  /** 1-based line span of the enclosing statement. */
  stmtLine: number;
  stmtEndLine: number;
  args: string[];
  /** The last thing the function does (extract.ts inTailPosition): compiled as a jump, reported at the caller. */
  tail?: boolean;
  /** For arguments that are reason variables: the values that reach this call (see extract.ts reasonFlow). */
  reaching?: Record<string, string[]>;
}

/**
 * Whether running a function's body always frees a given parameter: a small formula over call
 * indices, evaluated once the drop APIs are known.
 * `seq`: statements in order; each has a `stop` telling whether control may leave the function
 * there without freeing (`*`), may leave only when a variable is NULL (the variable's name), or not (null).
 */
export type FreeFormula =
  | { t: 'call'; i: number }
  | { t: 'all'; of: FreeFormula[] }
  | { t: 'seq'; of: Array<{ f: FreeFormula; stop: string | null }> }
  | { t: 'loop'; v: string; body: FreeFormula }
  | { t: 'never' };

export interface ReasonAssign {
  variable: string;
  reasons: string[];
  /** The function whose return value was assigned (`reason = tcp_inbound_hash(...)`). */
  fromCall: string | null;
}

/**
 * A body that only chooses among calls (forwarder.ts forwardShape): the calls its branches make, by
 * index in `calls`, and the names its conditions read.
 */
export interface ForwardShape {
  frees: number[];
  tests: string[];
}

/** A function definition as the scanner saw it: the index's FunctionRecord (less its file) and what resolve needs. */
export interface FunctionSummary extends Omit<FunctionRecord, 'file' | 'isMacro'> {
  /** Marked `noinline` or `__fix_address`: never inlined, so it keeps its own return address. */
  isNoinline: boolean;
  params: string[];
  /** Parameters declared as `enum skb_drop_reason` (their indices). */
  reasonParams: number[];
  calls: CallSummary[];
  assigns: ReasonAssign[];
  returnReasons: string[];
  formula: FreeFormula;
  /** Set when the body is one call, or an if/else chain of single calls (forwarder.ts). */
  forward?: ForwardShape;
  /** True when tree-sitter gave no function node and the name came from the text around it. */
  recovered: boolean;
}

export interface MacroSummary {
  name: string;
  line: number;
  params: string[];
  calls: Array<{ callee: string; args: string[] }>;
}

export interface FileSummary {
  file: string;
  functions: FunctionSummary[];
  macros: MacroSummary[];
  /** Chunks in which tree-sitter reported ERROR or MISSING nodes. */
  parseErrors: number;
  /** Pieces of the file over a bound of the scanner's work (budget.ts), and why: not parsed. */
  skipped: string[];
}
