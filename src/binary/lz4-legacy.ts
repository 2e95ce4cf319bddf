// LZ4 "legacy" frames, the format of an LZ4 bzImage payload (`lz4 -l`): magic 0x184C2102, then blocks, each
// a 32-bit little-endian compressed size and an LZ4 block that decodes to at most 8 MiB. The kernel appends
// the decompressed size after the last block. Block format: lz4's doc/lz4_Block_format.md.

export const LZ4_LEGACY_MAGIC = 0x184c2102;
const MAX_BLOCK = 8 * 1024 * 1024;

export class Lz4FormatError extends Error {}

function decodeBlock(src: Uint8Array, out: Uint8Array, outStart: number): number {
  let s = 0;
  let o = outStart;
  while (s < src.length) {
    const token = src[s++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      for (;;) {
        const b = src[s++];
        if (b === undefined) throw new Lz4FormatError('truncated literal length');
        literals += b;
        if (b !== 255) break;
      }
    }
    if (s + literals > src.length || o + literals > out.length) throw new Lz4FormatError('literals run past the block');
    out.set(src.subarray(s, s + literals), o);
    s += literals;
    o += literals;
    if (s === src.length) break;
    const offset = (src[s] ?? 0) | ((src[s + 1] ?? 0) << 8);
    s += 2;
    if (offset === 0 || offset > o) throw new Lz4FormatError('bad match offset');
    let length = (token & 15) + 4;
    if ((token & 15) === 15) {
      for (;;) {
        const b = src[s++];
        if (b === undefined) throw new Lz4FormatError('truncated match length');
        length += b;
        if (b !== 255) break;
      }
    }
    if (o + length > out.length) throw new Lz4FormatError('match runs past the output');
    for (let i = 0; i < length; i++, o++) out[o] = out[o - offset]!;
  }
  return o;
}

export function decodeLz4Legacy(data: Uint8Array): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 8 || view.getUint32(0, true) !== LZ4_LEGACY_MAGIC) throw new Lz4FormatError('not an LZ4 legacy frame');
  const blocks: Array<[number, number]> = [];
  let at = 4;
  while (at + 4 <= data.length) {
    const size = view.getUint32(at, true);
    // What follows the last block: the kernel's appended size (too large to be a block) or another frame's magic.
    if (size === LZ4_LEGACY_MAGIC || size === 0 || at + 4 + size > data.length) break;
    blocks.push([at + 4, size]);
    at += 4 + size;
  }
  if (blocks.length === 0) throw new Lz4FormatError('no LZ4 block');
  let out = new Uint8Array(blocks.length * MAX_BLOCK);
  let o = 0;
  for (const [start, size] of blocks) {
    if (o + MAX_BLOCK > out.length) {
      const bigger = new Uint8Array(out.length * 2);
      bigger.set(out.subarray(0, o));
      out = bigger;
    }
    o = decodeBlock(data.subarray(start, start + size), out.subarray(0, o + MAX_BLOCK), o);
  }
  return out.subarray(0, o);
}
