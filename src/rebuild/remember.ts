// `dropsite index TREE --config FILE`: remember the config for the tree and prepare its build once.
import { cpus } from 'node:os';
import { buildDirFor, cacheDir, prepareBuildDir, withLock } from './build-dir.ts';
import { rememberConfig, type KernelConfig } from './config.ts';
import { compilerWarning, probeToolchain } from './toolchain.ts';

export { readConfig } from './config.ts';

export async function rememberAndPrepare(treeRoot: string, treeVersion: string | null, config: KernelConfig, cc: string | undefined, onWarning: (w: string) => void): Promise<{ dir: string; seconds: number }> {
  const tc = await probeToolchain(cc, config.ccVersionText);
  const cw = compilerWarning(tc, config.ccVersionText);
  if (cw !== null) onWarning(cw);
  if (config.kernelVersion !== null && treeVersion !== null && config.kernelVersion.split('.').slice(0, 2).join('.') !== treeVersion.split('.').slice(0, 2).join('.')) {
    onWarning(`${config.path} is the config of Linux ${config.kernelVersion} but the tree is ${treeVersion}`);
  }
  const cache = cacheDir();
  const dir = buildDirFor(cache, treeRoot, config, tc);
  const prepared = await withLock(dir, () => prepareBuildDir(treeRoot, dir, config, tc, Math.max(1, cpus().length)));
  for (const w of prepared.warnings) onWarning(w);
  rememberConfig(cache, treeRoot, config);
  return { dir, seconds: prepared.prepareSeconds };
}
