/**
 * `wsgate regression`: the regression-prevention suite, seven named scenarios (lib/core/regressions.ts),
 * run through the skeleton every suite command shares (suite-run.ts). What is its own is declared at
 * the end: the selection, checked before anything heavy; nginx in front of the embedded reference
 * service; the drop relay connection_leak_regression cuts connections through; and, on a fail, which
 * regressions failed and why.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../lib/core/config.ts';
import { loadConfig } from '../lib/core/config.ts';
import { parseUrl, redactUrl } from '../lib/core/url.ts';
import { ConfigError } from '../lib/core/errors.ts';
import { REGRESSIONS, selectRegressions } from '../lib/core/regressions.ts';
import type { Regression } from '../lib/core/regressions.ts';
import type { SuiteResult, ThresholdResult } from '../lib/core/summary.ts';
import { NGINX_CONFIGS, NginxError, startNginx } from '../reference-service/nginx.ts';
import type { NginxConfigName } from '../reference-service/nginx.ts';
import { ALL_FAULT_NAMES } from '../reference-service/service.ts';
import type { RunningTarget } from '../reference-service/service.ts';
import { UsageError } from './errors.ts';
import type { Io } from './io.ts';
import { say } from './io.ts';
import type { RunOptions, RunScope, ServiceUrls, SuiteRun, Vars } from './suite-run.ts';
import { NETWORK_JITTER_USAGE, SUITE_OPTIONS_USAGE, TLS_OPTIONS, parseTls, runSuiteCommand, startRelay, suiteCommand } from './suite-run.ts';

export const SUITE = 'regression-prevention';

const LEAK = 'connection_leak_regression';
const IDLE = 'load_balancer_timeout_regression';

/** --lb values: an nginx configuration, or none for the service without a load balancer. */
const LB_CHOICES = [...NGINX_CONFIGS, 'none'] as const;
type LbChoice = (typeof LB_CHOICES)[number];

/** The longest --soak: the preset's own upper bound for idle_hold_s (lib/core/config.ts). */
const MAX_SOAK_S = 7 * 24 * 3600;

const width = Math.max(...REGRESSIONS.map((r) => r.name.length));
const CATALOGUE = REGRESSIONS.map((r) => `  ${r.name.padEnd(width)}  ${r.critical ? 'critical' : '        '}  ${r.guards}`).join('\n');

export const REGRESSION_USAGE = `Usage: wsgate regression [--env NAME] [options]

Runs the regression-prevention suite: one named test per staging failure that must not come
back, and exits with its verdict: 0 pass, 1 fail, 2 usage/config, 3 unreachable, 4 error,
130 interrupted. On a fail it names the failed regressions; k6's FAILED lines say what was observed.

Tests:
${CATALOGUE}

Options:
${SUITE_OPTIONS_USAGE}
  --test NAME[,NAME]     run only these tests; repeatable (default: $WSGATE_TESTS, else all seven)
  --critical-only        run only the critical tests (with --test, the critical ones among those)
  --soak DURATION        hold load_balancer_timeout_regression's idle connection this long, e.g. 4h,
                         90m, 1h30m or 600s (sets WSGATE_IDLE_HOLD_S; the run lasts at least that long),
                         for scheduled runs against a load balancer with a long idle timeout
  --embedded-target      start the reference service, nginx in front of it and a drop relay, all on
                         random loopback ports, and test through nginx (random secret, never printed;
                         the tests get it only when the token source is "mint": with "auth" the tokens
                         come from the embedded auth service, which requires WSGATE_AUTH_PASSWORD when
                         it is set, and the tests that mint tokens of their own are not applicable)
  --fault NAME           with --embedded-target: play a regression; repeatable. One of:
                         ${ALL_FAULT_NAMES.join(', ')}
  --lb CONFIG            with --embedded-target: the load balancer in front: healthy (default; idle
                         WebSockets kept 24 h), broken (cut after 3 s idle) or none (no nginx)
${NETWORK_JITTER_USAGE}
  --tls-cert FILE        with --embedded-target: serve https/wss with this PEM certificate...
  --tls-key FILE         ...and this PEM private key (trust its CA with --ca-file; nginx in front talks
                         https to the service but serves plain ws, so use --lb none to test over wss)
  -h, --help             print this help

connection_leak_regression cuts connections without a close frame through a drop relay:
  - with --embedded-target, wsgate starts one in front of nginx's WebSocket port;
  - against a deployed ws:// service, wsgate starts one on 127.0.0.1 in front of WSGATE_WS_URL's
    host and port, unless WSGATE_DROP_RELAY_WS_URL and WSGATE_DROP_RELAY_CONTROL_URL name one;
  - against a deployed wss:// service it does not: a relay here would present the service's
    certificate under 127.0.0.1. The leak test is then "not applicable" (the others still run); to
    run it, point it alone at a ws:// endpoint of the service (WSGATE_WS_URL=ws://... wsgate
    regression --test connection_leak_regression), or run your own relay under a name the
    certificate covers (see wsgate drop-relay --help).

Environment (secrets only ever come from here):
  WSGATE_JWT_SECRET      shared HS256 secret; auth_token_refresh_regression mints short-lived tokens
                         with it whatever the token source is (with --embedded-target, only for "mint")
  WSGATE_AUTH_PASSWORD, WSGATE_TOKENS_FILE, WSGATE_WS_URL, ...   as for wsgate validate
  WSGATE_TESTS, WSGATE_CRITICAL_ONLY      the selection, when --test / --critical-only are absent
  WSGATE_DROP_RELAY_WS_URL, WSGATE_DROP_RELAY_CONTROL_URL   a drop relay you run (wsgate drop-relay)
  WSGATE_NGINX           the nginx binary for --embedded-target (default: nginx on PATH, /usr/sbin/nginx)
  WSGATE_ENGINE, WSGATE_K6                as for wsgate validate
`;

const OPTIONS = {
  ...TLS_OPTIONS,
  test: { type: 'string', multiple: true },
  'critical-only': { type: 'boolean' },
  soak: { type: 'string' },
  lb: { type: 'string' },
} as const;

/** `4h`, `90m`, `1h30m`, `600s` or `600` -> seconds; a usage error for anything else. */
export function parseSoak(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(text.trim());
  const seconds = m && text.trim() !== '' ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_SOAK_S)) {
    throw new UsageError(`--soak is "${text}"; give a duration from 1s to 7 days, e.g. 4h, 90m, 1h30m or 600s`);
  }
  return seconds;
}

function parseLb(value: string | undefined): LbChoice {
  if (value === undefined) return 'healthy';
  if (!(LB_CHOICES as readonly string[]).includes(value)) throw new UsageError(`--lb is "${value}"; choose ${LB_CHOICES.join(', ')}`);
  return value as LbChoice;
}

export { relayedWsUrl } from './suite-run.ts';

/**
 * Against a deployed service: does the leak test need wsgate to start a relay, and can it? Throws
 * ConfigError when it cannot (wss://, or only one of the two relay variables set).
 */
function relayNeeded(config: Config, vars: Vars, selected: readonly string[]): boolean {
  if (!selected.includes(LEAK)) return false;
  const ws = vars['WSGATE_DROP_RELAY_WS_URL'] || undefined;
  const control = vars['WSGATE_DROP_RELAY_CONTROL_URL'] || undefined;
  if (ws && control) return false;
  if (ws || control) {
    throw new ConfigError(
      `${ws ? 'WSGATE_DROP_RELAY_WS_URL' : 'WSGATE_DROP_RELAY_CONTROL_URL'} is set without ${ws ? 'WSGATE_DROP_RELAY_CONTROL_URL' : 'WSGATE_DROP_RELAY_WS_URL'}; set both (the ready line of wsgate drop-relay has them), or neither and let wsgate start a relay`,
    );
  }
  // A relay started here in front of a wss:// service would present the service's certificate under
  // 127.0.0.1: none is started, and the leak test reports itself not applicable (it needs a relay).
  if (parseUrl(config.wsUrl)?.scheme === 'wss:') return false;
  return true;
}

/** Starts nginx; a missing nginx also points at --lb none. */
async function startLb(scope: RunScope, upstream: ServiceUrls, config: NginxConfigName, env: NodeJS.ProcessEnv): Promise<ServiceUrls> {
  try {
    return scope.own('nginx load balancer', await startNginx({ upstreamHttp: upstream.httpUrl, upstreamAuth: upstream.authUrl, config, env }));
  } catch (err) {
    if (err instanceof NginxError && err.code === 'WSGATE_NGINX_NOT_INSTALLED') {
      throw new NginxError(err.code, `${err.message.replace(/\.$/, '')}, or pass --lb none to test the service without a load balancer`, { cause: err });
    }
    throw err;
  }
}

/** `count==0 (observed count 40)`: only the statistics the expression judges, else all of them. */
function describeThreshold(t: ThresholdResult): string {
  const used = Object.entries(t.observed).filter(([k]) => t.expression.includes(k));
  const shown = (used.length ? used : Object.entries(t.observed)).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`);
  return `${t.metric} ${t.expression} (observed: ${shown.join(', ')})`;
}

/** Every scenario has these two; their failure is already said by its failed checks or "no checks ran". */
const CHECK_THRESHOLD = /^(checks|wsgate_checks_run)\{/;

/** Prints, before the final line, which regressions failed and why (failed checks, thresholds), from the JSON. */
function explainFailures(run: { results: { json: string } }, io: Io): void {
  let result: SuiteResult;
  try {
    result = JSON.parse(readFileSync(run.results.json, 'utf8')) as SuiteResult;
  } catch {
    return; // the final line says the result is missing
  }
  const failed = result.scenarios.filter((s) => s.verdict === 'fail');
  const said = new Set<string>();
  for (const s of failed) {
    const guards = REGRESSIONS.find((r) => r.name === s.name)?.guards;
    const checks = s.checks.filter((c) => !c.ok).map((c) => `"${c.name}" (${c.fails} of ${c.passes + c.fails} failed)`);
    const thresholds = s.thresholds.filter((t) => !t.ok && !CHECK_THRESHOLD.test(t.metric));
    for (const t of thresholds) said.add(`${t.metric} ${t.expression}`);
    const why = [...checks, ...thresholds.map((t) => `threshold ${describeThreshold(t)}`)];
    say(io.stdout, `failed ${s.name}${guards ? ` (guards: ${guards})` : ''}: ${why.length ? why.join('; ') : 'no checks ran'}`);
  }
  for (const t of result.thresholds.filter((x) => !x.ok && !said.has(`${x.metric} ${x.expression}`))) {
    say(io.stdout, `failed threshold ${describeThreshold(t)}`);
  }
  if (failed.length) say(io.stdout, `failed regressions: ${failed.map((s) => s.name).join(', ')}`);
}

/** What a regression run is: the selection, the load balancer and what the leak test needs. */
interface RegressionPlan {
  readonly config: Config;
  readonly selected: readonly Regression[];
  readonly names: readonly string[];
  readonly lb: LbChoice;
  readonly soakS: number | undefined;
  readonly tls: ReturnType<typeof parseTls>;
  /** Against a deployed service: whether wsgate starts the leak test's drop relay. */
  readonly relayHere: boolean;
}

type RegressionRun = SuiteRun<typeof OPTIONS, RegressionPlan>;

/** Selection and configuration before anything heavy; flags win over the environment. */
function planRegression({ values, vars, embedded }: { values: RegressionRun['values']; vars: Vars; embedded: boolean }): RegressionPlan {
  const lb = parseLb(values.lb);
  const soakS = values.soak === undefined ? undefined : parseSoak(values.soak);
  if (values.test !== undefined) vars['WSGATE_TESTS'] = values.test.join(',');
  if (values['critical-only']) vars['WSGATE_CRITICAL_ONLY'] = 'true';
  if (soakS !== undefined) vars['WSGATE_IDLE_HOLD_S'] = String(soakS);
  const selected = selectRegressions(vars);
  const names = selected.map((r) => r.name);
  let config = loadConfig(vars);
  if (embedded && config.tokenSource !== 'mint') {
    // The suite mints nothing with this token source, so it gets no shared secret: neither the embedded
    // service's nor one from the shell (which could not match it). As against a deployment that shares
    // none, the tests that mint their own tokens report themselves not applicable.
    delete vars['WSGATE_JWT_SECRET'];
    config = loadConfig(vars);
  }
  if (soakS !== undefined && !names.includes(IDLE)) {
    throw new UsageError(`--soak only lengthens ${IDLE}, which this selection leaves out; add it to --test, or drop --soak`);
  }
  const tls = parseTls(values);
  return { config, selected, names, lb, soakS, tls, relayHere: !embedded && relayNeeded(config, vars, names) };
}

/** What the run is about to test: the soak, if any, and the selection against what. */
function describeRun({ plan, values, config, what, run }: RegressionRun): string[] {
  const { selected, soakS } = plan;
  const tests = selected.length === REGRESSIONS.length ? `all ${REGRESSIONS.length} regression tests` : `${selected.length} of ${REGRESSIONS.length} regression tests (${selected.map((r) => r.name).join(', ')})`;
  return [
    ...(soakS === undefined ? [] : [`soak: ${IDLE} holds its connection idle for ${values.soak} (${soakS} s); the run lasts at least that long`]),
    `testing env ${config.env}: ${tests} against ${what} at ${redactUrl(config.wsUrl)} on the ${run.engine.label}`,
  ];
}

/**
 * The regression suite, declared: the selection, nginx in front of the embedded service, and the drop
 * relay the leak test cuts connections through (started here for a deployed ws:// service too).
 */
const REGRESSION = suiteCommand({
  name: 'regression',
  suite: SUITE,
  usage: REGRESSION_USAGE,
  options: OPTIONS,
  verb: 'test',
  embeddedOnly: (values) => ({ lb: values.lb, 'tls-cert': values['tls-cert'], 'tls-key': values['tls-key'] }),
  plan: planRegression,
  service: (plan) => ({ tls: plan.tls }),
  async front({ plan, scope, env }, target: RunningTarget) {
    if (plan.lb === 'none') return { urls: target, note: '' };
    return { urls: await startLb(scope, target, plan.lb, env), note: ` behind nginx (${plan.lb})` };
  },
  dropRelay: (plan) => plan.names.includes(LEAK),
  async deployed({ plan, scope, vars, config, io }) {
    if (!plan.relayHere) return;
    const relay = await startRelay(scope, vars, config.wsUrl);
    scope.checkpoint();
    say(io.stderr, `${LEAK}: drop relay on ${relay.address} in front of ${redactUrl(config.wsUrl)}`);
  },
  describe: describeRun,
  explainFail: ({ run, io }) => explainFailures(run, io),
});

/**
 * Runs `wsgate regression <argv...>`; resolves with the exit code (EXIT in io.ts). `options` is for
 * callers that run it many times (wsgate matrix).
 */
export function regression(argv: string[], env: NodeJS.ProcessEnv, io: Io, options: RunOptions = {}): Promise<number> {
  return runSuiteCommand(REGRESSION, argv, env, io, options);
}
