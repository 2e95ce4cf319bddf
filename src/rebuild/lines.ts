// Lines from a rebuilt relocatable object: its function symbols (`objdump -t`, with their section,
// since every section of a .o starts at 0) and one `addr2line -f -i -j SECTION` per object and
// section for the whole batch, at symbol + offset - 1 (the location is a return address).
import { execFile } from 'node:child_process';
import { InputError } from '../errors.ts';
import { resolveLines, type Frame } from '../explain/debuginfo.ts';

export interface ObjectSymbol {
  name: string;
  section: string;
  /** Section-relative start. */
  value: number;
  size: number;
  global: boolean;
}

/** Function symbols of an object file, by name (static names can repeat within one object only rarely). */
export function objectSymbols(file: string): Promise<Map<string, ObjectSymbol[]>> {
  return new Promise((resolve, reject) => {
    execFile('objdump', ['-t', file], { maxBuffer: 1 << 28, encoding: 'latin1' }, (err, stdout, stderr) => {
      if (err !== null) {
        reject('code' in err && err.code === 'ENOENT'
          ? new InputError('cannot run objdump: it is not installed', { hint: 'apt-get install binutils' })
          : new InputError(`objdump failed on ${file}: ${String(stderr).split('\n')[0] ?? err.message}`));
        return;
      }
      const out = new Map<string, ObjectSymbol[]>();
      for (const line of stdout.split('\n')) {
        // 0000000000005c00 g     F .text	0000000000000c2c __udp4_lib_rcv
        const m = /^([0-9a-f]+) (.{7}) (\S+)\t([0-9a-f]+) (?:\.hidden )?(\S+)$/.exec(line);
        if (m === null || !(m[2] ?? '').includes('F')) continue;
        const name = m[5] ?? '';
        const list = out.get(name) ?? [];
        list.push({ name, section: m[3] ?? '', value: parseInt(m[1] ?? '0', 16), size: parseInt(m[4] ?? '0', 16), global: (m[2] ?? '').startsWith('g') });
        out.set(name, list);
      }
      resolve(out);
    });
  });
}

export interface LineRequest {
  symbol: ObjectSymbol;
  /** Offset of the return address from the symbol's start. */
  offset: number;
}

/** Inline chains (innermost first) for each request, one addr2line run per section of the object. */
export async function objectLines(file: string, root: string, requests: readonly LineRequest[]): Promise<Frame[][]> {
  const out: Frame[][] = requests.map(() => []);
  const bySection = new Map<string, number[]>();
  requests.forEach((r, i) => {
    const list = bySection.get(r.symbol.section) ?? [];
    list.push(i);
    bySection.set(r.symbol.section, list);
  });
  for (const [section, idx] of bySection) {
    const chains = await resolveLines(file, idx.map((i) => {
      const r = requests[i] as LineRequest;
      return BigInt(r.symbol.value + r.offset - 1);
    }), { section, root });
    idx.forEach((reqIndex, k) => { out[reqIndex] = chains[k] ?? []; });
  }
  return out;
}
