#!/usr/bin/env node
// The `dropsite` executable. npm's build bundles it into dist/cli/dropsite.cjs (scripts/bundle.mjs):
// one file, no ES-module loading, which saves a third of the start-up of `dropsite explain`.
import { main } from './program.ts';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
