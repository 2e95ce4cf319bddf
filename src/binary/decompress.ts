// The compressions a bzImage payload can use (arch/x86/boot/compressed/Makefile: gzip, bzip2, lzma, xz, lzo,
// lz4, zstd), told apart by their magic. gzip through node:zlib, xz through xz.ts, zstd through fzstd
// (pure JS), LZ4 legacy frames through lz4-legacy.ts. bzip2, lzma and lzo are named but not decoded.
import zlib from 'node:zlib';
import { decompress as decompressZstd } from 'fzstd';
import { decodeLz4Legacy } from './lz4-legacy.ts';
import { decodeXz } from './xz.ts';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2' | 'lzma' | 'lzo';
export const DECODED: readonly Compression[] = ['gzip', 'xz', 'zstd', 'lz4'];

const MAGICS: ReadonlyArray<[Compression, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
];

export function detectCompression(b: Uint8Array, at = 0): Compression | null {
  for (const [name, magic] of MAGICS) {
    if (magic.every((byte, i) => b[at + i] === byte)) return name;
  }
  return null;
}

export class UnsupportedCompressionError extends Error {}

/** Decompresses a payload that starts with a known magic; trailing bytes (the kernel's size word) are ignored. */
export async function decompressPayload(b: Uint8Array, kind: Compression): Promise<Uint8Array> {
  switch (kind) {
    case 'gzip':
      // The kernel's gzip payload has no trailer of its own, but a file may: decode only the first member.
      return zlib.gunzipSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    case 'xz':
      return decodeXz(b);
    case 'zstd':
      // `zstd22_with_size` appends the 4-byte size after the frame; fzstd would read it as a second frame.
      try {
        return decompressZstd(b);
      } catch {
        return decompressZstd(b.subarray(0, b.length - 4));
      }
    case 'lz4':
      return decodeLz4Legacy(b);
    default:
      throw new UnsupportedCompressionError(`${kind} payloads are not supported (supported: ${DECODED.join(', ')})`);
  }
}
