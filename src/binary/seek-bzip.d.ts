// The part of seek-bzip (pure-JS bzip2 decoder, no types of its own) that decompress.ts calls.
declare module 'seek-bzip' {
  /** Decodes the first bzip2 stream of `input`; `output` is a preallocated size or buffer. Throws on bad data. */
  export function decode(input: Uint8Array, output?: number | Uint8Array, multistream?: boolean): Buffer;
}
