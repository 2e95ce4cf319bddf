// Exact mode: a debug vmlinux (or module .ko) with DWARF answers which line a location is, through
// binutils. Symbols come from one `nm` run, lines from one `addr2line -f -i` run for the whole batch.
// Programs run with argument arrays, never through a shell.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { InputError } from '../errors.ts';

export interface ElfSymbol {
  address: bigint;
  size: number;
}

export interface Frame {
  function: string;
  /** Path relative to the kernel tree, POSIX. */
  file: string;
  line: number;
}

function run(cmd: string, args: readonly string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { maxBuffer: 1 << 30, encoding: 'latin1' }, (err, stdout, stderr) => {
      if (err !== null) {
        if ('code' in err && err.code === 'ENOENT') {
          reject(new InputError(`cannot run ${cmd}: it is not installed`, { hint: 'install binutils (apt-get install binutils) for --vmlinux' }));
        } else {
          reject(new InputError(`${cmd} failed on ${what}: ${String(stderr).split('\n')[0] || err.message}`));
        }
        return;
      }
      resolve(stdout);
    });
  });
}

/** Address and ELF size of the named functions (`nm -S`); static names may occur more than once. */
export async function readElfSymbols(file: string, names: ReadonlySet<string>): Promise<Map<string, ElfSymbol[]>> {
  const out = await run('nm', ['-S', '--defined-only', file], file);
  const found = new Map<string, ElfSymbol[]>();
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) [tTwW] (\S+)$/.exec(line);
    if (m === null || !names.has(m[3] ?? '')) continue;
    const name = m[3] ?? '';
    const list = found.get(name) ?? [];
    list.push({ address: BigInt(`0x${m[1] ?? '0'}`), size: parseInt(m[2] ?? '0', 16) });
    found.set(name, list);
  }
  if (out.trim() === '') throw new InputError(`${file} has no symbol table`, { hint: 'use the unstripped vmlinux from the kernel -dbg package' });
  return found;
}

const TOP_DIRS = new Set(['arch', 'block', 'certs', 'crypto', 'drivers', 'fs', 'include', 'init', 'io_uring', 'ipc', 'kernel', 'lib', 'mm', 'net', 'rust', 'security', 'sound', 'virt', 'samples', 'usr']);

/** `./net/ipv4/udp.c`, `/build/linux-x/net/ipv4/udp.c` → `net/ipv4/udp.c`; under `root` (the tree a build ran in), relative to it. */
export function treeRelative(path: string, root?: string): string {
  if (root !== undefined && path.startsWith(`${root.replace(/\/+$/, '')}/`)) return path.slice(root.replace(/\/+$/, '').length + 1);
  const parts = path.replace(/^\.\//, '').split('/');
  const i = parts.findIndex((p) => TOP_DIRS.has(p));
  return (i >= 0 ? parts.slice(i) : parts).join('/');
}

export interface ResolveOptions {
  /** For a relocatable object (.o, .ko): the section the addresses are relative to (`.text`). */
  section?: string;
  /** The tree the object was built from: DWARF paths under it become relative to it. */
  root?: string;
}

/** Inline chains, innermost first, for each address (one addr2line process for all of them). */
export function resolveLines(file: string, addresses: readonly bigint[], opts: ResolveOptions = {}): Promise<Frame[][]> {
  return new Promise((resolve, reject) => {
    const args = ['-f', '-i', '-a', ...(opts.section !== undefined ? ['-j', opts.section] : []), '-e', file];
    const child = spawn('addr2line', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('latin1').on('data', (d: string) => { stderr += d; });
    child.on('error', (err) => {
      reject('code' in err && err.code === 'ENOENT'
        ? new InputError('cannot run addr2line: it is not installed', { hint: 'install binutils (apt-get install binutils) for --vmlinux' })
        : err);
    });
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new InputError(`addr2line failed on ${file}: ${stderr.split('\n')[0] ?? ''}`));
        return;
      }
      const chains: Frame[][] = [];
      let cur: Frame[] | null = null;
      const lines = stdout.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i] ?? '';
        if (/^0x[0-9a-f]+$/.test(l)) {
          cur = [];
          chains.push(cur);
          continue;
        }
        if (cur === null || l === '') continue;
        const where = lines[++i] ?? '';
        const m = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(where);
        if (m === null || m[1] === '??' || m[2] === '?') continue;
        cur.push({ function: l, file: treeRelative(m[1] ?? '', opts.root), line: Number(m[2]) });
      }
      resolve(chains);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(addresses.map((a) => `0x${a.toString(16)}`).join('\n') + '\n');
  });
}

/** The `Linux version …` banner inside a vmlinux, read in slices (the file is hundreds of MB). */
export function kernelBanner(file: string): string | null {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(8 << 20);
    const needle = Buffer.from('Linux version ');
    for (let pos = 0; ;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) return null;
      const at = buf.subarray(0, n).indexOf(needle);
      if (at >= 0) return /^Linux version (\S+)/.exec(buf.subarray(at, Math.min(n, at + 200)).toString('latin1'))?.[1] ?? null;
      if (n < buf.length) return null;
      pos += n - needle.length;
    }
  } finally {
    closeSync(fd);
  }
}
