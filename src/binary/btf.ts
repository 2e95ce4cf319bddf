// The kernel's BPF Type Format (`.BTF`, kept in a stripped vmlinux and in each module): the byte offsets of
// struct and union members, by type name, for reading a field access (`ddev->chaining_skb`) as the memory
// displacement the code loads (`mov 0x180(%rbx),%rsi`). A module's `.BTF` is split BTF: its type ids and
// string offsets continue those of vmlinux's. Only what member offsets need is read: every kind's size is
// known, so the other kinds are skipped over.

const MAGIC = 0xeb9f;
const HEADER = 24;

const KIND_INT = 1;
const KIND_PTR = 2;
const KIND_ARRAY = 3;
const KIND_STRUCT = 4;
const KIND_UNION = 5;
const KIND_ENUM = 6;
const KIND_TYPEDEF = 8;
const KIND_VOLATILE = 9;
const KIND_CONST = 10;
const KIND_RESTRICT = 11;
const KIND_FUNC_PROTO = 13;
const KIND_VAR = 14;
const KIND_DATASEC = 15;
const KIND_DECL_TAG = 17;
const KIND_TYPE_TAG = 18;
const KIND_ENUM64 = 19;

const DECODER = new TextDecoder();

export class BtfError extends Error {
  override name = 'BtfError';
}

/** One struct or union member: its name (empty for an anonymous one), its type id and its byte offset. */
export interface BtfMember {
  name: string;
  type: number;
  offset: number;
}

interface TypeRec {
  kind: number;
  nameOff: number;
  /** size (struct, union, int) or the referenced type (ptr, typedef, const, …). */
  sizeOrType: number;
  /** Byte position of the record's trailing data (members) in its section's bytes. */
  data: number;
  vlen: number;
  kindFlag: boolean;
}

/** A parsed `.BTF`: the vmlinux one, or a module's on top of its base. */
export class Btf {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly strStart: number;
  private readonly strLen: number;
  private readonly types: TypeRec[];
  private readonly base: Btf | null;
  /** The first type id of this part (1 for vmlinux, the base's count + 1 for a module). */
  private readonly firstId: number;
  private byName: Map<string, number[]> | null = null;

  private constructor(bytes: Uint8Array, base: Btf | null, label: string) {
    this.bytes = bytes;
    this.base = base;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bad = (what: string): BtfError => new BtfError(`${label}: not a BTF section (${what})`);
    if (bytes.length < HEADER) throw bad(`${bytes.length} bytes, shorter than its ${HEADER}-byte header`);
    if (this.view.getUint16(0, true) !== MAGIC) throw bad('no 0xeb9f magic');
    const hdrLen = this.view.getUint32(4, true);
    const typeOff = this.view.getUint32(8, true);
    const typeLen = this.view.getUint32(12, true);
    const strOff = this.view.getUint32(16, true);
    const strLen = this.view.getUint32(20, true);
    const end = (o: number, l: number): number => hdrLen + o + l;
    if (hdrLen < HEADER || end(typeOff, typeLen) > bytes.length || end(strOff, strLen) > bytes.length) {
      throw bad(`its header gives types and strings up to byte ${Math.max(end(typeOff, typeLen), end(strOff, strLen))}, but it holds ${bytes.length}`);
    }
    this.strStart = hdrLen + strOff;
    this.strLen = strLen;
    this.firstId = base === null ? 1 : base.firstId + base.types.length;
    this.types = [];
    let p = hdrLen + typeOff;
    const stop = p + typeLen;
    while (p < stop) {
      if (p + 12 > stop) throw bad(`a type record cut short at byte ${p}`);
      const nameOff = this.view.getUint32(p, true);
      const info = this.view.getUint32(p + 4, true);
      const sizeOrType = this.view.getUint32(p + 8, true);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const data = p + 12;
      let extra: number;
      switch (kind) {
        case KIND_INT: case KIND_VAR: case KIND_DECL_TAG: extra = 4; break;
        case KIND_ARRAY: extra = 12; break;
        case KIND_STRUCT: case KIND_UNION: case KIND_DATASEC: case KIND_ENUM64: extra = 12 * vlen; break;
        case KIND_ENUM: case KIND_FUNC_PROTO: extra = 8 * vlen; break;
        default:
          if (kind === 0 || kind > KIND_ENUM64) throw bad(`unknown type kind ${kind} at byte ${p}`);
          extra = 0;
      }
      if (data + extra > stop) throw bad(`a type record cut short at byte ${p}`);
      this.types.push({ kind, nameOff, sizeOrType, data, vlen, kindFlag: (info & 0x80000000) !== 0 });
      p = data + extra;
    }
  }

  /** Parse vmlinux's `.BTF`, or (with `base`) a module's split BTF on top of it. */
  static parse(bytes: Uint8Array, label: string, base: Btf | null = null): Btf {
    return new Btf(bytes, base, label);
  }

  private baseStrLen(): number {
    return this.base === null ? 0 : this.base.baseStrLen() + this.base.strLen;
  }

  private str(off: number): string {
    const b = this.baseStrLen();
    if (off < b) return this.base?.str(off) ?? '';
    const start = this.strStart + off - b;
    let end = start;
    const limit = this.strStart + this.strLen;
    while (end < limit && this.bytes[end] !== 0) end++;
    return DECODER.decode(this.bytes.subarray(start, end));
  }

  private rec(id: number): { part: Btf; r: TypeRec } | null {
    if (id < this.firstId) return this.base?.rec(id) ?? null;
    const r = this.types[id - this.firstId];
    return r === undefined ? null : { part: this, r };
  }

  /** Number of types of this part (not counting its base's). */
  get count(): number {
    return this.types.length;
  }

  /** Ids of the structs (and unions) named `name`, of this part and its base. */
  structsNamed(name: string): number[] {
    if (this.byName === null) {
      this.byName = new Map();
      this.types.forEach((r, i) => {
        if ((r.kind !== KIND_STRUCT && r.kind !== KIND_UNION) || r.nameOff === 0) return;
        const n = this.str(r.nameOff);
        const l = this.byName?.get(n);
        if (l === undefined) this.byName?.set(n, [this.firstId + i]);
        else l.push(this.firstId + i);
      });
    }
    return [...(this.base?.structsNamed(name) ?? []), ...(this.byName.get(name) ?? [])];
  }

  /** The members of a struct or union type, in order; null for another kind. */
  members(id: number): BtfMember[] | null {
    const t = this.rec(id);
    if (t === null || (t.r.kind !== KIND_STRUCT && t.r.kind !== KIND_UNION)) return null;
    const out: BtfMember[] = [];
    for (let k = 0; k < t.r.vlen; k++) {
      const p = t.r.data + 12 * k;
      const name = t.part.str(t.part.view.getUint32(p, true));
      const type = t.part.view.getUint32(p + 4, true);
      const raw = t.part.view.getUint32(p + 8, true);
      const bits = t.r.kindFlag ? raw & 0xffffff : raw;
      out.push({ name, type, offset: Math.floor(bits / 8) });
    }
    return out;
  }

  /** A type with typedefs and qualifiers peeled off; `pointee` also goes through one pointer. */
  resolve(id: number, pointee = false): number {
    let cur = id;
    let ptr = pointee;
    for (let n = 0; n < 32; n++) {
      const t = this.rec(cur);
      if (t === null) return cur;
      const k = t.r.kind;
      if (k === KIND_TYPEDEF || k === KIND_VOLATILE || k === KIND_CONST || k === KIND_RESTRICT || k === KIND_TYPE_TAG) cur = t.r.sizeOrType;
      else if (k === KIND_PTR && ptr) {
        cur = t.r.sizeOrType;
        ptr = false;
      } else return cur;
    }
    return cur;
  }

  /** The element type of an array type (after typedefs), or null for another kind. */
  arrayElement(id: number): number | null {
    const t = this.rec(this.resolve(id));
    if (t === null || t.r.kind !== KIND_ARRAY) return null;
    return t.part.view.getUint32(t.r.data, true);
  }

  /** The byte size of a struct or union type (after typedefs), or null for another kind. */
  structSize(id: number): number | null {
    const t = this.rec(this.resolve(id));
    return t === null || (t.r.kind !== KIND_STRUCT && t.r.kind !== KIND_UNION) ? null : t.r.sizeOrType;
  }

  /** Whether a type id (after typedefs) is a pointer. */
  isPointer(id: number): boolean {
    return this.rec(this.resolve(id))?.r.kind === KIND_PTR;
  }

  /**
   * The member `name` of struct/union `id`, looked for through anonymous struct and union members too
   * (their offsets add up), or null when it has none.
   */
  member(id: number, name: string, depth = 0): BtfMember | null {
    const ms = this.members(id);
    if (ms === null || depth > 8) return null;
    for (const m of ms) if (m.name === name) return m;
    for (const m of ms) {
      if (m.name !== '') continue;
      const inner = this.member(this.resolve(m.type), name, depth + 1);
      if (inner !== null) return { ...inner, offset: m.offset + inner.offset };
    }
    return null;
  }
}
