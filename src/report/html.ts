// Building HTML text safely. Symbols, file names, source code and log lines in a report are
// untrusted (a log line can hold `<script>`), so every interpolated value is escaped unless it is
// markup this module built itself.

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escape text for HTML element content and quoted attribute values alike. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (ch) => ENTITIES[ch] ?? ch);
}

/** Markup that is already safe: only `html` and `rawHtml` make one. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

function interpolate(v: HtmlValue): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(interpolate).join('');
  if (v === null || v === undefined || v === false || v === true) return '';
  if (typeof v === 'number') return escapeHtml(Number.isFinite(v) ? String(v) : '');
  return escapeHtml(String(v));
}

/**
 * Tagged template: the literal parts are trusted markup, every `${value}` is escaped (arrays are
 * joined, `Html` values are kept). Attribute values must be quoted in the template.
 */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += interpolate(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Trusted markup from a constant (the stylesheet). Never pass text from a report through this. */
export const rawHtml = (text: string): Html => new Html(text);
