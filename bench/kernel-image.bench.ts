// Loading a shipped kernel image in-process (src/binary): the bzImage payload decompressed, the ELF read and
// the embedded kallsyms tables decoded, against the xz command decompressing the same payload to a pipe, in
// the same run. The image is DROPSITE_KERNEL_IMAGE_DIR's boot/vmlinuz-* (the extracted linux-image package
// .ci/run downloads); the benchmark skips itself without one.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadKernelImage } from '../src/binary/index.ts';
import { readBzImagePayload } from '../src/binary/bzimage.ts';
import { aggregate, aggregateFor, note, round, type BenchOptions } from './lib.ts';

export type KernelImageBenchResult =
  | { benchmark: 'kernel-image'; skipped: true; reason: string }
  | {
    benchmark: 'kernel-image';
    skipped: false;
    vmlinuz: string;
    format: string;
    runs: number;
    /** xz -dc of the payload into a pipe that only counts bytes: the baseline. */
    xzCliS: number;
    /** loadKernelImage: read, decompress, parse the ELF, decode the embedded kallsyms. */
    loadS: number;
    ratio: number;
    decompressedBytes: number;
    textSymbols: number;
  };

function xzToPipe(payload: Uint8Array): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    child.on('error', reject);
    // xz exits 1 at the kernel's appended size word, after the whole stream: the bytes are what count.
    child.on('close', () => resolve({ seconds: (performance.now() - start) / 1000, bytes }));
    child.stdin.end(payload);
  });
}

export async function runKernelImageBench(opts: BenchOptions): Promise<KernelImageBenchResult> {
  const dir = process.env.DROPSITE_KERNEL_IMAGE_DIR;
  const boot = dir === undefined ? '' : join(dir, 'boot');
  const name = dir !== undefined && existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
  if (name === undefined) return { benchmark: 'kernel-image', skipped: true, reason: 'DROPSITE_KERNEL_IMAGE_DIR names no extracted image with boot/vmlinuz-*' };
  const vmlinuz = join(boot, name);
  const file = readFileSync(vmlinuz);
  const payload = readBzImagePayload(file);
  const compressed = file.subarray(payload.offset, payload.offset + payload.length);
  const runs = Math.max(1, opts.runs);
  const cli: number[] = [];
  const load: number[] = [];
  let format = '';
  let decompressedBytes = 0;
  let textSymbols = 0;
  for (let i = 0; i < runs; i++) {
    const base = await xzToPipe(compressed);
    cli.push(base.seconds);
    const start = performance.now();
    const image = await loadKernelImage(vmlinuz);
    load.push((performance.now() - start) / 1000);
    format = image.format;
    decompressedBytes = image.elf.bytes.length;
    textSymbols = image.symbols().size;
    if (base.bytes !== decompressedBytes) note(`xz -dc gave ${base.bytes} bytes, loadKernelImage ${decompressedBytes}`);
  }
  const how = aggregateFor(runs);
  const xzCliS = round(aggregate(cli, how), 3);
  const loadS = round(aggregate(load, how), 3);
  note(`kernel-image: ${name} (${format}): load ${loadS} s against xz -dc ${xzCliS} s (${how} of ${runs}); ${textSymbols} text symbols`);
  return { benchmark: 'kernel-image', skipped: false, vmlinuz, format, runs, xzCliS, loadS, ratio: round(loadS / xzCliS), decompressedBytes, textSymbols };
}
