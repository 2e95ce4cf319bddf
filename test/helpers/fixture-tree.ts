// A hand-written fixture tree laid over fixtures/kernel-base (the Makefile's version lines, the free that fires
// the tracepoint, its inline wrapper, the drop reasons), in a folder of the caller's: each fixture holds only
// what it is about, and replaces a base file when it needs more.
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './fixture.ts';

/** Copies kernel-base, then `fixtures/<parts…>` over it, into `<into>/tree`; returns that tree's path. */
export function layeredFixture(into: string, ...parts: string[]): string {
  const tree = join(into, 'tree');
  mkdirSync(tree, { recursive: true });
  cpSync(fixture('kernel-base'), tree, { recursive: true, filter: (src) => !src.endsWith('/README.md') });
  cpSync(fixture(...parts), tree, { recursive: true, force: true });
  return tree;
}
