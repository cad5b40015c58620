/**
 * The engine's Prometheus remote-write output: what k6's `--out experimental-prometheus-rw` sends, under
 * the same names, labels and units, so monitoring/ (rules, promtool tests, dashboard) works with either
 * engine. The mapping follows k6's internal/output/prometheusrw/remotewrite (read, not copied):
 *
 *   counter -> k6_<metric>_total   sum since the start
 *   gauge   -> k6_<metric>         last value
 *   rate    -> k6_<metric>_rate    passes / total since the start (0 when nothing was recorded)
 *   trend   -> k6_<metric>_<stat>  one series per configured stat: p(95) -> p95, p(99.9) -> p999,
 *                                  avg, min, med, max, count, sum; a time trend divides EVERY stat by
 *                                  1000, its count and sum too (k6's adaptUnit does, see k6-series.json)
 *
 * Labels are the series' tags with empty values left out (k6 skips them) and without `vu`/`iter` (k6
 * keeps those as sample metadata, never as series labels). Like k6, a series is pushed only when it
 * changed since the last push, so monitoring/README.md's "a counter that stops growing goes stale after
 * Prometheus' 5-minute lookback" holds for both engines.
 *
 * Where this output deliberately differs from k6: label names are made valid Prometheus names (k6 sends
 * them as they are, and one bad name makes Prometheus refuse the whole request); basic auth survives
 * custom headers (k6 drops it when headers are set); a failed push is retried with the next one (k6
 * loses it). Not supported, and refused by fromEnv: stale markers, native histograms, sigv4, client
 * certificates, TLS settings.
 */
import { pushTimeseries } from 'prometheus-remote-write';
import { ConfigError } from '../../lib/core/errors.ts';
import { redactUrl } from '../../lib/core/url.ts';
import type { SeriesSnapshot, SinkSnapshot, Tags } from '../contracts.ts';
import { mergeSinkSnapshots, statsOf } from '../metrics/sinks.ts';

/** k6's defaults (remotewrite/config.go). */
export const DEFAULT_URL = 'http://localhost:9090/api/v1/write';
const DEFAULT_TREND_STATS: readonly string[] = ['p(99)'];
const DEFAULT_PUSH_INTERVAL_MS = 5000;

/** k6's remote-write client gives up on a request after 5 s (defaultTimeout). */
const PUSH_TIMEOUT_MS = 5000;
const PREFIX = 'k6_';
/** k6 indexes these system tags as metadata, so they never become labels (metrics.NonIndexableSystemTags). */
const METADATA_TAGS: ReadonlySet<string> = new Set(['vu', 'iter']);
const STATIC_STATS: ReadonlySet<string> = new Set(['avg', 'min', 'med', 'max', 'count', 'sum']);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENV_PREFIX = 'K6_PROMETHEUS_RW_';

type PushOptions = NonNullable<Parameters<typeof pushTimeseries>[1]>;
type Fetcher = NonNullable<PushOptions['fetch']>;
type Timeseries = Extract<Parameters<typeof pushTimeseries>[0], readonly unknown[]>[number];

/** A Prometheus output setting (option or K6_PROMETHEUS_RW_* variable) has a value it cannot use. */
export class PrometheusConfigError extends ConfigError {
  /** The option or environment variable at fault. */
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(message);
    this.setting = setting;
  }
}

export interface PrometheusOutputOptions {
  /** Remote-write endpoint, e.g. http://127.0.0.1:9090/api/v1/write; user info becomes basic auth. */
  url: string;
  /** Trend stats to export, k6 spelling: p(N), avg, min, med, max, count, sum. Default ['p(99)']. */
  trendStats?: readonly string[];
  /** At most one request per this many ms (k6's PushInterval). Default 5000. */
  pushIntervalMs?: number;
  /** Labels for every series that has no tag of that name (names made valid like tags' names). */
  extraLabels?: Readonly<Record<string, string>>;
  /** One line per event worth a person's attention (failed pushes, once per kind). */
  log: (line: string) => void;
  /** Extra HTTP headers (tenant ids, Authorization); never logged. */
  headers?: Readonly<Record<string, string>>;
}

type State = 'running' | 'stopping' | 'stopped';

/** One outgoing series before it is split into a trend's stats. */
interface Group {
  metric: string;
  labels: [string, string][];
  sink: SinkSnapshot;
}

/**
 * Pushes the engine's series to a Prometheus remote-write endpoint as k6 names them. The run hands it
 * every flush through push(); it sends at most once per pushIntervalMs (k6's PushInterval), and stop()
 * sends the final state. Push failures are logged once per kind and never thrown: the run goes on
 * without its metrics.
 */
export class PrometheusOutput {
  readonly url: string;
  readonly trendStats: readonly string[];
  readonly pushIntervalMs: number;
  private readonly extraLabels: [string, string][];
  private readonly headers: Record<string, string>;
  private readonly log: (line: string) => void;
  private readonly safeUrl: string;
  private state: State = 'running';
  /** The newest flush not sent yet. */
  private latest: { series: readonly SeriesSnapshot[]; time: number } | undefined;
  private lastSentAt: number | undefined;
  private sending: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private lastTimestamp = 0;
  /** Series key -> fingerprint of what was last pushed successfully. */
  private readonly pushed = new Map<string, string>();
  private readonly loggedErrors = new Set<string>();

  constructor(opts: PrometheusOutputOptions) {
    const { url, auth } = endpoint(opts.url, 'url');
    this.url = url;
    this.safeUrl = redactUrl(url);
    this.trendStats = trendStatsField(opts.trendStats ?? DEFAULT_TREND_STATS, 'trendStats');
    this.pushIntervalMs = opts.pushIntervalMs ?? DEFAULT_PUSH_INTERVAL_MS;
    if (!Number.isFinite(this.pushIntervalMs) || this.pushIntervalMs <= 0) {
      throw new PrometheusConfigError('pushIntervalMs', `pushIntervalMs is ${this.pushIntervalMs}; it must be a positive number of milliseconds`);
    }
    // The run's tags (k6's --tag) arrive here too: k6 accepts any tag name, so rename rather than refuse.
    this.extraLabels = labelsOf(opts.extraLabels ?? {}, []);
    this.headers = requestHeaders(auth, opts.headers ?? {}, 'headers');
    this.log = opts.log;
  }

  /**
   * The output k6's variables describe: K6_PROMETHEUS_RW_SERVER_URL (default k6's), _TREND_STATS
   * (comma-separated), _PUSH_INTERVAL (k6 duration; a bare number is ms), _USERNAME/_PASSWORD (basic
   * auth), _BEARER_TOKEN, _HEADERS_<Name>=value and _HTTP_HEADERS=name:value,... `extraLabels` (the
   * run's tags) label every series that lacks them. Throws a PrometheusConfigError naming the variable;
   * secrets and URL user info are never in its message.
   */
  static fromEnv(
    env: Readonly<Record<string, string | undefined>>,
    log: (line: string) => void = (line) => process.stderr.write(line + '\n'),
    extraLabels?: Readonly<Record<string, string>>,
  ): PrometheusOutput {
    return new PrometheusOutput({ ...optionsFromEnv(env), log, ...(extraLabels ? { extraLabels } : {}) });
  }

  /** What the CLI prints when it lists outputs (k6: "Prometheus remote write (<url>)"), redacted. */
  get description(): string {
    return `Prometheus remote write (${this.safeUrl})`;
  }

  /**
   * Takes the run's series at `time` (epoch ms; each series cumulative since the start) and sends
   * those that changed since the last successful push, unless the last send was less than
   * pushIntervalMs ago or is still under way: then a later push() or stop() carries them. Resolves when
   * the send it started (if any) is over; never rejects.
   */
  push(series: readonly SeriesSnapshot[], time: number): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    this.latest = { series, time };
    // A slow endpoint must not pile up requests; the newest state replaces the waiting one.
    if (this.sending) return Promise.resolve();
    if (this.lastSentAt !== undefined && time - this.lastSentAt < this.pushIntervalMs) return Promise.resolve();
    return this.sendLatest();
  }

  /**
   * Sends the final state (k6's flusher flushes once more on Stop): `final.series` when given (the
   * run's last snapshot, stamped now), else the newest flush not sent yet. Safe to call twice.
   */
  stop(final?: { series?: readonly SeriesSnapshot[] }): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      await this.sending;
      if (final?.series) this.latest = { series: final.series, time: Date.now() };
      await this.sendLatest();
      this.state = 'stopped';
    })();
    return this.stopping;
  }

  private sendLatest(): Promise<void> {
    const latest = this.latest;
    if (!latest) return Promise.resolve();
    this.latest = undefined;
    this.lastSentAt = latest.time;
    const sending = this.send(latest.series, latest.time).finally(() => {
      this.sending = undefined;
    });
    this.sending = sending;
    return sending;
  }

  private async send(series: readonly SeriesSnapshot[], time: number): Promise<void> {
    const timestamp = Math.max(Math.floor(time), this.lastTimestamp + 1);
    const changed: { key: string; fingerprint: string; out: Timeseries[] }[] = [];
    try {
      for (const [key, group] of this.groups(series)) {
        const fingerprint = JSON.stringify(group.sink);
        if (this.pushed.get(key) === fingerprint) continue;
        changed.push({ key, fingerprint, out: this.timeseries(group, timestamp) });
      }
    } catch (err) {
      // The run calls push() without awaiting it: a throw here would be an unhandled rejection.
      this.fail('mapping', `the series could not be mapped (${err instanceof Error ? err.message : String(err)})`);
      return;
    }
    const timeseries = changed.flatMap((c) => c.out);
    if (timeseries.length === 0) return;
    try {
      const res = await pushTimeseries(timeseries, { url: this.url, headers: this.headers, fetch: timedFetch });
      if (res.status < 200 || res.status >= 300) {
        // Prometheus' error text names series and timestamps, so it differs per push: key by status.
        const detail = (res.errorMessage ?? '').trim().slice(0, 300);
        this.fail(`HTTP ${res.status}`, `HTTP ${res.status} ${res.statusText}${detail ? `: ${detail}` : ''}`);
        return;
      }
    } catch (err) {
      const { kind, detail } = failureOf(err);
      this.fail(kind, detail);
      return;
    }
    this.lastTimestamp = timestamp;
    for (const c of changed) this.pushed.set(c.key, c.fingerprint);
  }

  private fail(kind: string, detail: string): void {
    if (this.loggedErrors.has(kind)) return;
    this.loggedErrors.add(kind);
    this.log(`prometheus remote write to ${this.safeUrl} failed: ${detail} (each kind of failure is logged once; the run goes on)`);
  }

  /**
   * Series as Prometheus will see them, keyed by name and labels. Two snapshots can land on one label
   * set (a tag that only differed by an empty value, vu/iter, or a name that sanitizes alike); one
   * request must not carry both, so they are combined.
   */
  private groups(series: readonly SeriesSnapshot[]): Map<string, Group> {
    const groups = new Map<string, Group>();
    for (const s of series) {
      const labels = labelsOf(s.tags, this.extraLabels);
      const metric = metricName(s.metric);
      const key = JSON.stringify([metric, labels]);
      const seen = groups.get(key);
      groups.set(key, { metric, labels, sink: seen ? mergeSinkSnapshots([seen.sink, s.sink]) : s.sink });
    }
    return groups;
  }

  private timeseries(group: Group, timestamp: number): Timeseries[] {
    const one = (suffix: string, value: number): Timeseries => ({
      labels: sortedLabels(group.labels, PREFIX + group.metric + (suffix ? '_' + suffix : '')),
      samples: [{ value, timestamp }],
    });
    const { sink } = group;
    switch (sink.type) {
      case 'counter':
        return [one('total', sink.sum ?? 0)];
      case 'gauge':
        return [one('', sink.value ?? 0)];
      case 'rate': {
        const total = sink.total ?? 0;
        return [one('rate', total > 0 ? (sink.passes ?? 0) / total : 0)];
      }
      case 'trend': {
        const values = this.trendValues(group.metric, sink);
        // k6 converts every stat of a time trend from ms to s, the count and the sum too.
        const unit = sink.isTime ? 1000 : 1;
        return Object.entries(values).map(([stat, v]) => one(statSuffix(stat), v / unit));
      }
    }
  }

  /** Configured stat -> value in the sink's own unit. */
  private trendValues(metric: string, sink: SinkSnapshot): Record<string, number> {
    const wanted = new Set(this.trendStats.filter((s) => s !== 'sum'));
    const wantSum = this.trendStats.includes('sum');
    // The summary has no `sum` (k6's neither; its output adds TrendSink.Total itself): avg * count when
    // the snapshot does not carry the exact sum.
    if (wantSum && sink.sum === undefined) wanted.add('avg').add('count');
    let got: Record<string, number> = {};
    try {
      // A trend's stats do not depend on the run's duration, only a counter's rate does.
      if (wanted.size > 0) got = statsOf(sink, [...wanted], 0);
    } catch (err) {
      // A snapshot the metrics room cannot read costs this series, not the push or the run.
      this.fail(`snapshot ${metric}`, `the trend ${metric} could not be read (${err instanceof Error ? err.message : String(err)}), so it is not sent`);
      return {};
    }
    const out: Record<string, number> = {};
    for (const stat of this.trendStats) {
      const v = stat === 'sum' ? (sink.sum ?? (got['avg'] ?? 0) * (got['count'] ?? 0)) : got[stat];
      if (v === undefined || Number.isNaN(v)) {
        this.fail(`stat ${stat}`, `the trend stat ${stat} of ${metric} could not be computed, so k6_${metric}_${statSuffix(stat)} is not sent`);
        continue;
      }
      out[stat] = v;
    }
    return out;
  }
}

/** Parses k6's K6_PROMETHEUS_RW_* variables into constructor options (without `log`). */
export function optionsFromEnv(env: Readonly<Record<string, string | undefined>>): Omit<PrometheusOutputOptions, 'log'> {
  const get = (name: string): string | undefined => {
    const v = env[ENV_PREFIX + name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || value.trim() === '') continue;
    const rest = name.slice(ENV_PREFIX.length);
    if (rest.startsWith('HEADERS_') || KNOWN_VARS.has(rest)) continue;
    const unsupported = UNSUPPORTED_VARS[rest];
    if (unsupported === undefined) {
      throw new PrometheusConfigError(name, `${name} is not a variable of k6's Prometheus remote-write output; the engine reads ${[...KNOWN_VARS].map((v) => ENV_PREFIX + v).join(', ')} and ${ENV_PREFIX}HEADERS_<name>`);
    }
    if (!unsupported.harmless.includes(value.trim().toLowerCase())) {
      throw new PrometheusConfigError(name, `${name} is set, but the engine's Prometheus output does not support ${unsupported.what}; unset it or run the test on k6`);
    }
  }

  const urlVar = ENV_PREFIX + 'SERVER_URL';
  const rawUrl = get('SERVER_URL') ?? DEFAULT_URL;
  endpoint(rawUrl, urlVar); // fail here, under the variable's name, rather than in the constructor

  const statsVar = ENV_PREFIX + 'TREND_STATS';
  const rawStats = get('TREND_STATS');
  const trendStats = rawStats === undefined ? [...DEFAULT_TREND_STATS] : trendStatsField(rawStats.split(',').map((s) => s.trim()), statsVar);

  const intervalVar = ENV_PREFIX + 'PUSH_INTERVAL';
  const rawInterval = get('PUSH_INTERVAL');
  const pushIntervalMs = rawInterval === undefined ? DEFAULT_PUSH_INTERVAL_MS : durationMs(rawInterval.trim(), intervalVar);

  const headers: Record<string, string> = {};
  const username = get('USERNAME');
  const password = env[ENV_PREFIX + 'PASSWORD'];
  if (username !== undefined) {
    if (username.includes(':')) throw new PrometheusConfigError(ENV_PREFIX + 'USERNAME', `${ENV_PREFIX}USERNAME contains ":", which basic auth cannot carry; use a user name without it`);
    headers['Authorization'] = basicAuth(username, password ?? '');
  } else if (password !== undefined && password !== '') {
    throw new PrometheusConfigError(ENV_PREFIX + 'PASSWORD', `${ENV_PREFIX}PASSWORD is set but ${ENV_PREFIX}USERNAME is not; basic auth needs both`);
  }
  const token = get('BEARER_TOKEN');
  if (token !== undefined) {
    if (username !== undefined) throw new PrometheusConfigError(ENV_PREFIX + 'BEARER_TOKEN', `${ENV_PREFIX}BEARER_TOKEN and ${ENV_PREFIX}USERNAME are both set; choose bearer or basic auth`);
    headers['Authorization'] = `Bearer ${token.trim()}`;
  }
  const listVar = ENV_PREFIX + 'HTTP_HEADERS';
  const list = get('HTTP_HEADERS');
  if (list !== undefined) {
    for (const [i, pair] of list.split(',').entries()) {
      const parts = pair.split(':');
      // k6's own rule: exactly one colon per pair. Without a colon the entry may be a bare secret, so
      // only its position is printed.
      if (parts.length !== 2 || !parts[0]) {
        throw new PrometheusConfigError(listVar, `${listVar} has an entry (number ${i + 1}) that is not <name>:<value>; separate headers with commas, each with exactly one colon`);
      }
      headers[parts[0].trim()] = (parts[1] ?? '').trim();
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(ENV_PREFIX + 'HEADERS_') && value !== undefined) headers[name.slice((ENV_PREFIX + 'HEADERS_').length)] = value;
  }
  requestHeaders(undefined, headers, 'K6_PROMETHEUS_RW_HEADERS_<name>');

  return { url: rawUrl, trendStats, pushIntervalMs, headers };
}

const KNOWN_VARS: ReadonlySet<string> = new Set(['SERVER_URL', 'TREND_STATS', 'PUSH_INTERVAL', 'USERNAME', 'PASSWORD', 'BEARER_TOKEN', 'HTTP_HEADERS']);

/** k6 variables the engine does not implement, and the values that ask for nothing (k6's defaults). */
const UNSUPPORTED_VARS: Readonly<Record<string, { what: string; harmless: readonly string[] }>> = {
  STALE_MARKERS: { what: 'stale markers', harmless: ['false', '0'] },
  TREND_AS_NATIVE_HISTOGRAM: { what: 'native histograms', harmless: ['false', '0'] },
  INSECURE_SKIP_TLS_VERIFY: { what: 'skipping TLS verification', harmless: ['false', '0'] },
  TLS_MINIMUM_VERSION: { what: 'choosing the TLS version', harmless: [] },
  CLIENT_CERTIFICATE: { what: 'client certificates', harmless: [] },
  CLIENT_CERTIFICATE_KEY: { what: 'client certificates', harmless: [] },
  SIGV4_REGION: { what: 'AWS sigv4 signing', harmless: [] },
  SIGV4_ACCESS_KEY: { what: 'AWS sigv4 signing', harmless: [] },
  SIGV4_SECRET_KEY: { what: 'AWS sigv4 signing', harmless: [] },
};

/** The series name suffix of a trend stat, k6's way: p(95) -> p95, p(99.9) -> p999, p(0.5) -> p05. */
export function statSuffix(stat: string): string {
  return stat.startsWith('p(') ? 'p' + stat.slice(2, -1).replaceAll('.', '') : stat;
}

/** The URL without user info, and the basic-auth header the user info stood for. */
function endpoint(raw: string, setting: string): { url: string; auth: string | undefined } {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    // An unparseable value may still hold a password: print its shape only.
    throw new PrometheusConfigError(setting, `${setting} is not a URL (${raw.trim().replace(/\/\/[^/@]*@/, '//REDACTED@')}); it must look like http://prometheus:9090/api/v1/write`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new PrometheusConfigError(setting, `${setting} has the scheme "${u.protocol.slice(0, -1)}"; remote write needs http or https, e.g. http://prometheus:9090/api/v1/write`);
  }
  // fetch refuses URLs with credentials; Go's client turns them into basic auth, so do the same.
  const auth = u.username ? basicAuth(decodeURIComponent(u.username), decodeURIComponent(u.password)) : undefined;
  u.username = '';
  u.password = '';
  return { url: u.toString(), auth };
}

function basicAuth(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/**
 * Headers of every request: basic auth from the URL, then the caller's (they may replace it), then the
 * protocol's own (remote-write spec 1.0, as k6 sets them), one entry per case-insensitive name.
 */
function requestHeaders(auth: string | undefined, extra: Readonly<Record<string, string>>, setting: string): Record<string, string> {
  const byLower = new Map<string, [string, string]>();
  if (auth) byLower.set('authorization', ['Authorization', auth]);
  for (const [name, value] of Object.entries(extra)) {
    if (!HEADER_NAME.test(name)) throw new PrometheusConfigError(setting, `${setting} names the header "${name}", which is not a valid HTTP header name`);
    // The value may be a secret: say what is wrong with it, never what it is.
    if (/[\r\n\0]/.test(value)) throw new PrometheusConfigError(setting, `${setting} gives the header "${name}" a value with a line break or NUL, which HTTP does not allow`);
    byLower.set(name.toLowerCase(), [name, value]);
  }
  for (const [name, value] of [
    ['User-Agent', 'wsgate-engine-prometheus-rw-output'],
    ['Content-Encoding', 'snappy'],
    ['Content-Type', 'application/x-protobuf'],
    ['X-Prometheus-Remote-Write-Version', '0.1.0'],
  ] as const) {
    byLower.set(name.toLowerCase(), [name, value]);
  }
  return Object.fromEntries(byLower.values());
}

/** Validated trend stats, k6's rules (metrics.GetResolversForTrendColumns plus the output's `sum`). */
function trendStatsField(stats: readonly string[], setting: string): readonly string[] {
  if (stats.length === 0) throw new PrometheusConfigError(setting, `${setting} is empty; name at least one stat, e.g. p(99)`);
  for (const stat of stats) {
    if (STATIC_STATS.has(stat)) continue;
    const m = /^p\((\d+(?:\.\d+)?|\.\d+)\)$/.exec(stat);
    if (!m || Number(m[1]) > 100) {
      throw new PrometheusConfigError(setting, `${setting} has the stat "${stat}"; allowed are avg, min, med, max, count, sum and p(N) with 0 <= N <= 100, e.g. p(95) or p(99.9)`);
    }
  }
  return [...new Set(stats)];
}

/** A k6 duration (remotewrite PushInterval): a bare number is ms; else 1d2h, 1m30s, 500ms, 1.5s... */
function durationMs(raw: string, setting: string): number {
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let ms: number | undefined;
  if (/^\d+(\.\d*)?$|^\.\d+$/.test(raw)) ms = Number(raw);
  else if (/^((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d))+$/.test(raw)) {
    ms = 0;
    for (const m of raw.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/g)) ms += Number(m[1]) * (unitMs[m[2] ?? ''] ?? 0);
  }
  // k6's flusher refuses a period that is not positive; below 1 ms a timer cannot honour it.
  if (ms === undefined || !(ms >= 1)) {
    throw new PrometheusConfigError(setting, `${setting} is "${raw}"; it must be a positive duration such as 5s, 500ms or 1m (a bare number is milliseconds)`);
  }
  return ms;
}

/** k6 metric names are already valid; anything else is made so rather than lose the whole request. */
function metricName(metric: string): string {
  return METRIC_NAME.test(metric) ? metric : metric.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^(?=[0-9])/, '_');
}

/** A tag name as a valid, non-reserved Prometheus label name ("" when nothing is left). */
function labelName(tag: string): string {
  if (LABEL_NAME.test(tag) && !tag.startsWith('__')) return tag;
  return tag
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .replace(/^(?=[0-9])/, '_')
    .replace(/^__+/, '_');
}

/**
 * Labels of a series, sorted: tags with a value (k6 leaves empty ones out), minus metadata, names made
 * valid (a tag already valid wins a clash with one renamed onto it), then the extra labels the tags do
 * not already set.
 */
function labelsOf(tags: Tags, extra: readonly [string, string][]): [string, string][] {
  const out = new Map<string, string>();
  const renamed: [string, string][] = [];
  for (const [tag, value] of Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (tag === '' || value === '' || METADATA_TAGS.has(tag)) continue;
    const name = labelName(tag);
    if (name === tag) out.set(name, value);
    else renamed.push([name, value]);
  }
  for (const [name, value] of renamed) if (!out.has(name)) out.set(name, value);
  for (const [name, value] of extra) if (!out.has(name)) out.set(name, value);
  return [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Labels with __name__ in their sorted place (the remote-write spec wants them sorted by name). */
function sortedLabels(labels: readonly [string, string][], name: string): Timeseries['labels'] {
  const all = [...labels, ['__name__', name] as [string, string]].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Spreading first keeps the sorted key order; the package sends the keys in that order.
  return { ...Object.fromEntries(all), __name__: name };
}

/** A failed request as a stable kind (for logging once) and a sentence. */
function failureOf(err: unknown): { kind: string; detail: string } {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return { kind: 'timeout', detail: `no answer within ${PUSH_TIMEOUT_MS / 1000} s` };
    const cause: unknown = err.cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code;
      return { kind: typeof code === 'string' ? code : cause.message, detail: `${err.message} (${cause.message})` };
    }
    return { kind: err.message, detail: err.message };
  }
  return { kind: String(err), detail: String(err) };
}

/** Node's global fetch with k6's request timeout (the package's `timeout` option is node-fetch's). */
const timedFetch: Fetcher = (url, init) =>
  fetch(url, {
    method: init?.method ?? 'POST',
    ...(init?.headers ? { headers: init.headers } : {}),
    // snappyjs hands over a Uint8Array or an ArrayBuffer; both make a Uint8Array body.
    ...(init?.body ? { body: new Uint8Array(init.body) } : {}),
    signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
  });
