// `--format json`: the view as a stable, versioned document. Keys are sorted at every level, so the
// output does not depend on the order in which the view was built; `schemaVersion` comes first.
import type { RenderOptions } from './render-options.ts';
import type { ReportView } from './view.ts';

/** Bump when a field is renamed, removed or changes meaning; adding a field keeps the version. */
const REPORT_SCHEMA_VERSION = 1;

/** JSON-safe copy: object keys sorted, bigints (SQLite integers) as numbers or, beyond 2^53, strings. */
function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : normalise(v)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v: unknown = Reflect.get(value, key);
      // defineProperty: a key named `__proto__` stays a plain key instead of setting the prototype.
      if (v !== undefined && typeof v !== 'function') Object.defineProperty(out, key, { value: normalise(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

export function renderJson(view: ReportView, _opts?: RenderOptions): string {
  const body = normalise(view);
  // schemaVersion is written first and last: first for its place at the top, last so nothing overrides it.
  const doc = Object.assign({ schemaVersion: REPORT_SCHEMA_VERSION }, body, { schemaVersion: REPORT_SCHEMA_VERSION });
  return `${JSON.stringify(doc, null, 2)}\n`;
}
