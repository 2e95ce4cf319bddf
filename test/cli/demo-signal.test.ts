// `dropsite demo` interrupted with Ctrl-C or killed with SIGTERM leaves no temporary folder behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from '../helpers/fixture.ts';

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  test(`demo stopped by ${sig} while indexing removes its temporary folder`, { timeout: 30_000 }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'dropsite-demo-test-'));
    try {
      const child = spawn(process.execPath, [CLI, 'demo'], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const stopped = new Promise<void>((resolve) => {
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          // Freeze it as soon as it starts indexing, so that the signal surely lands mid-demo.
          if (out.includes('$ dropsite index') && child.signalCode === null && !child.killed) {
            child.kill('SIGSTOP');
            resolve();
          }
        });
      });
      child.stderr.resume();
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
      await stopped;
      assert.equal(readdirSync(tmp).filter((n) => n.startsWith('dropsite-demo-')).length, 1, 'the demo has its folder while it runs');
      child.kill(sig);
      child.kill('SIGCONT');
      const r = await exited;
      assert.equal(r.signal, sig, `it dies of ${sig} (status ${String(r.code)})`);
      assert.deepEqual(readdirSync(tmp), [], 'nothing is left in the temporary directory');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
