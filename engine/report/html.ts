/**
 * The run's HTML report: one self-contained file (uPlot's JS and CSS inlined, the data as JSON) that
 * opens offline, from a CI artifact or an e-mail attachment, and prints legibly. It replaces k6's web
 * dashboard, which needs a live process and a network.
 *
 * Safety: every string from the run (suite, metric and check names come from user scripts) is
 * escaped where it enters HTML, the data block cannot close its <script>, and a Content-Security-Policy
 * allows only the two inline scripts this module wrote (by hash) and no network at all, so a name that
 * slipped past escaping still could not run or fetch anything.
 *
 * Pure apart from reading uPlot's files from node_modules (once per process).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FlushPoint, MetricType } from '../contracts.ts';
import type { K6SummaryCheck, K6SummaryMetric } from '../metrics/summary.ts';
import { CLIENT_METRICS, METRIC_PREFIX } from '../../lib/core/vocabulary.ts';

/** One check of k6's handleSummary() data (k6 adds path and id, which the report does not read). */
type SummaryCheck = Pick<K6SummaryCheck, 'name' | 'passes' | 'fails'>;

/** A group of k6's handleSummary() data; the root group has the empty name. */
interface SummaryGroup {
  name: string;
  checks: SummaryCheck[];
  groups?: SummaryGroup[];
}

/** The parts of k6's handleSummary() data the report reads. */
interface ReportSummary {
  metrics: Record<string, K6SummaryMetric>;
  root_group: SummaryGroup;
}

/** One threshold as the engine judged it. */
interface ReportThreshold {
  /** Metric or submetric name, e.g. `checks{scenario:agent_events}`. */
  metric: string;
  /** e.g. `p(95)<500`. */
  expression: string;
  /** undefined when the threshold was not evaluated. */
  ok: boolean | undefined;
  /** The metric had no samples: the report says "no data", whatever `ok` says (k6 passes such thresholds). */
  noData: boolean;
  /** The value the expression compared (ms for time metrics). */
  observed?: number;
}

type ReportVerdict = 'pass' | 'fail' | 'no verdict';

/** Everything the report shows. */
export interface ReportInput {
  title: string;
  suite: string;
  env: string;
  /** Epoch ms of the test start. */
  startedAt: number;
  durationMs: number;
  /** The flushes of the run, about one a second; the charts' time series. */
  points: FlushPoint[];
  summary: ReportSummary;
  thresholdResults: ReportThreshold[];
  verdict: ReportVerdict;
}

/** The engine's gauge of open WebSocket connections (not in lib/vocabulary: the engine records it, not scripts). */
const CONNECTIONS_OPEN = 'wsgate_connections_open';
const NOT_RECORDED = 'not recorded in this run';

/** One line of a chart, aligned with the chart's x values; null is a gap (no samples in that interval). */
interface ChartSeries {
  label: string;
  values: (number | null)[];
}
/** A chart the page draws with uPlot. */
interface ChartSpec {
  id: string;
  /** The caption, also the plot's accessible name (a canvas has no text of its own). */
  title: string;
  unit: string;
  series: ChartSeries[];
}
/** What the page's script reads from the JSON block. */
interface ChartData {
  /** Epoch seconds of each flush (uPlot's time scale is in seconds). */
  x: number[];
  charts: ChartSpec[];
}

/** A chart section as the HTML shows it: a drawn chart, or the sentence that replaces an empty one. */
type Figure =
  | { kind: 'chart'; title: string; spec: ChartSpec; notes: string[] }
  | { kind: 'missing'; title: string };

/**
 * Renders the report. The page sets `document.body.dataset.chartsDrawn` to the number of charts once
 * every chart has drawn (what a headless browser waits for).
 */
export function renderReport(input: ReportInput): string {
  const points = [...input.points].sort((a, b) => a.time - b.time);
  const figures = buildFigures(input, points);
  const charts = [figures.load, ...figures.latency, figures.throughput].flatMap((f) => (f.kind === 'chart' ? [f.spec] : []));
  const data: ChartData = { x: points.map((p) => p.time / 1000), charts };
  const uplot = uplotAssets();
  const app = appScript();
  const csp = [
    "default-src 'none'",
    `script-src ${[uplot.js, app].map(sha256).join(' ')}`,
    // uPlot positions its parts with inline styles
    "style-src 'unsafe-inline'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<link rel="icon" href="data:,">
<style>${uplot.css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
${renderHeader(input)}
<section>
<h2>Load</h2>
${renderFigure(figures.load)}
</section>
<section>
<h2>Latency percentiles per interval</h2>
${figures.latency.map(renderFigure).join('\n')}
</section>
<section>
<h2>Throughput</h2>
${renderFigure(figures.throughput)}
</section>
${renderChecks(input.summary)}
${renderThresholds(input)}
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${uplot.js}</script>
<script>${app}</script>
</body>
</html>
`;
}

/** The chart sections; chart ids are numbered in page order. */
function buildFigures(input: ReportInput, points: FlushPoint[]): { load: Figure; latency: Figure[]; throughput: Figure } {
  let next = 0;
  const chart = (title: string, unit: string, series: ChartSeries[], notes: string[] = []): Figure =>
    series.length === 0 ? { kind: 'missing', title } : { kind: 'chart', title, spec: { id: `chart-${next++}`, title, unit, series }, notes };

  const gauges = ['vus', CONNECTIONS_OPEN].map((name) => ({
    label: name,
    // a gauge keeps its last value in `total` when nothing changed it during the interval
    values: points.map((p) => p.interval[name]?.values['value'] ?? p.total[name]?.values['value'] ?? null),
  }));
  const recorded = gauges.filter((s) => s.values.some((v) => v !== null));
  const absent = gauges.filter((s) => !recorded.includes(s)).map((s) => `${s.label}: ${NOT_RECORDED}`);
  const load = chart('VUs and WebSocket connections open', '', recorded, absent);

  const trends = new Map<string, boolean>();
  const consider = (name: string, type: MetricType, isTime: boolean): void => {
    if (type === 'trend' && (name === 'ws_connecting' || name.startsWith(METRIC_PREFIX)) && !name.includes('{')) {
      trends.set(name, (trends.get(name) ?? false) || isTime);
    }
  };
  for (const p of points) {
    for (const [name, m] of Object.entries(p.interval)) consider(name, m.type, m.isTime);
    for (const [name, m] of Object.entries(p.total)) consider(name, m.type, m.isTime);
  }
  // a trend the summary knows but no flush carried still gets its place, saying so
  for (const [name, m] of Object.entries(input.summary.metrics)) consider(name, m.type, m.contains === 'time');
  // ws_connecting is always asked for, so its absence is stated rather than silent
  if (!trends.has('ws_connecting')) trends.set('ws_connecting', true);
  const names = [...trends.keys()].sort((a, b) => (a === 'ws_connecting' ? -1 : b === 'ws_connecting' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const latency = names.map((name) => {
    const isTime = trends.get(name) ?? false;
    const stat = (key: string, fallback?: string): (number | null)[] =>
      points.map((p) => {
        const m = p.interval[name];
        // an interval without samples is a gap, not a zero latency
        if (!m || m.values['count'] === 0) return null;
        const v = m.values[key] ?? (fallback === undefined ? undefined : m.values[fallback]);
        return v === undefined || !Number.isFinite(v) ? null : round(v);
      });
    const series = [
      { label: 'p50', values: stat('med', 'p(50)') },
      { label: 'p95', values: stat('p(95)') },
      { label: 'p99', values: stat('p(99)') },
    ].filter((s) => s.values.some((v) => v !== null));
    return chart(isTime ? `${name} (ms)` : name, isTime ? ' ms' : '', series);
  });

  return { load, latency, throughput: chart('Per second', '/s', throughput(input.startedAt, points)) };
}

/** Interval counts divided by the interval's seconds, for the metrics that say how much work was done. */
function throughput(startedAt: number, points: FlushPoint[]): ChartSeries[] {
  const seconds = points.map((p, i) => {
    const prev = i === 0 ? startedAt : (points[i - 1]?.time ?? startedAt);
    return (p.time - prev) / 1000;
  });
  const present = (name: string): boolean => points.some((p) => name in p.interval || name in p.total);
  // wsgate's own checks counter; k6's `checks` rate stands in for it when a script did not record it
  const checks = present(CLIENT_METRICS.checksRun) ? CLIENT_METRICS.checksRun : 'checks';
  const metrics = [
    { name: 'iterations', label: 'iterations' },
    { name: 'ws_msgs_sent', label: 'ws_msgs_sent' },
    { name: 'ws_msgs_received', label: 'ws_msgs_received' },
    { name: checks, label: 'checks' },
  ];
  return metrics
    .filter((m) => present(m.name))
    .map((m) => ({
      label: m.label,
      values: points.map((p, i) => {
        const dt = seconds[i] ?? 0;
        if (dt <= 0) return null;
        const v = p.interval[m.name]?.values;
        // a counter missing from an interval counted nothing in it
        const n = v === undefined ? 0 : (v['count'] ?? (v['passes'] ?? 0) + (v['fails'] ?? 0));
        return round(n / dt);
      }),
    }));
}

function renderHeader(input: ReportInput): string {
  const failed = input.thresholdResults.filter((t) => statusOf(t) === 'FAIL').length;
  const noData = input.thresholdResults.filter((t) => statusOf(t) === 'no data').length;
  const verdictClass = input.verdict === 'pass' ? 'pass' : input.verdict === 'fail' ? 'fail' : 'nodata';
  return `<header>
<h1>${escapeHtml(input.title)}</h1>
<p class="verdict ${verdictClass}">${escapeHtml(input.verdict)}</p>
<dl>
<dt>Suite</dt><dd>${escapeHtml(input.suite)}</dd>
<dt>Environment</dt><dd>${escapeHtml(input.env)}</dd>
<dt>Started</dt><dd>${escapeHtml(formatWhen(input.startedAt))}</dd>
<dt>Duration</dt><dd>${escapeHtml(formatDuration(input.durationMs))}</dd>
<dt>Thresholds</dt><dd>${input.thresholdResults.length} (${failed} failed, ${noData} no data)</dd>
</dl>
</header>`;
}

function renderFigure(f: Figure): string {
  if (f.kind === 'missing') {
    return `<figure class="chart missing"><figcaption>${escapeHtml(f.title)}</figcaption><p>${NOT_RECORDED}</p></figure>`;
  }
  const notes = f.notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('');
  return `<figure class="chart"><figcaption>${escapeHtml(f.title)}</figcaption><div class="plot" id="${f.spec.id}" data-chart></div>${notes}</figure>`;
}

function renderChecks(summary: ReportSummary): string {
  const rows = collectChecks(summary.root_group, []).map(({ name, passes, fails }) => {
    const total = passes + fails;
    // rounded down, so one failure in a million still reads below 100%
    const rate = total === 0 ? '—' : `${Math.floor((passes / total) * 1000) / 10}%`;
    return `<tr class="${fails > 0 ? 'fail' : ''}"><td>${escapeHtml(name)}</td><td class="num">${passes}</td><td class="num">${fails}</td><td class="num">${rate}</td></tr>`;
  });
  const body = rows.length === 0 ? '<p>No checks ran in this run.</p>' : table(['Check', 'Passes', 'Fails', 'Pass rate'], rows);
  return `<section>\n<h2>Checks</h2>\n${body}\n</section>`;
}

/** Checks of nested groups read as `group › check`, as k6's own summary nests them. */
function collectChecks(group: SummaryGroup, path: string[]): SummaryCheck[] {
  const prefix = path.length === 0 ? '' : `${path.join(' › ')} › `;
  return [
    ...group.checks.map((c) => ({ name: prefix + c.name, passes: c.passes, fails: c.fails })),
    ...(group.groups ?? []).flatMap((g) => collectChecks(g, [...path, g.name])),
  ];
}

function renderThresholds(input: ReportInput): string {
  const rows = input.thresholdResults.map((t) => {
    const status = statusOf(t);
    const cls = status === 'pass' ? 'pass' : status === 'FAIL' ? 'fail' : 'nodata';
    return `<tr class="${cls}"><td>${escapeHtml(t.metric)}</td><td><code>${escapeHtml(t.expression)}</code></td><td class="num">${escapeHtml(formatObserved(t, input.summary))}</td><td class="status ${cls}">${status}</td></tr>`;
  });
  const body = rows.length === 0 ? '<p>No thresholds were set for this run.</p>' : table(['Metric', 'Expression', 'Observed', 'Status'], rows);
  return `<section>\n<h2>Thresholds</h2>\n${body}\n</section>`;
}

/** "no data" wins over ok: k6 holds a threshold with no samples, and a gate must not read that as pass. */
function statusOf(t: ReportThreshold): 'pass' | 'FAIL' | 'no data' {
  if (t.noData || t.ok === undefined) return 'no data';
  return t.ok ? 'pass' : 'FAIL';
}

function formatObserved(t: ReportThreshold, summary: ReportSummary): string {
  if (t.observed === undefined || t.noData) return '—';
  const base = t.metric.split('{')[0] ?? t.metric;
  const stat = t.expression.split(/[<>=!]/)[0]?.trim() ?? '';
  const isTime = (summary.metrics[t.metric] ?? summary.metrics[base])?.contains === 'time';
  return `${formatNumber(t.observed)}${isTime && stat !== 'count' && stat !== 'rate' ? ' ms' : ''}`;
}

function table(head: string[], rows: string[]): string {
  return `<table>\n<thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`;
}

/** Escapes text and attribute values alike (quotes too, so one function serves both). */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON that cannot end its <script> element: `</` would close it and `<!--` would change how the
 * parser reads the rest; both escapes are still valid JSON.
 */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/<\//g, '<\\/').replace(/<!--/g, '\\u003c!--');
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

let assets: { js: string; css: string } | undefined;
/** uPlot from node_modules, read when first needed so the repo never holds a copy. */
function uplotAssets(): { js: string; css: string } {
  if (!assets) {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    assets = {
      // the banner's URL is the only one in the file; the report carries no scheme-qualified URL at all
      js: js.replace(/^\/\*! https?:\/\//, '/*! uPlot (MIT) ').replace(/<\/(script)/gi, '<\\/$1'),
      css: css.replace(/<\//g, '<\\/'),
    };
  }
  return assets;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Three decimals at most, never fewer digits than it takes to see why `p(95)<200` failed at 200.4. */
function formatNumber(n: number): string {
  return String(round(n));
}

function formatWhen(epochMs: number): string {
  return Number.isFinite(epochMs) ? new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : 'unknown';
}

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return [h > 0 ? `${h} h` : '', `${m} min`, `${s % 60} s`].filter(Boolean).join(' ');
}

/**
 * The page's script, plain ES2017 so any browser that opens the file runs it. Times are UTC, as in the
 * header. Charts resize with the window and shrink to the paper width before printing.
 */
function appScript(): string {
  return `(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf'];
  var total = data.charts.length, drawn = 0, seen = {}, plots = [];
  function done() { document.body.dataset.chartsDrawn = String(total); }
  function num(v) { var a = Math.abs(v); return a >= 100 || v === Math.round(v) ? String(Math.round(v)) : String(Number(v.toPrecision(3))); }
  function width(el) { return Math.max(300, Math.floor(el.clientWidth || 600)); }
  if (total === 0) { done(); return; }
  data.charts.forEach(function (c) {
    var el = document.getElementById(c.id);
    el.setAttribute('role', 'img');
    el.setAttribute('aria-label', c.title);
    var series = [{ label: 'time (UTC)' }];
    c.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: palette[i % palette.length], width: 2,
        value: function (u, v) { return v == null ? '—' : num(v) + c.unit; } });
    });
    var opts = {
      width: width(el), height: 220, series: series,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), 'UTC'); },
      // from zero, so a flat line near the top does not read as a spike
      scales: { y: { range: function (u, min, max) { return [0, max == null || max <= 0 ? 1 : max * 1.1]; } } },
      axes: [{}, { size: 64, values: function (u, splits) { return splits.map(num); } }],
      hooks: { draw: [function () { if (!seen[c.id]) { seen[c.id] = true; if (++drawn === total) done(); } }] }
    };
    plots.push({ el: el, plot: new uPlot(opts, [data.x].concat(c.series.map(function (s) { return s.values; })), el) });
  });
  function resize(w) { plots.forEach(function (p) { p.plot.setSize({ width: w || width(p.el), height: 220 }); }); }
  var timer;
  window.addEventListener('resize', function () { clearTimeout(timer); timer = setTimeout(function () { resize(); }, 100); });
  window.addEventListener('beforeprint', function () { resize(640); });
  window.addEventListener('afterprint', function () { resize(); });
})();`;
}

const PAGE_CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; background: #fff; max-width: 1000px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0 0; }
header dt { color: #555; }
header dd { margin: 0; }
.verdict { display: inline-block; font-weight: 700; text-transform: uppercase; padding: 2px 10px; border-radius: 4px; margin: 0; border: 2px solid; }
.verdict.pass { color: #0a6b2d; border-color: #0a6b2d; background: #e6f4ea; }
.verdict.fail { color: #a50e0e; border-color: #a50e0e; background: #fce8e6; }
.verdict.nodata { color: #6b4e00; border-color: #6b4e00; background: #fef7e0; }
figure.chart { margin: 12px 0 20px; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-weight: 600; margin-bottom: 4px; overflow-wrap: anywhere; }
.plot { width: 100%; }
figure.missing p, .note { color: #666; font-style: italic; margin: 4px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e3e3; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td { background: #fdf1f0; }
td.status { font-weight: 700; white-space: nowrap; }
td.status.pass { color: #0a6b2d; }
td.status.fail { color: #a50e0e; }
td.status.nodata { color: #6b4e00; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  /* no cursor on paper: the legend keeps its names and colours, not the hovered values */
  .u-cursor-x, .u-cursor-y, .u-select, .u-legend .u-value, .u-legend .u-series:first-child { display: none; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
}
`;
