// A minimal PNG reader for screenshot checks: 8-bit RGB or RGBA, not interlaced (what Chromium writes).
import { inflateSync } from 'node:zlib';

export interface Pixels {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA). */
  channels: number;
  /** Unfiltered samples, row after row. */
  data: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const byteAt = (b: Uint8Array, i: number): number => b[i] ?? 0;

/** The Paeth predictor of the PNG spec (filter type 4). */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

export function decodePng(file: Buffer): Pixels {
  if (!SIGNATURE.every((v, i) => file[i] === v)) throw new Error('not a PNG file');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= file.length;) {
    const length = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    const body = file.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colour, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) {
        throw new Error(`unsupported PNG: bit depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      }
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
    at += 12 + length;
  }
  if (channels === 0) throw new Error('PNG without IHDR');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error('PNG image data is short');
  const data = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = byteAt(raw, y * (stride + 1));
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const v = byteAt(raw, src + x);
      const left = x >= channels ? byteAt(data, row + x - channels) : 0;
      const up = y > 0 ? byteAt(data, prev + x) : 0;
      const upLeft = y > 0 && x >= channels ? byteAt(data, prev + x - channels) : 0;
      let out: number;
      switch (filter) {
        case 0: out = v; break;
        case 1: out = v + left; break;
        case 2: out = v + up; break;
        case 3: out = v + ((left + up) >> 1); break;
        case 4: out = v + paeth(left, up, upLeft); break;
        default: throw new Error(`bad PNG filter type ${filter} on row ${y}`);
      }
      data[row + x] = out & 0xff;
    }
  }
  return { width, height, channels, data };
}

/** Share of pixels (0–1) whose RGB differs from the most common colour. */
export function nonBackgroundShare(p: Pixels): number {
  const counts = new Map<number, number>();
  const total = p.width * p.height;
  for (let i = 0; i < total; i++) {
    const o = i * p.channels;
    const c = (byteAt(p.data, o) << 16) | (byteAt(p.data, o + 1) << 8) | byteAt(p.data, o + 2);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let common = 0;
  for (const n of counts.values()) if (n > common) common = n;
  return total === 0 ? 0 : (total - common) / total;
}
