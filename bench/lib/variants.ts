/**
 * Experiment bundles of wsgate's multi-user scenario with one of its costs switched off, built with
 * the scenarios' esbuild settings plus a plugin that swaps one import for a stub (bench/k6/stub-*.ts).
 * Nothing in lib/ or scenarios/ changes: the variants exist only in dist/bench/.
 */
import * as esbuild from 'esbuild';
import { join } from 'node:path';
import { ROOT } from './harness.ts';

export interface Variant {
  /** Custom metric samples (Rate, Trend, Counter adds) recorded as nothing. */
  noMetrics?: boolean;
  /** k6 check() samples from expect() not recorded. */
  noChecks?: boolean;
  /** The runner's agent runs through bench/k6/stub-agents.ts: one listener per session, no per-run tracker, waiter or check. */
  leanAgents?: boolean;
}

/** Bundles scenarios/multi-user.ts with the variant's stubs to dist/bench/multi-user-<name>.js. */
export async function bundleVariant(name: string, v: Variant): Promise<string> {
  const outfile = join(ROOT, 'dist', 'bench', `multi-user-${name}.js`);
  const swap: esbuild.Plugin = {
    name: 'wsgate-bench-stubs',
    setup(b) {
      b.onResolve({ filter: /^k6(\/metrics)?$/ }, (args) => {
        if (v.noMetrics && args.path === 'k6/metrics' && args.importer.endsWith(join('lib', 'metrics.ts'))) return { path: join(ROOT, 'bench', 'k6', 'stub-metrics.ts') };
        if (v.noChecks && args.path === 'k6' && args.importer.endsWith(join('lib', 'observe.ts'))) return { path: join(ROOT, 'bench', 'k6', 'stub-k6.ts') };
        return { path: args.path, external: true };
      });
      b.onResolve({ filter: /checks\/agents\.ts$/ }, (args) =>
        v.leanAgents && args.importer.endsWith(join('lib', 'multi', 'runner.ts')) ? { path: join(ROOT, 'bench', 'k6', 'stub-agents.ts') } : undefined,
      );
    },
  };
  // The same settings as build.mjs's k6 bundles (see its comments), minus the source map.
  await esbuild.build({
    entryPoints: [join(ROOT, 'scenarios', 'multi-user.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    supported: { 'async-generator': false, 'for-await': false },
    external: ['k6/*'],
    plugins: [swap],
    logLevel: 'warning',
  });
  return outfile;
}
