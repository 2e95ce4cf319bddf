// A kernel image of a few hand-assembled functions at fixed addresses, as the machine-code reader sees one.
import type { FunctionCode } from '../../src/binary/index.ts';
import type { CodeImage } from '../../src/machine-code/code-image.ts';

export interface ImageFunction { name: string; address: bigint; bytes: number[] }

export function fakeImage(fns: readonly ImageFunction[]): CodeImage {
  const code = (f: ImageFunction): FunctionCode => ({ name: f.name, address: f.address, size: f.bytes.length, sizeExact: true, bytes: Uint8Array.from(f.bytes), relocated: [] });
  return {
    label: 'the test image',
    banner: null,
    lookup: (n) => fns.filter((f) => f.name === n).map((f) => ({ address: f.address, size: f.bytes.length })),
    resolve: (a) => {
      const f = fns.find((x) => a >= x.address && a < x.address + BigInt(Math.max(1, x.bytes.length)));
      return f === undefined ? null : { name: f.name, address: f.address, offset: Number(a - f.address), size: f.bytes.length };
    },
    functionCode: (n) => {
      const f = fns.find((x) => x.name === n);
      return f === undefined ? null : code(f);
    },
    bytesAt: (address, length) => {
      const f = fns.find((x) => address >= x.address && address + BigInt(length) <= x.address + BigInt(x.bytes.length));
      return f === undefined ? null : Uint8Array.from(f.bytes).subarray(Number(address - f.address), Number(address - f.address) + length);
    },
    jumpTable: () => null,
    bugTable: () => null,
  };
}
