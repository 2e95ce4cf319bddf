// Comparing a shipped function with its rebuilt copy. First the bytes, with the operands the linker fills
// masked (the rebuilt object's relocated ranges, and the shipped one's when it is an object too). When they
// differ, both are decoded and their calls (and jumps out of the function) aligned by target name, in order
// (a longest common subsequence); an offset in the shipped function then maps through the nearest aligned
// call: the return address right after shipped call #k is the one right after rebuilt call #k.
import type { FunctionCode } from './types.ts';
import { decodeCode, isPadding } from './x86.ts';

export interface CodeComparison {
  identical: boolean;
  sizeEqual: boolean;
  /**
   * The rebuilt function's bytes equal the start of the shipped ones although the sizes differ: what a symbol
   * map's size gives when an unlisted symbol follows the function (kallsyms omits some), so that its "size"
   * runs on into the next code. Not called identical; a caller may trust the code with that caveat.
   */
  prefixIdentical: boolean;
  /** Offset of the first differing unmasked byte, or null when the bytes agree over the shorter length. */
  firstDifference: number | null;
  /** Calls (and branches leaving the function) in each, and how many the alignment paired. */
  calls: { shipped: number; rebuilt: number; aligned: number };
  /** Maps an offset in the shipped function to the matching offset in the rebuilt one; null when not mappable. */
  mapOffset(shippedOffset: number): number | null;
  summary: string;
}

interface CallEvent {
  /** Offset of the instruction and just after it (the return address of a call). */
  start: number;
  end: number;
  names: string[];
}

// Calls to one target can repeat (two kfree_skb_reason calls, two counters): among equal targets prefer the
// pairing whose preceding bytes agree too (the argument set-up, `mov $reason,%esi`), counted back from the call.
const CONTEXT_BYTES = 16;

function maskOf(code: FunctionCode, length: number): Uint8Array {
  const mask = new Uint8Array(length);
  for (const [start, end] of code.relocated) mask.fill(1, Math.max(0, start), Math.min(length, end));
  return mask;
}

function baseName(name: string): string {
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

function sameTarget(a: readonly string[], b: readonly string[]): boolean {
  if (a.some((x) => b.includes(x))) return true;
  const bb = b.map(baseName);
  return a.some((x) => bb.includes(baseName(x)));
}

function callEvents(code: FunctionCode): CallEvent[] {
  const events: CallEvent[] = [];
  const start = code.address;
  const end = start + BigInt(code.size);
  for (const ins of decodeCode(code.bytes, code.address)) {
    if (ins.flow !== 'call' && ins.flow !== 'jump' && ins.flow !== 'conditional') continue;
    const field = ins.offset + ins.length - 4;
    const reloc = code.relocTargets?.get(field);
    let names: string[];
    if (reloc !== undefined) {
      names = [reloc];
    } else {
      const target = ins.target;
      if (target === null) continue;
      // A branch inside the function is control flow, not a call.
      if (ins.flow !== 'call' && target >= start && target < end) continue;
      names = code.namesAt?.(target) ?? [];
      if (names.length === 0) names = [`0x${target.toString(16)}`];
    }
    events.push({ start: ins.offset, end: ins.offset + ins.length, names });
  }
  return events;
}

/**
 * Heaviest common subsequence of the two call lists (a longest common subsequence where a pair of equal
 * targets weighs 1 plus up to 0.5 for agreeing context): pairs of indexes, in order.
 */
function alignCalls(a: readonly CallEvent[], b: readonly CallEvent[], weight: (i: number, j: number) => number): Array<[number, number]> {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return [];
  const width = m + 1;
  const table = new Float64Array((n + 1) * width);
  const pairWeight = (i: number, j: number): number => (sameTarget(a[i]!.names, b[j]!.names) ? weight(i, j) : 0);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      const w = pairWeight(i, j);
      const take = w > 0 ? table[(i + 1) * width + j + 1]! + w : 0;
      table[i * width + j] = Math.max(take, table[(i + 1) * width + j]!, table[i * width + j + 1]!);
    }
  }
  const pairs: Array<[number, number]> = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const w = pairWeight(i, j);
    if (w > 0 && table[i * width + j] === table[(i + 1) * width + j + 1]! + w) {
      pairs.push([i, j]);
      i++;
      j++;
    } else if (table[(i + 1) * width + j]! >= table[i * width + j + 1]!) {
      i++;
    } else {
      j++;
    }
  }
  return pairs;
}

export function compareCode(shipped: FunctionCode, rebuilt: FunctionCode): CodeComparison {
  const common = Math.min(shipped.size, rebuilt.size, shipped.bytes.length, rebuilt.bytes.length);
  const rebuiltMask = maskOf(rebuilt, rebuilt.bytes.length);
  const shippedMask = maskOf(shipped, shipped.bytes.length);
  let firstDifference: number | null = null;
  for (let i = 0; i < common; i++) {
    if (rebuiltMask[i] || shippedMask[i]) continue;
    if (shipped.bytes[i] !== rebuilt.bytes[i]) {
      firstDifference = i;
      break;
    }
  }
  // A size taken from the next symbol holds the alignment filler after the function's last instruction.
  const sizeEqual =
    shipped.size === rebuilt.size ||
    (!shipped.sizeExact && rebuilt.sizeExact && shipped.size > rebuilt.size && shipped.size - rebuilt.size < 64 &&
      isPadding(shipped.bytes.subarray(rebuilt.size, shipped.size))) ||
    (!rebuilt.sizeExact && shipped.sizeExact && rebuilt.size > shipped.size && rebuilt.size - shipped.size < 64 &&
      isPadding(rebuilt.bytes.subarray(shipped.size, rebuilt.size)));
  const identical = sizeEqual && firstDifference === null;
  const prefixIdentical = !identical && firstDifference === null && !shipped.sizeExact && shipped.size > rebuilt.size;
  const codeSize = Math.min(shipped.size, rebuilt.size);

  if (identical) {
    const mapped = (offset: number): number | null => (Number.isInteger(offset) && offset >= 0 && offset <= codeSize ? offset : null);
    const masked = new Set([...rebuilt.relocated, ...shipped.relocated].map(([start]) => start)).size;
    return {
      identical,
      sizeEqual,
      prefixIdentical,
      firstDifference,
      calls: { shipped: 0, rebuilt: 0, aligned: 0 },
      mapOffset: mapped,
      summary: `code identical (${codeSize} bytes${masked > 0 ? `, ${masked} relocated operands masked` : ''})`,
    };
  }

  const a = callEvents(shipped);
  const b = callEvents(rebuilt);
  const contextWeight = (i: number, j: number): number => {
    const s = a[i]!.start;
    const r = b[j]!.start;
    let run = 0;
    while (run < CONTEXT_BYTES && s - run - 1 >= 0 && r - run - 1 >= 0) {
      const ps = s - run - 1;
      const pr = r - run - 1;
      if (!rebuiltMask[pr] && !shippedMask[ps] && shipped.bytes[ps] !== rebuilt.bytes[pr]) break;
      run++;
    }
    return 1 + (0.5 * run) / CONTEXT_BYTES;
  };
  const pairs = alignCalls(a, b, contextWeight);
  // Anchors: function start, then the end of every aligned call.
  const anchors: Array<[number, number]> = [[0, 0], ...pairs.map(([i, j]): [number, number] => [a[i]!.end, b[j]!.end])];

  const sameBytes = (s: number, r: number, length: number): boolean => {
    if (s + length > shipped.bytes.length || r + length > rebuilt.bytes.length) return false;
    for (let k = 0; k < length; k++) {
      if (rebuiltMask[r + k] || shippedMask[s + k]) continue;
      if (shipped.bytes[s + k] !== rebuilt.bytes[r + k]) return false;
    }
    return true;
  };
  const mapOffset = (offset: number): number | null => {
    if (!Number.isInteger(offset) || offset < 0 || offset > shipped.size) return null;
    let anchor: [number, number] | undefined;
    for (const candidate of anchors) if (candidate[0] <= offset && (anchor === undefined || candidate[0] >= anchor[0])) anchor = candidate;
    if (anchor === undefined) return null;
    const [s, r] = anchor;
    if (offset === s) return r;
    // Past the anchor only while the code in between is the same in both.
    return sameBytes(s, r, offset - s) ? r + (offset - s) : null;
  };

  const sizeText = sizeEqual ? `same size (${rebuilt.size} bytes)` : `size differs (shipped ${shipped.size}, rebuilt ${rebuilt.size} bytes)`;
  const diffText = firstDifference !== null
    ? `, first difference at +0x${firstDifference.toString(16)}`
    : prefixIdentical ? `, the rebuilt ${rebuilt.size} bytes equal the start of the shipped symbol (its map size runs past the function)` : '';
  return {
    identical,
    sizeEqual,
    prefixIdentical,
    firstDifference,
    calls: { shipped: a.length, rebuilt: b.length, aligned: pairs.length },
    mapOffset,
    summary: `code differs: ${sizeText}${diffText}; ${pairs.length} of ${a.length} shipped calls aligned with the rebuilt ${b.length}`,
  };
}
