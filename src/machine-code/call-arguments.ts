// The constant arguments of a call, in the code and in the source. Sites whose blocks read alike often differ only
// in what the call before them is given: `skb = create_monitor_event(hdev, HCI_DEV_REG); … kfree_skb(skb);` three
// times over with HCI_DEV_REG, HCI_DEV_OPEN and HCI_DEV_UP, in a helper inlined into its caller. gcc sets each
// argument register right before the call (`mov $0x1,%esi; mov %rbx,%rdi; call create_monitor_event`), so the
// constants a call on the path into the drop receives say which of the source's calls it is.
import { ARG_FAMILIES, type Insn } from './decode.ts';
import { callArgument } from './dataflow.ts';

/** Instructions read back from a call for the constants of its argument registers (its straight line only). */
const WINDOW = 10;

/**
 * The constants the argument registers hold at the call at instruction index `i`, by argument position, read back
 * through the straight line before it: a register written by `mov $imm` or `xor %r,%r` last holds that constant; one
 * written otherwise, or not written within the line (a branch, a call or WINDOW instructions back), is left out.
 */
export function codeArguments(insns: readonly Insn[], i: number): Map<number, number> {
  const out = new Map<number, number>();
  const done = new Set<number>();
  for (let k = i - 1; k >= 0 && k >= i - WINDOW && done.size < ARG_FAMILIES.length; k--) {
    const x = insns[k];
    if (x === undefined || x.flow !== 'next') break;
    ARG_FAMILIES.forEach((family, arg) => {
      if (done.has(arg) || (x.writes & (1 << family)) === 0) return;
      done.add(arg);
      if (x.loads !== null && x.loads[0] === family) out.set(arg, x.loads[1] >>> 0);
    });
  }
  return out;
}

export interface ArgumentAgreement {
  /** Arguments whose constant is the same in both, with the source's spelling. */
  same: Array<{ arg: number; value: number; text: string }>;
  /** Arguments the code and the source give different constants. */
  differ: Array<{ arg: number; code: number; source: number; text: string }>;
}

/**
 * The call of `name` in `text` (a source line and the next few, for a call spread over lines) against the
 * constants the code passes (codeArguments): each argument the source writes as a constant (`constant` resolves a
 * literal, `-EXXX` or a name the file defines; null for anything else) that the code loads too.
 */
export function argumentAgreement(code: ReadonlyMap<number, number>, text: string, name: string, constant: (expr: string) => bigint | null): ArgumentAgreement {
  const out: ArgumentAgreement = { same: [], differ: [] };
  for (const [arg, value] of code) {
    const expr = callArgument(text, name, arg);
    if (expr === null) continue;
    const v = constant(expr);
    if (v === null) continue;
    const source = Number(BigInt.asUintN(32, v));
    if (source === value) out.same.push({ arg, value, text: expr });
    else out.differ.push({ arg, code: value, source, text: expr });
  }
  return out;
}
