/**
 * `wsgate monitor`: runs the monitoring scenario for a duration, reads the run's live JSON output (k6's schema) as
 * it grows, and judges rolling windows against thresholds/monitoring.json as they close: one console
 * line per window, alerts when they fire and clear (also to a webhook), a rollback recommendation when
 * health stays degraded too long, and a JSON Lines timeline written as it goes.
 *
 * It runs through the skeleton every suite command shares (suite-run.ts: flags, cheap checks,
 * pre-flight, bundle, engine, embedded service, signals); what is its own is declared below: the
 * policy and webhook checks, the timeline kept open around the whole run, and its verdict from the
 * windows rather than from the engine's thresholds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../lib/core/config.ts';
import { durationField, durationMs, loadConfig } from '../../lib/core/config.ts';
import { redactUrl } from '../../lib/core/url.ts';
import { ConfigError } from '../../lib/core/errors.ts';
import { MIN_ADMIN_TOKEN_CHARS } from '../../reference-service/admin.ts';
import { ALL_FAULT_NAMES } from '../../reference-service/service.ts';
import { UsageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { EXIT, say } from '../io.ts';
import type { K6Exit } from '../run-k6.ts';
import { NETWORK_JITTER_USAGE, StoppedBeforeRun, exitReason, outputPlan, runSuite, runSuiteCommand, show, suiteCommand } from '../suite-run.ts';
import type { SuiteArgs, SuiteRun } from '../suite-run.ts';
import { span } from './format.ts';
import { Monitor } from './monitor.ts';
import type { MonitorSummary } from './monitor.ts';
import { SENSITIVITIES, isSensitivity, limitsFor, loadPolicy } from './policy.ts';
import type { AlertLimits, Sensitivity } from './policy.ts';
import { FileTail } from './tail.ts';
import { TimelineWriter } from './timeline.ts';
import type { SummaryRecord } from './timeline.ts';
import { WebhookSender, webhookOrigin } from './webhook.ts';

const SCENARIO = 'monitoring';
/** How long the exit waits for webhook deliveries still under way. */
const WEBHOOK_DRAIN_MS = 5000;
/** When k6's stream goes quiet, windows still close by the wall clock, this far behind it. */
const WALL_CLOCK_SLACK_MS = 2000;
/** Below this many probes per window, one failed probe moves a rate by more than 5%: say so. */
const FEW_PROBES_PER_WINDOW = 20;
/** Credentials the monitor keeps to itself; the engine is never given them. */
const WITHHELD = [
  // The engine copies its JSON summary to WSGATE_OUTPUT_FILE; the monitor's --output-file is the timeline.
  'WSGATE_OUTPUT_FILE',
  'WSGATE_WEBHOOK_URL',
  'WSGATE_ADMIN_TOKEN',
];

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
${NETWORK_JITTER_USAGE}
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

/** The monitor's own flags (the shared ones are suite-run.ts's SUITE_OPTIONS). */
const OPTIONS = {
  duration: { type: 'string' },
  'alert-threshold': { type: 'string' },
  // Accepted only to be refused with a sentence that says what to use instead.
  webhook: { type: 'string' },
  'webhook-file': { type: 'string' },
  window: { type: 'string' },
  'rollback-after': { type: 'string' },
  admin: { type: 'boolean' },
} as const;

/** A k6-style duration flag in milliseconds (whole seconds at least). */
function durationFlag(flag: string, value: string, minMs: number): number {
  durationField(value, flag);
  const ms = durationMs(value);
  if (ms < minMs) throw new ConfigError(`${flag} is "${value}"; it must be at least ${span(minMs)}`);
  return ms;
}

function webhookUrl(value: string, origin: string): string {
  const u = URL.canParse(value) ? new URL(value) : undefined;
  // The value itself is not repeated: a Slack webhook URL is a credential.
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    throw new UsageError(`${origin} is not an http:// or https:// URL; pass the webhook URL, e.g. https://hooks.slack.com/services/...`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new UsageError(`${origin} has user info (user:password@), which an HTTP client cannot send in a URL; put the credential in the webhook's path or query, as Slack does`);
  }
  return u.href;
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

/** WSGATE_ADMIN_TOKEN, with --admin: long enough to be a credential. */
function adminTokenFrom(env: NodeJS.ProcessEnv): string {
  const token = env['WSGATE_ADMIN_TOKEN'] ?? '';
  if (token.length < MIN_ADMIN_TOKEN_CHARS) {
    throw new ConfigError(
      token === ''
        ? `--admin needs the admin endpoint's token in WSGATE_ADMIN_TOKEN (at least ${MIN_ADMIN_TOKEN_CHARS} characters), e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16)`
        : `WSGATE_ADMIN_TOKEN is ${token.length} characters long; set it to at least ${MIN_ADMIN_TOKEN_CHARS}, e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16)`,
    );
  }
  return token;
}

/** What is monitored, and how it is judged and told. */
interface MonitorPlan {
  readonly config: Config;
  readonly adminToken: string | undefined;
  readonly sensitivity: Sensitivity;
  readonly limits: AlertLimits;
  readonly windowMs: number;
  readonly rollbackAfterMs: number;
  readonly duration: string;
  readonly webhook: string | undefined;
}

type MonitorRun = SuiteRun<typeof OPTIONS, MonitorPlan>;

/** Every check of the monitor's own flags that needs no process, file write or network. Throws UsageError / ConfigError. */
function planMonitor({ values, vars, env }: SuiteArgs<typeof OPTIONS>): MonitorPlan {
  if (values.webhook !== undefined) {
    // The value is not repeated: it is the credential this refusal keeps out of sight.
    throw new UsageError('--webhook is not accepted because a webhook URL is a credential and the command line shows in the process list; set WSGATE_WEBHOOK_URL or pass --webhook-file FILE instead');
  }
  if (values.duration === undefined) throw new UsageError('--duration is required; say how long to monitor, e.g. --duration 30m');
  const duration = durationField(values.duration, '--duration');
  const sensitivity = values['alert-threshold'] ?? 'medium';
  if (!isSensitivity(sensitivity)) throw new UsageError(`--alert-threshold is "${sensitivity}"; it must be one of ${SENSITIVITIES.join(', ')}`);
  const adminToken = values.admin === true ? adminTokenFrom(env) : undefined;
  vars['WSGATE_MONITOR_DURATION'] = duration;
  const config = loadConfig(vars);

  const policy = loadPolicy();
  const limits = limitsFor(policy, config.env, sensitivity); // an environment without limits fails here, before anything runs
  const windowMs = values.window === undefined ? policy.windowS * 1000 : durationFlag('--window', values.window, 1000);
  const rollbackAfterMs = values['rollback-after'] === undefined ? policy.rollbackAfterDegradedS * 1000 : durationFlag('--rollback-after', values['rollback-after'], 1000);
  const webhook = webhookFrom(values['webhook-file'], env);
  return { config, adminToken, sensitivity, limits, windowMs, rollbackAfterMs, duration, webhook };
}

/** The timeline: --output-file, else next to the results; its header written at once. */
function openTimeline({ run, plan, config, embedded }: MonitorRun): { file: string; timeline: TimelineWriter } {
  const file = run.plan.outputFile ?? join(run.plan.resultsDir, `${SCENARIO}-${config.env}-${run.stamp}.timeline.jsonl`);
  let timeline: TimelineWriter;
  try {
    timeline = new TimelineWriter(file);
  } catch (err) {
    throw new ConfigError(`the timeline ${file} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable --output-file`);
  }
  timeline.write({
    type: 'header',
    version: 1,
    env: config.env,
    sensitivity: plan.sensitivity,
    window_s: plan.windowMs / 1000,
    rollback_after_s: plan.rollbackAfterMs / 1000,
    limits: plan.limits,
    target: embedded ? 'the embedded reference service' : redactUrl(config.wsUrl),
    duration: plan.duration,
    started_at: new Date().toISOString(),
  });
  return { file, timeline };
}

/** What the monitor is about to do, on stderr: the target, the windows, where the timeline and alerts go. */
function sayWhat({ plan, config, what, run, io }: MonitorRun, timelineFile: string): void {
  say(
    io.stderr,
    `monitoring env ${config.env} for ${plan.duration}: ${what} at ${redactUrl(config.wsUrl)} on the ${run.engine.label}; windows of ${span(plan.windowMs)}, sensitivity ${plan.sensitivity}, rollback after ${span(plan.rollbackAfterMs)}; timeline: ${show(timelineFile)}${plan.webhook ? `; alerts to ${webhookOrigin(plan.webhook)}` : ''}`,
  );
  const perWindow = (config.monitorProbesPerMin * plan.windowMs) / 60_000;
  if (perWindow < FEW_PROBES_PER_WINDOW) {
    say(io.stderr, `note: at ${config.monitorProbesPerMin} probes/min a ${span(plan.windowMs)} window holds about ${Math.round(perWindow)} probes, so one failed probe moves its rates by about ${(100 / Math.max(1, perWindow)).toFixed(0)}%`);
  }
}

/**
 * Runs the engine with its live output in a temporary file, tailed into the monitor as it grows; the
 * engine's own output goes to stderr (stdout is the monitor's window lines).
 */
async function watch(r: MonitorRun, monitorCore: Monitor, event: (what: string, detail?: string) => void): Promise<K6Exit> {
  const { run, vars, env, io } = r;
  const liveDir = mkdtempSync(join(tmpdir(), 'wsgate-monitor-'));
  try {
    const live = join(liveDir, 'k6.json');
    const tail = new FileTail(
      live,
      (chunk) => monitorCore.push(chunk),
      () => monitorCore.tick(Date.now() - WALL_CLOCK_SLACK_MS),
    );
    r.scope.checkpoint();
    event('run_started', run.engine.label);
    tail.start();
    try {
      return await runSuite(run, vars, env, { stdout: io.stderr, stderr: io.stderr }, ['--quiet', '--out', `json=${live}`], WITHHELD);
    } finally {
      tail.stop();
    }
  } finally {
    rmSync(liveDir, { recursive: true, force: true });
  }
}

/** How the run ended, for the summary record and the exit code. */
interface Outcome {
  k6Exit: K6Exit | undefined;
  summary: MonitorSummary | undefined;
  failure: unknown;
}

/**
 * The monitor's run, inside the skeleton's scope: the timeline is open around everything (service
 * start-up included), so whatever stops the run, it ends with a summary record and one final line.
 */
async function runMonitor(r: MonitorRun): Promise<number> {
  const { plan: p, io, scope } = r;
  const { file: timelineFile, timeline } = openTimeline(r);
  const event = (what: string, detail?: string): void => timeline.write({ type: 'event', at: new Date().toISOString(), what, ...(detail === undefined ? {} : { detail }) });
  const outcome: Outcome = { k6Exit: undefined, summary: undefined, failure: undefined };
  let webhook: WebhookSender | undefined;
  try {
    scope.checkpoint();
    if (p.webhook) {
      webhook = new WebhookSender(p.webhook, {
        onResult: (res) => {
          if (res.ok) return;
          say(io.stderr, `webhook ${webhookOrigin(p.webhook ?? '')}: could not deliver "${res.text.slice(0, 60)}…" after ${res.attempts} attempt(s) (${res.error ?? 'unknown'})`);
          event('webhook_failed', `${res.kind}: ${res.error ?? 'unknown'} after ${res.attempts} attempt(s)`);
        },
      });
    }
    await r.start();
    if (r.target?.adminUrl) {
      say(io.stderr, `admin endpoint of the embedded service: ${r.target.adminUrl} (bearer token from WSGATE_ADMIN_TOKEN)`);
      event('admin_endpoint', r.target.adminUrl);
    }
    sayWhat(r, timelineFile);
    const monitorCore = new Monitor(
      { env: r.config.env, sensitivity: p.sensitivity, limits: p.limits, windowMs: p.windowMs, rollbackAfterMs: p.rollbackAfterMs },
      { print: (line) => io.stdout.write(`${line}\n`), record: (rec) => timeline.write(rec), notify: (n) => webhook?.send(n) },
    );
    outcome.k6Exit = await watch(r, monitorCore, event);
    outcome.summary = monitorCore.end();
    event('run_exited', outcome.k6Exit.signal ? `killed by ${outcome.k6Exit.signal}` : `exit code ${outcome.k6Exit.code}`);
  } catch (err) {
    if (!(err instanceof StoppedBeforeRun)) outcome.failure = err;
  }
  if (scope.signal) event('interrupted', scope.signal);
  const deliveries = webhook ? await drainWebhook(webhook, r) : undefined;
  const final = summaryRecord(scope.signal !== undefined, outcome, deliveries);
  timeline.write(final);
  timeline.close();
  if (outcome.failure !== undefined) throw outcome.failure;
  finalLine(io, r.config.env, timelineFile, final, outcome, r.run.engine.kind === 'k6' ? 'k6' : 'the engine');
  return final.exit_code ?? EXIT.ERROR;
}

/** Waits a little for webhook deliveries still under way; a signal cuts the wait short. */
async function drainWebhook(webhook: WebhookSender, { io, scope }: MonitorRun): Promise<{ delivered: number; failed: number }> {
  if (webhook.pending > 0) say(io.stderr, `waiting up to ${WEBHOOK_DRAIN_MS / 1000} s for ${webhook.pending} webhook deliver${webhook.pending === 1 ? 'y' : 'ies'} (Ctrl-C to skip)`);
  const skip = new AbortController();
  scope.onNextSignal(() => skip.abort());
  return webhook.drain(WEBHOOK_DRAIN_MS, skip.signal);
}

/** The timeline's last record: windows by status, alerts, rollback, the engine's exit and the monitor's. */
function summaryRecord(interrupted: boolean, { k6Exit, summary, failure }: Outcome, deliveries: { delivered: number; failed: number } | undefined): SummaryRecord {
  const exitCode = failure !== undefined ? null : exitFor(interrupted, k6Exit, summary);
  return {
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
    interrupted,
    late_samples: summary?.lateSamples ?? 0,
    bad_lines: summary?.badLines ?? 0,
    ...(deliveries ? { webhook: { delivered: deliveries.delivered, failed: deliveries.failed } } : {}),
    k6_exit: k6Exit ? { code: k6Exit.code, signal: k6Exit.signal } : null,
    exit_code: exitCode,
    verdict: exitCode === null ? 'ERROR' : verdictWord(exitCode),
    ...(failure !== undefined ? { error: failure instanceof Error ? failure.message.split('\n')[0] : String(failure) } : {}),
  };
}

/** The monitor, declared: its own flags, the embedded service's admin endpoint, and its own run. */
const MONITOR = suiteCommand({
  name: 'monitor',
  suite: SCENARIO,
  usage: MONITOR_USAGE,
  options: OPTIONS,
  verb: 'monitor',
  embeddedOnly: (values) => ({ admin: values.admin }),
  plan: planMonitor,
  // Not WSGATE_OUTPUT_FILE: that one names the copy of a suite's JSON result, not a timeline.
  output: ({ values, env }) => outputPlan(values, env, { outputFileFromEnv: false }),
  service: (plan) => ({ adminToken: plan.adminToken }),
  run: runMonitor,
  withheld: WITHHELD,
});

/** Runs `wsgate monitor <argv...>`; resolves with the exit code (EXIT in io.ts). */
export function monitor(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return runSuiteCommand(MONITOR, argv, env, io);
}

/**
 * The exit code: interrupted wins (130); then a critical alert or a rollback (1); then a run with no
 * window that saw probe results, or a k6 that ended abnormally, has no verdict (4); else 0.
 */
function exitFor(interrupted: boolean, k6Exit: K6Exit | undefined, summary: MonitorSummary | undefined): number {
  if (interrupted || k6Exit?.interrupted) return EXIT.INTERRUPTED;
  if (summary && (summary.criticalFired > 0 || summary.rollbackRecommended)) return EXIT.FAIL;
  // k6 exits 99 when a probe check failed (the scenario's checks thresholds): it ran to the end.
  if (!ranToEnd(k6Exit) || !summary || summary.windowsWithData === 0) return EXIT.ERROR;
  return EXIT.PASS;
}

/** The engine ran the whole duration: passed, or failed a threshold (a failed probe check is still a run). */
function ranToEnd(k6Exit: K6Exit | undefined): boolean {
  return k6Exit !== undefined && k6Exit.signal === null && (k6Exit.code === 0 || k6Exit.code === 99 || k6Exit.code === 110);
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

function finalLine(io: Io, env: string, timelineFile: string, s: SummaryRecord, { k6Exit, summary }: Outcome, engine: string): void {
  const w = s.windows;
  const windows = `${w.total} window${w.total === 1 ? '' : 's'} (${w.healthy} healthy, ${w.degraded} degraded, ${w.unhealthy} unhealthy${w.partial ? `, ${w.partial} partial` : ''})`;
  const critical = s.alerts.critical ? ` (${s.alerts.critical} critical: ${s.alerts.critical_metrics.join(', ')})` : '';
  const alerts = `${s.alerts.fired} alert${s.alerts.fired === 1 ? '' : 's'} fired${critical}, ${s.alerts.resolved} resolved`;
  const rollback = s.rollback_recommended ? 'ROLLBACK RECOMMENDED' : 'no rollback';
  let why = '';
  if (s.verdict === 'ERROR') {
    if (k6Exit && !ranToEnd(k6Exit)) {
      why = k6Exit.signal ? `: the run was killed by ${k6Exit.signal}, no verdict` : `: the run exited with code ${k6Exit.code}, ${exitReason(k6Exit.code, engine)}; no verdict`;
    } else if (!summary || summary.windowsWithData === 0) why = ': no window had probe results, so there is no verdict';
  }
  if (s.verdict === 'INTERRUPTED') why = ': stopped by Ctrl-C; the timeline is complete up to then';
  say(io.stdout, `${s.verdict} monitoring (env ${env})${why} — ${windows}; ${alerts}; ${rollback} — timeline: ${show(timelineFile)}`);
}
