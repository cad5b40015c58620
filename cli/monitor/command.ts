/**
 * `wsgate monitor`: runs the monitoring scenario for a duration, reads the run's live JSON output (k6's schema) as
 * it grows, and judges rolling windows against thresholds/monitoring.json as they close: one console
 * line per window, alerts when they fire and clear (also to a webhook), a rollback recommendation when
 * health stays degraded too long, and a JSON Lines timeline written as it goes.
 *
 * Like `wsgate validate`, the cheap checks come first (arguments, configuration, policy, files,
 * reachability) and configuration reaches k6 only through its environment.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../../lib/core/config.ts';
import { durationField, durationMs, loadConfig } from '../../lib/core/config.ts';
import { redactUrl } from '../../lib/core/url.ts';
import { ConfigError } from '../../lib/core/errors.ts';
import { MIN_ADMIN_TOKEN_CHARS } from '../../reference-service/admin.ts';
import { ALL_FAULT_NAMES, startTarget } from '../../reference-service/service.ts';
import type { FaultName, RunningTarget } from '../../reference-service/service.ts';
import { K6FailedError, UsageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { EXIT, parseOptions, say } from '../io.ts';
import { preflight } from '../preflight.ts';
import { runK6 } from '../run-k6.ts';
import type { K6Exit } from '../run-k6.ts';
import { checkDialectFile, embeddedSecret, engineEnvironment, parseFaults, pointAt, prepareRun, readPem, requireEmbedded, show, suiteVars } from '../suite-run.ts';
import type { Vars } from '../suite-run.ts';
import { span } from './format.ts';
import { Monitor } from './monitor.ts';
import type { MonitorSummary } from './monitor.ts';
import { SENSITIVITIES, isSensitivity, limitsFor, loadPolicy } from './policy.ts';
import type { Sensitivity } from './policy.ts';
import { FileTail } from './tail.ts';
import { TimelineWriter } from './timeline.ts';
import type { SummaryRecord } from './timeline.ts';
import { WebhookSender, webhookOrigin } from './webhook.ts';
import { engineKind } from '../engines.ts';

export const SCENARIO = 'monitoring';
/** How long the exit waits for webhook deliveries still under way. */
export const WEBHOOK_DRAIN_MS = 5000;
/** When k6's stream goes quiet, windows still close by the wall clock, this far behind it. */
const WALL_CLOCK_SLACK_MS = 2000;
/** Below this many probes per window, one failed probe moves a rate by more than 5%: say so. */
const FEW_PROBES_PER_WINDOW = 20;

export const MONITOR_USAGE = `Usage: wsgate monitor --env NAME --duration D [options]

Runs the monitoring scenario for D (a pool of long-lived connections, and synthetic probes at
a fixed rate: connect, run an agent, check every event, disconnect), reads k6's live output and judges
rolling windows as they close against thresholds/monitoring.json. Prints one line per window:

  12:00:30 window 3  healthy    conn 100.0% (41)  events 100.0% (40)  errors 0.0%  auth-fail 0.0%  isolation 0  drops 0  40 runs/min  p50 31 ms p95 55 ms

(times UTC; numbers in parentheses are sample counts; n/a when a window has no sample for a metric;
p50/p95 is the agent run latency, start to agent_completed), an ALERT line when an alert fires
or changes level, a RESOLVED line when it clears, and ROLLBACK RECOMMENDED once when health stays
degraded or worse for longer than the rollback limit.

Options:
  --env NAME             environment preset and alert limits (default: $WSGATE_ENV, else local)
  --duration D           how long to monitor, e.g. 30m, 2h, 1h30m (required)
  --alert-threshold S    sensitivity: low, medium (default) or high; shifts every rate limit
  --output-file FILE     the timeline (JSON Lines: header, windows, alerts, summary), written as it
                         goes (default: <results-dir>/monitoring-<env>-<time>.timeline.jsonl)
  --webhook-file FILE    also POST alerts, recoveries and the rollback trigger as Slack-compatible
                         JSON (retried with backoff; never holds up monitoring) to the URL in FILE
                         (default: $WSGATE_WEBHOOK_URL). The URL is a credential, so it is never
                         taken on the command line, where the process list would show it
  --window D             window length (default: window_s of thresholds/monitoring.json, 30s)
  --rollback-after D     degraded-or-worse time that triggers the rollback recommendation
                         (default: rollback_after_degraded_s of thresholds/monitoring.json, 10m)
  --results-dir DIR      where k6's JSON and JUnit summaries go (default: $WSGATE_RESULTS_DIR, else ./results)
  --ca-file FILE         PEM CA certificate(s) k6 trusts, for https/wss targets with a private CA
  --embedded-target      monitor the reference service, started in-process on loopback
  --fault NAME           with --embedded-target: start it playing a regression; repeatable. One of:
                         ${ALL_FAULT_NAMES.join(', ')}
  --admin                with --embedded-target: serve its admin endpoint (faults switched at run time,
                         docs/protocol.md), token from WSGATE_ADMIN_TOKEN; its URL is printed on stderr
  -h, --help             print this help

Exit codes:
  0    no window was unhealthy and no rollback was recommended (warnings may have fired)
  1    a critical alert fired or a rollback was recommended
  2    usage or configuration error; nothing was run
  3    the target did not answer the pre-flight check; nothing was run
  4    no verdict: k6 unavailable, failed or aborted before any window had probe results
  130  interrupted (first Ctrl-C stops k6 gracefully; the timeline is complete up to then)

Environment: as wsgate validate (WSGATE_JWT_SECRET, WSGATE_AUTH_PASSWORD, WSGATE_TOKENS_FILE, WSGATE_*_URL,
WSGATE_MONITOR_POOL_CONNECTIONS, WSGATE_MONITOR_PROBES_PER_MIN, WSGATE_ENGINE, WSGATE_K6, ...), and
  WSGATE_WEBHOOK_URL     the webhook, when --webhook-file is not given
  WSGATE_ADMIN_TOKEN     with --admin: the admin endpoint's bearer token (at least ${MIN_ADMIN_TOKEN_CHARS} characters)
`;

const OPTIONS = {
  env: { type: 'string' },
  engine: { type: 'string' },
  duration: { type: 'string' },
  'alert-threshold': { type: 'string' },
  'output-file': { type: 'string' },
  // Accepted only to be refused with a sentence that says what to use instead.
  webhook: { type: 'string' },
  'webhook-file': { type: 'string' },
  window: { type: 'string' },
  'rollback-after': { type: 'string' },
  'results-dir': { type: 'string' },
  'ca-file': { type: 'string' },
  'embedded-target': { type: 'boolean' },
  fault: { type: 'string', multiple: true },
  admin: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A k6-style duration flag in milliseconds (whole seconds at least). */
function durationFlag(flag: string, value: string, minMs: number): number {
  durationField(value, flag);
  const ms = durationMs(value);
  if (ms < minMs) throw new ConfigError(`${flag} is "${value}"; it must be at least ${span(minMs)}`);
  return ms;
}

function webhookUrl(value: string, origin: string): string {
  let u: URL | undefined;
  try {
    u = new URL(value);
  } catch {
    u = undefined;
  }
  // The value itself is not repeated: a Slack webhook URL is a credential.
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    throw new UsageError(`${origin} is not an http:// or https:// URL; pass the webhook URL, e.g. https://hooks.slack.com/services/...`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new UsageError(`${origin} has user info (user:password@), which an HTTP client cannot send in a URL; put the credential in the webhook's path or query, as Slack does`);
  }
  return u.href;
}

interface Plan {
  config: Config;
  vars: Vars;
  secret: string | undefined;
  embedded: boolean;
  faults: FaultName[];
  adminToken: string | undefined;
  sensitivity: Sensitivity;
  windowMs: number;
  rollbackAfterMs: number;
  duration: string;
  webhook: string | undefined;
  caFile: string | undefined;
  resultsDir: string;
  /** --output-file; without it the timeline goes to the results directory, named after the run. */
  outputFile: string | undefined;
}

/** The webhook URL from --webhook-file, else WSGATE_WEBHOOK_URL; never from the command line. */
function webhookFrom(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (file === undefined) {
    const fromEnv = env['WSGATE_WEBHOOK_URL'] || undefined;
    return fromEnv === undefined ? undefined : webhookUrl(fromEnv, 'WSGATE_WEBHOOK_URL');
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`--webhook-file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass the path of a file holding the webhook URL`);
  }
  if (text === '') throw new ConfigError(`--webhook-file ${file} is empty; put the webhook URL in it, e.g. https://hooks.slack.com/services/...`);
  return webhookUrl(text, `the content of --webhook-file ${file}`);
}

/** Every check that needs no process, file write or network. Throws UsageError / ConfigError. */
function plan(values: ReturnType<typeof parseMonitorArgs>, env: NodeJS.ProcessEnv): Plan {
  if (values.webhook !== undefined) {
    // The value is not repeated: it is the credential this refusal keeps out of sight.
    throw new UsageError('--webhook is not accepted because a webhook URL is a credential and the command line shows in the process list; set WSGATE_WEBHOOK_URL or pass --webhook-file FILE instead');
  }
  const embedded = values['embedded-target'] === true;
  const faults = parseFaults(values.fault);
  requireEmbedded(embedded, { fault: values.fault, admin: values.admin }, 'monitor');
  if (values.duration === undefined) throw new UsageError('--duration is required; say how long to monitor, e.g. --duration 30m');
  const duration = durationField(values.duration, '--duration');
  const sensitivityArg = values['alert-threshold'] ?? 'medium';
  if (!isSensitivity(sensitivityArg)) throw new UsageError(`--alert-threshold is "${sensitivityArg}"; it must be one of ${SENSITIVITIES.join(', ')}`);
  let adminToken: string | undefined;
  if (values.admin === true) {
    adminToken = env['WSGATE_ADMIN_TOKEN'] ?? '';
    if (adminToken.length < MIN_ADMIN_TOKEN_CHARS) {
      throw new ConfigError(
        adminToken === ''
          ? `--admin needs the admin endpoint's token in WSGATE_ADMIN_TOKEN (at least ${MIN_ADMIN_TOKEN_CHARS} characters), e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16)`
          : `WSGATE_ADMIN_TOKEN is ${adminToken.length} characters long; set it to at least ${MIN_ADMIN_TOKEN_CHARS}, e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16)`,
      );
    }
  }

  const secret = embedded ? embeddedSecret() : undefined;
  const vars: Vars = { ...suiteVars(env, values.env, secret), WSGATE_MONITOR_DURATION: duration };
  const config = loadConfig(vars);
  checkDialectFile(config);

  const policy = loadPolicy();
  limitsFor(policy, config.env, sensitivityArg); // an environment without limits fails here, before anything runs
  const windowMs = values.window === undefined ? policy.windowS * 1000 : durationFlag('--window', values.window, 1000);
  const rollbackAfterMs = values['rollback-after'] === undefined ? policy.rollbackAfterDegradedS * 1000 : durationFlag('--rollback-after', values['rollback-after'], 1000);
  const webhook = webhookFrom(values['webhook-file'], env);

  const caFile = values['ca-file'] === undefined ? undefined : resolve(values['ca-file']);
  if (caFile) readPem('--ca-file', caFile, 'CERTIFICATE');
  // Not WSGATE_OUTPUT_FILE: that one names the copy of a suite's JSON result, not a timeline.
  const outputFile = values['output-file'] === undefined ? undefined : resolve(values['output-file']);
  const resultsDir = resolve(values['results-dir'] ?? (env['WSGATE_RESULTS_DIR'] || 'results'));
  return { config, vars, secret, embedded, faults, adminToken, sensitivity: sensitivityArg, windowMs, rollbackAfterMs, duration, webhook, caFile, resultsDir, outputFile };
}

function parseMonitorArgs(argv: string[]) {
  return parseOptions(argv, OPTIONS, 'monitor');
}

/**
 * Catches SIGINT/SIGTERM for the whole run: before k6 starts a signal ends the run at the next
 * checkpoint; while k6 runs, run-k6.ts forwards it (k6 stops gracefully) and this only notes it; after
 * k6, a signal cuts the wait for webhook deliveries short. The timeline is finished in every case.
 */
class Signals {
  received: NodeJS.Signals | undefined;
  count = 0;
  private readonly listeners: (() => void)[] = [];
  private readonly onInt = (): void => this.note('SIGINT');
  private readonly onTerm = (): void => this.note('SIGTERM');

  constructor() {
    process.on('SIGINT', this.onInt);
    process.on('SIGTERM', this.onTerm);
  }

  private note(signal: NodeJS.Signals): void {
    this.received ??= signal;
    this.count++;
    for (const l of this.listeners.splice(0)) l();
  }

  /** Calls `fn` at the next signal (at once if one is pending and `pending` is true). */
  next(fn: () => void): void {
    this.listeners.push(fn);
  }

  dispose(): void {
    process.off('SIGINT', this.onInt);
    process.off('SIGTERM', this.onTerm);
  }
}

class Interrupted extends Error {}

export async function monitor(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const values = parseMonitorArgs(argv);
  if (values.help) {
    io.stdout.write(MONITOR_USAGE);
    return EXIT.PASS;
  }
  const p = plan(values, env);
  const { config } = p;
  const limits = limitsFor(loadPolicy(), config.env, p.sensitivity);

  engineKind(values.engine, env); // a bad --engine or WSGATE_ENGINE is a usage error before any network
  if (!p.embedded) {
    for (const note of await preflight(config, env)) say(io.stderr, note);
  }
  // Rebuilds stale bundles, finds k6, creates the results directory and the timeline's.
  const run = await prepareRun(SCENARIO, config.env, { resultsDir: p.resultsDir, outputFile: p.outputFile, caFile: p.caFile }, env, io, { engine: values.engine });
  const { engine, script } = run;
  const timelineFile = p.outputFile ?? join(p.resultsDir, `${SCENARIO}-${config.env}-${run.stamp}.timeline.jsonl`);
  let timeline: TimelineWriter;
  try {
    timeline = new TimelineWriter(timelineFile);
  } catch (err) {
    throw new ConfigError(`the timeline ${timelineFile} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable --output-file`);
  }

  const signals = new Signals();
  const startedAt = Date.now();
  let target: RunningTarget | undefined;
  let liveDir: string | undefined;
  let webhook: WebhookSender | undefined;
  let k6Exit: K6Exit | undefined;
  let summary: MonitorSummary | undefined;
  let failure: unknown;
  const event = (what: string, detail?: string): void => timeline.write({ type: 'event', at: new Date().toISOString(), what, ...(detail === undefined ? {} : { detail }) });

  timeline.write({
    type: 'header',
    version: 1,
    env: config.env,
    sensitivity: p.sensitivity,
    window_s: p.windowMs / 1000,
    rollback_after_s: p.rollbackAfterMs / 1000,
    limits,
    target: p.embedded ? 'the embedded reference service' : redactUrl(config.wsUrl),
    duration: p.duration,
    started_at: new Date(startedAt).toISOString(),
  });

  try {
    const checkpoint = (): void => {
      if (signals.received) throw new Interrupted();
    };
    checkpoint();
    if (p.webhook) {
      webhook = new WebhookSender(p.webhook, {
        onResult: (r) => {
          if (r.ok) return;
          say(io.stderr, `webhook ${webhookOrigin(p.webhook ?? '')}: could not deliver "${r.text.slice(0, 60)}…" after ${r.attempts} attempt(s) (${r.error ?? 'unknown'})`);
          event('webhook_failed', `${r.kind}: ${r.error ?? 'unknown'} after ${r.attempts} attempt(s)`);
        },
      });
    }
    const vars = p.vars;
    if (p.embedded && p.secret) {
      target = await startTarget({
        host: '127.0.0.1',
        authSecret: p.secret,
        backendSecret: p.secret,
        issuer: config.issuer,
        audience: config.audience,
        allowedOrigins: [...new Set([config.origin, 'http://localhost', 'http://127.0.0.1'])],
        faults: p.faults,
        ...(config.authPassword ? { authPassword: config.authPassword } : {}),
        ...(p.adminToken ? { admin: { token: p.adminToken } } : {}),
      });
      pointAt(vars, target);
      if (target.adminUrl) {
        say(io.stderr, `admin endpoint of the embedded service: ${target.adminUrl} (bearer token from WSGATE_ADMIN_TOKEN)`);
        event('admin_endpoint', target.adminUrl);
      }
      checkpoint();
    }
    const k6Env: Vars = engineEnvironment(run, vars, env);
    // The k6 side copies its JSON summary to WSGATE_OUTPUT_FILE; the monitor's output file is the timeline.
    delete k6Env['WSGATE_OUTPUT_FILE'];
    // Credentials k6 has no use for stay with the monitor.
    delete k6Env['WSGATE_WEBHOOK_URL'];
    delete k6Env['WSGATE_ADMIN_TOKEN'];

    const what = p.embedded ? `the embedded reference service${p.faults.length ? ` (faults: ${p.faults.join(', ')})` : ''}` : 'the deployed service';
    say(
      io.stderr,
      `monitoring env ${config.env} for ${p.duration}: ${what} at ${redactUrl(vars['WSGATE_WS_URL'] ?? config.wsUrl)} on the ${engine.label}; windows of ${span(p.windowMs)}, sensitivity ${p.sensitivity}, rollback after ${span(p.rollbackAfterMs)}; timeline: ${show(timelineFile)}${p.webhook ? `; alerts to ${webhookOrigin(p.webhook)}` : ''}`,
    );
    const perWindow = (config.monitorProbesPerMin * p.windowMs) / 60_000;
    if (perWindow < FEW_PROBES_PER_WINDOW) {
      say(io.stderr, `note: at ${config.monitorProbesPerMin} probes/min a ${span(p.windowMs)} window holds about ${Math.round(perWindow)} probes, so one failed probe moves its rates by about ${(100 / Math.max(1, perWindow)).toFixed(0)}%`);
    }

    const monitorCore = new Monitor(
      { env: config.env, sensitivity: p.sensitivity, limits, windowMs: p.windowMs, rollbackAfterMs: p.rollbackAfterMs },
      {
        print: (line) => io.stdout.write(`${line}\n`),
        record: (r) => timeline.write(r),
        notify: (n) => webhook?.send(n),
      },
    );
    liveDir = mkdtempSync(join(tmpdir(), 'wsgate-monitor-'));
    const live = join(liveDir, 'k6.json');
    const tail = new FileTail(
      live,
      (chunk) => monitorCore.push(chunk),
      () => monitorCore.tick(Date.now() - WALL_CLOCK_SLACK_MS),
    );
    checkpoint();
    event('run_started', engine.label);
    tail.start();
    try {
      // k6's own output (its log lines and text summary) goes to stderr: stdout is the monitor's.
      k6Exit = await runK6(engine.command, [...engine.baseArgs, '--quiet', '--out', `json=${live}`, script], k6Env, { stdout: io.stderr, stderr: io.stderr });
    } catch (err) {
      throw new K6FailedError(`the ${engine.label} could not be started (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    } finally {
      tail.stop();
    }
    summary = monitorCore.end();
    event('run_exited', k6Exit.signal ? `killed by ${k6Exit.signal}` : `exit code ${k6Exit.code}`);
  } catch (err) {
    if (!(err instanceof Interrupted)) failure = err;
  } finally {
    if (signals.received) event('interrupted', signals.received);
    let deliveries: { delivered: number; failed: number } | undefined;
    if (webhook) {
      if (webhook.pending > 0) say(io.stderr, `waiting up to ${WEBHOOK_DRAIN_MS / 1000} s for ${webhook.pending} webhook deliver${webhook.pending === 1 ? 'y' : 'ies'} (Ctrl-C to skip)`);
      const skip = new AbortController();
      signals.next(() => skip.abort());
      deliveries = await webhook.drain(WEBHOOK_DRAIN_MS, skip.signal);
    }
    await target?.close();
    if (liveDir) rmSync(liveDir, { recursive: true, force: true });
    const exitCode = failure !== undefined ? null : exitFor(signals.received !== undefined, k6Exit, summary);
    const verdict = exitCode === null ? 'ERROR' : verdictWord(exitCode);
    const final: SummaryRecord = {
      type: 'summary',
      ended_at: new Date().toISOString(),
      windows: { ...(summary?.windows ?? { healthy: 0, degraded: 0, unhealthy: 0 }), partial: summary?.partialWindows ?? 0, total: summary?.windowsTotal ?? 0 },
      alerts: {
        fired: summary?.alertsFired ?? 0,
        critical: summary?.criticalFired ?? 0,
        resolved: summary?.resolved ?? 0,
        critical_metrics: summary?.criticalMetrics ?? [],
        active_at_end: summary?.active ?? [],
      },
      rollback_recommended: summary?.rollbackRecommended ?? false,
      interrupted: signals.received !== undefined,
      late_samples: summary?.lateSamples ?? 0,
      bad_lines: summary?.badLines ?? 0,
      ...(deliveries ? { webhook: { delivered: deliveries.delivered, failed: deliveries.failed } } : {}),
      k6_exit: k6Exit ? { code: k6Exit.code, signal: k6Exit.signal } : null,
      exit_code: exitCode,
      verdict,
      ...(failure !== undefined ? { error: failure instanceof Error ? failure.message.split('\n')[0] : String(failure) } : {}),
    };
    timeline.write(final);
    timeline.close();
    signals.dispose();
    if (failure === undefined) finalLine(io, config.env, timelineFile, final, k6Exit, summary);
  }
  if (failure !== undefined) throw failure;
  return exitFor(signals.received !== undefined, k6Exit, summary);
}

/**
 * The exit code: interrupted wins (130); then a critical alert or a rollback (1); then a run with no
 * window that saw probe results, or a k6 that ended abnormally, has no verdict (4); else 0.
 */
export function exitFor(interrupted: boolean, k6Exit: K6Exit | undefined, summary: MonitorSummary | undefined): number {
  if (interrupted || k6Exit?.interrupted) return EXIT.INTERRUPTED;
  if (summary && (summary.criticalFired > 0 || summary.rollbackRecommended)) return EXIT.FAIL;
  // k6 exits 99 when a probe check failed (the scenario's checks thresholds): it ran to the end.
  const ranToEnd = k6Exit !== undefined && k6Exit.signal === null && (k6Exit.code === 0 || k6Exit.code === 99 || k6Exit.code === 110);
  if (!ranToEnd || !summary || summary.windowsWithData === 0) return EXIT.ERROR;
  return EXIT.PASS;
}

function verdictWord(code: number): string {
  switch (code) {
    case EXIT.PASS:
      return 'PASS';
    case EXIT.FAIL:
      return 'FAIL';
    case EXIT.INTERRUPTED:
      return 'INTERRUPTED';
    default:
      return 'ERROR';
  }
}

const K6_EXIT_REASONS: Record<number, string> = {
  100: 'setup() timed out',
  104: 'k6 rejected the test options',
  107: 'the script threw an exception (see the output above)',
  108: 'the test aborted (its reason is in the output above)',
};

function finalLine(io: Io, env: string, timelineFile: string, s: SummaryRecord, k6Exit: K6Exit | undefined, summary: MonitorSummary | undefined): void {
  const w = s.windows;
  const windows = `${w.total} window${w.total === 1 ? '' : 's'} (${w.healthy} healthy, ${w.degraded} degraded, ${w.unhealthy} unhealthy${w.partial ? `, ${w.partial} partial` : ''})`;
  const critical = s.alerts.critical ? ` (${s.alerts.critical} critical: ${s.alerts.critical_metrics.join(', ')})` : '';
  const alerts = `${s.alerts.fired} alert${s.alerts.fired === 1 ? '' : 's'} fired${critical}, ${s.alerts.resolved} resolved`;
  const rollback = s.rollback_recommended ? 'ROLLBACK RECOMMENDED' : 'no rollback';
  let why = '';
  if (s.verdict === 'ERROR') {
    if (k6Exit && !(k6Exit.code === 0 || k6Exit.code === 99 || k6Exit.code === 110)) {
      why = k6Exit.signal ? `: the run was killed by ${k6Exit.signal}, no verdict` : `: the run exited with code ${k6Exit.code}, ${K6_EXIT_REASONS[k6Exit.code ?? -1] ?? 'an unexpected code'}; no verdict`;
    } else if (!summary || summary.windowsWithData === 0) why = ': no window had probe results, so there is no verdict';
  }
  if (s.verdict === 'INTERRUPTED') why = ': stopped by Ctrl-C; the timeline is complete up to then';
  say(io.stdout, `${s.verdict} monitoring (env ${env})${why} — ${windows}; ${alerts}; ${rollback} — timeline: ${show(timelineFile)}`);
}
