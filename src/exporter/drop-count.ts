// A reader's drop record → what the metrics count (the location as one label).
import { locationText, type DropRecord } from '../locate/recording.ts';
import type { DropCount } from './metrics.ts';

export function dropCountOf(r: DropRecord, reason: string | null = r.reason): DropCount {
  return {
    location: locationText(r), symbol: r.symbol, function: r.function, isCold: r.isCold, offset: r.offset, size: r.size,
    module: r.module, reason, event: r.event, count: r.count,
  };
}
