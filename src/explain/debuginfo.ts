// Exact mode: a debug vmlinux (or module .ko) with DWARF answers which line a location is, through
// binutils. Symbols come from one `nm` run, lines from one `addr2line -f -i` run for the whole batch.
// Programs run with argument arrays, never through a shell.
import { execFile, spawn } from 'node:child_process';
import { closeSync, readSync } from 'node:fs';
import { InputError } from '../errors.ts';
import { LIMITS, openRegularFile } from '../io/regular-file.ts';

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

interface ElfSection {
  name: string;
  offset: number;
  size: number;
}

/**
 * Checks that `file` is a regular ELF file within LIMITS.binary and returns its sections, before nm or
 * addr2line see it: /dev/zero, a FIFO or a 20 GiB sparse file is refused here, at once, instead of being
 * scanned. Throws InputError naming `what`.
 */
export function readElfSections(file: string, what = '--vmlinux'): ElfSection[] {
  const { fd, size } = openRegularFile(file, LIMITS.binary, what);
  const notElf = (why: string): InputError => new InputError(`${what}: ${file} is not an ELF file (${why})`, { hint: 'give a vmlinux or a module .ko with debug info (the -dbg package\'s /usr/lib/debug/boot/vmlinux-…)' });
  try {
    const read = (pos: number, len: number): Buffer => {
      const buf = Buffer.alloc(len);
      const n = readSync(fd, buf, 0, len, pos);
      if (n < len) throw notElf(`cut short at byte ${pos + n}`);
      return buf;
    };
    if (size < 64) throw notElf(`only ${size} bytes`);
    const ident = read(0, 64);
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw notElf('no ELF magic number');
    const is64 = ident[4] === 2;
    const le = ident[5] === 1;
    if ((ident[4] !== 1 && !is64) || (!le && ident[5] !== 2)) throw notElf('unknown ELF class or byte order');
    const u16 = (b: Buffer, at: number): number => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
    const u32 = (b: Buffer, at: number): number => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
    const word = (b: Buffer, at: number): number => (is64 ? Number(le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : u32(b, at));
    const shoff = word(ident, is64 ? 0x28 : 0x20);
    const shentsize = u16(ident, is64 ? 0x3a : 0x2e);
    const shnum = u16(ident, is64 ? 0x3c : 0x30);
    const shstrndx = u16(ident, is64 ? 0x3e : 0x32);
    if (shnum === 0) return [];
    if (shentsize < (is64 ? 64 : 40) || shoff + shnum * shentsize > size || shstrndx >= shnum) throw notElf('section headers outside the file');
    const table = read(shoff, shnum * shentsize);
    const raw = Array.from({ length: shnum }, (_, i) => {
      const at = i * shentsize;
      return { nameAt: u32(table, at), offset: word(table, at + (is64 ? 0x18 : 0x10)), size: word(table, at + (is64 ? 0x20 : 0x14)), type: u32(table, at + 4) };
    });
    const strtab = raw[shstrndx];
    if (strtab === undefined || strtab.offset + strtab.size > size) throw notElf('section names outside the file');
    const names = read(strtab.offset, Math.min(strtab.size, 1 << 20));
    // SHT_NOBITS (8, .bss) takes no room in the file.
    return raw.map((r) => ({ name: names.toString('latin1', r.nameAt, Math.max(r.nameAt, names.indexOf(0, r.nameAt))), offset: r.offset, size: r.type === 8 ? 0 : r.size }))
      .filter((s) => s.offset + s.size <= size);
  } finally {
    closeSync(fd);
  }
}

/**
 * The `Linux version …` banner (`linux_banner`, in .rodata) of a vmlinux, or null. Only .rodata is read,
 * in slices: the file is hundreds of MB, and the rest of it holds no banner.
 */
export function kernelBanner(file: string, sections: readonly ElfSection[] = readElfSections(file)): string | null {
  const rodata = sections.find((s) => s.name === '.rodata');
  if (rodata === undefined) return null;
  const fd = openRegularFile(file, LIMITS.binary, '--vmlinux').fd;
  try {
    const buf = Buffer.alloc(8 << 20);
    const needle = Buffer.from('Linux version ');
    const end = rodata.offset + rodata.size;
    for (let pos = rodata.offset; pos < end;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
      if (n <= 0) return null;
      const at = buf.subarray(0, n).indexOf(needle);
      if (at >= 0) return /^Linux version (\S+)/.exec(buf.subarray(at, Math.min(n, at + 200)).toString('latin1'))?.[1] ?? null;
      if (pos + n >= end) return null;
      pos += n - needle.length;
    }
    return null;
  } finally {
    closeSync(fd);
  }
}
