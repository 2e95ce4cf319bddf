// `npm run build`, second step: bundle the command line into one CommonJS file, dist/cli/dropsite.cjs.
// Node 20 loads ES modules one by one through its asynchronous loader (1–2 ms each); one CommonJS
// file skips that, which `dropsite explain` needs to answer one location within 150 ms. The packages
// stay outside (require()d from node_modules), and dist/ from tsc stays the library and the scan worker.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const outfile = 'dist/cli/dropsite.cjs';
await build({
  entryPoints: ['src/cli/bin.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  // import.meta.url does not exist in CommonJS: give it the bundle's own URL.
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__bundleUrl' },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
