// retis events as JSON, one per line (`retis collect -o`, default file retis.data), or one series (array) per line
// (`retis sort -o`). Sections used: `skb-drop` {drop_reason, subsys}, `kernel` {symbol, stack_trace: ["f+0x93c", …]},
// `common` {timestamp (ns)}. `startup` events describe the collection and carry no drop.
// Format facts: /work/shared/FORMATS.md §3.5; retis-org/retis retis-events/src/{skb_drop,kernel,common,events}.rs.

import type { DropEvent } from './location.ts';
import {
  type CodePoint,
  type FormatReader,
  type RecordingItem,
  dropRecord,
  reasonName,
  skippedRecord,
} from './recording-model.ts';
import { FrameChooser, parseCodeToken } from './recording-tokens.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export class RetisReader implements FormatReader {
  get inBlock(): boolean {
    return false;
  }

  feed(line: string, lineNo: number, out: RecordingItem[]): void {
    const text = line.trim();
    if (text === '') return;
    let value: Json;
    try {
      value = JSON.parse(text) as Json;
    } catch {
      out.push(skippedRecord(lineNo, line, 'not valid JSON (a truncated line, or not one retis event per line)'));
      return;
    }
    if (Array.isArray(value)) {
      let dropCount = 0;
      for (const element of value) {
        if (!isObject(element) || !isObject(element['skb-drop'])) continue;
        dropCount += 1;
        out.push(readEvent(element, lineNo, line));
      }
      if (dropCount === 0) out.push(skippedRecord(lineNo, line, 'retis event series without a skb-drop event'));
      return;
    }
    if (!isObject(value)) {
      out.push(skippedRecord(lineNo, line, 'JSON value is not a retis event object'));
      return;
    }
    if (value['startup'] !== undefined) return;
    if (!isObject(value['skb-drop'])) {
      out.push(skippedRecord(lineNo, line, 'retis event without a skb-drop section (not a drop)'));
      return;
    }
    out.push(readEvent(value, lineNo, line));
  }

  flush(): void {}
}

function readEvent(event: JsonObject, lineNo: number, line: string): RecordingItem {
  const drop = asObject(event['skb-drop']);
  const kernel = asObject(event['kernel']);
  const common = asObject(event['common']);
  const stack = kernel['stack_trace'] ?? kernel['stack'] ?? event['stack_trace'];
  if (!Array.isArray(stack) || stack.length === 0) {
    return skippedRecord(lineNo, line, 'retis event has no kernel stack_trace (collect with the dropmon profile, or a /stack probe)');
  }
  const chooser = new FrameChooser();
  for (const frame of stack) {
    if (typeof frame !== 'string') continue;
    const point = parseCodeToken(frame.trim(), { bareBase: 'hex', isBareAddressAllowed: false });
    if (typeof point !== 'string') chooser.offer(point);
  }
  const point: CodePoint | null = chooser.choose();
  if (point === null) return skippedRecord(lineNo, line, 'every frame of the stack_trace is a drop function or tracing code');
  const symbol = typeof kernel['symbol'] === 'string' ? kernel['symbol'] : '';
  const eventName: DropEvent = symbol.endsWith('consume_skb') ? 'consume_skb' : 'kfree_skb';
  return dropRecord(lineNo, point, {
    reason: reasonOf(drop),
    event: eventName,
    count: 1,
    timestamp: secondsOf(common['timestamp']),
  });
}

/** retis prints non-core reasons as `subsys/REASON` (skb_drop.rs); the same text is kept here. */
function reasonOf(drop: JsonObject): string | null {
  const raw = drop['drop_reason'] ?? drop['reason'];
  const reason = typeof raw === 'string' ? raw : typeof raw === 'number' ? String(raw) : null;
  if (reason === null || reason === '') return null;
  const subsys = drop['subsys'];
  const name = reasonName(reason);
  return typeof subsys === 'string' && subsys !== '' && subsys !== 'core' ? `${subsys}/${name}` : name;
}

function secondsOf(value: Json | undefined): number | null {
  const ns = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : null;
  return ns === null || !Number.isFinite(ns) ? null : ns / 1e9;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: Json | undefined): JsonObject {
  return isObject(value) ? value : {};
}
