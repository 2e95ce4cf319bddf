// The shape the code reader hands out for one function, from a linked image or a relocatable object.

export interface FunctionCode {
  name: string;
  /** The image's address of the first byte; for an object, the symbol's value inside its section. */
  address: bigint;
  size: number;
  /** True for an ELF st_size; false when the size is the distance to the next symbol (it then holds the padding). */
  sizeExact: boolean;
  bytes: Uint8Array;
  /** Byte ranges [start, end) inside `bytes` whose value the linker fills (relocated operands); empty for linked images. */
  relocated: Array<[number, number]>;
  /** For .o/.ko: the relocation targets by offset inside `bytes` (symbol names), so that calls can be compared by target. */
  relocTargets?: Map<number, string>;
  /** Every symbol name that starts at an address of this code's address space (to name a direct call's target). */
  namesAt?: (address: bigint) => string[];
  /** For .o/.ko: the section that holds the function. */
  section?: string;
}
