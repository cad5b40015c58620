/**
 * The engine's process entry (dist/node/engine.mjs):
 *   engine.mjs run [flags] <bundle.mjs>   the coordinator (what `wsgate run` and every suite command start)
 *   engine.mjs inspect <bundle.mjs>       the bundle's options as JSON (k6 inspect's shape), for wsgate merge
 *   engine.mjs __worker                   a worker, forked by the coordinator
 * Flags follow k6's spelling where the meaning is the same, so the CLI passes one argument list to
 * either engine: --quiet, --out json=FILE, --out experimental-prometheus-rw, --tag NAME=VALUE,
 * --execution-segment, --execution-segment-sequence, --summary-mode=disabled; the engine's own:
 * --local-ips (split between workers), --workers N (default: one per core; also WSGATE_ENGINE_WORKERS),
 * --report FILE (also WSGATE_REPORT).
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { EXIT, runTest } from './coordinator.ts';
import { Host } from './host.ts';
import { parseAddresses } from './local-ips.ts';
import { Registry } from './metrics/registry.ts';
import { loadScript } from './script.ts';
import { workerMain } from './worker.ts';

const USAGE = 'usage: engine.mjs run [--quiet] [--workers N] [--out json=FILE] [--out experimental-prometheus-rw] [--tag NAME=VALUE] [--execution-segment S] [--execution-segment-sequence Q] [--report FILE] [--local-ips LIST] [--summary-mode=disabled] <bundle.mjs>';

function fail(message: string): never {
  process.stderr.write(`wsgate engine: ${message}\n${USAGE}\n`);
  process.exit(EXIT.INVALID_OPTIONS);
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '__worker') {
    await workerMain();
    return -1;
  }
  if (argv[0] === 'inspect') return inspect(argv[1]);
  if (argv[0] !== 'run') fail(`unknown command "${argv[0] ?? ''}"`);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      allowPositionals: true,
      options: {
        quiet: { type: 'boolean', short: 'q' },
        workers: { type: 'string' },
        out: { type: 'string', short: 'o', multiple: true },
        tag: { type: 'string', multiple: true },
        'execution-segment': { type: 'string' },
        'execution-segment-sequence': { type: 'string' },
        report: { type: 'string' },
        'summary-mode': { type: 'string' },
        'local-ips': { type: 'string' },
      },
    });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) fail(`give exactly one bundle to run, got ${positionals.length}`);
  const workersRaw = values.workers ?? process.env['WSGATE_ENGINE_WORKERS'];
  const workers = workersRaw === undefined ? availableParallelism() : Number(workersRaw);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) fail(`--workers must be a whole number from 1 to 256, got "${workersRaw}"`);
  let jsonOut: string | undefined;
  let prometheus = false;
  for (const out of values.out ?? []) {
    if (out.startsWith('json=')) jsonOut = out.slice(5);
    else if (out === 'experimental-prometheus-rw') prometheus = true;
    else fail(`--out ${out} is not an output the engine has; use json=FILE or experimental-prometheus-rw`);
  }
  const tags: Record<string, string> = {};
  for (const t of values.tag ?? []) {
    const eq = t.indexOf('=');
    if (eq <= 0) fail(`--tag ${t} must be NAME=VALUE`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  let localIps: string[] = [];
  try {
    localIps = values['local-ips'] === undefined ? [] : parseAddresses(values['local-ips']);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const summaryMode = values['summary-mode'] ?? 'normal';
  if (!['normal', 'compact', 'full', 'disabled'].includes(summaryMode)) fail(`--summary-mode ${summaryMode} is not one of normal, compact, full, disabled`);
  return runTest({
    script: positionals[0] ?? '',
    workers,
    segment: values['execution-segment'],
    sequence: values['execution-segment-sequence'],
    jsonOut,
    prometheus,
    report: values.report ?? (process.env['WSGATE_REPORT'] || undefined),
    tags,
    localIps,
    quiet: values.quiet ?? false,
    summary: summaryMode !== 'disabled',
    env: { ...process.env },
    entry: fileURLToPath(import.meta.url),
    stdout: process.stdout,
    stderr: process.stderr,
  });
}

/** Loads the bundle under this process's environment and prints its options, as `k6 inspect` does. */
async function inspect(bundle: string | undefined): Promise<number> {
  if (!bundle) fail('inspect needs the bundle to read');
  const registry = new Registry({ submetrics: [], series: false });
  new Host({ env: { ...process.env }, registry, testTags: {}, json: undefined, onAbort: () => undefined }).install();
  try {
    const script = await loadScript(resolve(bundle));
    process.stdout.write(JSON.stringify(script.options, null, 2) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`wsgate engine: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.SCRIPT_EXCEPTION;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`wsgate engine: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 107;
    },
  );
}
