// Which merged site the debug info keeps (src/machine-code/merged-blocks.ts), on hand-written kernel-style C.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergedKeeper, parameterNames, siteBlock, type MergedSite } from '../../src/machine-code/merged-blocks.ts';

const SOURCE = `static int send_one(struct sk_buff *skb, struct flowi4 *fl4,
		    struct inet_cork *cork)
{
	if (skb->len > cork->fragsize) {
		kfree_skb(skb);
		return -EINVAL;
	}
	if (sk->sk_no_check_tx) {
		kfree_skb(skb);		/* no checksum */
		return -EINVAL;
	}
	if (is_udplite) {
		pr_debug("lite\\n");
		kfree_skb(skb);
		return -EINVAL;
	}
	return ip_send_skb(skb);
}

static int recv_one(struct sk_buff *skb, int more)
{
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return 0;
	if (more) {
		kfree_skb(skb);
		return 0;
	}
	if (skb->len < 4) {
		kfree_skb(skb);
		return 0;
	}
	return deliver(skb);
}

static void flush_all(struct queue *q)
{
	struct sk_buff *skb = q->head;

	if (q->stopped) {
		kfree_skb(skb);
		return;
	}
	if (q->full) {
		kfree_skb(skb);
		return;
	}
}
`.split('\n');
const lines = (file: string): string[] | null => (file === 'net/x/one.c' ? SOURCE : null);
const lineOf = (text: string, from = 0): number => SOURCE.findIndex((l, i) => i >= from && l.includes(text)) + 1;
const fn = (name: string) => {
  const startLine = lineOf(`${name}(`);
  return { name, startLine, endLine: SOURCE.findIndex((l, i) => i >= startLine && l.startsWith('}')) + 1 };
};
const site = (name: string, nth: number): MergedSite => {
  const f = fn(name);
  let at = f.startLine;
  for (let k = 0; k <= nth; k++) at = lineOf('kfree_skb(skb);', at);
  return { file: 'net/x/one.c', line: at, fn: f };
};

test('the statements of a site\'s straight line, comments and blanks dropped, from its { to its return', () => {
  const s = site('send_one', 1);
  assert.deepEqual(siteBlock(SOURCE, s.line), ['kfree_skb(skb);', 'return -EINVAL;']);
  assert.deepEqual(siteBlock(SOURCE, site('send_one', 2).line), ['pr_debug("lite\\n");', 'kfree_skb(skb);', 'return -EINVAL;']);
});

test('parameter names of a declarator over two lines', () => {
  assert.deepEqual(parameterNames(SOURCE, fn('send_one')), ['skb', 'fl4', 'cork']);
  assert.deepEqual(parameterNames(SOURCE, fn('flush_all')), ['q']);
});

test('identical blocks that free a parameter the function never assigns: the first is kept (tail merging)', () => {
  const sites = [site('send_one', 1), site('send_one', 0)];
  const k = mergedKeeper(sites, lines);
  assert.ok(k !== null);
  assert.equal(k.first, true);
  assert.equal(k.keep, 1, 'the earlier line, whatever the order given');
  assert.match(k.evidence, /free the parameter skb, which send_one never assigns, so gcc's tail merging keeps the first block/);
});

test('blocks that differ (a pr_debug before one free): the last is kept (cross-jumping)', () => {
  const k = mergedKeeper([site('send_one', 0), site('send_one', 2)], lines);
  assert.ok(k !== null);
  assert.equal(k.first, false);
  assert.equal(k.keep, 1);
  assert.match(k.evidence, /do not read the same/);
});

test('a parameter the function reassigns (skb = skb_share_check(…)), or a local: the last is kept', () => {
  const re = mergedKeeper([site('recv_one', 0), site('recv_one', 1)], lines);
  assert.equal(re?.first, false);
  assert.equal(re?.keep, 1);
  assert.match(re?.evidence ?? '', /recv_one assigns its parameter skb/);
  const local = mergedKeeper([site('flush_all', 1), site('flush_all', 0)], lines);
  assert.equal(local?.first, false);
  assert.equal(local?.keep, 0, 'the later line is the first given here');
  assert.match(local?.evidence ?? '', /free skb flush_all computes itself/);
});

test('identical frees of a parameter inside an inlined helper: its parameter is the caller\'s value, so the last is kept', () => {
  const sites = [site('send_one', 0), site('send_one', 1)].map((s) => ({ ...s, inlined: 'send_one' }));
  const k = mergedKeeper(sites, lines);
  assert.equal(k?.first, false);
  assert.equal(k?.keep, 1);
  assert.match(k?.evidence ?? '', /inside the inlined send_one, whose parameters are its caller's values/);
  // A site of the function itself and one of a helper are no merged set of one function.
  assert.equal(mergedKeeper([site('send_one', 0), { ...site('send_one', 1), inlined: 'send_one' }], lines), null);
});

test('sites of two functions, or one site, are no merged set; an unreadable file keeps the last', () => {
  assert.equal(mergedKeeper([site('send_one', 0), site('recv_one', 0)], lines), null);
  assert.equal(mergedKeeper([site('send_one', 0)], lines), null);
  const gone = mergedKeeper([site('send_one', 0), site('send_one', 1)].map((s) => ({ ...s, file: 'net/x/gone.c' })), lines);
  assert.equal(gone?.first, false);
  assert.equal(gone?.keep, 1);
});
