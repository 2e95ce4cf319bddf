// Functions of a .c file that only forward their caller's free: 6.12's dev_kfree_skb_any_reason
// (`if (in_hardirq() || irqs_disabled()) dev_kfree_skb_irq_reason(skb, reason); else
// kfree_skb_reason(skb, reason);`) and 6.1's __dev_kfree_skb_any (the same test, then `reason ==
// SKB_REASON_DROPPED` choosing kfree_skb or consume_skb). Their caller decides the drop, as it does for
// a header inline, so the caller's line is the site (isGenericDropApi). Told by what the body does, not
// by its name: two steps, the shape of the body at parse time and the frees once the drop APIs are known.
import type { SyntaxNode } from './parse.ts';
import type { CallSummary, ForwardShape, FunctionSummary } from './summary.ts';

/** Operators a condition may combine its tests with: comparisons and logic, nothing that computes a value to keep. */
const TEST_OPERATORS = new Set(['==', '!=', '<', '>', '<=', '>=', '&&', '||', '&', '|']);
/** Branch hints: the test is their argument. */
const HINTS = new Set(['likely', 'unlikely']);
/** A name that is a constant (an enumerator or a macro) rather than a variable. */
const CONSTANT = /^[A-Z_][A-Z0-9_]*$/;
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*$/;

const named = (n: SyntaxNode): SyntaxNode[] => n.namedChildren.filter((c) => c.type !== 'comment');

/**
 * The names a condition reads, or null when it does more than test: parameters and constants compared
 * and combined, branch hints, and calls without arguments (context tests such as in_hardirq(),
 * irqs_disabled()). A call with arguments, a member access or an assignment makes it null.
 */
function testedNames(n: SyntaxNode, out: string[]): boolean {
  switch (n.type) {
    case 'parenthesized_expression': {
      const inner = named(n);
      return inner.length === 1 && inner[0] !== undefined && testedNames(inner[0], out);
    }
    case 'unary_expression': {
      const arg = n.childForFieldName('argument');
      return n.childForFieldName('operator')?.type === '!' && arg !== null && testedNames(arg, out);
    }
    case 'binary_expression': {
      const left = n.childForFieldName('left');
      const right = n.childForFieldName('right');
      return TEST_OPERATORS.has(n.childForFieldName('operator')?.type ?? '') && left !== null && right !== null
        && testedNames(left, out) && testedNames(right, out);
    }
    case 'identifier':
      if (!out.includes(n.text)) out.push(n.text);
      return true;
    case 'number_literal':
    case 'true':
    case 'false':
    case 'null':
      return true;
    case 'call_expression': {
      const callee = n.childForFieldName('function');
      const args = n.childForFieldName('arguments');
      if (callee?.type !== 'identifier' || args === null) return false;
      const list = named(args);
      if (list.length === 0) return true;
      return HINTS.has(callee.text) && list.length === 1 && list[0] !== undefined && testedNames(list[0], out);
    }
    default:
      return false;
  }
}

/**
 * The shape of a body that only chooses among calls: one statement, which is a call, or an if/else
 * chain whose every branch is one such statement (a block of one statement counts). `callAt` gives the
 * index in the function's calls of the call whose name starts at a chunk index. Null for anything else:
 * a declaration, a second statement (a return, a counter, a warning), a loop, a preprocessor line.
 */
export function forwardShape(body: SyntaxNode, callAt: (nameIndex: number) => number | undefined): ForwardShape | null {
  const shape: ForwardShape = { frees: [], tests: [] };
  const statement = (s: SyntaxNode | null): boolean => {
    if (s === null) return false;
    switch (s.type) {
      case 'compound_statement': {
        const list = named(s);
        return list.length === 1 && statement(list[0] ?? null);
      }
      case 'expression_statement': {
        const list = named(s);
        const call = list[0];
        if (list.length !== 1 || call?.type !== 'call_expression') return false;
        const callee = call.childForFieldName('function');
        const i = callee?.type === 'identifier' ? callAt(callee.startIndex) : undefined;
        if (i === undefined) return false;
        shape.frees.push(i);
        return true;
      }
      case 'if_statement': {
        const cond = s.childForFieldName('condition');
        const alt = s.childForFieldName('alternative');
        const altBody = alt === null ? null : alt.type === 'else_clause' ? named(alt)[0] ?? null : alt;
        return cond !== null && testedNames(cond, shape.tests) && statement(s.childForFieldName('consequence')) && statement(altBody);
      }
      default:
        return false;
    }
  };
  return body.type === 'compound_statement' && statement(body) ? shape : null;
}

/** What resolve knows of a called drop API: where its skb and its reason go. */
export interface FreeArgs {
  skbArg: number;
  reasonArg: number | null;
}

/**
 * Whether a wrapper only forwards its caller's free: it has external linkage in a .c file, its body has
 * the forward shape, every call the shape names frees the skb parameter `skb` (freeOf: the drop API
 * called), its other arguments are parameters or constants, its conditions read no skb and nothing the
 * function computes, and the choice comes from the caller: a parameter other than the skb reaches every
 * free's reason argument, or is what the conditions test. A wrapper that picks a reason itself, does
 * other work or is static (tcp_drop_reason, dst_discard_out, a qdisc's drop helper) is no forwarder.
 */
export function forwardsCallersFree(fn: FunctionSummary, file: string, skb: number, freeOf: (call: CallSummary) => FreeArgs | undefined): boolean {
  const shape = fn.forward;
  const p = fn.params[skb];
  if (shape === undefined || p === undefined || p === '' || file.endsWith('.h') || fn.isStatic || shape.frees.length === 0) return false;
  const others = new Set(fn.params.filter((x) => x !== '' && x !== p));
  const passed = (a: string): boolean => others.has(a) || CONSTANT.test(a) || NUMBER.test(a);
  let reasonsFromCaller = true;
  for (const i of shape.frees) {
    const call = fn.calls[i];
    const api = call === undefined ? undefined : freeOf(call);
    if (call === undefined || api === undefined || call.args[api.skbArg] !== p) return false;
    if (!call.args.every((a, k) => k === api.skbArg || passed(a.trim()))) return false;
    const reason = api.reasonArg === null ? undefined : call.args[api.reasonArg]?.trim();
    if (reason === undefined || !others.has(reason)) reasonsFromCaller = false;
  }
  if (!shape.tests.every((t) => others.has(t) || CONSTANT.test(t))) return false;
  return reasonsFromCaller || shape.tests.some((t) => others.has(t));
}
