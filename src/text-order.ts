// Ordering of names and paths by code unit, as `sort` in the C locale does. Deterministic on every
// machine (no ICU locale), and free to start: the first `localeCompare` builds a collator (~10 ms),
// which alone was a tenth of `dropsite explain`'s start-up.
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
