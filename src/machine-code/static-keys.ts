// Static-key sites (`__jump_table`) in one canonical form. The kernel patches each site at run time between a
// nop and a jump to its target (arch/x86/kernel/jump_label.c: a 2- or 5-byte `jmp`, or the nop of the same
// size), and a file's code holds whichever the compiler emitted for the key's default. Read as found, a `jmp`
// hides the path that falls through and a nop hides the jump. Every site is read as the nop, and the table's
// edge gives the jump: both paths are seen, the same in a vmlinuz, a vmlinux and /proc/kcore.
import type { FunctionCode } from '../binary/index.ts';

const NOP5 = [0x0f, 0x1f, 0x44, 0x00, 0x00];
const NOP2 = [0x66, 0x90];

/** `code` with each static-key site that jumps to its table target rewritten as the nop of the same size. */
export function normaliseStaticKeys(code: FunctionCode, edges: ReadonlyArray<[number, number]>): FunctionCode {
  let bytes: Uint8Array | null = null;
  for (const [from, to] of edges) {
    const b = code.bytes;
    const op = b[from];
    let nop: number[] | null = null;
    if (op === 0xe9 && from + 5 <= b.length) {
      const rel = new DataView(b.buffer, b.byteOffset + from + 1, 4).getInt32(0, true);
      if (from + 5 + rel === to) nop = NOP5;
    } else if (op === 0xeb && from + 2 <= b.length) {
      const rel = (b[from + 1] ?? 0) << 24 >> 24;
      if (from + 2 + rel === to) nop = NOP2;
    }
    if (nop === null) continue;
    bytes ??= Uint8Array.from(b);
    bytes.set(nop, from);
  }
  return bytes === null ? code : { ...code, bytes };
}
