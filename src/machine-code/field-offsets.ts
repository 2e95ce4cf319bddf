// A field access of the source (`ddev->chaining_skb`, `rx_ring->rx_skb_top`) as the displacement the code
// loads it from (`mov 0x180(%rbx),%rsi`), through the image's own BTF (src/binary/btf.ts): the type of the
// access's base variable comes from its declaration in the site's function (`struct nfc_digital_dev *ddev`),
// and only an access that BTF resolves to one displacement counts. Sibling drop blocks that read alike
// (`kfree_skb(ddev->chaining_skb); ddev->chaining_skb = NULL;` and the same for `saved_skb`) differ there.
import { Btf } from '../binary/btf.ts';
import type { ObjectFile } from '../binary/index.ts';

export interface FieldAccess {
  /** The variable the access starts from (a pointer). */
  base: string;
  /** Each member step with the operator before it. */
  steps: Array<{ op: '->' | '.'; name: string }>;
}

/** `a->b.c->d` as its base and steps; null for anything else (an index, a call, a cast, a dereference). */
export function fieldAccess(expr: string): FieldAccess | null {
  const e = expr.replace(/\s+/g, '');
  const m = /^([A-Za-z_]\w*)((?:(?:->|\.)[A-Za-z_]\w*)+)$/.exec(e);
  if (m?.[1] === undefined || m[2] === undefined) return null;
  const steps = [...m[2].matchAll(/(->|\.)([A-Za-z_]\w*)/g)].map((s) => ({ op: s[1] as '->' | '.', name: s[2] ?? '' }));
  // The base is a pointer: its first step dereferences it.
  if (steps[0]?.op !== '->') return null;
  return { base: m[1], steps };
}

/**
 * The struct a pointer variable is declared as (`struct nfc_digital_dev *ddev`) in the function's lines from
 * `floor` (its parameter list) to `line`: the last such declaration before the line, or null.
 */
export function declaredStruct(all: readonly string[], floor: number, line: number, name: string): string | null {
  const re = new RegExp(`\\bstruct\\s+([A-Za-z_]\\w*)\\s*\\*\\s*(?:const\\s+)?${name}\\s*[,;=)\\[]`);
  let out: string | null = null;
  for (let n = floor; n <= line; n++) {
    const m = re.exec(all[n - 1] ?? '');
    if (m?.[1] !== undefined) out = m[1];
  }
  return out;
}

/**
 * The field access a plain variable was last assigned from before `line` (`skb = rx_ring->rx_skb_top;`), or
 * null when its last assignment is something else or none is seen.
 */
export function assignedAccess(all: readonly string[], floor: number, line: number, name: string): string | null {
  const any = new RegExp(`(?:^|[^\\w.>=!<])${name}\\s*=[^=]`);
  // A member step may index an array (`skb = np->tx_info[i].skb;`): elementDisplacement reads those too.
  const plain = new RegExp(`(?:^|[^\\w.>=!<])${name}\\s*=\\s*([A-Za-z_]\\w*(?:\\s*(?:->|\\.)\\s*[A-Za-z_]\\w*(?:\\s*\\[\\s*\\w+\\s*\\])?)+)\\s*;`);
  for (let n = line - 1; n > floor; n--) {
    const text = all[n - 1] ?? '';
    if (!any.test(text)) continue;
    return plain.exec(text)?.[1]?.replace(/\s+/g, '') ?? null;
  }
  return null;
}

/** The BTF of the image and of each module (split on top of the image's), parsed once each; null when absent. */
export class TypeInfo {
  private readonly imageBytes: () => Uint8Array | null;
  private image: Btf | null | undefined;
  private readonly modules = new Map<string, Btf | null>();
  /** Why a BTF could not be read (shown once in the notes of a location it was wanted for). */
  readonly problems: string[] = [];

  constructor(imageBytes: () => Uint8Array | null) {
    this.imageBytes = imageBytes;
  }

  private vmlinux(): Btf | null {
    if (this.image === undefined) {
      this.image = null;
      const b = this.imageBytes();
      if (b !== null) {
        try {
          this.image = Btf.parse(b, 'the image\'s .BTF');
        } catch (err) {
          this.problems.push(err instanceof Error ? err.message : String(err));
        }
      }
    }
    return this.image;
  }

  /** The types of the image (obj null), or of a module: its split `.BTF` needs the image's as its base. */
  of(obj: ObjectFile | null): Btf | null {
    const base = this.vmlinux();
    if (obj === null || base === null) return base;
    if (this.modules.has(obj.path)) return this.modules.get(obj.path) ?? null;
    let out: Btf | null = null;
    const sec = obj.elf.section('.BTF');
    if (sec !== undefined) {
      try {
        out = Btf.parse(obj.elf.sectionBytes(sec), `${obj.path}: .BTF`, base);
      } catch (err) {
        this.problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    this.modules.set(obj.path, out);
    return out;
  }
}

/** The field accesses a condition's text reads (`skb->pkt_type`, `hdr->dst_cid` inside `le64_to_cpu(…)`), once each. */
export function conditionAccesses(text: string): string[] {
  const body = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const out = new Set<string>();
  for (const m of body.matchAll(/(?<![\w.>)\]])([A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)+)\b(?!\s*(?:\(|\[|->|\.))/g)) {
    const e = (m[1] ?? '').replace(/\s+/g, '');
    if (fieldAccess(e) !== null) out.add(e);
  }
  return [...out];
}

/** A field access whose member steps may index an array (`np->rx_info[i].skb`, `hmp->rx_skbuff[i]`). */
export interface ElementAccess {
  base: string;
  steps: Array<{ op: '->' | '.'; name: string; index: string | null }>;
}

/** `a->b[i].c` as its base and steps, each with its index (a variable or a decimal literal); null without an index or for anything else. */
export function elementAccess(expr: string): ElementAccess | null {
  const e = expr.replace(/\s+/g, '');
  const m = /^([A-Za-z_]\w*)((?:(?:->|\.)[A-Za-z_]\w*(?:\[\w+\])?)+)$/.exec(e);
  if (m?.[1] === undefined || m[2] === undefined) return null;
  const steps = [...m[2].matchAll(/(->|\.)([A-Za-z_]\w*)(?:\[(\w+)\])?/g)].map((x) => ({ op: x[1] as '->' | '.', name: x[2] ?? '', index: x[3] ?? null }));
  if (steps[0]?.op !== '->' || steps.every((x) => x.index === null)) return null;
  return { base: m[1], steps };
}

/**
 * The displacement of a field access's last load (the offsets of its members since the last `->`, resolved from
 * struct `struct` through BTF), and whether that load goes through an index register: an array member's offset,
 * then the element's own members (`np->rx_info[i].skb` is rx_info's offset plus
 * skb's in struct rx_ring_info; the index is in a register, `mov 0xa20(%rbp,%rbx,2),%rdi`). A literal index
 * folds into the displacement (index × element size); an upper-case one (a macro) is not resolved. Null unless
 * every struct of that name gives the same answer (BTF keeps same-named structs of different files apart).
 */
export function elementDisplacement(btf: Btf, struct: string, steps: ReadonlyArray<{ op: '->' | '.'; name: string; index?: string | null }>): { disp: number; indexed: boolean } | null {
  const ids = btf.structsNamed(struct);
  if (ids.length === 0) return null;
  let out: { disp: number; indexed: boolean } | null = null;
  for (const id of ids) {
    let type = id;
    let disp = 0;
    let indexed = false;
    let ok = true;
    for (const [k, s] of steps.entries()) {
      if (k > 0 && s.op === '->') {
        // Through the previous member's pointer: a new load, from a displacement counted afresh.
        if (!btf.isPointer(type)) {
          ok = false;
          break;
        }
        type = btf.resolve(type, true);
        disp = 0;
        indexed = false;
      } else if (k > 0) type = btf.resolve(type);
      const m = btf.member(type, s.name);
      if (m === null) {
        ok = false;
        break;
      }
      disp += m.offset;
      type = m.type;
      if (s.index === null || s.index === undefined) continue;
      const elem = btf.arrayElement(type);
      if (elem === null) {
        ok = false;
        break;
      }
      type = elem;
      if (/^\d+$/.test(s.index)) {
        const size = btf.isPointer(elem) ? 8 : btf.structSize(elem);
        if (size === null) {
          ok = false;
          break;
        }
        disp += Number(s.index) * size;
      } else if (/^[a-z_]\w*$/.test(s.index)) indexed = true;
      else {
        ok = false;
        break;
      }
    }
    if (!ok) return null;
    if (out !== null && (out.disp !== disp || out.indexed !== indexed)) return null;
    out = { disp, indexed };
  }
  return out;
}

/** Whether the pointer `name` is set from `netdev_priv(…)` in the function's lines from `floor` to `line`. */
export function fromNetdevPriv(all: readonly string[], floor: number, line: number, name: string): boolean {
  const re = new RegExp(`(?:^|[^\\w.>])${name}\\s*=\\s*netdev_priv\\s*\\(`);
  for (let n = floor; n <= line; n++) if (re.test(all[n - 1] ?? '')) return true;
  return false;
}

/** Alignment of a net_device's private area (NETDEV_ALIGN in include/linux/netdevice.h). */
const NETDEV_ALIGN = 32;

/**
 * Where `netdev_priv(dev)` points past `dev`: sizeof(struct net_device) rounded up to NETDEV_ALIGN, from BTF.
 * gcc often keeps `dev` in the register and folds this into each displacement (`mov 0x1a10(%rbx,%rbp,8)` is
 * `hmp->tx_skbuff[i]` at 0x1010 of struct hamachi_private). Null when BTF has no single net_device.
 */
export function netdevPrivOffset(btf: Btf): number | null {
  const ids = btf.structsNamed('net_device');
  const sizes = new Set(ids.map((id) => btf.structSize(id)));
  const size = sizes.size === 1 ? [...sizes][0] : null;
  return size === null || size === undefined ? null : Math.ceil(size / NETDEV_ALIGN) * NETDEV_ALIGN;
}
