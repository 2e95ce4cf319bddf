// `--rebuild` on explain, report and watch: wiring only (progress on a TTY, summary and warnings on stderr).
import { release } from 'node:os';
import { existsSync } from 'node:fs';
import type { Explainer, LocationQuery } from '../../explain/explain.ts';
import type { SymbolMap } from '../../locate/kallsyms.ts';
import type { Explanation } from '../../model.ts';
import { UsageError } from '../../errors.ts';
import { progressBar, writeErr } from '../sink.ts';

export interface RebuildFlags {
  rebuild?: boolean;
  config?: string;
  cc?: string;
  kernel?: string;
  modules?: string;
}

/**
 * `--config` and `--cc` only mean something to --rebuild: say so rather than ignore them. `--kernel` and
 * `--modules` also stand alone (explain, report and watch rank with the machine code).
 */
export function checkRebuildFlags(flags: RebuildFlags & { vmlinux?: string }): void {
  if (flags.rebuild === true && flags.vmlinux !== undefined) throw new UsageError('give --rebuild or --vmlinux, not both');
  if (flags.rebuild === true) return;
  if (flags.config !== undefined || flags.cc !== undefined) throw new UsageError('--config and --cc go with --rebuild');
}

/** Rebuilds and explains a batch; `live` makes /lib/modules/$(uname -r) the default --modules. */
export async function explainByRebuild(explainer: Explainer, queries: readonly LocationQuery[], flags: RebuildFlags, map: SymbolMap | null, opts: { live?: boolean; kallsymsText?: string } = {}): Promise<Explanation[]> {
  const { explainRebuilt } = await import('../../rebuild/index.ts');
  const { openShipped } = await import('../../rebuild/shipped.ts');
  const liveModules = `/lib/modules/${release()}`;
  const modules = flags.modules ?? (opts.live === true && existsSync(liveModules) ? liveModules : undefined);
  const liveKernel = `/boot/vmlinuz-${release()}`;
  const kernel = flags.kernel ?? (opts.live === true && existsSync(liveKernel) ? liveKernel : undefined);
  const shipped = kernel !== undefined || modules !== undefined ? await openShipped({ kernel, modules, kallsymsText: opts.kallsymsText }) : null;
  const bar = progressBar('rebuilding');
  let phase = '';
  try {
    const { results, summary } = await explainRebuilt(explainer, queries, {
      config: flags.config, cc: flags.cc,
      symbolMap: map ?? shipped?.symbolMap ?? null,
      ...(shipped !== null ? { shipped: shipped.lookup } : {}),
      onWarning: (w) => writeErr(`warning: ${w}`),
      onProgress: (p) => {
        if (p.phase !== 'build' && p.phase !== phase && process.stderr.isTTY === true) process.stderr.write(`\rrebuilding: ${p.phase} (once per tree, config and compiler)…\u001b[K`);
        phase = p.phase;
        if (p.phase === 'build') bar.update(p.done, p.total, p.file ?? '');
      },
    });
    bar.end();
    const verified = results.filter((r) => r.method === 'rebuilt');
    writeErr(`rebuilt: ${summary.files} file(s) (${summary.compiled} compiled, ${summary.cached} cached${summary.failed > 0 ? `, ${summary.failed} failed` : ''}) in ${summary.seconds.toFixed(1)} s`
      + `${summary.prepareSeconds > 0 ? ` (prepare ${summary.prepareSeconds.toFixed(1)} s)` : ''}; ${verified.length} of ${results.length} location(s) answered from the rebuilt objects`
      + ` (code identical ${verified.filter((r) => r.verified === 'code').length}, size matches ${verified.filter((r) => r.verified === 'size').length}); build dir ${summary.dir}`);
    return results;
  } finally {
    bar.end();
  }
}
