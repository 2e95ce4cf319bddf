// x86-64 decoding through iced-x86 (Rust compiled to WebAssembly, loaded synchronously; no native build).
// Only what comparing and aligning functions needs: instruction boundaries, flow kind and direct targets.
import iced from 'iced-x86';

const { Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic } = iced;

export type Flow = 'next' | 'jump' | 'indirect-jump' | 'conditional' | 'return' | 'call' | 'indirect-call' | 'interrupt' | 'other';

export interface DecodedInstruction {
  /** Offset of the first byte from the start of the decoded bytes. */
  offset: number;
  length: number;
  flow: Flow;
  /** Target address of a direct call or branch (from `address`), else null. */
  target: bigint | null;
  isNop: boolean;
  isInt3: boolean;
}

function flowOf(fc: number): Flow {
  switch (fc) {
    case FlowControl.Next: return 'next';
    case FlowControl.UnconditionalBranch: return 'jump';
    case FlowControl.IndirectBranch: return 'indirect-jump';
    case FlowControl.ConditionalBranch: return 'conditional';
    case FlowControl.Return: return 'return';
    case FlowControl.Call: return 'call';
    case FlowControl.IndirectCall: return 'indirect-call';
    case FlowControl.Interrupt: return 'interrupt';
    default: return 'other';
  }
}

/** Decodes `bytes` as 64-bit code whose first byte sits at `address`. */
export function decodeCode(bytes: Uint8Array, address: bigint): DecodedInstruction[] {
  const decoder = new Decoder(64, bytes, DecoderOptions.None);
  const instr = new Instruction();
  const out: DecodedInstruction[] = [];
  try {
    decoder.ip = BigInt.asUintN(64, address);
    let offset = 0;
    while (decoder.canDecode) {
      decoder.decodeOut(instr);
      const length = instr.length;
      const flow = flowOf(instr.flowControl);
      const direct = flow === 'call' || flow === 'jump' || flow === 'conditional';
      const mnemonic = instr.mnemonic;
      out.push({
        offset,
        length,
        flow,
        target: direct ? instr.nearBranchTarget : null,
        isNop: mnemonic === Mnemonic.Nop,
        isInt3: mnemonic === Mnemonic.Int3,
      });
      offset += length;
    }
  } finally {
    instr.free();
    decoder.free();
  }
  return out;
}

/** True when `bytes` is only alignment filler: NOPs of any length or int3. */
export function isPadding(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return true;
  if (bytes.every((b) => b === 0xcc)) return true;
  const decoded = decodeCode(bytes, 0n);
  const total = decoded.reduce((n, i) => n + i.length, 0);
  return total === bytes.length && decoded.every((i) => i.isNop || i.isInt3);
}
