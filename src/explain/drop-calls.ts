// The calls and jumps one function's machine code makes, read with binutils' objdump (argument arrays, no shell).
// For a location without an offset: when a function calls a drop function from one place only, that call's return
// address is the only location its drops can have. Module objects (.ko) name call targets in relocations
// (`R_X86_64_PLT32 kfree_skb_reason-0x4`), which `-r` prints after the instruction they patch.
import { execFile } from 'node:child_process';
import { InputError } from '../errors.ts';

export interface MachineCall {
  /** Address of the call (or jump) instruction. */
  address: bigint;
  /** Address of the next instruction: what `__builtin_return_address(0)` gives in the callee. */
  returnAddress: bigint;
  /** The function called, without `+0x…`; '' for an indirect call. */
  target: string;
  /** A jump (tail call): the callee then returns to this function's caller, and the location is there. */
  isJump: boolean;
}

const INSN_RE = /^\s*([0-9a-f]+):\s+([a-z][a-z0-9.]*)(?:\s+(.*))?$/;
const RELOC_RE = /^\s*[0-9a-f]+:\s+R_[A-Z0-9_]+\s+([^\s+-]+)/;
const TARGET_RE = /<([^>+]+)(\+0x[0-9a-f]+)?>/;
const BRANCH_RE = /^(?:call|j[a-z]+)q?$/;

const LABEL_RE = /^[0-9a-f]+ <([^>]+)>:$/;

/**
 * objdump's text for [start, start + size) → the calls and jumps of `name`, in address order. Pure. Only the lines
 * under `name`'s own label count: in an unlinked object (.ko) every section starts at 0, so the address range can
 * also cover other sections' code.
 */
export function parseCalls(text: string, name: string, end: bigint): MachineCall[] {
  const calls: MachineCall[] = [];
  let pending: MachineCall | null = null;
  let inside = false;
  for (const line of text.split('\n')) {
    const label = LABEL_RE.exec(line);
    if (label !== null || line.startsWith('Disassembly of section ')) {
      if (inside) break;
      inside = label !== null && label[1] === name;
      continue;
    }
    if (!inside) continue;
    const reloc = RELOC_RE.exec(line);
    if (reloc !== null) {
      // Unlinked code: the relocation, not the placeholder operand, names the callee.
      if (pending !== null && pending.returnAddress === 0n) pending.target = reloc[1] ?? '';
      continue;
    }
    const insn = INSN_RE.exec(line);
    if (insn === null) continue;
    const address = BigInt(`0x${insn[1] ?? '0'}`);
    if (pending !== null && pending.returnAddress === 0n) pending.returnAddress = address;
    const mnemonic = insn[2] ?? '';
    if (!BRANCH_RE.test(mnemonic)) continue;
    const operand = insn[3] ?? '';
    const target = operand.startsWith('*') ? null : TARGET_RE.exec(operand);
    const isJump = !mnemonic.startsWith('call');
    // A jump into a function (`jne ffffffff81… <f+0x4c>`) is control flow, not a tail call, unless a relocation names
    // another function.
    const callee = target === null || (isJump && target[2] !== undefined) ? '' : target[1] ?? '';
    pending = { address, returnAddress: 0n, target: callee, isJump };
    calls.push(pending);
  }
  for (const c of calls) if (c.returnAddress === 0n) c.returnAddress = end;
  return calls.filter((c) => !c.isJump || c.target !== '');
}

/** The calls and jumps in the machine code of the function `name` at [start, start + size) of an ELF file. */
export function callsInFunction(file: string, name: string, start: bigint, size: number): Promise<MachineCall[]> {
  const end = start + BigInt(size);
  const args = ['-d', '-r', '--no-show-raw-insn', `--start-address=0x${start.toString(16)}`, `--stop-address=0x${end.toString(16)}`, file];
  return new Promise((resolve, reject) => {
    execFile('objdump', args, { maxBuffer: 1 << 28, encoding: 'latin1' }, (err, stdout, stderr) => {
      if (err !== null) {
        reject('code' in err && err.code === 'ENOENT'
          ? new InputError('cannot run objdump: it is not installed', { hint: 'install binutils (apt-get install binutils) for --vmlinux' })
          : new InputError(`objdump failed on ${file}: ${String(stderr).split('\n')[0] || err.message}`));
        return;
      }
      resolve(parseCalls(stdout, name, end));
    });
  });
}
