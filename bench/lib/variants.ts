/**
 * Experiment bundles of wsgate's multi-user scenario with one of its costs switched off, for either
 * engine, built with the scenarios' esbuild settings plus a plugin that swaps one import for a stub
 * (bench/stubs/*.ts). Nothing in lib/ or scenarios/ changes: the variants exist only in dist/bench/.
 */
import * as esbuild from 'esbuild';
import { join } from 'node:path';
import type { GeneratorKind } from './harness.ts';
import { ROOT } from './harness.ts';

export interface Variant {
  /** Custom metric samples (Rate, Trend, Counter adds) recorded as nothing. */
  noMetrics?: boolean;
  /** Check samples from expect() not recorded. */
  noChecks?: boolean;
  /** The runner's agent runs through bench/stubs/agents.ts: one listener per session, no per-run tracker, waiter or check. */
  leanAgents?: boolean;
}

/** The same settings as build.mjs's bundles of each kind (see its comments), minus the source map. */
const OPTIONS: Record<GeneratorKind, esbuild.BuildOptions> = {
  k6: {
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    supported: { 'async-generator': false, 'for-await': false },
    external: ['k6', 'k6/*'],
    conditions: ['k6'],
  },
  wsgate: {
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['bufferutil', 'utf-8-validate'],
    banner: { js: "import { createRequire as __wsgateCreateRequire } from 'node:module'; const require = __wsgateCreateRequire(import.meta.url);" },
  },
};

/**
 * Bundles scenarios/multi-user.ts with the variant's stubs for `kind`: dist/bench/multi-user-<name>.js
 * (k6) or dist/bench/engine/multi-user-<name>.mjs (engine).
 */
export async function bundleVariant(kind: GeneratorKind, name: string, v: Variant): Promise<string> {
  const outfile = kind === 'k6' ? join(ROOT, 'dist', 'bench', `multi-user-${name}.js`) : join(ROOT, 'dist', 'bench', 'engine', `multi-user-${name}.mjs`);
  const stub = (file: string): esbuild.OnResolveResult => ({ path: join(ROOT, 'bench', 'stubs', file) });
  const swap: esbuild.Plugin = {
    name: 'wsgate-bench-stubs',
    setup(b) {
      b.onResolve({ filter: /^#runtime$/ }, (args) => {
        if (v.noMetrics && args.importer.endsWith(join('lib', 'metrics.ts'))) return stub('runtime-no-metrics.ts');
        if (v.noChecks && args.importer.endsWith(join('lib', 'observe.ts'))) return stub('runtime-no-checks.ts');
        return undefined; // the real runtime, through package.json "imports"
      });
      b.onResolve({ filter: /checks\/agents\.ts$/ }, (args) =>
        v.leanAgents && args.importer.endsWith(join('lib', 'multi', 'runner.ts')) ? stub('agents.ts') : undefined,
      );
    },
  };
  await esbuild.build({ ...OPTIONS[kind], entryPoints: [join(ROOT, 'scenarios', 'multi-user.ts')], outfile, bundle: true, plugins: [swap], logLevel: 'warning' });
  return outfile;
}
