// x86-64 decoding of one function's bytes with iced-x86 (WebAssembly, no native build) into the few facts
// the drop analysis reads: control flow, call targets by name, registers written, constants loaded,
// immediates and rip-relative data references. The only importer of iced-x86 in this folder.
import { Decoder, DecoderOptions, FlowControl, FormatterSyntax, Formatter, Instruction, InstructionInfoFactory, MemorySize, Mnemonic, OpAccess, OpKind, Register, RegisterExt } from 'iced-x86';
import type { FunctionCode } from '../binary/index.ts';

export type Flow = 'next' | 'jmp' | 'jcc' | 'ret' | 'call' | 'icall' | 'ijmp' | 'stop';

/** General-purpose register families, numbered as in the ModRM encoding: rax 0, rcx 1, rdx 2, rbx 3, rsp 4, rbp 5, rsi 6, rdi 7, r8..r15 8..15. */
export const ARG_FAMILIES = [7, 6, 2, 1, 8, 9] as const; // rdi, rsi, rdx, rcx, r8, r9 (System V)
export const FAMILY_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
const NAMES32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'] as const;
const RSP_FAMILY = 4;
const RBP_FAMILY = 5;
/** rax, rcx, rdx, rsi, rdi, r8-r11: what a call may change. */
const CALLER_SAVED = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11);

export function register32Name(family: number): string {
  return NAMES32[family] ?? '?';
}

export interface Insn {
  /** Offset of the instruction inside the function. */
  off: number;
  len: number;
  flow: Flow;
  /** Direct branch or call target as an offset inside the function, or null (outside, or indirect). */
  local: number | null;
  /** Name of a direct call/jump target outside the function (image symbol or relocation target). */
  callee: string | null;
  /** Bit mask of register families this instruction writes (a call: the caller-saved ones). */
  writes: number;
  /** A constant it loads into a register family (`mov $imm, %reg`, `xor %reg, %reg`): [family, value]. */
  loads: [number, number] | null;
  /** Immediates, as unsigned 32-bit values (errno returns, compare constants, counter indexes). */
  imms: number[];
  /** A rip-relative data reference: image address, or the relocation target name in an object. */
  dataRef: bigint | string | null;
  /** A %gs-relative memory operand's displacement (per-cpu data: SNMP counters), or null. */
  gsDisp: number | null;
  /** Displacement of a register-based memory operand (struct fields, counter slots), or null. */
  disp: number | null;
  /** A `cmp` or `test` (it sets the flags a conditional jump reads). */
  compares: boolean;
  /** A 64-bit register-to-register `mov`: [destination family, source family]. */
  copy: [number, number] | null;
  /** A 32-bit register-to-register `mov` (`mov %ebx,%eax`: a return value set before a call): [destination family, source family]. */
  copy32: [number, number] | null;
  /**
   * A 64-bit `mov disp(%base[,%index,scale]), %reg`: the loaded register, the base register's family, the
   * displacement, and the index register's family (null without one: `np->rx_info[i].skb` has one).
   */
  load: { dst: number; base: number; disp: number; index: number | null } | null;
  /** A 64-bit `mov %reg, disp(%base)` (no index). */
  store: { src: number; base: number; disp: number } | null;
  /** A 64-bit `movq $0, disp(%base[,%index,scale])`: a pointer field set to NULL (index as in `load`). */
  clears: { base: number; disp: number; index: number | null } | null;
  /**
   * What it writes to memory through its first operand: `count` (`inc`, `dec`, `add`, `sub`, `xadd`: a counter
   * bump, `lock incq 0x260(%r14)`), `stack` (through %rsp, or %rbp below it), `write` (any other store or
   * read-modify-write but a store of 0: an unlock or a cleared pointer), else null.
   */
  memWrite: 'count' | 'write' | 'stack' | null;
  /**
   * For a counter bump (`memWrite` `count`) through a base register and no index register: the displacement it
   * adds to (`lock incq 0x270(%r14)`, `addq $1,0x1a8(%rbx)`, `incq %gs:0x10(%rax)`), a struct member's offset; else null.
   */
  bump: number | null;
}

export interface DecodedFunction {
  name: string;
  address: bigint;
  size: number;
  insns: Insn[];
  /** Instruction index by offset. */
  at: Map<number, number>;
}

/** How a direct target outside the function is named: by image address, or by a relocation at a byte offset. */
export interface TargetNamer {
  /** Name of the function that starts at an image address (null when it is not a function start). */
  byAddress(address: bigint): string | null;
}

function familyOf(reg: Register): number {
  if (reg === Register.None || !RegisterExt.isGPR(reg)) return -1;
  const full = RegisterExt.fullRegister(reg);
  const n = full - Register.RAX;
  return n >= 0 && n < 16 ? n : -1;
}

// Thunks that stand for plain instructions (retpolines and return thunks, CONFIG_MITIGATION_*).
const RETURN_THUNK = /^__x86_return_thunk$|^srso_(alias_)?return_thunk$|^retbleed_return_thunk$|^its_return_thunk$/;
const INDIRECT_THUNK = /^__x86_indirect_(call_|jump_|its_)?thunk_/;

let factory: InstructionInfoFactory | null = null;

export function decodeFunction(code: FunctionCode, namer: TargetNamer | null): DecodedFunction {
  factory ??= new InstructionInfoFactory();
  const decoder = new Decoder(64, code.bytes, DecoderOptions.None);
  decoder.ip = code.address;
  const insn = new Instruction();
  const out: Insn[] = [];
  const at = new Map<number, number>();
  const relocTargets = code.relocTargets;
  const start = code.address;
  const end = code.address + BigInt(code.size);
  while (decoder.canDecode) {
    decoder.decodeOut(insn);
    const off = Number(insn.ip - start);
    const len = insn.length;
    // A relocation inside this instruction names what its operand points at (objects and modules).
    let reloc: string | null = null;
    if (relocTargets !== undefined) {
      for (let k = off + 1; k < off + len; k++) {
        const r = relocTargets.get(k);
        if (r !== undefined) {
          reloc = r;
          break;
        }
      }
    }
    let flow: Flow = 'next';
    let local: number | null = null;
    let callee: string | null = null;
    const fc = insn.flowControl;
    if (fc === FlowControl.Call || fc === FlowControl.UnconditionalBranch || fc === FlowControl.ConditionalBranch) {
      flow = fc === FlowControl.Call ? 'call' : fc === FlowControl.ConditionalBranch ? 'jcc' : 'jmp';
      if (reloc !== null) {
        callee = reloc;
      } else {
        const t = insn.nearBranchTarget;
        if (t >= start && t < end) local = Number(t - start);
        else if (namer !== null) callee = namer.byAddress(t);
      }
      if (callee !== null && flow !== 'jcc') {
        if (RETURN_THUNK.test(callee)) flow = 'ret';
        else if (INDIRECT_THUNK.test(callee)) flow = flow === 'call' ? 'icall' : 'ijmp';
      }
    } else if (fc === FlowControl.IndirectCall) flow = 'icall';
    else if (fc === FlowControl.IndirectBranch) flow = 'ijmp';
    else if (fc === FlowControl.Return) flow = 'ret';
    else if (fc === FlowControl.Exception || insn.mnemonic === Mnemonic.Hlt || insn.mnemonic === Mnemonic.Ud2 || insn.mnemonic === Mnemonic.Int3) flow = 'stop';

    let writes = 0;
    let op0Writes = false;
    if (flow === 'call' || flow === 'icall') writes = CALLER_SAVED;
    else {
      const info = factory.info(insn);
      const a0 = insn.opCount > 0 && insn.op0Kind === OpKind.Memory ? info.op0Access : OpAccess.None;
      op0Writes = a0 === OpAccess.Write || a0 === OpAccess.CondWrite || a0 === OpAccess.ReadWrite || a0 === OpAccess.ReadCondWrite;
      for (const u of info.usedRegisters() as Array<{ register: Register; access: OpAccess }>) {
        const a = u.access;
        if (a === OpAccess.Write || a === OpAccess.CondWrite || a === OpAccess.ReadWrite || a === OpAccess.ReadCondWrite) {
          const f = familyOf(u.register);
          if (f >= 0) writes |= 1 << f;
        }
      }
    }
    let loads: [number, number] | null = null;
    const imms: number[] = [];
    const ops = insn.opCount;
    // A stack adjustment (`add $-0x80,%rsp`) is no constant of the source: its immediate would pass for an errno.
    const onStack = ops > 0 && insn.op0Kind === OpKind.Register && familyOf(insn.op0Register) === RSP_FAMILY;
    for (let i = 0; i < ops && !onStack; i++) {
      const k = insn.opKind(i);
      if (k === OpKind.Immediate8 || k === OpKind.Immediate16 || k === OpKind.Immediate32 || k === OpKind.Immediate64
        || k === OpKind.Immediate8to16 || k === OpKind.Immediate8to32 || k === OpKind.Immediate8to64 || k === OpKind.Immediate32to64) {
        imms.push(Number(insn.immediate(i) & 0xffffffffn));
      }
    }
    const m = insn.mnemonic;
    if (m === Mnemonic.Mov && ops === 2 && insn.op0Kind === OpKind.Register && imms.length === 1) {
      const f = familyOf(insn.op0Register);
      if (f >= 0 && RegisterExt.size(insn.op0Register) >= 4) loads = [f, imms[0] ?? 0];
    } else if ((m === Mnemonic.Xor || m === Mnemonic.Sub) && ops === 2 && insn.op0Kind === OpKind.Register && insn.op1Kind === OpKind.Register && insn.op0Register === insn.op1Register) {
      const f = familyOf(insn.op0Register);
      if (f >= 0 && RegisterExt.size(insn.op0Register) >= 4) loads = [f, 0];
    }
    let dataRef: bigint | string | null = null;
    // -mcmodel=kernel: a data address as a sign-extended immediate (`mov $0xffffffff82…, %rdi`).
    for (let i = 0; i < ops; i++) {
      const k = insn.opKind(i);
      if (k !== OpKind.Immediate32to64 && k !== OpKind.Immediate64) continue;
      const v = insn.immediate(i) & 0xffffffffffffffffn;
      if (v >= 0xffffffff80000000n && relocTargets === undefined) dataRef = v;
    }
    // In a .ko/.o the same load (`mov $0x0,%rsi` for a printk string) is an immediate the linker fills:
    // an R_X86_64_32S / _32 / _64 relocation names what it points at.
    if (reloc !== null && flow === 'next' && imms.length > 0) dataRef = reloc;
    let gsDisp: number | null = null;
    let disp: number | null = null;
    for (let i = 0; i < ops; i++) {
      if (insn.opKind(i) !== OpKind.Memory) continue;
      if (insn.memoryBase === Register.RIP) dataRef = reloc ?? insn.ipRelMemoryAddress;
      else if (insn.memorySegment === Register.GS) gsDisp = Number(insn.memoryDisplacement & 0xffffffffn);
      else if (reloc !== null && flow === 'next') dataRef = reloc;
      if (insn.memoryBase !== Register.RIP && insn.memoryBase !== Register.None) {
        const d = Number(insn.memoryDisplacement & 0xffffffffn);
        if (d > 0 && d < 0x10000) disp = d;
      }
    }
    at.set(off, out.length);
    const compares = m === Mnemonic.Cmp || m === Mnemonic.Test;
    let copy: [number, number] | null = null;
    let copy32: [number, number] | null = null;
    let load: Insn['load'] = null;
    let store: Insn['store'] = null;
    let clears: Insn['clears'] = null;
    if (m === Mnemonic.Mov && ops === 2) {
      const k0 = insn.op0Kind;
      const k1 = insn.op1Kind;
      const wide = (r: Register): boolean => RegisterExt.isGPR64(r);
      const plain = insn.memorySegment !== Register.GS && insn.memoryBase !== Register.RIP;
      const simple = plain && insn.memoryIndex === Register.None;
      const index = insn.memoryIndex === Register.None ? null : familyOf(insn.memoryIndex);
      // An array element through an index register (`mov 0xa20(%rbp,%rbx,2),%rdi`) is loaded and cleared too.
      const indexed = plain && (index === null || index >= 0);
      if (k0 === OpKind.Register && k1 === OpKind.Register && wide(insn.op0Register) && wide(insn.op1Register)) copy = [familyOf(insn.op0Register), familyOf(insn.op1Register)];
      else if (k0 === OpKind.Register && k1 === OpKind.Register && RegisterExt.isGPR32(insn.op0Register) && RegisterExt.isGPR32(insn.op1Register)) copy32 = [familyOf(insn.op0Register), familyOf(insn.op1Register)];
      else if (k0 === OpKind.Register && k1 === OpKind.Memory && wide(insn.op0Register) && indexed && familyOf(insn.memoryBase) >= 0) {
        load = { dst: familyOf(insn.op0Register), base: familyOf(insn.memoryBase), disp: Number(BigInt.asIntN(64, insn.memoryDisplacement)), index };
      } else if (k0 === OpKind.Memory && k1 === OpKind.Register && wide(insn.op1Register) && simple && familyOf(insn.memoryBase) >= 0) {
        store = { src: familyOf(insn.op1Register), base: familyOf(insn.memoryBase), disp: Number(BigInt.asIntN(64, insn.memoryDisplacement)) };
      } else if (k0 === OpKind.Memory && insn.memorySize === MemorySize.UInt64 && imms.length === 1 && imms[0] === 0 && indexed && familyOf(insn.memoryBase) >= 0) {
        clears = { base: familyOf(insn.memoryBase), disp: Number(BigInt.asIntN(64, insn.memoryDisplacement)), index };
      }
    }
    let memWrite: Insn['memWrite'] = null;
    if (op0Writes) {
      const base = familyOf(insn.memoryBase);
      const d = Number(BigInt.asIntN(64, insn.memoryDisplacement));
      if (insn.memorySegment !== Register.GS && (base === RSP_FAMILY || (base === RBP_FAMILY && d < 0))) memWrite = 'stack';
      else if (m === Mnemonic.Inc || m === Mnemonic.Dec || m === Mnemonic.Add || m === Mnemonic.Sub || m === Mnemonic.Xadd) memWrite = 'count';
      else if (!(m === Mnemonic.Mov && imms.length === 1 && imms[0] === 0)) memWrite = 'write';
    }
    const bump = memWrite === 'count' && insn.memoryIndex === Register.None && familyOf(insn.memoryBase) >= 0 && insn.memoryBase !== Register.RIP ? Number(BigInt.asIntN(64, insn.memoryDisplacement)) : null;
    out.push({ off, len, flow, local, callee, writes, loads, imms, dataRef, gsDisp, disp, compares, copy, copy32, load, store, clears, memWrite, bump: bump !== null && bump > 0 ? bump : null });
  }
  decoder.free();
  insn.free();
  return { name: code.name, address: code.address, size: code.size, insns: out, at };
}

/** AT&T text of the instruction at `off` (for evidence strings), decoded again on demand. */
export function formatAt(code: FunctionCode, off: number): string {
  const decoder = new Decoder(64, code.bytes.subarray(off), DecoderOptions.None);
  decoder.ip = code.address + BigInt(off);
  const insn = decoder.decode();
  const f = new Formatter(FormatterSyntax.Gas);
  const text = f.format(insn);
  f.free();
  insn.free();
  decoder.free();
  return text;
}
