// A reader's drop record → what the metrics count (the location as one label).
import type { DropRecord } from '../locate/recording.ts';
import type { DropCount } from './metrics.ts';

/** `sym+0xoff [mod]`; `0xADDRESS` when nothing names it. The size is left out: it is the same for every drop there. */
export function locationLabel(r: Pick<DropRecord, 'symbol' | 'offset' | 'module' | 'address'>): string {
  if (r.symbol === '') return r.address === null ? '?' : `0x${r.address.toString(16)}`;
  return `${r.symbol}${r.offset === null ? '' : `+0x${r.offset.toString(16)}`}${r.module === null ? '' : ` [${r.module}]`}`;
}

export function dropCountOf(r: DropRecord, reason: string | null = r.reason): DropCount {
  return {
    location: locationLabel(r), symbol: r.symbol, function: r.function, isCold: r.isCold, offset: r.offset, size: r.size,
    module: r.module, reason, event: r.event, count: r.count,
  };
}
