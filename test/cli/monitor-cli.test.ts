/**
 * `wsgate monitor` through main(), in-process: usage and configuration mistakes are one sentence and
 * exit 2; with --engine k6 (WSGATE_ENGINE=k6) and a fake k6 that streams JSON lines in k6's schema in
 * real time to its --out file, the whole command (tailing, windows, alerts, webhook, timeline, exit
 * codes, Ctrl-C) runs in seconds. Both engines write that schema, so this is the plumbing of both;
 * the real suite runs on the wsgate engine (and on k6 when WSGATE_K6 is set) in monitor.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, main } from '../../cli/main.ts';
import type { TimelineRecord } from '../../cli/monitor/timeline.ts';
import { SECRET, capture, nodeScript, runMain, tempDir } from './helpers.ts';
import { T0, probe, toText, vus } from './monitor-helpers.ts';

const BASE: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'] };
const MINT = { ...BASE, WSGATE_JWT_SECRET: SECRET };
const dir = tempDir('wsgate-monitor-cli-');

/**
 * A k6 stand-in: `version` answers v2.2.0; `run` records its arguments and environment, then writes the
 * lines of FAKE_K6_STREAM to its --out json= file in real time (each line's time, relative to T0, is
 * moved to the next whole second), then exits FAKE_K6_EXIT; with FAKE_K6_WAIT_SIGNAL it waits for SIGINT after writing
 * and exits 105 like k6's graceful stop.
 */
const FAKE = nodeScript(
  join(dir, 'k6'),
  `const fs = require('fs');
const args = process.argv.slice(2);
if (args[0] === 'version') { console.log('k6 v2.2.0 (go1.26.0, linux/amd64)'); process.exit(0); }
const e = process.env;
fs.writeFileSync(e.FAKE_K6_LOG, JSON.stringify({ args, env: e }));
const out = args.find((a) => a.startsWith('json=')).slice(5);
const lines = e.FAKE_K6_STREAM ? fs.readFileSync(e.FAKE_K6_STREAM, 'utf8').split('\\n').filter(Boolean) : [];
const T0 = ${T0};
// T0 is a whole second, and so is the moved start: window 1 is then a whole window, as with real k6 most of the time.
const start = Math.ceil(Date.now() / 1000) * 1000;
fs.writeFileSync(out, '');
console.log('fake k6 summary');
let i = 0;
function pump() {
  const now = Date.now();
  let chunk = '';
  while (i < lines.length) {
    const o = JSON.parse(lines[i]);
    const at = Date.parse(o.data.time) - T0 + start;
    if (at > now) break;
    o.data.time = new Date(at).toISOString();
    chunk += JSON.stringify(o) + '\\n';
    i++;
  }
  if (chunk) fs.appendFileSync(out, chunk);
  if (i < lines.length) return setTimeout(pump, 50);
  if (e.FAKE_K6_WAIT_SIGNAL) {
    process.on('SIGINT', () => setTimeout(() => process.exit(105), 100));
    fs.writeFileSync(e.FAKE_K6_LOG + '.ready', '');
    setInterval(() => {}, 1000);
  } else process.exit(Number(e.FAKE_K6_EXIT || 0));
}
pump();`,
);

let n = 0;
function fakeEnv(stream: string[], extra: NodeJS.ProcessEnv = {}): { env: NodeJS.ProcessEnv; log: string } {
  n++;
  const file = join(dir, `stream-${n}.jsonl`);
  writeFileSync(file, toText(stream));
  const log = join(dir, `k6-${n}.json`);
  return { env: { ...BASE, WSGATE_ENGINE: 'k6', WSGATE_K6: FAKE, FAKE_K6_STREAM: file, FAKE_K6_LOG: log, ...extra }, log };
}

/** Probes twice a second from `fromMs` to `toMs` after T0; every second run fails when `broken`. */
function probes(fromMs: number, toMs: number, broken = false): string[] {
  const out: string[] = [];
  for (let t = fromMs; t < toMs; t += 500) {
    out.push(...probe(T0 + t, { completed: !broken || t % 1000 !== 0 }));
    if (t % 1000 === 0) out.push(vus(T0 + t));
  }
  return out;
}

const run = runMain;

function timeline(file: string): TimelineRecord[] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as TimelineRecord);
}

describe('wsgate monitor: usage and configuration errors are one sentence, exit 2', { concurrency: true }, () => {
  const cases: [string, string[], NodeJS.ProcessEnv, string][] = [
    ['no --duration', ['monitor', '--env', 'local'], MINT, '--duration is required; say how long to monitor, e.g. --duration 30m'],
    ['a duration k6 would not take', ['monitor', '--duration', '10min'], MINT, '--duration is "10min"; it must be a duration such as 90s, 30m or 1h30m'],
    ['an unknown sensitivity', ['monitor', '--duration', '1m', '--alert-threshold', 'max'], MINT, '--alert-threshold is "max"; it must be one of low, medium, high'],
    ['a window under a second', ['monitor', '--duration', '1m', '--window', '0s'], MINT, '--window is "0s"; it must be a duration such as 90s, 30m or 1h30m'],
    ['a bad rollback limit', ['monitor', '--duration', '1m', '--rollback-after', 'soon'], MINT, '--rollback-after is "soon"; it must be a duration such as 90s, 30m or 1h30m'],
    [
      '--fault without --embedded-target',
      ['monitor', '--duration', '1m', '--fault', 'missing_agent_events'],
      MINT,
      '--fault only applies to the embedded reference service; add --embedded-target, or drop --fault to monitor a deployed service',
    ],
    [
      '--admin without its token',
      ['monitor', '--duration', '1m', '--embedded-target', '--admin'],
      BASE,
      "--admin needs the admin endpoint's token in WSGATE_ADMIN_TOKEN (at least 16 characters), e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16)",
    ],
    ['an unknown environment', ['monitor', '--duration', '1m', '--env', 'qa'], MINT, 'unknown environment "qa"; choose one of local, staging, production (config/environments.json)'],
    ['an unknown engine (before the pre-flight)', ['monitor', '--duration', '1m', '--engine', 'bogus'], MINT, '--engine is "bogus"; use wsgate (the default) or k6'],
    ['an unknown option', ['monitor', '--duration', '1m', '--interval', '5s'], MINT, 'unknown option --interval for wsgate monitor; run wsgate monitor --help for the options'],
  ];
  for (const [name, argv, env, sentence] of cases) {
    test(name, async () => {
      const r = await run(argv, env);
      assert.equal(r.code, EXIT.USAGE, r.all);
      assert.equal(r.out, '');
      assert.equal(r.err, `wsgate: ${sentence}\n`);
    });
  }

  test('--webhook URL is refused (a credential in the process list) without repeating it; the URL comes from a file or the environment', async () => {
    const flag = await run(['monitor', '--duration', '1m', '--webhook', 'https://hooks.slack.com/services/T0/B0/SECRETPART'], MINT);
    assert.equal(flag.code, EXIT.USAGE);
    assert.equal(
      flag.err,
      'wsgate: --webhook is not accepted because a webhook URL is a credential and the command line shows in the process list; set WSGATE_WEBHOOK_URL or pass --webhook-file FILE instead\n',
    );
    assert.doesNotMatch(flag.all, /SECRETPART/);
    const file = join(dir, 'bad-webhook');
    writeFileSync(file, 'hooks.slack.com/services/T0/B0/SECRETPART\n');
    const fromFile = await run(['monitor', '--duration', '1m', '--webhook-file', file], MINT);
    assert.equal(fromFile.code, EXIT.USAGE);
    assert.equal(fromFile.err, `wsgate: the content of --webhook-file ${file} is not an http:// or https:// URL; pass the webhook URL, e.g. https://hooks.slack.com/services/...\n`);
    assert.doesNotMatch(fromFile.all, /SECRETPART/);
    const missing = await run(['monitor', '--duration', '1m', '--webhook-file', join(dir, 'no-such-file')], MINT);
    assert.equal(missing.code, EXIT.USAGE);
    assert.equal(missing.err, `wsgate: --webhook-file ${join(dir, 'no-such-file')} cannot be read (ENOENT); pass the path of a file holding the webhook URL\n`);
    const userinfo = await run(['monitor', '--duration', '1m'], { ...MINT, WSGATE_WEBHOOK_URL: 'https://hook:SECRETPART@hooks.example/x' });
    assert.equal(userinfo.code, EXIT.USAGE);
    assert.equal(
      userinfo.err,
      "wsgate: WSGATE_WEBHOOK_URL has user info (user:password@), which an HTTP client cannot send in a URL; put the credential in the webhook's path or query, as Slack does\n",
    );
    assert.doesNotMatch(userinfo.all, /SECRETPART/);
    const fromEnv = await run(['monitor', '--duration', '1m'], { ...MINT, WSGATE_WEBHOOK_URL: 'ftp://hooks.example/SECRETPART' });
    assert.equal(fromEnv.code, EXIT.USAGE);
    assert.equal(fromEnv.err, 'wsgate: WSGATE_WEBHOOK_URL is not an http:// or https:// URL; pass the webhook URL, e.g. https://hooks.slack.com/services/...\n');
    assert.doesNotMatch(fromEnv.all, /SECRETPART/);
  });

  test('--help documents the options, the window line and every exit code', async () => {
    const r = await run(['monitor', '--help'], BASE);
    assert.equal(r.code, EXIT.PASS);
    for (const s of ['--alert-threshold S', '--webhook-file FILE', '--rollback-after D', '--window D', 'window 3  healthy', 'Exit codes:', '  0 ', '  1 ', '  2 ', '  3 ', '  4 ', '  130 ']) {
      assert.ok(r.out.includes(s), `help mentions ${JSON.stringify(s)}`);
    }
    const viaHelp = await run(['help', 'monitor'], BASE);
    assert.equal(viaHelp.out, r.out);
  });
});

// One at a time: the Ctrl-C test signals this whole process, which every running monitor would hear.
describe('wsgate monitor with a fake k6 streaming JSON', { concurrency: false }, () => {
  test('healthy: window lines on stdout, k6 configured through its environment, timeline complete, exit 0', async () => {
    const out = join(dir, 'healthy.jsonl');
    const { env, log } = fakeEnv(probes(0, 3500));
    const r = await run(['monitor', '--env', 'local', '--embedded-target', '--duration', '3s', '--window', '1s', '--output-file', out, '--results-dir', join(dir, 'r1')], env);
    assert.equal(r.code, EXIT.PASS, r.all);
    const lines = r.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^\d\d:\d\d:\d\d window 1 {2}healthy {4}conn 100\.0% \(2\) {2}events 100\.0% \(2\) /);
    assert.match(lines.at(-1) ?? '', /^wsgate: PASS monitoring \(env local\) — 4 windows \(4 healthy, 0 degraded, 0 unhealthy, 1 partial\); 0 alerts fired, 0 resolved; no rollback — timeline: /);
    assert.match(r.err, /fake k6 summary/, "k6's own output goes to stderr");
    assert.doesNotMatch(r.out, /fake k6 summary/);

    const k6 = JSON.parse(readFileSync(log, 'utf8')) as { args: string[]; env: Record<string, string> };
    assert.equal(k6.args[0], 'run');
    assert.ok(k6.args.includes('--quiet'));
    assert.match(k6.args.find((a) => a.startsWith('json=')) ?? '', /^json=.*wsgate-monitor-.*k6\.json$/);
    assert.match(k6.args.at(-1) ?? '', /dist\/monitoring\.js$/);
    assert.ok(!k6.args.includes('-e'), 'no configuration on the command line');
    assert.equal(k6.env['WSGATE_MONITOR_DURATION'], '3s');
    assert.equal(k6.env['WSGATE_ENV'], 'local');
    assert.equal(k6.env['WSGATE_OUTPUT_FILE'], undefined, 'k6 must not write its summary over the timeline');
    assert.match(k6.env['WSGATE_WS_URL'] ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);

    const t = timeline(out);
    assert.equal(t[0]?.type, 'header');
    assert.ok(t[0]?.type === 'header' && t[0].env === 'local' && t[0].sensitivity === 'medium' && t[0].window_s === 1);
    assert.deepEqual(t.filter((x) => x.type === 'window').map((x) => x.type === 'window' && x.status), ['healthy', 'healthy', 'healthy', 'healthy']);
    const last = t.at(-1);
    assert.ok(last?.type === 'summary');
    assert.equal(last.exit_code, 0);
    assert.equal(last.rollback_recommended, false);
    assert.deepEqual(last.k6_exit, { code: 0, signal: null });
  });

  test('a broken stream: critical alert on stdout and to the webhook, exit 1; k6 exit 99 (failed checks) is still a run', async () => {
    const got: { text: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push(JSON.parse(body) as { text: string });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const out = join(dir, 'broken.jsonl');
    // The webhook from the environment (it is a credential), which k6 must not be handed.
    const { env, log } = fakeEnv([...probes(0, 1000), ...probes(1000, 3000, true)], { FAKE_K6_EXIT: '99', WSGATE_WEBHOOK_URL: `http://127.0.0.1:${port}/hook` });
    const r = await run(['monitor', '--embedded-target', '--duration', '3s', '--window', '1s', '--rollback-after', '1s', '--output-file', out, '--results-dir', join(dir, 'r2')], env);
    assert.equal((JSON.parse(readFileSync(log, 'utf8')) as { env: Record<string, string> }).env['WSGATE_WEBHOOK_URL'], undefined);
    assert.equal(r.code, EXIT.FAIL, r.all);
    assert.match(r.out, /^ALERT critical agent_event_completion 50\.0% < 85% \(window 2\)$/m);
    assert.match(r.out, /^ROLLBACK RECOMMENDED: degraded or worse for \ds \(since window 2, /m);
    assert.match(r.out, /^wsgate: FAIL monitoring \(env local\) — .* \(1 critical: agent_event_completion\), 0 resolved; ROLLBACK RECOMMENDED — /m);
    const texts = got.map((g) => g.text);
    assert.ok(texts.includes('wsgate monitor: ALERT critical agent_event_completion 50.0% < 85% (window 2)'), texts.join('\n'));
    assert.ok(texts.some((x) => x.startsWith('wsgate monitor: ROLLBACK RECOMMENDED')));
    const t = timeline(out);
    assert.deepEqual(t.filter((x) => x.type === 'rollback').length, 1);
    const last = t.at(-1);
    assert.ok(last?.type === 'summary' && last.exit_code === 1 && last.rollback_recommended && last.webhook?.failed === 0);
  });

  test('k6 aborts before any sample (exit 108): no verdict, exit 4, the timeline says why', async () => {
    const out = join(dir, 'aborted.jsonl');
    const { env } = fakeEnv([], { FAKE_K6_EXIT: '108' });
    const r = await run(['monitor', '--embedded-target', '--duration', '3s', '--output-file', out, '--results-dir', join(dir, 'r3')], env);
    assert.equal(r.code, EXIT.ERROR, r.all);
    assert.match(r.out, /^wsgate: ERROR monitoring \(env local\): the run exited with code 108, the test aborted \(its reason is in the (?:k6 )?output above\); no verdict — 0 windows/m);
    const t = timeline(out);
    assert.deepEqual(t.map((x) => x.type), ['header', 'event', 'event', 'summary']);
  });

  test('Ctrl-C: forwarded to k6 once, the timeline gets its windows and a summary, exit 130', async () => {
    const out = join(dir, 'interrupted.jsonl');
    const { env, log } = fakeEnv(probes(0, 2500), { FAKE_K6_WAIT_SIGNAL: '1' });
    const listenersBefore = process.listenerCount('SIGINT');
    const c = capture();
    const running = main(['monitor', '--embedded-target', '--duration', '1m', '--window', '1s', '--output-file', out, '--results-dir', join(dir, 'r4')], env, c.io);
    for (let i = 0; i < 200; i++) {
      try {
        readFileSync(`${log}.ready`);
        break;
      } catch {
        await sleep(50);
      }
    }
    process.kill(process.pid, 'SIGINT');
    const code = await running;
    assert.equal(code, EXIT.INTERRUPTED, c.all());
    assert.match(c.out(), /^wsgate: INTERRUPTED monitoring \(env local\): stopped by Ctrl-C; the timeline is complete up to then — \d+ windows/m);
    const t = timeline(out);
    assert.equal(t[0]?.type, 'header');
    assert.ok(t.filter((x) => x.type === 'window').length >= 2);
    const last = t.at(-1);
    assert.ok(last?.type === 'summary' && last.interrupted && last.exit_code === 130);
    assert.equal(process.listenerCount('SIGINT'), listenersBefore, 'every handler is removed afterwards');
  });
});
