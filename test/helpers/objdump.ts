// The real return addresses of calls in a compiled fixture, read with binutils by the test itself.
import { execFileSync } from 'node:child_process';

/**
 * Where the calls of `callee` inside `fn` of a linked binary return to, as offsets into `fn`, read with nm and
 * objdump by the test itself; null when `fn` is not in the symbol table.
 */
export function callReturnOffsets(bin: string, fn: string, callee: string): { size: number; offsets: number[] } | null {
  const sym = new RegExp(`^([0-9a-f]+) ([0-9a-f]+) T ${fn}$`, 'm').exec(execFileSync('nm', ['-S', bin], { encoding: 'utf8' }));
  if (sym === null) return null;
  const start = parseInt(sym[1] ?? '0', 16);
  const size = parseInt(sym[2] ?? '0', 16);
  const asm = execFileSync('objdump', ['-d', '--no-show-raw-insn', bin], { encoding: 'utf8' }).split('\n');
  const call = new RegExp(`^\\s*([0-9a-f]+):\\s+call\\s+[0-9a-f]+ <${callee}>`);
  const offsets: number[] = [];
  asm.forEach((l, i) => {
    const m = call.exec(l);
    const at = m === null ? NaN : parseInt(m[1] ?? '', 16);
    const next = /^\s*([0-9a-f]+):/.exec(asm[i + 1] ?? '');
    if (at >= start && at < start + size && next !== null) offsets.push(parseInt(next[1] ?? '', 16) - start);
  });
  return { size, offsets };
}
