// Finding the calls of a set of names in a text. The text is read once: every `identifier(` (or
// `identifier (`) is recorded under its name, and each later round of the search only looks its new
// names up, whatever their number. Searching the text again each round (an alternation of the names,
// or every identifier tested against a set) cost a pass over every candidate file per round.

const IDENT_CALL = /\b([A-Za-z_]\w*)\s*\(/g;

export class CallNames {
  private readonly at = new Map<string, number[]>();

  constructor(text: string) {
    for (const m of text.matchAll(IDENT_CALL)) {
      const name = m[1] ?? '';
      const list = this.at.get(name);
      if (list === undefined) this.at.set(name, [m.index]);
      else list.push(m.index);
    }
  }

  /** The position of every `name(` of one of the names, in text order. */
  calls(names: ReadonlySet<string>): number[] {
    const out: number[] = [];
    let lists = 0;
    for (const n of names) {
      const list = this.at.get(n);
      if (list === undefined) continue;
      for (const i of list) out.push(i);
      lists++;
    }
    return lists > 1 ? out.sort((a, b) => a - b) : out;
  }
}
