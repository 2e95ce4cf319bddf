// The integer constant expressions C headers define macros and enum items with (`SUBSYS_X << SUBSYS_SHIFT`,
// `(__force ieee80211_rx_result)___RX_QUEUED`, `-EMSGSIZE`, `0x10 | 2`): one evaluator for the drop-reason
// enums (src/kernel/drop-reasons.ts) and the branch constants of the machine code (src/machine-code/conditions.ts).

/**
 * A tiny evaluator of the integer expressions macros and enum items are defined with: literals (with U/L
 * suffixes), names, unary - ~ !, binary * / % + - << >> & ^ |, parentheses. Anything else (a cast, sizeof,
 * a call) gives null.
 */
export function evaluate(expr: string, resolve: (name: string) => bigint | null): bigint | null {
  const tokens = expr.match(/0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|<<|>>|[-+*/%&|^~!()]|\S/g) ?? [];
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const prec: Record<string, number> = { '|': 1, '^': 2, '&': 3, '<<': 4, '>>': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6 };
  const primary = (): bigint | null => {
    const t = tokens[i++];
    if (t === undefined) return null;
    if (t === '(') {
      const v = binary(0);
      if (tokens[i++] !== ')') return null;
      return v;
    }
    if (t === '-' || t === '~' || t === '!' || t === '+') {
      const v = primary();
      if (v === null) return null;
      return t === '-' ? -v : t === '~' ? ~v : t === '!' ? (v === 0n ? 1n : 0n) : v;
    }
    if (/^\d/.test(t)) {
      const digits = t.replace(/[uUlL]+$/, '');
      if (/^0\d+$/.test(digits)) return /^[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : null;
      return BigInt(digits);
    }
    if (/^[A-Za-z_]/.test(t)) return resolve(t);
    return null;
  };
  const binary = (min: number): bigint | null => {
    let left = primary();
    for (;;) {
      const op = peek();
      const p = op === undefined ? undefined : prec[op];
      if (left === null || p === undefined || p < min) return left;
      i++;
      const right = binary(p + 1);
      if (right === null) return null;
      switch (op) {
        case '|': left = left | right; break;
        case '^': left = left ^ right; break;
        case '&': left = left & right; break;
        case '<<': left = right > 64n ? null : left << right; break;
        case '>>': left = right > 64n ? null : left >> right; break;
        case '+': left = left + right; break;
        case '-': left = left - right; break;
        case '*': left = left * right; break;
        case '/': left = right === 0n ? null : left / right; break;
        case '%': left = right === 0n ? null : left % right; break;
        default: return null;
      }
    }
  };
  const v = binary(0);
  return i === tokens.length ? v : null;
}

/**
 * `evaluate` with names from `env` and casts to a type name dropped, as the unsigned 32-bit value an enum item or
 * a `cmp` immediate holds; null when anything in it is unknown.
 */
export function evaluateConstant(expr: string, env: ReadonlyMap<string, number>): number | null {
  // Casts to a type name go: `(__force ieee80211_rx_result)___RX_QUEUED`, `(u32)x`.
  const text = expr.replace(/\(\s*(?:__force\s+)?(?:(?:unsigned|signed|const)\s+)*([A-Za-z_]\w*)\s*\)(?=\s*[\w(~])/g, (all, t: string) => (env.has(t) ? all : ' '));
  const v = evaluate(text, (name) => {
    const known = env.get(name);
    return known === undefined ? null : BigInt(known);
  });
  return v === null ? null : Number(BigInt.asUintN(32, v));
}
