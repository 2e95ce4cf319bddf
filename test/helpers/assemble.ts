// A tiny x86-64 assembler for machine-code tests: raw bytes, calls and jumps of named functions (rel32),
// short `je`/`jne`/`ja`/`jbe` to labels, and labels.
import assert from 'node:assert/strict';

export type Part = number[] | { call: string } | { jmp: string } | { je: string } | { jne: string } | { ja: string } | { jbe: string } | { label: string };

/** The opcodes of the short conditional jumps (rel8). */
const JCC = { je: 0x74, jne: 0x75, ja: 0x77, jbe: 0x76 } as const;

/** The bytes of `parts` placed at `at`, and where each label fell. */
export function assemble(at: bigint, parts: Part[], addressOf: (name: string) => bigint): { bytes: number[]; labels: Map<string, number> } {
  const labels = new Map<string, number>();
  const size = (p: Part): number => (Array.isArray(p) ? p.length : 'call' in p || 'jmp' in p ? 5 : 'label' in p ? 0 : 2);
  let pos = 0;
  for (const p of parts) {
    if (!Array.isArray(p) && 'label' in p) labels.set(p.label, pos);
    pos += size(p);
  }
  const bytes: number[] = [];
  for (const p of parts) {
    if (Array.isArray(p)) bytes.push(...p);
    else if ('call' in p || 'jmp' in p) {
      const target = 'call' in p ? p.call : p.jmp;
      const v = Number(addressOf(target) - (at + BigInt(bytes.length + 5))) >>> 0;
      bytes.push('call' in p ? 0xe8 : 0xe9, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    } else if (!('label' in p)) {
      const [op, name] = Object.entries(p)[0] as [keyof typeof JCC, string];
      const to = labels.get(name);
      assert.ok(to !== undefined, `no label ${name}`);
      bytes.push(JCC[op], (to - (bytes.length + 2)) & 0xff);
    }
  }
  return { bytes, labels };
}
