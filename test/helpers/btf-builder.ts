// A hand-built `.BTF` section for tests: an int, pointers and the structs (and anonymous unions) given, with
// members at the byte offsets given. Split BTF (a module's) continues its base's type ids and string offsets.
export interface BtfStruct {
  /** '' for an anonymous union (used as the type of an unnamed member). */
  name: string;
  union?: boolean;
  size: number;
  /**
   * type: 'int', 'ptr' (a pointer to the int), 'ptr:NAME' (a pointer to struct NAME), 'NAME' (struct NAME embedded),
   * or 'arr:N:T' (an array of N elements of type T, any of the above).
   */
  members: Array<{ name: string; type: string; offset: number; bits?: number }>;
}

export function buildBtf(structs: readonly BtfStruct[], base: { types: number; strings: number } | null = null): { bytes: Uint8Array; types: number; strings: number } {
  const strs: number[] = base === null ? [0] : [];
  const strOff = new Map<string, number>();
  const str = (s: string): number => {
    if (s === '') return 0;
    const known = strOff.get(s);
    if (known !== undefined) return known;
    const off = (base?.strings ?? 0) + strs.length;
    strOff.set(s, off);
    strs.push(...new TextEncoder().encode(s), 0);
    return off;
  };
  const first = (base?.types ?? 0) + 1;
  // ids: int, then per struct: the struct and a pointer to it, then a pointer to the int.
  const INT = first;
  const structId = (i: number): number => first + 1 + 2 * i;
  const ptrTo = (i: number): number => first + 2 + 2 * i;
  const PTR_INT = first + 1 + 2 * structs.length;
  const index = (n: string): number => {
    const i = structs.findIndex((s) => s.name === n);
    if (i < 0) throw new Error(`no struct ${n}`);
    return i;
  };
  // Array types follow the pointer to the int, one per array member, in order.
  const arrays: Array<{ of: string; n: number }> = [];
  for (const st of structs) for (const m of st.members) {
    const a = /^arr:(\d+):(.+)$/.exec(m.type);
    if (a !== null) arrays.push({ of: a[2] ?? 'int', n: Number(a[1]) });
  }
  const plainType = (t: string): number => (t === 'int' ? INT : t === 'ptr' ? PTR_INT : t.startsWith('ptr:') ? ptrTo(index(t.slice(4))) : structId(index(t)));
  let nextArray = 0;
  const words: number[] = [];
  const type = (nameOff: number, kind: number, vlen: number, sizeOrType: number, kindFlag = false): void => {
    words.push(nameOff, ((kindFlag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType);
  };
  type(str('int'), 1, 0, 4);
  words.push(32); // INT encoding: 32 bits
  structs.forEach((s, i) => {
    const flagged = s.members.some((m) => m.bits !== undefined);
    type(str(s.name), s.union === true ? 5 : 4, s.members.length, s.size, flagged);
    for (const m of s.members) {
      const t = m.type.startsWith('arr:') ? PTR_INT + 1 + nextArray++ : plainType(m.type);
      words.push(str(m.name), t, (flagged ? ((m.bits ?? 0) << 24) : 0) | (m.offset * 8));
    }
    type(0, 2, 0, structId(i));
  });
  type(0, 2, 0, INT);
  for (const a of arrays) {
    type(0, 3, 0, 0);
    words.push(plainType(a.of), INT, a.n);
  }
  const typeBytes = new Uint8Array(words.length * 4);
  const tv = new DataView(typeBytes.buffer);
  words.forEach((w, k) => tv.setUint32(4 * k, w >>> 0, true));
  const out = new Uint8Array(24 + typeBytes.length + strs.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, typeBytes.length, true);
  v.setUint32(16, typeBytes.length, true);
  v.setUint32(20, strs.length, true);
  out.set(typeBytes, 24);
  out.set(strs, 24 + typeBytes.length);
  return { bytes: out, types: (base?.types ?? 0) + 2 + 2 * structs.length + arrays.length, strings: (base?.strings ?? 0) + strs.length };
}
