/**
 * End to end: the real CLI (`node bin/wsgate.mjs monitor`) on the monitoring bundle, on wsgate's own
 * engine (or WSGATE_ENGINE's), against the embedded reference service with its admin endpoint.
 *
 * The fault test: monitoring starts on a healthy service; after the first healthy window the test
 * switches `missing_agent_events` on through the admin endpoint and requires the critical
 * agent_event_completion alert within two windows and its delivery to a local webhook receiver; then
 * switches it off and requires the recovery (RESOLVED, then a healthy window), and finds all of it in
 * the timeline. The Ctrl-C test interrupts a run and requires a complete timeline and exit 130; with
 * WSGATE_K6 set it runs once more with --engine k6 (k6's own graceful stop), skipped with one line
 * otherwise.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXIT } from '../../cli/main.ts';
import type { TimelineRecord } from '../../cli/monitor/timeline.ts';
import { k6Skip } from '../helpers/k6.ts';
import { LiveProcess, buildIfStale } from '../helpers/wsgate-process.ts';
import { BIN, STACK_FRAME, cleanEnv, tempDir } from './helpers.ts';

const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';
const WINDOW_LINE = /^\d\d:\d\d:\d\d window (\d+) {2}(healthy|degraded|unhealthy) /;

/** A running `wsgate monitor` whose output can be awaited as it grows, with its lines and windows. */
class Cli extends LiveProcess {
  constructor(args: string[]) {
    super('wsgate monitor', process.execPath, [BIN, 'monitor', ...args], { env: cleanEnv([], { WSGATE_ADMIN_TOKEN: ADMIN_TOKEN }) });
  }

  get lines(): string[] {
    return this.out.split('\n').filter(Boolean);
  }

  /** Windows printed so far: [index, status]. */
  get windows(): [number, string][] {
    return this.lines.flatMap((l) => {
      const m = WINDOW_LINE.exec(l);
      return m ? [[Number(m[1]), m[2] ?? ''] as [number, string]] : [];
    });
  }
}

async function admin(url: string, method: 'PUT' | 'DELETE', fault: string): Promise<void> {
  const res = await fetch(`${url}/faults/${fault}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, `${method} ${fault}`);
  await res.body?.cancel();
}

/** The exit code, or 'timeout' after `ms` (the timer does not keep the test process alive). */
function exitWithin(cli: Cli, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  return Promise.race([cli.exited, timeout]).finally(() => clearTimeout(timer));
}

function timeline(file: string): TimelineRecord[] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as TimelineRecord);
}

/** The index of the window holding time `at`, from window 1's start in the timeline and the window length. */
function windowAt(file: string, at: number): number {
  const t = timeline(file);
  const header = t[0];
  const first = t.find((r) => r.type === 'window' && r.index === 1);
  assert.ok(header?.type === 'header' && first?.type === 'window', 'the timeline has its header and window 1');
  return Math.floor((at - Date.parse(first.start)) / (header.window_s * 1000)) + 1;
}

interface Payload {
  text: string;
  attachments: { color: string; fields: { title: string; value: string }[] }[];
}

before(buildIfStale);

/** Ctrl-C mid-run on the engine `flags` pick: a prompt graceful stop, a complete timeline, exit 130. */
async function interruptedRun(flags: string[]): Promise<void> {
  const dir = tempDir('wsgate-monitor-e2e-int-');
  const out = join(dir, 'timeline.jsonl');
  const cli = new Cli([...flags, '--env', 'local', '--embedded-target', '--duration', '2m', '--window', '3s', '--output-file', out, '--results-dir', dir]);
  after(() => cli.child.kill('SIGKILL'));
  await cli.until('two windows', 60_000, () => (cli.windows.length >= 2 ? true : undefined));
  const sentAt = Date.now();
  cli.child.kill('SIGINT');
  const code = await exitWithin(cli, 30_000);
  assert.equal(code, EXIT.INTERRUPTED, `${cli.out}\n${cli.err}`);
  assert.ok(Date.now() - sentAt < 15_000, 'a first Ctrl-C ends the run promptly');
  assert.match(cli.err, /SIGINT: asking (k6|the run) to stop gracefully/);
  assert.match(cli.lines.at(-1) ?? '', /^wsgate: INTERRUPTED monitoring \(env local\): stopped by Ctrl-C; the timeline is complete up to then/);
  const t = timeline(out);
  assert.equal(t[0]?.type, 'header');
  assert.ok(t.filter((r) => r.type === 'window').length >= 2);
  const summary = t.at(-1);
  assert.ok(summary?.type === 'summary' && summary.interrupted && summary.exit_code === EXIT.INTERRUPTED, JSON.stringify(summary));
  assert.ok(t.some((r) => r.type === 'event' && r.what === 'interrupted'));
}

describe('wsgate monitor, end to end', { concurrency: true, timeout: 5 * 60_000 }, () => {
  test('a fault switched on mid-run raises the critical alert within two windows, reaches the webhook, and its recovery is reported', async () => {
    const dir = tempDir('wsgate-monitor-e2e-');
    const received: Payload[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as Payload);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    after(() => receiver.close());
    const hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks/e2e`;
    const out = join(dir, 'timeline.jsonl');
    // The webhook URL is a credential: from a file, never on the command line.
    const hookFile = join(dir, 'webhook-url');
    writeFileSync(hookFile, `${hook}\n`);

    const cli = new Cli(['--env', 'local', '--embedded-target', '--admin', '--duration', '40s', '--window', '5s', '--webhook-file', hookFile, '--output-file', out, '--results-dir', dir]);
    after(() => cli.child.kill('SIGKILL'));
    const adminUrl = await cli.until('the admin URL on stderr', 60_000, () => /admin endpoint of the embedded service: (http:\/\/127\.0\.0\.1:\d+\/admin)/.exec(cli.err)?.[1]);

    // 1. Healthy first.
    const firstHealthy = await cli.until('a first healthy window', 30_000, () => cli.windows.find(([, s]) => s === 'healthy'));
    assert.deepEqual(cli.windows.filter(([, s]) => s !== 'healthy'), [], 'nothing but healthy windows before the fault');

    // 2. Fault on. Which window it went on in is worked out from the timeline's window times (same clock).
    const onAt = Date.now();
    await admin(adminUrl, 'PUT', 'missing_agent_events');
    const onDuring = windowAt(out, onAt);
    assert.ok(onDuring > firstHealthy[0], 'the fault went on after the first healthy window');
    const alertWindow = await cli.until('the critical agent_event_completion alert', 25_000, () => {
      const m = /^ALERT critical agent_event_completion \d+\.\d% < 85% \(window (\d+)\)$/m.exec(cli.out);
      return m ? Number(m[1]) : undefined;
    });
    assert.ok(alertWindow <= onDuring + 1, `alert in window ${alertWindow}; the fault went on during window ${onDuring}, so within two windows means by ${onDuring + 1}`);
    const delivered = await cli.until('the alert at the webhook receiver', 10_000, () => received.find((p) => p.text.includes('ALERT critical agent_event_completion')));
    assert.match(delivered.text, /^wsgate monitor: ALERT critical agent_event_completion /);
    assert.equal(delivered.attachments[0]?.color, '#d1242f');
    assert.deepEqual(delivered.attachments[0]?.fields.find((f) => f.title === 'Environment')?.value, 'local');

    // 3. Fault off: a RESOLVED line (the alert may step down to a warning on the way), then a healthy window.
    const offAt = Date.now();
    await admin(adminUrl, 'DELETE', 'missing_agent_events');
    const offDuring = windowAt(out, offAt);
    const resolvedWindow = await cli.until('the recovery', 25_000, () => {
      const m = /^RESOLVED (?:critical|warning) agent_event_completion \d+\.\d% \(window (\d+), alerting since window (\d+)\)$/m.exec(cli.out);
      return m ? Number(m[1]) : undefined;
    });
    assert.ok(resolvedWindow >= offDuring, `resolved in window ${resolvedWindow}, after the fault went off during window ${offDuring}`);
    await cli.until('a healthy window after the recovery', 15_000, () => cli.windows.find(([i, s]) => i >= resolvedWindow && s === 'healthy'));

    // 4. The run ends by itself; a critical alert fired, so the verdict is 1.
    const code = await exitWithin(cli, 60_000);
    assert.equal(code, EXIT.FAIL, `${cli.out}\n${cli.err}`);
    assert.doesNotMatch(cli.out + cli.err, STACK_FRAME);
    assert.ok(!(cli.out + cli.err).includes(ADMIN_TOKEN), 'the admin token is never printed');
    assert.match(cli.lines.at(-1) ?? '', /^wsgate: FAIL monitoring \(env local\) — \d+ windows .*\(1 critical: agent_event_completion\)/);
    assert.ok(received.some((p) => /RESOLVED \w+ agent_event_completion/.test(p.text)), 'the recovery reached the webhook too');
    assert.ok(!JSON.stringify(received).includes(ADMIN_TOKEN));

    // 5. The timeline holds all of it, in order, header first and summary last.
    const t = timeline(out);
    assert.equal(t[0]?.type, 'header');
    const summary = t.at(-1);
    assert.ok(summary?.type === 'summary', 'summary last');
    assert.equal(summary.exit_code, EXIT.FAIL);
    assert.equal(summary.interrupted, false);
    const windows = t.filter((r) => r.type === 'window');
    assert.equal(windows.length, cli.windows.length, 'every printed window is in the timeline');
    // A run that never completes reports at its deadline (5 s here), so the fault's tail can bring a warning
    // back for a window after the first recovery; what must hold is: it fired critical, it resolved, it ended resolved.
    const alerts = t.flatMap((r) => (r.type === 'alert' && r.metric === 'agent_event_completion' ? [[r.state, r.level, r.window] as const] : []));
    const story = JSON.stringify(alerts);
    assert.deepEqual(alerts[0], ['fired', 'critical', alertWindow], story);
    assert.ok(alerts.some(([state, , w]) => state === 'resolved' && w === resolvedWindow), story);
    assert.equal(alerts.at(-1)?.[0], 'resolved', story);
    assert.ok(!summary.alerts.active_at_end.some((a) => a.metric === 'agent_event_completion'));
    assert.ok(summary.webhook && summary.webhook.delivered >= 2 && summary.webhook.failed === 0, JSON.stringify(summary.webhook));
  });

  test('Ctrl-C mid-run: the engine stops gracefully, the timeline has its header, windows and summary, exit 130', () => interruptedRun([]));
});

describe('wsgate monitor --engine k6, end to end with the k6 at WSGATE_K6', { timeout: 5 * 60_000, skip: k6Skip() }, () => {
  test('Ctrl-C mid-run: k6 stops gracefully, the timeline has its header, windows and summary, exit 130', () => interruptedRun(['--engine', 'k6']));
});
