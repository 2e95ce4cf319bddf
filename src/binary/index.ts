// The code reader: kernel images (vmlinuz, vmlinux), relocatable objects and modules, and the comparison of a
// shipped function with a rebuilt one. Knows nothing about drops.
export { loadKernelImage, X86_64_TEXT_LINK_ADDRESS, type KernelImage, type LoadKernelImageOptions } from './image.ts';
export { loadModule, loadObject, parseObject, type ObjectFile, type ObjectFunction } from './object.ts';
export { compareCode, type CodeComparison } from './compare.ts';
export { findModuleFiles, moduleKey, moduleNameOf } from './module-files.ts';
export { decodeCode, isPadding, type DecodedInstruction, type Flow } from './x86.ts';
export type { FunctionCode } from './types.ts';
export type { FunctionSymbol, ResolvedSymbol, SymbolSource } from './symbols.ts';
export { DECODED as DECODED_COMPRESSIONS, type Compression } from './decompress.ts';
export { buildIdFromNotes, buildIdOf } from './elf.ts';
