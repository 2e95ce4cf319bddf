// The tree's own drop reasons: `enum skb_drop_reason` and subsystem reason enums, in enum order,
// with the string the kfree_skb tracepoint prints and the kernel-doc text that explains each.
// Where the enum lives moved between releases (include/linux/skbuff.h in 5.17–6.0,
// include/net/dropreason.h in 6.0–6.3, include/net/dropreason-core.h from 6.4, commit 5b8285cca6fe);
// `dropReasonFiles` lists them newest first and the caller reads the first that exists.
import type { DropReason } from '../model.ts';
import { evaluateConstant } from './c-constant.ts';

export const DROP_REASON_FILES = ['include/net/dropreason-core.h', 'include/net/dropreason.h', 'include/linux/skbuff.h'] as const;


/** The name the tracepoint prints for an enumerator: the core prefix removed (`SKB_CONSUMED` → `CONSUMED`). */
export function reasonString(enumerator: string): string {
  // Only one prefix goes: SKB_DROP_REASON_SKB_CSUM prints as SKB_CSUM.
  return enumerator.startsWith('SKB_DROP_REASON_') ? enumerator.slice('SKB_DROP_REASON_'.length) : enumerator.replace(/^SKB_/, '');
}

function describe(comment: string, enumerator: string): string {
  return comment
    .trim()
    .replace(/^\/\*\*?|\*\/$/g, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .join(' ')
    .replace(new RegExp(`^\\s*@${enumerator}:\\s*`), '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Value → name of a tree's reasons: the core enum's first, a subsystem's (`SUBSYS << SHIFT | n`) filling the
 * numbers it leaves, so an alias of a core value (`RX_CONTINUE = SKB_CONSUMED`) never renames it.
 */
export function reasonsByValue(reasons: ReadonlyArray<Pick<DropReason, 'name' | 'value' | 'enumName'>>): Map<number, string> {
  const out = new Map<number, string>();
  for (const core of [true, false]) {
    for (const r of reasons) if ((r.enumName === 'skb_drop_reason') === core && r.value >= 0 && !out.has(r.value)) out.set(r.value, r.name);
  }
  return out;
}

/** Function-like list macros of a file: `#define LIST(R) R(A) R(B) …` → LIST → [A, B, …] with each item's line. */
function listMacros(text: string): Map<string, Array<{ name: string; line: number }>> {
  const out = new Map<string, Array<{ name: string; line: number }>>();
  for (const m of text.matchAll(/^[ \t]*#[ \t]*define[ \t]+(\w+)\([ \t]*(\w+)[ \t]*\)((?:[^\n]*\\\n)*[^\n]*)/gm)) {
    const param = m[2] ?? '';
    const body = (m[3] ?? '').replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\\\n/g, '\n');
    const first = text.slice(0, m.index).split('\n').length;
    const items: Array<{ name: string; line: number }> = [];
    const item = new RegExp(`\\b${param}\\(\\s*(\\w+)\\s*\\)`, 'g');
    const rest = body.replace(item, '').trim();
    if (rest !== '') continue;
    const lines = (m[3] ?? '').split('\n');
    lines.forEach((l, k) => {
      for (const x of l.replace(/\/\*.*?\*\//g, ' ').matchAll(item)) items.push({ name: x[1] ?? '', line: first + k });
    });
    if (items.length > 0) out.set(m[1] ?? '', items);
  }
  return out;
}

interface Member { name: string; value: number; line: number; comment: string; enumName: string }

/**
 * Walk every enum whose name matches `wanted`, calling `onMember` for each member in order. Members a
 * list macro produces (`LIST(ENUM)` with the enum's own `#define ENUM(x) x,`) are expanded; values
 * follow C rules, initialisers evaluated against `env` and the members before (unknown: -1).
 */
function walkEnums(text: string, wanted: RegExp, env: Map<string, number>, onMember: (m: Member) => void): void {
  const lists = listMacros(text);
  for (const m of text.matchAll(/\benum\s+(\w*)\s*\{/g)) {
    const enumName = m[1] ?? '';
    if (!wanted.test(enumName)) continue;
    const open = m.index + m[0].length;
    const close = text.indexOf('};', open);
    if (close < 0) continue;
    const body = text.slice(open, close);
    const macros = new Map<string, { param: string; body: string }>();
    let line = text.slice(0, open).split('\n').length;
    let value = 0;
    let comment = '';
    let entry = '';
    let entryLine = line;
    const member = (raw: string, at: number, note: string): void => {
      const e = /^([A-Za-z_]\w*)\s*(?:=\s*([\s\S]+))?$/.exec(raw.trim());
      if (e === null) return;
      const name = e[1] ?? '';
      if (e[2] !== undefined) value = evaluateConstant(e[2], env) ?? -1;
      if (value >= 0) env.set(name, value);
      onMember({ name, value, line: at, comment: note, enumName });
      if (value >= 0) value++;
    };
    const expand = (raw: string): boolean => {
      const call = /^(\w+)\s*\(\s*(\w+)\s*\)$/.exec(raw.trim());
      const items = call === null ? undefined : lists.get(call[1] ?? '');
      const mac = call === null ? undefined : macros.get(call[2] ?? '');
      if (items === undefined || mac === undefined) return false;
      for (const it of items) {
        const out = mac.body.replace(new RegExp(`\\b${mac.param}\\b`, 'g'), it.name).replace(/\s*##\s*/g, '');
        for (const part of out.split(',')) if (part.trim() !== '') member(part, it.line, '');
      }
      return true;
    };
    const flush = (): void => {
      if (entry.trim() !== '' && !expand(entry)) member(entry, entryLine, comment);
      entry = '';
      comment = '';
    };
    for (let i = 0; i < body.length; i++) {
      const c = body[i] ?? '';
      if (c === '\n') {
        line++;
        if (expand(entry)) {
          entry = '';
          comment = '';
        }
      }
      if (body.startsWith('/*', i)) {
        const end = body.indexOf('*/', i + 2);
        const piece = body.slice(i, end < 0 ? body.length : end + 2);
        line += piece.split('\n').length - 1;
        // A comment on a line of its own documents the member after it; one after `X,` belongs to X.
        if (entry.trim() === '' && /\n[ \t]*$/.test(body.slice(Math.max(0, i - 200), i))) comment = piece;
        i += piece.length - 1;
        continue;
      }
      if (body.startsWith('//', i)) {
        const end = body.indexOf('\n', i);
        i = (end < 0 ? body.length : end) - 1;
        continue;
      }
      if (c === '#' && entry.trim() === '') {
        let end = i;
        while (end < body.length && (body[end] !== '\n' || body[end - 1] === '\\')) end++;
        const directive = body.slice(i, end);
        const d = /^#\s*define\s+(\w+)\(\s*(\w+)\s*\)([\s\S]*)$/.exec(directive.replace(/\\\n/g, ' '));
        if (d !== null) macros.set(d[1] ?? '', { param: d[2] ?? '', body: d[3] ?? '' });
        const u = /^#\s*undef\s+(\w+)/.exec(directive);
        if (u !== null) macros.delete(u[1] ?? '');
        line += directive.split('\n').length - 1;
        i = end - 1;
        continue;
      }
      if (c === ',') {
        flush();
        continue;
      }
      if (entry.trim() === '' && /\S/.test(c)) entryLine = line;
      entry += c;
    }
    flush();
  }
}

/** Constants reasons may be built from: every enum member and object-like `#define NAME <constant>` of a header. */
export function parseConstants(text: string, env: Map<string, number> = new Map()): Map<string, number> {
  parseConstantsDefines(text, env);
  walkEnums(text, /^/, env, () => undefined);
  return env;
}

/**
 * Every `enum …drop_reason { … }` of one file. Bounds (`…_MAX`, `…_SUBSYS_MASK`) and reserved names
 * (`__BASE`) are left out. Values follow C rules: an initialiser that is a constant expression of integers,
 * `env`'s constants and earlier members sets the counter; any other leaves it unknown (-1).
 */
export function parseDropReasons(text: string, file: string, env: ReadonlyMap<string, number> = new Map()): DropReason[] {
  const out: DropReason[] = [];
  const scope = new Map(env);
  parseConstantsDefines(text, scope);
  walkEnums(text, /drop_reason$/, scope, (m) => {
    if (/_MAX$|_SUBSYS_MASK$/.test(m.name) || m.name.startsWith('__')) return;
    out.push({ name: reasonString(m.name), value: m.value, enumName: m.enumName, file, line: m.line, description: describe(m.comment, m.name) });
  });
  return out;
}

function parseConstantsDefines(text: string, env: Map<string, number>): void {
  for (const m of text.matchAll(/^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+([^\n]+)$/gm)) {
    const v = evaluateConstant((m[2] ?? '').replace(/\/\*.*?\*\//g, ''), env);
    if (v !== null) env.set(m[1] ?? '', v);
  }
}
