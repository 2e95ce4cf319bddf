// Plain-text measuring and cutting for terminal output. Log lines and symbols are untrusted text: a
// raw ESC or CR in them could move the cursor or recolour the terminal, so they are made visible first.

/**
 * The one escaping of untrusted text for a terminal, used by every text renderer and by stderr: control
 * characters (C0 including CR and newline, DEL, C1) shown as `\xNN`, and the Unicode line separators and
 * bidirectional overrides (which reorder what the user reads) as `\uNNNN`; a tab becomes a space.
 */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (ch) => {
    const code = ch.charCodeAt(0);
    if (ch === '\t') return ' ';
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

// East Asian wide and fullwidth ranges, and the emoji planes: two terminal columns each.
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
// Combining marks and zero-width characters take no column.
const ZERO = /[\u0300-\u036f\u200b-\u200f\u20d0-\u20ff\ufe00-\ufe0f]/u;
const ANSI = /\u001b\[[0-9;]*m/g;

const charWidth = (ch: string): number => (ZERO.test(ch) ? 0 : WIDE.test(ch) ? 2 : 1);

/** Columns the text takes in a terminal, ignoring SGR colour sequences. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s.replace(ANSI, '')) w += charWidth(ch);
  return w;
}

const ELLIPSIS = '…';

/** Cut the end off to fit `width` columns, marking the cut with `…`. */
export function fitEnd(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return out + ELLIPSIS;
}

/** Cut the start off to fit `width` columns (for paths: the file name and line number matter most). */
export function fitStart(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width <= 0) return '';
  const chars = [...s];
  let out = '';
  let w = 0;
  for (let i = chars.length - 1; i >= 0; i--) {
    const ch = chars[i] ?? '';
    const cw = charWidth(ch);
    if (w + cw > width - 1) break;
    out = ch + out;
    w += cw;
  }
  return ELLIPSIS + out;
}

/** Word-wrap to `width` columns; words longer than a line are cut with `fitEnd`. */
export function wrapText(s: string, width: number, indent = ''): string[] {
  const room = Math.max(1, width - displayWidth(indent));
  const lines: string[] = [];
  let cur = '';
  for (const word of s.split(/ +/)) {
    if (word === '') continue;
    const next = cur === '' ? word : `${cur} ${word}`;
    if (displayWidth(next) <= room) {
      cur = next;
      continue;
    }
    if (cur !== '') lines.push(cur);
    cur = fitEnd(word, room);
  }
  if (cur !== '' || lines.length === 0) lines.push(cur);
  return lines.map((l) => indent + l);
}
