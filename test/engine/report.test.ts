import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FlushPoint, MetricType } from '../../engine/contracts.ts';
import { renderReport } from '../../engine/report/html.ts';
import type { ReportInput } from '../../engine/report/html.ts';
import { chromiumOrSkip, colouredPixelsPerChart, openOffline } from '../helpers/chromium.ts';

const HOSTILE_CHECK = '<script>alert(1)</script>';
/** A trend name that would close the data block's <script> if the JSON were embedded raw. */
const HOSTILE_TREND = 'wsgate_</script><script>alert(2)</script>';
const T0 = Date.UTC(2025, 0, 15, 9, 30, 0);

type Values = Record<string, number>;
type Entry = { type: MetricType; isTime: boolean; values: Values };

function trendValues(base: number, count: number): Values {
  return { count, avg: base * 1.1, min: base / 2, med: base, max: base * 3, 'p(90)': base * 1.8, 'p(95)': base * 2, 'p(99)': base * 2.6 };
}

/**
 * 30 flushes one second apart of a run that ramps to 20 VUs: gauges, counters, a rate and four
 * trends, one of which (message latency) has empty intervals.
 */
function points(opts: { gauges?: boolean } = {}): FlushPoint[] {
  const out: FlushPoint[] = [];
  const totals: Record<string, number> = { iterations: 0, ws_msgs_sent: 0, ws_msgs_received: 0, wsgate_checks_run: 0 };
  for (let i = 0; i < 30; i++) {
    const vus = Math.min(20, 2 + i);
    const counts: Record<string, number> = { iterations: vus * 2, ws_msgs_sent: vus * 10, ws_msgs_received: vus * 15, wsgate_checks_run: vus * 3 };
    const interval: Record<string, Entry> = {
      ws_connecting: { type: 'trend', isTime: true, values: trendValues(12 + (i % 5), vus) },
      wsgate_event_latency: { type: 'trend', isTime: true, values: trendValues(80 + i * 4, vus * 5) },
      [HOSTILE_TREND]: { type: 'trend', isTime: true, values: trendValues(5, 3) },
      checks: { type: 'rate', isTime: false, values: { rate: 0.9, passes: counts['wsgate_checks_run']! - 1, fails: 1 } },
    };
    if (i % 3 !== 0) interval['wsgate_message_latency'] = { type: 'trend', isTime: true, values: trendValues(30 + i, vus) };
    for (const [name, n] of Object.entries(counts)) {
      interval[name] = { type: 'counter', isTime: false, values: { count: n, rate: n } };
      totals[name] = (totals[name] ?? 0) + n;
    }
    const total: Record<string, Entry> = {};
    for (const [name, n] of Object.entries(totals)) total[name] = { type: 'counter', isTime: false, values: { count: n, rate: n / (i + 1) } };
    if (opts.gauges !== false) {
      interval['vus'] = { type: 'gauge', isTime: false, values: { value: vus, min: vus, max: vus } };
      total['vus'] = { type: 'gauge', isTime: false, values: { value: vus, min: 2, max: vus } };
      // the connections gauge is only in `total` here: the chart must still find it
      total['wsgate_connections_open'] = { type: 'gauge', isTime: false, values: { value: vus - 1, min: 1, max: vus - 1 } };
    }
    out.push({ time: T0 + (i + 1) * 1000, interval, total });
  }
  return out;
}

function input(opts: { gauges?: boolean } = {}): ReportInput {
  return {
    title: 'deployment-validation on staging',
    suite: 'deployment-validation',
    env: 'staging',
    startedAt: T0,
    durationMs: 30_000,
    points: points(opts),
    summary: {
      metrics: {
        ws_connecting: { type: 'trend', contains: 'time', values: trendValues(14, 400) },
        wsgate_event_latency: { type: 'trend', contains: 'time', values: trendValues(140, 2000), thresholds: { 'p(95)<200': { ok: false } } },
        wsgate_message_latency: { type: 'trend', contains: 'time', values: trendValues(45, 300) },
        // declared by the script but never sampled: its chart must say so, not draw an empty box
        wsgate_idle_probe: { type: 'trend', contains: 'time', values: { count: 0 } },
        wsgate_delivery: { type: 'rate', contains: 'default', values: { rate: 0, passes: 0, fails: 0 }, thresholds: { 'rate>0.99': { ok: true } } },
        checks: { type: 'rate', contains: 'default', values: { rate: 0.9, passes: 900, fails: 100 } },
        iterations: { type: 'counter', contains: 'default', values: { count: 800, rate: 26.6 } },
      },
      root_group: {
        name: '',
        checks: [
          { name: 'websocket_connection: valid token is accepted', passes: 400, fails: 0 },
          { name: HOSTILE_CHECK, passes: 3, fails: 1 },
        ],
        groups: [{ name: 'agent_events', checks: [{ name: 'all five events arrive', passes: 497, fails: 99 }] }],
      },
    },
    thresholdResults: [
      { metric: 'ws_connecting', expression: 'p(95)<1000', ok: true, noData: false, observed: 28 },
      { metric: 'wsgate_event_latency', expression: 'p(95)<200', ok: false, noData: false, observed: 251.5 },
      // k6 holds a threshold without samples; the report must still not call it pass
      { metric: 'wsgate_delivery', expression: 'rate>0.99', ok: true, noData: true },
      { metric: `checks{scenario:${HOSTILE_CHECK}}`, expression: 'rate==1', ok: undefined, noData: false },
    ],
    verdict: 'fail',
  };
}

/** Load chart, ws_connecting, event latency, the hostile trend, message latency, throughput. */
const EXPECTED_CHARTS = 6;

function rowOf(html: string, cell: string): string {
  const at = html.indexOf(`<td>${cell}</td>`);
  assert.ok(at >= 0, `no row for ${cell}`);
  return html.slice(at, html.indexOf('</tr>', at));
}

test('the report is one offline file: no network URL, names escaped, no data never reads as pass', () => {
  const html = renderReport(input());
  assert.ok(!html.includes('http://') && !html.includes('https://'), 'a scheme-qualified URL in the report');
  assert.doesNotMatch(html, /\b(?:https?|wss?|ftp):/i, 'a network scheme in the report (a CSP source, say)');
  assert.doesNotMatch(html, /\b(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?!data:)[a-z][a-z0-9+.-]*:/i);
  assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?\s*\/\//i, 'a protocol-relative URL');
  assert.doesNotMatch(html, /url\(\s*["']?\s*(?!data:)[^)\s]/i, 'a CSS url()');
  assert.doesNotMatch(html, /@import/i);
  // the policy is the second line of defence: no network, and only the module's own scripts run
  const csp = html.match(/http-equiv="Content-Security-Policy" content="([^"]*)"/)?.[1]?.replace(/&#39;/g, "'");
  assert.match(csp ?? '', /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+' 'sha256-[A-Za-z0-9+/=]+'; /);

  assert.ok(!html.includes(HOSTILE_CHECK), 'the hostile check name is in the page raw');
  assert.ok(html.includes('<td>&#60;script&#62;alert(1)&#60;/script&#62;</td>'));
  assert.ok(!html.includes('alert(2)</script>'), 'the hostile trend name closed a script element');
  // every </script> in the page ends one of the three script elements this module wrote
  assert.equal(html.match(/<\/script/gi)?.length, 3);
  assert.ok(html.includes('wsgate_<\\/script><script>alert(2)<\\/script>'), 'the JSON block escapes </');

  assert.match(rowOf(html, 'wsgate_delivery'), /<td class="status nodata">no data<\/td>/);
  assert.match(rowOf(html, 'checks{scenario:&#60;script&#62;alert(1)&#60;/script&#62;}'), /<td class="status nodata">no data<\/td>/);
  assert.match(rowOf(html, 'wsgate_event_latency'), /251\.5 ms<\/td><td class="status fail">FAIL<\/td>/);
  assert.match(rowOf(html, 'ws_connecting'), /<td class="status pass">pass<\/td>/);
  assert.match(rowOf(html, HOSTILE_CHECK.replace(/</g, '&#60;').replace(/>/g, '&#62;')), /<td class="num">3<\/td><td class="num">1<\/td><td class="num">75%<\/td>/);
  assert.ok(html.includes('<td>agent_events › all five events arrive</td>'));

  assert.equal(html.match(/data-chart>/g)?.length, EXPECTED_CHARTS);
  assert.match(html, /<figcaption>wsgate_idle_probe \(ms\)<\/figcaption><p>not recorded in this run<\/p>/);
  assert.match(html, /<p class="verdict fail">fail<\/p>/);
});

test('a run without the load gauges says so instead of drawing an empty chart', () => {
  const html = renderReport(input({ gauges: false }));
  assert.match(html, /<figcaption>VUs and WebSocket connections open<\/figcaption><p>not recorded in this run<\/p>/);
  assert.equal(html.match(/data-chart>/g)?.length, EXPECTED_CHARTS - 1);

  const one = input();
  for (const p of one.points) delete p.total['wsgate_connections_open'];
  const partial = renderReport(one);
  assert.match(partial, /<p class="note">wsgate_connections_open: not recorded in this run<\/p>/);
  assert.equal(partial.match(/data-chart>/g)?.length, EXPECTED_CHARTS);

  const empty = renderReport({ ...input(), points: [], summary: { metrics: {}, root_group: { name: '', checks: [] } }, thresholdResults: [], verdict: 'no verdict' });
  assert.equal(empty.match(/data-chart>/g), null);
  assert.equal(empty.match(/not recorded in this run/g)?.length, 3);
  assert.match(empty, /No checks ran/);
  assert.match(empty, /<p class="verdict nodata">no verdict<\/p>/);
});

test('Chromium draws every chart offline, without errors', async (t) => {
  const bin = chromiumOrSkip(t);
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderReport(input()));
  const { page, errors, network, close } = await openOffline(bin, file);
  try {
    await page.waitForSelector('body[data-charts-drawn]', { timeout: 15_000 });

    assert.equal(await page.getAttribute('body', 'data-charts-drawn'), String(EXPECTED_CHARTS));
    // pixels in the series' colours, not just axes and grid (those are grey), in each chart's canvas
    const coloured = await colouredPixelsPerChart(page);
    assert.equal(coloured.length, EXPECTED_CHARTS);
    for (const [i, n] of coloured.entries()) assert.ok(n > 500, `chart ${i} has only ${n} coloured pixels`);

    // the hostile names reached the page as text
    const texts = await page.evaluate<string>('document.body.innerText');
    assert.ok(texts.includes('<script>alert(1)</script>'));
    assert.ok(texts.includes('wsgate_</script><script>alert(2)</script> (ms)'));
    assert.ok(await page.$(`[aria-label="${HOSTILE_TREND.replace(/"/g, '\\"')} (ms)"]`), 'the JSON block carried the hostile name intact');
    assert.deepEqual(errors, []);
    assert.deepEqual(network, []);
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});
