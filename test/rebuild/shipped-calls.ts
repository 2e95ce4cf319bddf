// Real drop locations, read from the shipped kernel's own machine code (not from a rebuild): the
// return addresses of the calls a function makes, with the callee's name, in code order.
import { decodeCode, loadKernelImage, loadModule, type KernelImage } from '../../src/binary/index.ts';

export interface ShippedCall {
  /** Offset of the return address from the function's start: what a drop location carries. */
  offset: number;
  callee: string;
}

/** Calls in a vmlinux function, callees named by the image's symbols. */
export function imageCalls(image: KernelImage, fn: string): { size: number; calls: ShippedCall[] } {
  const code = image.functionCode(fn);
  if (code === null) throw new Error(`${fn} is not in ${image.path}`);
  const calls: ShippedCall[] = [];
  for (const ins of decodeCode(code.bytes, code.address)) {
    if (ins.flow !== 'call' || ins.target === null) continue;
    calls.push({ offset: ins.offset + ins.length, callee: image.namesAt(ins.target)[0] ?? '?' });
  }
  return { size: code.size, calls };
}

/** Calls in a module function: their targets are relocations, named by the .ko's relocation table. */
export async function moduleCalls(ko: string, fn: string): Promise<{ size: number; calls: ShippedCall[] }> {
  const code = (await loadModule(ko)).functionCode(fn);
  if (code === null) throw new Error(`${fn} is not in ${ko}`);
  const calls: ShippedCall[] = [];
  for (const ins of decodeCode(code.bytes, 0n)) {
    if (ins.flow !== 'call') continue;
    const callee = code.relocTargets?.get(ins.offset + ins.length - 4);
    if (callee !== undefined) calls.push({ offset: ins.offset + ins.length, callee });
  }
  return { size: code.size, calls };
}

export { loadKernelImage };
