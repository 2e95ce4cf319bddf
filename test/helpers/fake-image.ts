// A kernel image made of a few functions and data blocks, behind the CodeImage interface the machine code
// reads: for tests that hand-assemble functions (test/helpers/assemble.ts).
import type { FunctionCode } from '../../src/binary/index.ts';
import type { CodeImage } from '../../src/machine-code/code-image.ts';

export interface Fn { name: string; address: bigint; bytes: number[] }

/** A kernel image made of a few functions and data blocks, with the CodeImage interface machine code reads. */
export function fakeImage(fns: readonly Fn[], data: ReadonlyArray<{ address: bigint; bytes: Uint8Array }> = [], bugTable: { address: bigint; bytes: Uint8Array } | null = null): CodeImage {
  const all = [...fns].sort((a, b) => (a.address < b.address ? -1 : 1));
  const bytesAt = (address: bigint, length: number): Uint8Array | null => {
    for (const b of [...all.map((f) => ({ address: f.address, bytes: Uint8Array.from(f.bytes) })), ...data]) {
      if (address >= b.address && address + BigInt(length) <= b.address + BigInt(b.bytes.length)) return b.bytes.subarray(Number(address - b.address), Number(address - b.address) + length);
    }
    return null;
  };
  const code = (f: Fn): FunctionCode => ({ name: f.name, address: f.address, size: f.bytes.length, sizeExact: true, bytes: Uint8Array.from(f.bytes), relocated: [] });
  return {
    label: 'the test image',
    banner: null,
    lookup: (n) => all.filter((f) => f.name === n).map((f) => ({ address: f.address, size: f.bytes.length })),
    resolve: (a) => {
      const f = all.find((x) => a >= x.address && a < x.address + BigInt(Math.max(1, x.bytes.length)));
      return f === undefined ? null : { name: f.name, address: f.address, offset: Number(a - f.address), size: f.bytes.length };
    },
    functionCode: (n, pick = {}) => {
      const f = all.find((x) => x.name === n && (pick.size === undefined || x.bytes.length === pick.size));
      return f === undefined ? null : code(f);
    },
    bytesAt,
    jumpTable: () => null,
    bugTable: () => bugTable,
  };
}
