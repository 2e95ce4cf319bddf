// Drops that used to hide from the index behind what it stopped at (fixtures/scan/deep-sites): a macro defined
// inside a function body, a local macro that calls the handler it is given, a header inline that only fixes the
// reason of the purge it calls, a variadic macro in front of a ring resize, and a function of the file handed to
// that resize.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { splitChunks } from '../../src/scan/chunks.ts';
import { scanTree, type ScanResult } from '../../src/scan/scan-tree.ts';
import { CandidateSource } from '../../src/explain/candidates.ts';
import { parseLocation } from '../../src/locate/location.ts';
import { layeredFixture } from '../helpers/fixture-tree.ts';
import { indexFixture, type IndexedFixture } from '../helpers/indexed-fixture.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dropsite-deep-'));
const dir = layeredFixture(join(tmp, 'scan'), 'scan', 'deep-sites');
let scan: ScanResult;
let fx: IndexedFixture;
before(async () => {
  scan = await scanTree(dir);
  fx = await indexFixture(join(tmp, 'index'), 'scan', 'deep-sites');
});
after(() => {
  fx?.db.close();
  rmSync(tmp, { recursive: true, force: true });
});

const edges = (): string[] => scan.resolution.edges.map((e) => `${e.caller} -> ${e.callee} ${e.kind}${e.through === null ? '' : ` ${e.through}`}`);
const has = (edge: string): void => assert.ok(edges().includes(edge), `${edge} among ${edges().join(', ')}`);
/** The site lines the candidates of a location's function hold, with the helpers on the way. */
const candidateLines = (fn: string): string[] => {
  const source = new CandidateSource(fx.db, fx.tree.id);
  return source.functions(fn).flatMap((f) => source.sitesFor(f)).map((c) => `${c.site.file}:${c.site.line} ${c.via.join('>')}`);
};

test('a `}` that continues a macro line ends no top-level piece', () => {
  const text = readFileSync(join(dir, 'drivers/net/wireless/acme/acme_rx.c'), 'latin1');
  const pieces = splitChunks(text).map((c) => text.slice(c.startIndex, c.endIndex));
  const body = pieces.find((p) => p.includes('static int acme_interrupt('));
  assert.ok(body?.includes('acme_rx_ring(priv);'), 'the body after the macro is in the same piece as its head');
  // So the call after the macro is read, and the static helper's site is the function's.
  has('acme_interrupt -> acme_rx_ring inline');
});

test('a name passed to a macro that calls its parameter is a call of that function', () => {
  has('acme_rx_handlers -> acme_rx_h_check callback CALL_RXH');
  assert.ok(candidateLines('acme_rx_handlers').includes('drivers/net/wireless/acme/acme_rx.c:57 acme_rx_h_check'), candidateLines('acme_rx_handlers').join('; '));
});

test('a header inline that only calls another with a reason of its own is no helper level deeper', () => {
  has('__skb_queue_purge -> __skb_queue_purge_reason forward');
  // Three static helpers, then the purge: without the forward rule the chain was one level too deep to be kept.
  has('acme_wbm_err -> acme_reo_err inline');
  const purge = scan.resolution.sites.find((s) => s.function === '__skb_queue_purge_reason');
  assert.deepEqual(purge?.reasons, ['QUEUE_PURGE']);
  assert.ok(candidateLines('acme_wbm_err').includes('include/linux/skbuff.h:38 acme_reo_err>acme_null_q>__skb_queue_purge>__skb_queue_purge_reason'),
    candidateLines('acme_wbm_err').join('; '));
  const e = fx.explainer.explain(parseLocation('acme_wbm_err+0x30/0x90 reason: QUEUE_PURGE'));
  assert.equal(`${e.candidates[0]?.file}:${e.candidates[0]?.line}`, 'include/linux/skbuff.h:38');
});

test('a variadic macro that only passes its arguments on is a call of its function', () => {
  has('acme_resize -> acme_ring_resize_noprof inline');
  // The drop function handed through the macro binds the inline code's call of its parameter as a site.
  const bound = scan.resolution.sites.find((s) => s.function === '__acme_ring_swap');
  assert.equal(`${bound?.file}:${bound?.line} ${bound?.api}`, 'include/linux/acme_ring.h:29 __acme_ring_destroy_skb');
  assert.ok(candidateLines('acme_resize').includes('include/linux/acme_ring.h:29 acme_ring_resize_noprof>__acme_ring_swap'), candidateLines('acme_resize').join('; '));
});

test('a function of the same file handed to inline code is a helper, static or not', () => {
  has('acme_resize_frames -> acme_ptr_free callback acme_ring_resize_noprof');
  assert.ok(candidateLines('acme_resize_frames').includes('drivers/net/wireless/acme/acme_rx.c:104 acme_ptr_free'), candidateLines('acme_resize_frames').join('; '));
});
