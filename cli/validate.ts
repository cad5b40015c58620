/**
 * `wsgate validate`: the deployment gate. Cheap checks first, so a mistake costs a sentence and not a k6
 * run: arguments, configuration, files, reachability; then the bundles, k6, the embedded target if
 * asked for, and finally one k6 run whose exit code becomes wsgate's (EXIT in io.ts).
 *
 * Configuration reaches k6 only through its process environment (k6 copies it into __ENV): flags like
 * `-e` would put secrets in the process list.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../lib/config.ts';
import { loadConfig, redactUrl } from '../lib/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { FAULT_NAMES, isFaultName, startTarget } from '../target/service.ts';
import type { FaultName, RunningTarget } from '../target/service.ts';
import { K6FailedError, UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, argumentError, loadBuilder, packageRoot, runStamp, say } from './io.ts';
import { ensureK6 } from './k6-runtime.ts';
import { preflight } from './preflight.ts';
import { runK6 } from './run-k6.ts';

export const SCENARIO = 'deployment-validation';

export const VALIDATE_USAGE = `Usage: wsgate validate [--env NAME] [options]

Runs the deployment-validation scenario with k6 against an environment (config/environments.json)
and exits with its verdict: 0 pass, 1 fail, 2 usage/config, 3 unreachable, 4 error, 130 interrupted.

Options:
  --env NAME             environment preset (default: $WSGATE_ENV, else local)
  --results-dir DIR      where the JSON and JUnit results go (default: $WSGATE_RESULTS_DIR, else ./results)
  --output-file FILE     also copy the JSON result to FILE
  --ca-file FILE         PEM CA certificate(s) k6 trusts, for https/wss targets with a private CA
  --embedded-target      start the reference service in-process on random loopback ports and
                         validate it (a random shared JWT secret is generated and never printed)
  --fault NAME           with --embedded-target: play a regression; repeatable. One of:
                         ${FAULT_NAMES.join(', ')}
  --tls-cert FILE        with --embedded-target: serve https/wss with this PEM certificate...
  --tls-key FILE         ...and this PEM private key
  -h, --help             print this help

Environment (secrets only ever come from here):
  WSGATE_JWT_SECRET      shared HS256 secret, for token source "mint"
  WSGATE_AUTH_PASSWORD   test user's password, for token source "auth"
  WSGATE_TOKENS_FILE     JSON file of pre-issued tokens, for token source "file"
  WSGATE_WS_URL, WSGATE_HTTP_URL, WSGATE_AUTH_URL, WSGATE_ORIGIN, WSGATE_TOKEN_SOURCE, ...
                         override the preset's fields
  WSGATE_K6              k6 v2.2.x binary to use (else cached, PATH, or built with Go >= 1.25)
  WSGATE_K6_CACHE        where the built k6 is kept (default: $XDG_CACHE_HOME/wsgate or ~/.cache/wsgate)
`;

const OPTIONS = {
  env: { type: 'string' },
  'results-dir': { type: 'string' },
  'output-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'embedded-target': { type: 'boolean' },
  fault: { type: 'string', multiple: true },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Vars = Record<string, string | undefined>;

function readPem(flag: string, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${flag} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass the path of a PEM file`);
  }
  // "PRIVATE KEY" also matches "RSA PRIVATE KEY" and "EC PRIVATE KEY".
  if (!text.includes(`-----BEGIN `) || !text.includes(`${kind}-----`)) {
    throw new ConfigError(`${flag} ${file} holds no PEM ${kind.toLowerCase()}; pass a PEM file (-----BEGIN ...${kind}-----)`);
  }
  return text;
}

/** Paths under the working directory print relative; anything else absolute. */
function show(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function ensureDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`the ${what} ${dir} cannot be created (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable directory`);
  }
}

export async function validate(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw argumentError(err, 'validate');
  }
  if (values.help) {
    io.stdout.write(VALIDATE_USAGE);
    return EXIT.PASS;
  }
  const embedded = values['embedded-target'] === true;
  const faults: FaultName[] = [];
  for (const name of values.fault ?? []) {
    if (!isFaultName(name)) throw new UsageError(`unknown fault "${name}"; choose one of ${FAULT_NAMES.join(', ')}`);
    faults.push(name);
  }
  for (const flag of ['fault', 'tls-cert', 'tls-key'] as const) {
    if (!embedded && values[flag] !== undefined) {
      throw new UsageError(`--${flag} only applies to the embedded reference service; add --embedded-target, or drop --${flag} to validate a deployed service`);
    }
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError(`--${values['tls-cert'] === undefined ? 'tls-key' : 'tls-cert'} was given alone; pass both --tls-cert and --tls-key, or neither`);
  }

  // Configuration before anything heavy. With the embedded target, its secret is the one k6 mints with.
  const secret = embedded ? randomBytes(32).toString('base64url') : undefined;
  const vars: Vars = { ...env, WSGATE_ENV: values.env ?? env['WSGATE_ENV'] ?? 'local' };
  if (secret) vars['WSGATE_JWT_SECRET'] = secret;
  let config: Config = loadConfig(vars);

  const caFile = values['ca-file'] === undefined ? undefined : resolve(values['ca-file']);
  if (caFile) readPem('--ca-file', caFile, 'CERTIFICATE');
  const tls =
    values['tls-cert'] !== undefined && values['tls-key'] !== undefined
      ? { cert: readPem('--tls-cert', values['tls-cert'], 'CERTIFICATE'), key: readPem('--tls-key', values['tls-key'], 'PRIVATE KEY') }
      : undefined;
  const resultsDir = resolve(values['results-dir'] ?? (env['WSGATE_RESULTS_DIR'] || 'results'));
  const outputFileArg = values['output-file'] ?? (env['WSGATE_OUTPUT_FILE'] || undefined);
  const outputFile = outputFileArg === undefined ? undefined : resolve(outputFileArg);

  if (!embedded) {
    for (const note of await preflight(config, env)) say(io.stderr, note);
  }

  const root = packageRoot();
  const builder = await loadBuilder(root);
  if (builder.isStale()) {
    say(io.stderr, 'sources changed since the last build; rebuilding the bundles');
    await builder.build();
  }
  const script = join(root, 'dist', `${SCENARIO}.js`);
  if (!existsSync(script)) {
    throw new K6FailedError(`the k6 bundle ${show(script)} does not exist after the build; check that scenarios/${SCENARIO}.ts exists and run npm run build`);
  }
  const k6 = await ensureK6({ env, log: (line) => say(io.stderr, line) });

  // k6 creates no directories (../shared/K6-NOTES.md), so every file it writes needs its directory now.
  ensureDir(resultsDir, 'results directory');
  if (outputFile) ensureDir(dirname(outputFile), 'directory of --output-file');
  const stamp = runStamp();
  const base = join(resultsDir, `${SCENARIO}-${config.env}-${stamp}`);
  const results = { json: `${base}.json`, junit: `${base}.junit.xml` };

  let target: RunningTarget | undefined;
  try {
    if (embedded && secret) {
      target = await startTarget({
        host: '127.0.0.1',
        authSecret: secret,
        backendSecret: secret,
        issuer: config.issuer,
        audience: config.audience,
        allowedOrigins: [...new Set([config.origin, 'http://localhost', 'http://127.0.0.1'])],
        faults,
        ...(tls ? { tls } : {}),
        ...(config.authPassword ? { authPassword: config.authPassword } : {}),
      });
      vars['WSGATE_WS_URL'] = target.wsUrl;
      vars['WSGATE_HTTP_URL'] = target.httpUrl;
      vars['WSGATE_AUTH_URL'] = target.authUrl;
      config = loadConfig(vars);
    }
    const k6Env: Vars = {
      ...vars,
      WSGATE_RESULTS_DIR: resultsDir,
      WSGATE_RUN_STAMP: stamp,
      WSGATE_OUTPUT_FILE: outputFile,
      // k6 is Go: Go's TLS reads extra roots from SSL_CERT_FILE (the system's directory of roots stays trusted).
      ...(caFile ? { SSL_CERT_FILE: caFile } : {}),
      // A gate should not phone home; whoever wants k6's usage report can set this to false.
      K6_NO_USAGE_REPORT: env['K6_NO_USAGE_REPORT'] ?? 'true',
    };
    if (outputFile === undefined) delete k6Env['WSGATE_OUTPUT_FILE'];

    const what = embedded ? `the embedded reference service${faults.length ? ` (faults: ${faults.join(', ')})` : ''}` : 'the deployed service';
    say(io.stderr, `validating env ${config.env}: ${what} at ${redactUrl(config.wsUrl)} with k6 ${k6.version} (${k6.source}: ${k6.path})`);

    let exit;
    try {
      // k6 redraws its progress every second; on a terminal that is one block in place, in a CI log or a
      // captured stream it is a block per second, so anything but a terminal gets --quiet.
      const tty = io.stdout === process.stdout && process.stdout.isTTY;
      exit = await runK6(k6.path, ['run', ...(tty ? [] : ['--quiet']), script], k6Env, io);
    } catch (err) {
      throw new K6FailedError(`k6 at ${k6.path} could not be started (${(err as NodeJS.ErrnoException).code ?? String(err)}); check it with \`wsgate install-k6\``);
    }
    return verdict(exit, config.env, results, io);
  } finally {
    await target?.close();
  }
}

function verdict(exit: { code: number | null; signal: NodeJS.Signals | null; interrupted: boolean }, env: string, results: { json: string; junit: string }, io: Io): number {
  const written = [results.json, results.junit].filter((f) => existsSync(f)).map(show);
  const files = written.length ? `results: ${written.join(', ')}` : `k6 wrote no results (expected ${show(results.json)})`;
  const label = `${SCENARIO} (env ${env})`;
  if (exit.interrupted || exit.code === 105 || exit.signal) {
    const how = exit.signal ? `k6 was killed by ${exit.signal}` : 'k6 was interrupted';
    say(io.stdout, `INTERRUPTED ${label}: ${how}, so there is no verdict — partial ${files}`);
    return EXIT.INTERRUPTED;
  }
  switch (exit.code) {
    case 0:
      say(io.stdout, `PASS ${label} — ${files}`);
      return EXIT.PASS;
    case 99:
    case 110:
      say(io.stdout, `FAIL ${label} — ${files}`);
      return EXIT.FAIL;
    default: {
      const why: Record<number, string> = {
        100: 'setup() timed out',
        101: 'teardown() timed out',
        104: 'k6 rejected the test options',
        107: 'the script threw an exception (see k6 output above)',
        108: 'the test aborted (its reason is in the k6 output above)',
      };
      say(io.stdout, `ERROR ${label}: k6 exited with code ${exit.code}, ${why[exit.code ?? -1] ?? 'an unexpected code'}; no verdict — ${files}`);
      return EXIT.ERROR;
    }
  }
}
