// The x86 branch/call/jump filter of the xz format (filter id 0x04), decoder side. xz's encoder turns the
// relative rel32 of E8/E9 instructions into absolute values so that LZMA finds more repeats; this turns
// them back. Debian's bzImage payload is `xz --x86 --lzma2`. The algorithm is the one the xz format
// specifies (xz-file-format.txt, "Branch/Call/Jump Filters"); written here for a whole buffer at once.

// For the bit pattern of the E8/E9 bytes seen among the last three positions: may the current one convert,
// and which byte of its operand decides that.
const MASK_ALLOWED = [true, true, true, false, true, false, false, false] as const;
const MASK_BIT_NUM = [0, 1, 2, 2, 3, 3, 3, 3] as const;

function isMsByte(b: number): boolean {
  return b === 0x00 || b === 0xff;
}

/** Undoes the filter in place over `buf`, whose first byte sits at stream position `startPos`. */
export function decodeBcjX86(buf: Uint8Array, startPos = 0): void {
  if (buf.length <= 4) return;
  const limit = buf.length - 4;
  let prevPos = -1;
  let prevMask = 0;
  // Most bytes are not E8/E9: let the native indexOf find the next candidate.
  let nextE8 = buf.indexOf(0xe8);
  let nextE9 = buf.indexOf(0xe9);
  for (let i = 0; i < limit; i++) {
    if (nextE8 !== -1 && nextE8 < i) nextE8 = buf.indexOf(0xe8, i);
    if (nextE9 !== -1 && nextE9 < i) nextE9 = buf.indexOf(0xe9, i);
    const next = nextE8 === -1 ? nextE9 : nextE9 === -1 ? nextE8 : Math.min(nextE8, nextE9);
    if (next === -1 || next >= limit) break;
    i = next;
    const distance = i - prevPos;
    if (distance > 3) {
      prevMask = 0;
    } else {
      prevMask = (prevMask << (distance - 1)) & 7;
      if (prevMask !== 0) {
        const b = buf[i + 4 - MASK_BIT_NUM[prevMask]!]!;
        if (!MASK_ALLOWED[prevMask]! || isMsByte(b)) {
          prevPos = i;
          prevMask = ((prevMask << 1) | 1) & 7;
          continue;
        }
      }
    }
    prevPos = i;
    if (isMsByte(buf[i + 4]!)) {
      let src = (buf[i + 1]! | (buf[i + 2]! << 8) | (buf[i + 3]! << 16) | (buf[i + 4]! << 24)) >>> 0;
      let dest = 0;
      for (;;) {
        dest = (src - (startPos + i + 5)) >>> 0;
        if (prevMask === 0) break;
        const j = MASK_BIT_NUM[prevMask]! * 8;
        const b = (dest >>> (24 - j)) & 0xff;
        if (!isMsByte(b)) break;
        src = (dest ^ ((2 ** (32 - j)) - 1)) >>> 0;
      }
      dest &= 0x01ffffff;
      if (dest & 0x01000000) dest |= 0xfe000000;
      buf[i + 1] = dest & 0xff;
      buf[i + 2] = (dest >>> 8) & 0xff;
      buf[i + 3] = (dest >>> 16) & 0xff;
      buf[i + 4] = (dest >>> 24) & 0xff;
      i += 4;
    } else {
      prevMask = ((prevMask << 1) | 1) & 7;
    }
  }
}
