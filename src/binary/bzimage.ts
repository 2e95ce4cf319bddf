// The x86 boot image (bzImage): a real-mode setup of (setup_sects + 1) sectors, then the protected-mode code,
// whose compressed payload (the ELF vmlinux) is at payload_offset, payload_length bytes long.
// Layout: Documentation/arch/x86/boot.rst ("The Real-Mode Kernel Header"); payload fields since protocol 2.08.

export interface BzImagePayload {
  /** Offset of the compressed payload in the file. */
  offset: number;
  length: number;
  protocol: number;
  /** The kernel_version string the setup header points at ("6.1.0-56-amd64 (debian-kernel@...) #1 ..."). */
  version: string | null;
}

export class BzImageError extends Error {}

export function isBzImage(b: Uint8Array): boolean {
  return b.length > 0x264 && b[0x202] === 0x48 && b[0x203] === 0x64 && b[0x204] === 0x72 && b[0x205] === 0x53 && b[0x1fe] === 0x55 && b[0x1ff] === 0xaa;
}

export function readBzImagePayload(b: Uint8Array): BzImagePayload {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const protocol = view.getUint16(0x206, true);
  if (protocol < 0x208) throw new BzImageError(`boot protocol ${protocol.toString(16)} has no payload fields (needs 2.08 or later)`);
  const setupSects = b[0x1f1] || 4;
  const base = (setupSects + 1) * 512;
  const offset = base + view.getUint32(0x248, true);
  const length = view.getUint32(0x24c, true);
  if (offset + length > b.length) throw new BzImageError(`truncated: the payload ends at byte ${offset + length}, the file has ${b.length}`);
  const versionPtr = view.getUint16(0x20e, true);
  let version: string | null = null;
  if (versionPtr !== 0 && versionPtr + 0x200 < b.length) {
    let end = versionPtr + 0x200;
    while (end < b.length && b[end] !== 0 && end < versionPtr + 0x200 + 256) end++;
    version = Buffer.from(b.subarray(versionPtr + 0x200, end)).toString('latin1');
  }
  return { offset, length, protocol, version };
}
