/**
 * `wsgate validate`: the deployment gate. Cheap checks first, so a mistake costs a sentence and not a
 * run: arguments, configuration, files, reachability; then the bundles, the engine, the embedded target
 * if asked for, and finally one run whose exit code becomes wsgate's (EXIT in io.ts).
 *
 * Configuration reaches the engine only through its process environment (runtime.env): flags like
 * `-e` would put secrets in the process list.
 */
import type { Config } from '../lib/core/config.ts';
import { loadConfig } from '../lib/core/config.ts';
import { redactUrl } from '../lib/core/url.ts';
import { ALL_FAULT_NAMES } from '../reference-service/service.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { EXIT, parseOptions, say } from './io.ts';
import type { RunOptions } from './suite-run.ts';
import { planReport, reportDashboardVars, writeRunReport } from './pipeline/single.ts';
import { preflight } from './preflight.ts';
import {
  SUITE_OPTIONS,
  SUITE_OPTIONS_USAGE,
  checkDialectFile,
  embeddedSecret,
  outputPlan,
  parseFaults,
  pointAt,
  prepareRun,
  readPem,
  requireEmbedded,
  runSuite,
  startReferenceService,
  startRelay,
  suiteVars,
  verdict,
  withRunScope,
} from './suite-run.ts';
import { engineKind } from './engines.ts';

export const SCENARIO = 'deployment-validation';

export const VALIDATE_USAGE = `Usage: wsgate validate [--env NAME] [options]

Runs the deployment-validation scenario against an environment (config/environments.json)
and exits with its verdict: 0 pass, 1 fail, 2 usage/config, 3 unreachable, 4 error, 130 interrupted.

Options:
${SUITE_OPTIONS_USAGE}
  --embedded-target      start the reference service in-process on random loopback ports and
                         validate it (a random shared JWT secret is generated and never printed),
                         with a drop relay in front through which the health check black-holes a
                         client (it must be reaped within the preset's heartbeat_timeout_ms)
  --fault NAME           with --embedded-target: play a regression; repeatable. One of:
                         ${ALL_FAULT_NAMES.join(', ')}
  --tls-cert FILE        with --embedded-target: serve https/wss with this PEM certificate...
  --tls-key FILE         ...and this PEM private key
  --report FILE          also write a Markdown deployment report to FILE (verdict, every check, the
                         rollback policy's triggers, business impact, links) and write the HTML
                         report next to the JSON result; the policy is $WSGATE_ROLLBACK_POLICY, else
                         thresholds/rollback-policy.json
  -h, --help             print this help

Environment (secrets only ever come from here):
  WSGATE_JWT_SECRET      shared HS256 secret, for token source "mint"
  WSGATE_AUTH_PASSWORD   test user's password, for token source "auth"
  WSGATE_TOKENS_FILE     JSON file of pre-issued tokens, for token source "file"
  WSGATE_WS_URL, WSGATE_HTTP_URL, WSGATE_AUTH_URL, WSGATE_ORIGIN, WSGATE_TOKEN_SOURCE, ...
                         override the preset's fields
  WSGATE_ENGINE          wsgate (default) or k6
  WSGATE_K6              with --engine k6: your k6 v2.2.x binary (else k6 on PATH); wsgate never builds one
`;

const OPTIONS = {
  ...SUITE_OPTIONS,
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  report: { type: 'string' },
} as const;

/**
 * Runs `wsgate validate <argv...>`; resolves with the exit code (EXIT in io.ts). `options` is for
 * callers that run it many times (wsgate matrix).
 */
export async function validate(argv: string[], env: NodeJS.ProcessEnv, io: Io, options: RunOptions = {}): Promise<number> {
  const values = parseOptions(argv, OPTIONS, 'validate');
  if (values.help) {
    io.stdout.write(VALIDATE_USAGE);
    return EXIT.PASS;
  }
  const embedded = values['embedded-target'] === true;
  const faults = parseFaults(values.fault);
  requireEmbedded(embedded, { fault: values.fault, 'tls-cert': values['tls-cert'], 'tls-key': values['tls-key'] }, 'validate');
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError(`--${values['tls-cert'] === undefined ? 'tls-key' : 'tls-cert'} was given alone; pass both --tls-cert and --tls-key, or neither`);
  }

  // Configuration before anything heavy. With the embedded target, its secret is the one k6 mints with.
  const secret = embedded ? embeddedSecret() : undefined;
  const vars = suiteVars(env, values.env, secret);
  if (embedded) {
    // Whatever relay the shell names, the embedded run uses its own.
    delete vars['WSGATE_DROP_RELAY_WS_URL'];
    delete vars['WSGATE_DROP_RELAY_CONTROL_URL'];
  }
  let config: Config = loadConfig(vars);
  checkDialectFile(config);
  const plan = outputPlan(values, env);
  const report = values.report === undefined ? undefined : planReport(values.report, config.env, env);
  const tls =
    values['tls-cert'] !== undefined && values['tls-key'] !== undefined
      ? { cert: readPem('--tls-cert', values['tls-cert'], 'CERTIFICATE'), key: readPem('--tls-key', values['tls-key'], 'PRIVATE KEY') }
      : undefined;

  engineKind(values.engine, env); // a bad --engine or WSGATE_ENGINE is a usage error before any network
  if (!embedded) {
    for (const note of await preflight(config, env)) say(io.stderr, note);
  }

  const run = await prepareRun(SCENARIO, config.env, plan, env, io, { engine: values.engine, ...options });
  return withRunScope(run, io, async (scope) => {
    if (embedded && secret) {
      const target = scope.own('reference service', await startReferenceService(config, secret, faults, tls));
      scope.checkpoint();
      pointAt(vars, target);
      // The health check black-holes a few of its connections through it (a client that vanishes).
      await startRelay(scope, vars, target.wsUrl);
      scope.checkpoint();
      config = loadConfig(vars);
    }
    const what = embedded ? `the embedded reference service${faults.length ? ` (faults: ${faults.join(', ')})` : ''}` : 'the deployed service';
    say(io.stderr, `validating env ${config.env}: ${what} at ${redactUrl(config.wsUrl)} on the ${run.engine.label}`);
    if (report) Object.assign(vars, reportDashboardVars(run.results.json, env));
    const code = verdict(await runSuite(run, vars, env, io), run, io);
    if (report) writeRunReport(report, run.results, code, io);
    return code;
  });
}
