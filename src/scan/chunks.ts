// Cutting a kernel source file into top-level pieces, so that only the pieces that mention a
// name we look for are handed to tree-sitter. Kernel style closes every function body and every
// struct or initialiser with a `}` in column 0 (Documentation/process/coding-style.rst §6), so a
// line starting with `}` ends a top-level piece. Parsing a piece instead of the whole file keeps
// tree-sitter's work proportional to the code that matters (a tenth of a typical net/ file). A `}` that
// continues a macro definition (the line before ends with a backslash) ends no piece: a `#define` inside a
// function body (`} while (0)` of a local helper macro, adm8211_interrupt's) would cut the body in two.

export interface Chunk {
  /** 0-based line of the chunk's first line in the file. */
  startLine: number;
  startIndex: number;
  endIndex: number;
}

/** Whether the line before the one starting at `pos` ends with a backslash (a continued macro line). */
function continuesLine(text: string, pos: number): boolean {
  let i = pos - 2;
  if (i >= 0 && text.charCodeAt(i) === 13 /* \r */) i--;
  return i >= 0 && text.charCodeAt(i) === 92 /* \\ */;
}

export function splitChunks(text: string): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  let startLine = 0;
  let line = 0;
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = n;
    if (text.charCodeAt(pos) === 125 /* } */ && !continuesLine(text, pos)) {
      chunks.push({ startLine, startIndex: start, endIndex: eol });
      start = eol + 1;
      startLine = line + 1;
    }
    pos = eol + 1;
    line++;
  }
  if (start < n) chunks.push({ startLine, startIndex: start, endIndex: n });
  return chunks;
}

/** The last position in `items` (sorted by start) whose start is at or before `value`: a binary search. */
export function lastAtOrBefore<T>(items: readonly T[], value: number, startOf: (t: T) => number): number {
  let lo = 0;
  let hi = items.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    const item = items[mid];
    if (item !== undefined && startOf(item) <= value) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Index of the chunk holding `index` (chunks are sorted and contiguous). */
export function chunkAt(chunks: readonly Chunk[], index: number): number {
  return lastAtOrBefore(chunks, index, (c) => c.startIndex);
}

/** 0-based line number of every line start, for turning string indices into lines. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  let i = text.indexOf('\n');
  while (i >= 0) {
    starts.push(i + 1);
    i = text.indexOf('\n', i + 1);
  }
  return starts;
}

export function lineOf(starts: readonly number[], index: number): number {
  return lastAtOrBefore(starts, index, (n) => n);
}
