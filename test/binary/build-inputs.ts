// Inputs the binary tests make for themselves: objects and static executables built with gcc from the
// fixtures, bzImage-shaped files around a payload, and the real Debian image when DROPSITE_KERNEL_IMAGE_DIR
// names its extracted package.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function hasTool(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const HAS_GCC = hasTool('gcc');
export const NO_GCC = HAS_GCC ? false : 'gcc is not installed (.ci/run installs it)';

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `dropsite-binary-${tag}-`));
}

/** gcc -O2 -c, kernel-like: no PIE, no unwind tables. */
export function compileObject(source: string, out: string): string {
  execFileSync('gcc', ['-O2', '-fno-pie', '-fno-asynchronous-unwind-tables', '-fno-stack-protector', '-c', source, '-o', out]);
  return out;
}

/** A static, non-PIE executable with a build-id, its text at `textAddress` (the kernel's link address by default). */
export function linkExecutable(sources: readonly string[], out: string, textAddress = '0xffffffff81000000'): string {
  execFileSync('gcc', [
    '-O2', '-fno-pie', '-no-pie', '-static', '-nostdlib', '-mcmodel=kernel', '-fno-asynchronous-unwind-tables', '-fno-stack-protector',
    `-Wl,-Ttext=${textAddress}`, '-Wl,--build-id=sha1', '-Wl,-z,noexecstack', ...sources, '-o', out,
  ]);
  return out;
}

/**
 * A file shaped like an x86 bzImage: two setup sectors with the real-mode header (setup_sects, boot flag,
 * "HdrS", protocol 2.15, kernel_version, payload_offset/payload_length), then the payload.
 */
export function bzImageAround(payload: Uint8Array, version = '9.9.9-fixture (builder@example) #1 SMP'): Uint8Array {
  const setupSects = 1;
  const protectedStart = (setupSects + 1) * 512;
  const payloadOffset = 0x40;
  const out = new Uint8Array(protectedStart + payloadOffset + payload.length);
  const view = new DataView(out.buffer);
  out[0x1f1] = setupSects;
  out[0x1fe] = 0x55;
  out[0x1ff] = 0xaa;
  out.set(Buffer.from('HdrS', 'latin1'), 0x202);
  view.setUint16(0x206, 0x020f, true);
  view.setUint16(0x20e, 0x300 - 0x200, true);
  out.set(Buffer.from(`${version}\0`, 'latin1'), 0x300);
  view.setUint32(0x248, payloadOffset, true);
  view.setUint32(0x24c, payload.length, true);
  out.set(payload, protectedStart + payloadOffset);
  return out;
}

/** The kernel's size_append: the decompressed size as 4 little-endian bytes after the compressed data. */
export function withSize(compressed: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(compressed.length + 4);
  out.set(compressed);
  new DataView(out.buffer).setUint32(compressed.length, size, true);
  return out;
}

export interface RealImage {
  dir: string;
  vmlinuz: string;
  modules: string;
}

const IMAGE_DIR = process.env.DROPSITE_KERNEL_IMAGE_DIR;

/** The extracted linux-image package that DROPSITE_KERNEL_IMAGE_DIR names, or null. */
export function realImage(): RealImage | null {
  if (IMAGE_DIR === undefined || IMAGE_DIR === '') return null;
  const boot = join(IMAGE_DIR, 'boot');
  const vmlinuz = existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
  const release = existsSync(join(IMAGE_DIR, 'lib/modules')) ? readdirSync(join(IMAGE_DIR, 'lib/modules'))[0] : undefined;
  if (vmlinuz === undefined || release === undefined) throw new Error(`DROPSITE_KERNEL_IMAGE_DIR=${IMAGE_DIR} holds no boot/vmlinuz-* and lib/modules/*`);
  return { dir: IMAGE_DIR, vmlinuz: join(boot, vmlinuz), modules: join(IMAGE_DIR, 'lib/modules', release, 'kernel') };
}

export const NO_IMAGE = IMAGE_DIR ? false : 'DROPSITE_KERNEL_IMAGE_DIR is not set (.ci/run sets it to the extracted linux-image-6.1.0-56-amd64-unsigned)';
