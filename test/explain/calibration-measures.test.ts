// The measures of bench/calibration/evaluate.ts on hand-made truth chains: the calling frame of a site
// inside an inlined wrapper, and "site and calling line both right" next to top-1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callingFrame, scoreCalledAt, trueSite, type CalledAtAccuracy } from '../../bench/calibration/evaluate.ts';

// Innermost first: the generic drop functions, the wrapper's free (twice: a lexical block of the same
// function), then the line of the caller that calls the wrapper.
const chain = [
  { function: 'kfree_skb_reason', file: 'include/linux/skbuff.h', line: 1296 },
  { function: 'tcp_drop_reason', file: 'net/ipv4/tcp_input.c', line: 4890 },
  { function: 'tcp_drop_reason', file: 'net/ipv4/tcp_input.c', line: 4888 },
  { function: 'tcp_data_queue', file: 'net/ipv4/tcp_input.c', line: 5187 },
];
const site = trueSite(chain, new Set(['kfree_skb_reason']));

test('the calling frame is the next frame of another function than the site', () => {
  assert.deepEqual(site, chain[1]);
  assert.deepEqual(callingFrame(chain, site!), chain[3]);
  assert.equal(callingFrame([chain[0]!, chain[1]!], chain[1]!), null, 'a wrapper in its own out-of-line copy has no caller');
  assert.equal(callingFrame(chain, { ...chain[1]! }), null, 'a frame that is not in the chain has no calling frame');
});

test('site and calling line both right: the site alone, the site with the wrong call, with the right call, and nothing', () => {
  const acc: CalledAtAccuracy = { n: 0, siteRight: 0, bothRight: 0 };
  const caller = callingFrame(chain, site!);
  const at = (line: number): { file: string; line: number; function: string } => ({ file: 'net/ipv4/tcp_input.c', line, function: 'tcp_data_queue' });
  const cand = { file: 'net/ipv4/tcp_input.c', line: 4890, endLine: 4890 };
  scoreCalledAt(acc, cand, site!, caller);
  assert.deepEqual(acc, { n: 1, siteRight: 1, bothRight: 0 }, 'no calledAt: the site only');
  scoreCalledAt(acc, { ...cand, calledAt: at(5138) }, site!, caller);
  assert.deepEqual(acc, { n: 2, siteRight: 2, bothRight: 0 }, 'another call of the wrapper');
  scoreCalledAt(acc, { ...cand, calledAt: at(5187) }, site!, caller);
  assert.deepEqual(acc, { n: 3, siteRight: 3, bothRight: 1 });
  scoreCalledAt(acc, { file: 'net/ipv4/tcp_input.c', line: 5187, endLine: 5187, calledAt: at(5187) }, site!, caller);
  assert.deepEqual(acc, { n: 4, siteRight: 3, bothRight: 1 }, 'the right call, the wrong site');
  scoreCalledAt(acc, undefined, site!, caller);
  assert.deepEqual(acc, { n: 5, siteRight: 3, bothRight: 1 }, 'no candidate');
});
