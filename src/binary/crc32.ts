// CRC-32 (IEEE, as in gzip and xz). node:zlib has crc32 from Node 20.15; older 20.x gets the table version.
import zlib from 'node:zlib';

let table: Uint32Array | null = null;

function crc32Table(data: Uint8Array): number {
  if (table === null) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const native: ((data: Uint8Array) => number) | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (zlib as unknown as { crc32: (d: Uint8Array) => number }).crc32 : undefined;

export function crc32(data: Uint8Array): number {
  return native === undefined ? crc32Table(data) : native(data) >>> 0;
}
