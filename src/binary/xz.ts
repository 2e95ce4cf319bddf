// .xz decoding for kernel payloads. The decoder is xz-embedded compiled to WebAssembly (package
// xz-decompress), which knows LZMA2 but not the x86 BCJ filter that Debian's bzImage uses
// (`xz --check=crc32 --x86 --lzma2=...`). So each block is re-wrapped as a one-block stream with the LZMA2
// filter alone and no check, decoded, then un-filtered here (bcj-x86.ts) and checked against the block's
// own CRC32 and the index's sizes. Container layout: xz-file-format.txt (Tukaani), sections 2-4.
import xzDecompress from 'xz-decompress';
import { decodeBcjX86 } from './bcj-x86.ts';
import { crc32 } from './crc32.ts';

const { XzReadableStream } = xzDecompress;

export const XZ_MAGIC = Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00);
const FOOTER_MAGIC_Y = 0x59;
const FOOTER_MAGIC_Z = 0x5a;
const FILTER_X86 = 0x04;
const FILTER_LZMA2 = 0x21;
const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64] as const;

export class XzFormatError extends Error {}

function readVarint(b: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 9; i++) {
    const byte = b[at + i];
    if (byte === undefined) throw new XzFormatError('truncated number');
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: at + i + 1 };
  }
  throw new XzFormatError('number too long');
}

function writeVarint(out: number[], value: number): void {
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
}

function u32le(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16) | ((b[at + 3] ?? 0) << 24)) >>> 0;
}

function withCrc(bytes: number[]): Uint8Array {
  const body = Uint8Array.from(bytes);
  const crc = crc32(body);
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc, true);
  return out;
}

/**
 * Finds the stream footer in `data` (the stream starts at 0): the kernel appends the 4-byte decompressed size
 * after it, other writers add zero padding, so look for a footer whose CRC holds near the end.
 */
function findFooter(data: Uint8Array): number {
  for (let end = data.length; end >= 12 && end >= data.length - 64; end--) {
    const at = end - 12;
    if (data[at + 10] !== FOOTER_MAGIC_Y || data[at + 11] !== FOOTER_MAGIC_Z) continue;
    if (crc32(data.subarray(at + 4, at + 10)) === u32le(data, at)) return at;
  }
  throw new XzFormatError('no stream footer (truncated?)');
}

interface Block { start: number; unpadded: number; uncompressed: number }

function readIndex(data: Uint8Array, footer: number): Block[] {
  const indexSize = (u32le(data, footer + 4) + 1) * 4;
  const indexStart = footer - indexSize;
  if (indexStart < 12 || data[indexStart] !== 0) throw new XzFormatError('bad index');
  if (crc32(data.subarray(indexStart, footer - 4)) !== u32le(data, footer - 4)) throw new XzFormatError('index CRC mismatch');
  let at = indexStart + 1;
  const count = readVarint(data, at);
  at = count.next;
  const blocks: Block[] = [];
  let start = 12;
  for (let i = 0; i < count.value; i++) {
    const unpadded = readVarint(data, at);
    const uncompressed = readVarint(data, unpadded.next);
    at = uncompressed.next;
    blocks.push({ start, unpadded: unpadded.value, uncompressed: uncompressed.value });
    start += Math.ceil(unpadded.value / 4) * 4;
  }
  if (start !== indexStart) throw new XzFormatError('index does not match the blocks');
  return blocks;
}

async function decodeLzma2Stream(stream: Uint8Array): Promise<Uint8Array> {
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(stream);
      controller.close();
    },
  });
  const chunks: Uint8Array[] = [];
  const reader = new XzReadableStream(input).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  return concat(chunks);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function le32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

/** One block as a stream of its own: LZMA2 only, check None (stream flags 00 00). */
function rewrapBlock(compressed: Uint8Array, lzma2Props: number, uncompressed: number): Uint8Array {
  const streamFlags = Uint8Array.of(0x00, 0x00);
  const streamHeader = concat([XZ_MAGIC, streamFlags, Uint8Array.from(le32(crc32(streamFlags)))]);
  const blockHeader = withCrc([0x02, 0x00, FILTER_LZMA2, 0x01, lzma2Props, 0x00, 0x00, 0x00]);
  const padding = new Uint8Array((4 - (compressed.length % 4)) % 4);
  const index: number[] = [0x00];
  writeVarint(index, 1);
  writeVarint(index, blockHeader.length + compressed.length);
  writeVarint(index, uncompressed);
  while (index.length % 4 !== 0) index.push(0);
  const indexBytes = withCrc(index);
  const footerBody = Uint8Array.from([...le32(indexBytes.length / 4 - 1), 0x00, 0x00]);
  const footer = concat([Uint8Array.from(le32(crc32(footerBody))), footerBody, Uint8Array.of(FOOTER_MAGIC_Y, FOOTER_MAGIC_Z)]);
  return concat([streamHeader, blockHeader, compressed, padding, indexBytes, footer]);
}

/** Decodes one .xz stream that starts at data[0]; trailing bytes after its footer are ignored. */
export async function decodeXz(data: Uint8Array): Promise<Uint8Array> {
  for (let i = 0; i < 6; i++) if (data[i] !== XZ_MAGIC[i]) throw new XzFormatError('not an .xz stream');
  if (data.length < 32) throw new XzFormatError('truncated stream');
  if (crc32(data.subarray(6, 8)) !== u32le(data, 8)) throw new XzFormatError('stream header CRC mismatch');
  const checkType = (data[7] ?? 0) & 0x0f;
  const checkSize = CHECK_SIZES[checkType] ?? 0;
  const footer = findFooter(data);
  const blocks = readIndex(data, footer);
  const outputs: Uint8Array[] = [];
  for (const block of blocks) {
    const headerSize = ((data[block.start] ?? 0) + 1) * 4;
    const header = data.subarray(block.start, block.start + headerSize);
    if (header.length !== headerSize || crc32(header.subarray(0, headerSize - 4)) !== u32le(header, headerSize - 4)) {
      throw new XzFormatError('block header CRC mismatch');
    }
    const flags = header[1] ?? 0;
    let at = 2;
    if (flags & 0x40) at = readVarint(header, at).next;
    if (flags & 0x80) at = readVarint(header, at).next;
    const filters: Array<{ id: number; props: Uint8Array }> = [];
    for (let i = 0; i <= (flags & 3); i++) {
      const id = readVarint(header, at);
      const size = readVarint(header, id.next);
      filters.push({ id: id.value, props: header.subarray(size.next, size.next + size.value) });
      at = size.next + size.value;
    }
    const last = filters[filters.length - 1];
    if (last === undefined || last.id !== FILTER_LZMA2 || last.props.length !== 1) throw new XzFormatError('block does not end with LZMA2');
    const pre = filters.slice(0, -1);
    const x86 = pre[0];
    if (pre.length > 1 || (x86 !== undefined && x86.id !== FILTER_X86)) {
      throw new XzFormatError(`unsupported filter chain ${filters.map((f) => `0x${f.id.toString(16)}`).join('+')}`);
    }
    const startOffset = x86 !== undefined && x86.props.length === 4 ? u32le(x86.props, 0) : 0;
    const compressedSize = block.unpadded - headerSize - checkSize;
    const compressedStart = block.start + headerSize;
    if (compressedSize <= 0 || compressedStart + compressedSize > footer) throw new XzFormatError('block runs past the index');
    const compressed = data.subarray(compressedStart, compressedStart + compressedSize);
    let out: Uint8Array;
    try {
      out = await decodeLzma2Stream(rewrapBlock(compressed, last.props[0] ?? 0, block.uncompressed));
    } catch (err) {
      throw new XzFormatError(`LZMA2 data is corrupt (${err instanceof Error ? err.message : String(err)})`);
    }
    if (out.length !== block.uncompressed) throw new XzFormatError('block size differs from the index');
    if (x86 !== undefined) decodeBcjX86(out, startOffset);
    const checkAt = compressedStart + Math.ceil(compressedSize / 4) * 4;
    if (checkType === 1 && crc32(out) !== u32le(data, checkAt)) throw new XzFormatError('block CRC32 mismatch');
    outputs.push(out);
  }
  return outputs.length === 1 && outputs[0] !== undefined ? outputs[0] : concat(outputs);
}
