/**
 * `wsgate regression` and `wsgate drop-relay` in-process, the runs with --engine k6 (WSGATE_ENGINE=k6)
 * and a fake k6 that records what it was given: the selection and every configuration mistake fail in
 * one sentence before anything heavy; with --embedded-target every URL the engine gets leads through
 * nginx and the drop relay, and everything started is closed afterwards on every path (the engine's
 * exit, nginx failing, Ctrl-C before and during the run). This is CLI plumbing, the same for both
 * engines; the real suite runs on the wsgate engine (and on k6 when WSGATE_K6 is set) in
 * regression.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, main } from '../../cli/main.ts';
import { parseSoak, relayedWsUrl } from '../../cli/regression.ts';
import { REGRESSIONS, REGRESSION_NAMES } from '../../lib/core/regressions.ts';
import { findNginx } from '../../reference-service/nginx.ts';
import { startTarget } from '../../reference-service/service.ts';
import { nginxSkip } from '../helpers/nginx.ts';
import { isAlive } from '../helpers/wsgate-process.ts';
import { SECRET, capture, closedPort, fakeK6Runner, runMain, tempDir, writeExecutable } from './helpers.ts';

const BASE: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'] };
const MINT = { ...BASE, WSGATE_JWT_SECRET: SECRET };
/**
 * k6 asked for, with a WSGATE_K6 that is no program: if the CLI got as far as choosing an engine, it
 * would fail loudly (exit 4, a sentence about WSGATE_K6), so exit 2 with the expected sentence proves
 * it stopped before. (The wsgate engine needs no looking for, so it could not prove this.)
 */
const NO_K6 = { WSGATE_ENGINE: 'k6', WSGATE_K6: '/nonexistent/k6' };
/** The fake k6 runs suites: --engine k6 by the environment, as a CI job would set it. */
const K6 = { WSGATE_ENGINE: 'k6' };

/** Skip only on a developer machine without nginx; in CI a missing nginx is a failure. */
const skip = nginxSkip();
/** The real nginx, which the fake one below execs (only read by tests that skip without one). */
const nginxPath = skip === false ? findNginx() : 'nginx';

const run = runMain;

async function expectOneSentence(argv: string[], env: NodeJS.ProcessEnv, code: number, sentence: RegExp | string): Promise<void> {
  const r = await run(argv, env);
  assert.equal(r.code, code, r.all);
  assert.equal(r.out, '');
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.err}`);
  if (typeof sentence === 'string') assert.equal(lines[0], `wsgate: ${sentence}`);
  else assert.match(lines[0] ?? '', sentence);
}

/** Resolves true when nothing accepts a TCP connection at host:port any more. */
function refuses(hostPort: string): Promise<boolean> {
  const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
const hostPortOf = (url: string): string => new URL(url).host;


const VALID = REGRESSION_NAMES.join(', ');

describe('regression: the selection and the configuration fail in one sentence, exit 2, before k6 is looked for', { concurrency: true }, () => {
  test('an unknown test name lists the valid ones', () =>
    expectOneSentence(
      ['regression', '--embedded-target', '--test', 'websocket_403_handshake_regression,jwt_regression'],
      { ...BASE, ...NO_K6 },
      EXIT.USAGE,
      `unknown regression test "jwt_regression"; valid names are ${VALID}`,
    ));

  test('unknown names from WSGATE_TESTS too, and several at once', () =>
    expectOneSentence(['regression', '--env', 'local'], { ...MINT, ...NO_K6, WSGATE_TESTS: 'a,b' }, EXIT.USAGE, `unknown regression tests "a", "b"; valid names are ${VALID}`));

  test('--critical-only leaving nothing to run', () =>
    expectOneSentence(['regression', '--embedded-target', '--critical-only', '--test', 'connection_leak_regression'], { ...BASE, ...NO_K6 }, EXIT.USAGE, /leaves no test to run; drop --critical-only or pick a critical test$/));

  test('--lb without --embedded-target', () =>
    expectOneSentence(['regression', '--lb', 'none'], { ...MINT, ...NO_K6 }, EXIT.USAGE, '--lb only applies to the embedded reference service; add --embedded-target, or drop --lb to test a deployed service'));

  test('--fault without --embedded-target', () =>
    expectOneSentence(['regression', '--fault', 'idle_timeout'], { ...MINT, ...NO_K6 }, EXIT.USAGE, /^wsgate: --fault only applies to the embedded reference service;/));

  test('an unknown --lb', () => expectOneSentence(['regression', '--embedded-target', '--lb', 'sometimes'], { ...BASE, ...NO_K6 }, EXIT.USAGE, '--lb is "sometimes"; choose healthy, broken, none'));

  test('an unknown fault', () =>
    expectOneSentence(['regression', '--embedded-target', '--fault', 'slow'], { ...BASE, ...NO_K6 }, EXIT.USAGE, /^wsgate: unknown fault "slow"; choose one of handshake_403, /));

  test('a bad --soak', () =>
    expectOneSentence(['regression', '--embedded-target', '--soak', 'forever'], { ...BASE, ...NO_K6 }, EXIT.USAGE, '--soak is "forever"; give a duration from 1s to 7 days, e.g. 4h, 90m, 1h30m or 600s'));

  test('--soak when the load-balancer test is not selected', () =>
    expectOneSentence(
      ['regression', '--embedded-target', '--soak', '4h', '--test', 'websocket_403_handshake_regression'],
      { ...BASE, ...NO_K6 },
      EXIT.USAGE,
      '--soak only lengthens load_balancer_timeout_regression, which this selection leaves out; add it to --test, or drop --soak',
    ));

  test('a wss:// service with the leak test selected is not refused: no relay is started, the suite reports the test not applicable', async () => {
    // Past every usage check: the pre-flight is what stops it (a closed port), exit 3, not 2.
    const port = await closedPort();
    const r = await run(['regression', '--env', 'staging'], { ...MINT, ...NO_K6, WSGATE_TOKEN_SOURCE: 'mint', WSGATE_HTTP_URL: `http://127.0.0.1:${port}`, WSGATE_AUTH_URL: `http://127.0.0.1:${port}` });
    assert.equal(r.code, EXIT.UNREACHABLE, r.all);
    assert.doesNotMatch(r.all, /needs a drop relay/);
  });

  test('only one of the two relay variables', () =>
    expectOneSentence(
      ['regression'],
      { ...MINT, ...NO_K6, WSGATE_DROP_RELAY_WS_URL: 'ws://127.0.0.1:1/ws' },
      EXIT.USAGE,
      /^wsgate: WSGATE_DROP_RELAY_WS_URL is set without WSGATE_DROP_RELAY_CONTROL_URL; set both/,
    ));

  test('the refresh test without WSGATE_JWT_SECRET is not refused: the suite reports it not applicable', async () => {
    const port = await closedPort();
    const r = await run(['regression', '--test', 'auth_token_refresh_regression'], { ...BASE, ...NO_K6, WSGATE_TOKEN_SOURCE: 'auth', WSGATE_HTTP_URL: `http://127.0.0.1:${port}` });
    assert.equal(r.code, EXIT.UNREACHABLE, r.all);
    assert.doesNotMatch(r.all, /needs WSGATE_JWT_SECRET/);
  });

  test('an unknown engine, for a deployed service: before the pre-flight', () =>
    expectOneSentence(['regression', '--env', 'local'], { ...MINT, WSGATE_ENGINE: 'bogus', WSGATE_HTTP_URL: 'http://127.0.0.1:1' }, EXIT.USAGE, 'WSGATE_ENGINE is "bogus"; use wsgate (the default) or k6'));

  test('--help lists the tests and the drop relay note', async () => {
    const r = await run(['regression', '--help'], BASE);
    assert.equal(r.code, EXIT.PASS);
    assert.match(r.out, /^Usage: wsgate regression /);
    for (const name of REGRESSION_NAMES) assert.ok(r.out.includes(name), name);
    assert.match(r.out, /against a deployed wss:\/\/ service it does not: .* The leak test is then "not applicable"/s);
    assert.equal(r.err, '');
  });
});

test('parseSoak and relayedWsUrl', () => {
  assert.equal(parseSoak('4h'), 14_400);
  assert.equal(parseSoak('90m'), 5400);
  assert.equal(parseSoak('1h30m'), 5400);
  assert.equal(parseSoak('600s'), 600);
  assert.equal(parseSoak('600'), 600);
  for (const bad of ['', '0s', '8d', '200h', '1.5h', 'h']) assert.throws(() => parseSoak(bad), /--soak is/, bad);
  assert.equal(relayedWsUrl('ws://127.0.0.1:8080/ws', '127.0.0.1:4000'), 'ws://127.0.0.1:4000/ws');
  assert.equal(relayedWsUrl('ws://chat.internal/chat/ws?v=2', '127.0.0.1:4000'), 'ws://127.0.0.1:4000/chat/ws?v=2');
});

interface K6Call {
  args: string[];
  env: Record<string, string | undefined>;
  probes: Record<string, { status?: number; lb?: string | null; body?: string; error?: string } | undefined>;
}

describe('regression with a fake k6', () => {
  const dir = tempDir();
  const log = join(dir, 'k6-call');
  const k6 = fakeK6Runner(join(dir, 'k6'), log);
  const results = join(dir, 'results');
  const readCall = (): K6Call => JSON.parse(readFileSync(`${log}.json`, 'utf8')) as K6Call;

  async function regressionWith(extra: string[], env: NodeJS.ProcessEnv = {}) {
    rmSync(`${log}.json`, { force: true });
    const r = await run(['regression', '--env', 'local', '--results-dir', results, ...extra], { ...BASE, ...K6, WSGATE_K6: k6, FAKE_K6_PROBE: '1', ...env });
    const call = existsSync(`${log}.json`) ? readCall() : undefined;
    if (call) assert.ok(!r.all.includes(call.env['WSGATE_JWT_SECRET'] ?? '<none>'), 'the generated secret is never printed');
    return { ...r, call };
  }

  test('--embedded-target: every URL leads through nginx (healthy), the relay sits in front of nginx, all closed afterwards', { skip }, async () => {
    const r = await regressionWith(['--embedded-target']);
    assert.equal(r.code, EXIT.PASS, r.all);
    const call = r.call as K6Call;
    const e = call.env;
    assert.match(call.args.at(-1) ?? '', /\/dist\/regression-prevention\.js$/);
    assert.deepEqual(call.args.slice(0, -1), ['run', '--quiet']);
    assert.equal(call.probes['lb']?.status, 204, 'WSGATE_HTTP_URL is nginx');
    assert.equal(call.probes['lb']?.lb, 'healthy');
    assert.equal(call.probes['auth']?.lb, 'healthy', 'WSGATE_AUTH_URL is nginx too (its own port)');
    assert.equal(call.probes['health']?.status, 200, 'and the service answers through it');
    const ws = e['WSGATE_WS_URL'] ?? '';
    assert.equal(hostPortOf(ws), hostPortOf(e['WSGATE_HTTP_URL'] ?? ''), 'ws and http on nginx\'s backend port');
    assert.notEqual(hostPortOf(e['WSGATE_AUTH_URL'] ?? ''), hostPortOf(ws));
    const relayWs = e['WSGATE_DROP_RELAY_WS_URL'] ?? '';
    assert.match(relayWs, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    assert.notEqual(hostPortOf(relayWs), hostPortOf(ws));
    assert.equal(call.probes['relay']?.status, 200);
    assert.deepEqual(JSON.parse(call.probes['relay']?.body ?? '{}'), { open: 0, total: 0 });
    assert.ok((e['WSGATE_JWT_SECRET'] ?? '').length >= 32);
    assert.equal(e['WSGATE_TESTS'], undefined);
    assert.match(r.err, /wsgate: testing env local: all 7 regression tests against the embedded reference service behind nginx \(healthy\) at ws:\/\/127\.0\.0\.1:\d+\/ws on the k6 v2\.2\.0 \(.*\/k6\)$/m);
    assert.match(r.out.trimEnd().split('\n').at(-1) ?? '', /^wsgate: PASS regression-prevention \(env local\) — results: .*regression-prevention-local-\d{8}T\d{6}Z\.json, .*\.junit\.xml$/);
    for (const url of [ws, e['WSGATE_HTTP_URL'], e['WSGATE_AUTH_URL'], relayWs, e['WSGATE_DROP_RELAY_CONTROL_URL']]) {
      assert.ok(await refuses(hostPortOf(url ?? '')), `${url} is closed after the run`);
    }
  });

  test('--lb none: the service directly; --lb broken: the broken nginx', { skip }, async () => {
    const none = await regressionWith(['--embedded-target', '--lb', 'none', '--test', 'connection_leak_regression']);
    assert.equal(none.code, EXIT.PASS, none.all);
    assert.equal(none.call?.probes['lb']?.status, 404, 'no nginx: the service itself answers');
    assert.equal(none.call?.probes['relay']?.status, 200);
    assert.match(none.err, /against the embedded reference service at ws:/);
    const broken = await regressionWith(['--embedded-target', '--lb', 'broken', '--fault', 'idle_timeout', '--test', 'load_balancer_timeout_regression']);
    assert.equal(broken.call?.probes['lb']?.lb, 'broken');
    assert.equal(broken.call?.env['WSGATE_DROP_RELAY_WS_URL'], undefined, 'no relay when the leak test is not selected');
    assert.match(broken.err, /1 of 7 regression tests \(load_balancer_timeout_regression\) against the embedded reference service \(faults: idle_timeout\) behind nginx \(broken\)/);
  });

  test('flags reach k6 as its environment, and win over the shell: --test, --critical-only, --soak', { skip }, async () => {
    const r = await regressionWith(
      ['--embedded-target', '--test', 'load_balancer_timeout_regression', '--test', 'connection_leak_regression,websocket_403_handshake_regression', '--critical-only', '--soak', '4h'],
      { WSGATE_TESTS: 'auth_token_refresh_regression', WSGATE_IDLE_HOLD_S: '9' },
    );
    assert.equal(r.code, EXIT.PASS, r.all);
    const e = r.call?.env ?? {};
    assert.equal(e['WSGATE_TESTS'], 'load_balancer_timeout_regression,connection_leak_regression,websocket_403_handshake_regression');
    assert.equal(e['WSGATE_CRITICAL_ONLY'], 'true');
    assert.equal(e['WSGATE_IDLE_HOLD_S'], '14400');
    // --critical-only drops the leak test, so no relay is started
    assert.equal(e['WSGATE_DROP_RELAY_WS_URL'], undefined);
    assert.match(r.err, /wsgate: soak: load_balancer_timeout_regression holds its connection idle for 4h \(14400 s\)/);
  });

  test('a deployed ws:// service: a relay is started on 127.0.0.1 in front of it for the leak test, and closed afterwards', async () => {
    const target = await startTarget({ host: '127.0.0.1', authSecret: SECRET, backendSecret: SECRET, issuer: 'wsgate-reference-auth', audience: 'wsgate-reference-chat' });
    try {
      const r = await regressionWith(['--test', 'connection_leak_regression'], { ...MINT, WSGATE_WS_URL: target.wsUrl, WSGATE_HTTP_URL: target.httpUrl, WSGATE_AUTH_URL: target.authUrl });
      assert.equal(r.code, EXIT.PASS, r.all);
      const e = r.call?.env ?? {};
      assert.equal(e['WSGATE_WS_URL'], target.wsUrl, 'the other tests still go straight to the service');
      const relayWs = e['WSGATE_DROP_RELAY_WS_URL'] ?? '';
      assert.match(relayWs, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
      assert.notEqual(hostPortOf(relayWs), hostPortOf(target.wsUrl));
      assert.equal(r.call?.probes['relay']?.status, 200);
      assert.match(r.err, new RegExp(`wsgate: connection_leak_regression: drop relay on ${hostPortOf(relayWs)} in front of ${target.wsUrl}`));
      assert.ok(await refuses(hostPortOf(relayWs)), 'the relay is closed after the run');
      assert.ok(await refuses(hostPortOf(e['WSGATE_DROP_RELAY_CONTROL_URL'] ?? '')));
      // A relay the user runs is used as it is.
      const own = await regressionWith(['--test', 'connection_leak_regression'], {
        ...MINT,
        WSGATE_WS_URL: target.wsUrl,
        WSGATE_HTTP_URL: target.httpUrl,
        WSGATE_AUTH_URL: target.authUrl,
        WSGATE_DROP_RELAY_WS_URL: 'ws://127.0.0.1:9/ws',
        WSGATE_DROP_RELAY_CONTROL_URL: 'http://127.0.0.1:9',
      });
      assert.equal(own.code, EXIT.PASS, own.all);
      assert.equal(own.call?.env['WSGATE_DROP_RELAY_WS_URL'], 'ws://127.0.0.1:9/ws');
      assert.doesNotMatch(own.err, /drop relay on/);
    } finally {
      await target.close();
    }
  });

  test('on a fail, the failed regressions and why are named before the final line (from the JSON)', { skip }, async () => {
    const isolationThreshold = { metric: 'wsgate_isolation_violations', expression: 'count==0', ok: false, observed: { count: 40, rate: 5.63 } };
    const result = {
      verdict: 'fail',
      scenarios: [
        { name: 'websocket_403_handshake_regression', verdict: 'pass', checks: [{ name: 'ok check', passes: 3, fails: 0, ok: true }], thresholds: [] },
        {
          name: 'multi_user_isolation_regression',
          verdict: 'fail',
          checks: [{ name: 'user receives nothing meant for other users or rooms', passes: 6, fails: 2, ok: false }],
          thresholds: [{ metric: 'checks{scenario:multi_user_isolation_regression}', expression: 'rate==1', ok: false, observed: { rate: 0.9 } }],
        },
        // failed by a suite-wide threshold the scenario owns, every check passed
        { name: 'agent_events_missing_regression', verdict: 'fail', checks: [{ name: 'fine', passes: 2, fails: 0, ok: true }], thresholds: [{ ...isolationThreshold, metric: 'wsgate_agent_event_completion', expression: 'rate>0.90', observed: { rate: 0.5, passes: 1 } }] },
        { name: 'connection_leak_regression', verdict: 'fail', checks: [], thresholds: [] },
      ],
      thresholds: [isolationThreshold, { metric: 'wsgate_agent_event_completion', expression: 'rate>0.90', ok: false, observed: { rate: 0.5 } }],
    };
    const r = await regressionWith(['--embedded-target'], { FAKE_K6_EXIT: '99', FAKE_K6_RESULT: JSON.stringify(result) });
    assert.equal(r.code, EXIT.FAIL);
    const lines = r.out.trimEnd().split('\n').slice(-6);
    const guards = (name: string): string => REGRESSIONS.find((x) => x.name === name)?.guards ?? assert.fail(`no regression ${name}`);
    assert.deepEqual(lines.slice(0, 5), [
      `wsgate: failed multi_user_isolation_regression (guards: ${guards('multi_user_isolation_regression')}): "user receives nothing meant for other users or rooms" (2 of 8 failed)`,
      `wsgate: failed agent_events_missing_regression (guards: ${guards('agent_events_missing_regression')}): threshold wsgate_agent_event_completion rate>0.90 (observed: rate 0.500)`,
      `wsgate: failed connection_leak_regression (guards: ${guards('connection_leak_regression')}): no checks ran`,
      'wsgate: failed threshold wsgate_isolation_violations count==0 (observed: count 40)',
      'wsgate: failed regressions: multi_user_isolation_regression, agent_events_missing_regression, connection_leak_regression',
    ]);
    assert.match(lines[5] ?? '', /^wsgate: FAIL regression-prevention \(env local\) — results: /);
  });

  test('nginx dies at start: exit 4 in one sentence, k6 never runs, the service is closed', { skip }, async () => {
    const fakeDir = tempDir();
    const fake = writeExecutable(
      join(fakeDir, 'nginx'),
      `#!/bin/sh
if [ "$1" = "-V" ]; then echo "nginx version: nginx/1.22.1" >&2; exit 0; fi
prev=""; for a in "$@"; do if [ "$prev" = "-c" ]; then cp "$a" "${fakeDir}/nginx.conf"; fi; prev="$a"; done
echo "nginx: [emerg] boom" >&2
exit 1
`,
    );
    const r = await regressionWith(['--embedded-target'], { WSGATE_NGINX: fake });
    assert.equal(r.code, EXIT.ERROR, r.all);
    assert.equal(r.call, undefined, 'k6 never ran');
    assert.match(r.err.trimEnd().split('\n').at(-1) ?? '', /^wsgate: nginx \(.*, config healthy\) exited with code 1 before it answered; last lines of its error log: nginx: \[emerg\] boom$/);
    const upstream = /server (127\.0\.0\.1:\d+);/.exec(readFileSync(join(fakeDir, 'nginx.conf'), 'utf8'))?.[1];
    assert.ok(upstream, 'the config names the service');
    assert.ok(await refuses(upstream), 'the reference service is closed');
  });

  test('nginx missing: exit 4, and the sentence offers --lb none', async () => {
    const r = await regressionWith(['--embedded-target'], { WSGATE_NGINX: '/nonexistent/nginx' });
    assert.equal(r.code, EXIT.ERROR);
    assert.match(r.err.trimEnd().split('\n').at(-1) ?? '', /^wsgate: WSGATE_NGINX is "\/nonexistent\/nginx", which is not an executable file; .*, or pass --lb none to test the service without a load balancer$/);
  });

  test('Ctrl-C while nginx starts: nothing is left running, k6 never starts, exit 130', { skip }, async () => {
    const fakeDir = tempDir();
    const wrapper = writeExecutable(
      join(fakeDir, 'nginx'),
      `#!/bin/sh
if [ "$1" = "-V" ]; then exec ${nginxPath} "$@"; fi
prev=""; for a in "$@"; do if [ "$prev" = "-c" ]; then cp "$a" "${fakeDir}/nginx.conf"; fi; prev="$a"; done
echo $$ > "${fakeDir}/pid"
sleep 1
exec ${nginxPath} "$@"
`,
    );
    const listeners = process.listenerCount('SIGINT');
    const c = capture();
    const running = main(['regression', '--env', 'local', '--embedded-target', '--results-dir', results], { ...BASE, ...K6, WSGATE_K6: k6, WSGATE_NGINX: wrapper }, c.io);
    for (let i = 0; i < 200 && !existsSync(join(fakeDir, 'pid')); i++) await sleep(25);
    assert.ok(existsSync(join(fakeDir, 'pid')), 'nginx is starting');
    rmSync(`${log}.json`, { force: true });
    process.kill(process.pid, 'SIGINT');
    const code = await running;
    assert.equal(code, EXIT.INTERRUPTED, c.all());
    assert.equal(c.out(), 'wsgate: INTERRUPTED regression-prevention (env local): SIGINT arrived before the run started, so nothing was run\n');
    assert.ok(!existsSync(`${log}.json`), 'k6 never ran');
    const pid = Number(readFileSync(join(fakeDir, 'pid'), 'utf8'));
    assert.ok(!isAlive(pid), 'nginx is stopped');
    const upstream = /server (127\.0\.0\.1:\d+);/.exec(readFileSync(join(fakeDir, 'nginx.conf'), 'utf8'))?.[1] ?? '';
    assert.ok(await refuses(upstream), 'the reference service is closed');
    assert.equal(process.listenerCount('SIGINT'), listeners, 'the handlers are removed');
  });

  test('Ctrl-C while k6 runs: k6 gets it once, exit 130, and nginx, relay and service are closed', { skip }, async () => {
    rmSync(`${log}.ready`, { force: true });
    const c = capture();
    const running = main(['regression', '--env', 'local', '--embedded-target', '--results-dir', results], { ...BASE, ...K6, WSGATE_K6: k6, FAKE_K6_WAIT_SIGNAL: '1' }, c.io);
    for (let i = 0; i < 400 && !existsSync(`${log}.ready`); i++) await sleep(25);
    assert.ok(existsSync(`${log}.ready`), 'the fake k6 started');
    process.kill(process.pid, 'SIGINT');
    const code = await running;
    assert.equal(code, EXIT.INTERRUPTED);
    assert.deepEqual(JSON.parse(readFileSync(`${log}.signals`, 'utf8')), ['SIGINT']);
    assert.match(c.out(), /wsgate: INTERRUPTED regression-prevention \(env local\): k6 was interrupted, so there is no verdict — partial results: /);
    const e = readCall().env;
    for (const url of [e['WSGATE_WS_URL'], e['WSGATE_AUTH_URL'], e['WSGATE_DROP_RELAY_WS_URL'], e['WSGATE_DROP_RELAY_CONTROL_URL']]) {
      assert.ok(await refuses(hostPortOf(url ?? '')), `${url} is closed`);
    }
  });
});

describe('drop-relay', { concurrency: true }, () => {
  test('usage errors: no --upstream, a bad one', async () => {
    await expectOneSentence(['drop-relay'], BASE, EXIT.USAGE, "wsgate drop-relay needs --upstream HOST:PORT (or the service's ws:// URL); run wsgate drop-relay --help");
    await expectOneSentence(['drop-relay', '--upstream', 'nowhere'], BASE, EXIT.USAGE, /^wsgate: the relay upstream is "nowhere"; give host:port or a URL/);
    await expectOneSentence(['drop-relay', '--port', '1'], BASE, EXIT.USAGE, 'unknown option --port for wsgate drop-relay; run wsgate drop-relay --help for the options');
  });

  test('--help', async () => {
    const r = await run(['drop-relay', '--help'], BASE);
    assert.equal(r.code, EXIT.PASS);
    assert.match(r.out, /^Usage: wsgate drop-relay --upstream/);
  });

  test('spawned: one ready line, relays and drops, exits 0 on SIGTERM; a token in the upstream URL is never printed', async () => {
    const { spawn } = await import('node:child_process');
    const { createInterface } = await import('node:readline');
    const target = await startTarget({ host: '127.0.0.1', authSecret: SECRET, backendSecret: SECRET });
    const bin = new URL('../../bin/wsgate.mjs', import.meta.url).pathname;
    const child = spawn(process.execPath, [bin, 'drop-relay', '--upstream', `${target.wsUrl}?token=${SECRET}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 15_000);
      });
      assert.ok(!line.includes(SECRET));
      const ready = JSON.parse(line) as Record<string, string>;
      assert.deepEqual(Object.keys(ready), ['event', 'upstream', 'address', 'control_url', 'ws_url']);
      assert.equal(ready['upstream'], hostPortOf(target.wsUrl));
      assert.equal(ready['ws_url'], `ws://${ready['address']}/ws`);
      const { WebSocket } = await import('ws');
      const ws = new WebSocket(ready['ws_url'] ?? '', { headers: { origin: 'http://localhost' } });
      const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
      ws.once('error', () => {});
      // any answer (even a refused handshake) proves the bytes went through to the service
      await new Promise<void>((resolve) => {
        ws.once('unexpected-response', () => resolve());
        ws.once('open', () => resolve());
      });
      const stats = (await (await fetch(`${ready['control_url']}/stats`)).json()) as { total: number };
      assert.equal(stats.total, 1);
      ws.terminate();
      await closed;
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(stderr, /wsgate: drop relay stopped after 1 relayed connection\(s\)/);
      assert.ok(await refuses(ready['address'] ?? ''), 'closed after SIGTERM');
    } finally {
      child.kill('SIGKILL');
      await target.close();
    }
  });
});
