// Finding the calls of a set of names in a text. A few names become one regular expression, compiled
// once and shared by every file that looks for the same names in a round. Many names (a tree of
// thousands of wrappers) are looked up by reading each `identifier(` and testing it against a set:
// one pass over the text whatever the number of names. An alternation of 10,000 names compiled per
// file ran the scanning threads out of memory.

const MANY = 64;
const IDENT_CALL = /\b([A-Za-z_]\w*)\s*\(/g;

export interface NameMatcher {
  /** The position of every `name(` (or `name (`) of one of the names, in text order. */
  calls(text: string): number[];
  /** Whether the text holds such a call. */
  test(text: string): boolean;
}

function regexMatcher(names: readonly string[]): NameMatcher {
  const pattern = new RegExp(`\\b(?:${names.join('|')})\\s*\\(`, 'g');
  return {
    calls: (text) => Array.from(text.matchAll(pattern), (m) => m.index),
    test: (text) => {
      pattern.lastIndex = 0;
      return pattern.test(text);
    },
  };
}

function setMatcher(names: readonly string[]): NameMatcher {
  const set = new Set(names);
  const calls = (text: string, firstOnly: boolean): number[] => {
    const out: number[] = [];
    IDENT_CALL.lastIndex = 0;
    for (let m = IDENT_CALL.exec(text); m !== null; m = IDENT_CALL.exec(text)) {
      if (!set.has(m[1] ?? '')) continue;
      out.push(m.index);
      if (firstOnly) break;
    }
    return out;
  };
  return { calls: (text) => calls(text, false), test: (text) => calls(text, true).length > 0 };
}

/**
 * Matchers by list: the files of one round share the list of new names (ScanState.scan), so one
 * matcher serves them all. Keyed by the list itself, not its text: joining 10,000 names for each of
 * 10,000 files would cost more than the search.
 */
const built = new WeakMap<readonly string[], NameMatcher>();

export function matcherFor(names: readonly string[]): NameMatcher {
  let m = built.get(names);
  if (m === undefined) {
    m = names.length > MANY ? setMatcher(names) : regexMatcher(names);
    built.set(names, m);
  }
  return m;
}
