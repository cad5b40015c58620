// The one build. Each scenario is bundled twice, once per runtime (lib/runtime/port.ts), and the CLI once:
//   scenarios/<name>.ts  -> dist/<name>.js          (k6 bundle: `k6 run` it; the file name is a contract)
//   scenarios/<name>.ts  -> dist/engine/<name>.mjs  (engine bundle: `wsgate run` loads it)
//   cli/main.ts          -> dist/node/cli.mjs       (the CLI; embeds the engine and the reference service)
//   engine/main.ts       -> dist/node/engine.mjs    (the engine's coordinator and worker processes)
// The runtime is picked at bundle time (k6-jslib-testing's habit): package.json "imports" maps
// `#runtime` to lib/runtime/k6.ts under the `k6` condition and to lib/runtime/engine.ts otherwise.
// `node build.mjs` builds both; `node build.mjs --if-stale` only when a source is newer than the last build.
// Type checking is separate (`npm run typecheck`): esbuild strips types without checking them.
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const stampFile = join(dist, '.build-stamp.json');
/** Everything whose change makes the bundles stale (JSON presets and thresholds are bundled in). */
const SOURCES = ['scenarios', 'lib', 'cli', 'engine', 'reference-service', 'third-party', 'config', 'thresholds', 'build.mjs', 'package.json', 'package-lock.json'];

/** Options for k6 bundles; each says why (see docs/k6.md). */
const k6Options = {
  bundle: true, // k6 cannot resolve node_modules, so jose must be inside the bundle
  format: 'esm', // k6 loads ES modules natively
  platform: 'browser', // jose's browser build uses WebCrypto, which k6 has; its Node build needs node:crypto, which k6 lacks
  target: 'es2022',
  // k6's JS runtime has no async generators or for-await: make esbuild fail loudly if anything needs them
  supported: { 'async-generator': false, 'for-await': false },
  external: ['k6', 'k6/*'], // k6's built-in modules are resolved by k6 at run time
  conditions: ['k6'], // #runtime -> lib/runtime/k6.ts (package.json "imports")
  sourcemap: 'linked', // k6 maps stack traces back to the TypeScript source
  minify: false, // readable bundles make k6's error messages readable
  metafile: true, // bundle sizes for docs/benchmarks.md
  logLevel: 'warning',
};

/**
 * Options for engine bundles: Node ESM, self-contained (ws and jose inside), so a bundle runs from any
 * directory: `wsgate run my-scenario.ts` bundles into a temporary one, far from node_modules. The
 * engine imports one per worker process; the scenario code inside shares the worker's event loop with
 * thousands of VUs.
 */
const engineOptions = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // ws loads these native speed-ups only if installed (in a try/catch); wsgate does not install them.
  external: ['bufferutil', 'utf-8-validate'],
  // Bundled CommonJS (ws) calls require() for Node's built-ins; ESM output has no require of its own.
  banner: { js: "import { createRequire as __wsgateCreateRequire } from 'node:module'; const require = __wsgateCreateRequire(import.meta.url);" },
  sourcemap: 'linked', // stack traces point at the TypeScript source
  metafile: true,
  logLevel: 'warning',
};

/** Options for the Node CLI bundle. */
const nodeOptions = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external', // ws and jose load from node_modules like any dependency
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
};

function scenarioEntries() {
  return readdirSync(join(root, 'scenarios'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(root, 'scenarios', f));
}

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Bundles one extra k6 entry (test probes) with exactly the scenarios' settings. */
export async function bundleK6(entry, outfile) {
  await esbuild.build({ ...k6Options, metafile: false, entryPoints: [entry], outfile });
}

/** Bundles one extra engine entry (test probes) with exactly the scenarios' settings. */
export async function bundleEngine(entry, outfile) {
  await esbuild.build({ ...engineOptions, metafile: false, entryPoints: [entry], outfile });
}

/** True when no build exists or any source is newer than the last one. */
export function isStale() {
  if (!existsSync(stampFile)) return true;
  const built = statSync(stampFile).mtimeMs;
  return SOURCES.some((s) => newestMtime(join(root, s)) > built);
}

/**
 * Builds every bundle. Returns the outputs with their sizes and the build time, which
 * docs/benchmarks.md reports.
 */
export async function build() {
  const started = performance.now();
  mkdirSync(dist, { recursive: true });
  // Several CLI processes may find the build stale at once: each builds into its own directory and
  // renames finished files into dist/ (a rename is atomic), so k6 never loads a half-written bundle.
  // A sibling of dist/ at the same depth, so the relative paths inside the source maps stay right.
  const tmp = mkdtempSync(join(root, '.build-'));
  try {
    const k6 = await esbuild.build({ ...k6Options, entryPoints: scenarioEntries(), outdir: tmp });
    const engine = await esbuild.build({ ...engineOptions, entryPoints: scenarioEntries(), outdir: join(tmp, 'engine'), outExtension: { '.js': '.mjs' } });
    const node = await esbuild.build({
      ...nodeOptions,
      entryPoints: { cli: join(root, 'cli/main.ts'), engine: join(root, 'engine/main.ts') },
      outdir: join(tmp, 'node'),
      outExtension: { '.js': '.mjs' },
    });
    const outputs = [];
    for (const result of [k6, engine, node]) {
      for (const [file, info] of Object.entries(result.metafile.outputs)) {
        const rel = relative(tmp, join(process.cwd(), file));
        mkdirSync(dirname(join(dist, rel)), { recursive: true });
        renameSync(join(tmp, rel), join(dist, rel));
        if (!file.endsWith('.map')) outputs.push({ file: relative(root, join(dist, rel)), bytes: info.bytes });
      }
    }
    const ms = Math.round(performance.now() - started);
    writeFileSync(stampFile, JSON.stringify({ built_at: new Date().toISOString(), ms, outputs }, null, 2) + '\n');
    return { ms, outputs };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale') && !isStale()) process.exit(0);
  try {
    const { ms, outputs } = await build();
    for (const o of outputs) console.log(`${o.file.padEnd(34)} ${(o.bytes / 1024).toFixed(1).padStart(8)} KiB`);
    console.log(`built ${outputs.length} bundles in ${ms} ms`);
  } catch (err) {
    // esbuild has already printed each error with its file and line; one more line says what failed.
    console.error(`build.mjs: the build failed (${err.errors?.length ?? 1} error(s) above); fix them and run npm run build again`);
    process.exit(1);
  }
}
