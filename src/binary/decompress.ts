// The compressions a bzImage payload can use (arch/x86/boot/compressed/Makefile: gzip, bzip2, lzma, xz, lzo,
// lz4, zstd), told apart by their magic. gzip through node:zlib; xz through xz.ts; zstd through
// @bokuweb/zstd-wasm (the reference zstd in WebAssembly: 0.5 s for 6.12's 12 MB payload, where the pure-JS
// fzstd took 24 s); LZ4 legacy frames through lz4-legacy.ts; bzip2 through seek-bzip (pure JS and slow, about
// 20 s for a 66 MB vmlinux, but no distribution ships bzip2 kernels today). lzma and lzo are named, not decoded.
import zlib from 'node:zlib';
import * as zstdWasm from '@bokuweb/zstd-wasm';
import seekBzip from 'seek-bzip';
import { decodeLz4Legacy } from './lz4-legacy.ts';
import { decodeXz } from './xz.ts';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2' | 'lzma' | 'lzo';
export const DECODED: readonly Compression[] = ['gzip', 'xz', 'zstd', 'lz4', 'bzip2'];

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

/** A decompressed vmlinux is 50-70 MB; a bound that no real one reaches. */
const MAX_OUTPUT = 1024 * 1024 * 1024;

/** Decompresses a payload that starts with a known magic; trailing bytes (the kernel's size word) are ignored. */
export async function decompressPayload(b: Uint8Array, kind: Compression): Promise<Uint8Array> {
  switch (kind) {
    case 'gzip':
      // The kernel's gzip payload has no trailer of its own, but a file may: decode only the first member.
      return zlib.gunzipSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    case 'xz':
      return decodeXz(b);
    case 'zstd':
      return decodeZstd(b);
    case 'lz4':
      return decodeLz4Legacy(b);
    case 'bzip2':
      return decodeBzip2(b);
    default:
      throw new UnsupportedCompressionError(`${kind} payloads are not supported (supported: ${DECODED.join(', ')})`);
  }
}

let zstdReady: Promise<void> | null = null;

// The kernel writes the frame without a content size and appends the size as 4 bytes (`zstd22_with_size`),
// so the output buffer is sized from that word when the frame does not say.
async function decodeZstd(b: Uint8Array): Promise<Uint8Array> {
  zstdReady ??= zstdWasm.init();
  await zstdReady;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const appended = b.length >= 8 ? view.getUint32(b.length - 4, true) : 0;
  const frame = appended > 0 && appended <= MAX_OUTPUT ? b.subarray(0, b.length - 4) : b;
  const capacity = appended > 0 && appended <= MAX_OUTPUT ? appended : Math.min(MAX_OUTPUT, b.length * 8);
  try {
    return zstdWasm.decompress(frame, { defaultHeapSize: capacity });
  } catch (err) {
    if (frame === b) throw err;
    return zstdWasm.decompress(b, { defaultHeapSize: Math.min(MAX_OUTPUT, b.length * 8) });
  }
}

// Like zstd, the kernel appends the size; seek-bzip stops after the first stream, so the word is not read.
// Preallocate from it only when it is plausible for the input (bzip2 does not compress 64:1 on code).
function decodeBzip2(b: Uint8Array): Uint8Array {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const appended = b.length >= 8 ? view.getUint32(b.length - 4, true) : 0;
  if (appended > 0 && appended <= Math.min(MAX_OUTPUT, b.length * 64)) {
    try {
      return seekBzip.decode(b, appended);
    } catch {
      // not a size word after all: decode into a growing buffer
    }
  }
  return seekBzip.decode(b);
}
