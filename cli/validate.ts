/**
 * `wsgate validate`: the deployment gate, the deployment-validation suite run through the skeleton
 * every suite command shares (suite-run.ts: cheap checks first, then the bundles, the engine, the
 * embedded target if asked for, and one run whose exit code becomes wsgate's). What is its own: TLS
 * for the embedded service, the Markdown report, and the drop relay the health check black-holes a
 * client through.
 */
import { ALL_FAULT_NAMES } from '../reference-service/service.ts';
import { redactUrl } from '../lib/core/url.ts';
import { loadConfig } from '../lib/core/config.ts';
import type { Io } from './io.ts';
import { planReport, reportDashboardVars, writeRunReport } from './pipeline/single.ts';
import type { RunOptions } from './suite-run.ts';
import { NETWORK_JITTER_USAGE, SUITE_OPTIONS_USAGE, TLS_OPTIONS, parseTls, runSuite, runSuiteCommand, suiteCommand, verdict } from './suite-run.ts';

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
${NETWORK_JITTER_USAGE}
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

/** Validation, declared: TLS and a Markdown report of its own; the health check's drop relay always. */
const VALIDATE = suiteCommand({
  name: 'validate',
  suite: SCENARIO,
  usage: VALIDATE_USAGE,
  options: { ...TLS_OPTIONS, report: { type: 'string' } },
  verb: 'validate',
  embeddedOnly: (values) => ({ 'tls-cert': values['tls-cert'], 'tls-key': values['tls-key'] }),
  plan({ values, vars, env }) {
    const config = loadConfig(vars);
    const report = values.report === undefined ? undefined : planReport(values.report, config.env, env);
    return { config, report, tls: parseTls(values) };
  },
  service: (plan) => ({ tls: plan.tls }),
  // The health check black-holes a few of its connections through it (a client that vanishes).
  dropRelay: () => true,
  describe: (run) => [`validating env ${run.config.env}: ${run.what} at ${redactUrl(run.config.wsUrl)} on the ${run.run.engine.label}`],
  async execute({ plan: { report }, run, vars, env, io }) {
    if (report) Object.assign(vars, reportDashboardVars(run.results.json, env));
    const code = verdict(await runSuite(run, vars, env, io), run, io);
    if (report) writeRunReport(report, run.results, code, io);
    return code;
  },
});

/**
 * Runs `wsgate validate <argv...>`; resolves with the exit code (EXIT in io.ts). `options` is for
 * callers that run it many times (wsgate matrix).
 */
export function validate(argv: string[], env: NodeJS.ProcessEnv, io: Io, options: RunOptions = {}): Promise<number> {
  return runSuiteCommand(VALIDATE, argv, env, io, options);
}
